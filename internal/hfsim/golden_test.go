package hfsim

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// TestGolden pins the exact wire bytes (status, headers except Date, body)
// of representative answers, so any change to what e2e tests see shows up
// as a reviewed diff of testdata/golden.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		sp   spec
	}{
		{"chat_tgi", spec{path: "/v1/chat/completions", body: fixtureWithModel(t)}},
		{"chat_openai", spec{path: "/v1/chat/completions", body: chatBody("openai/gpt-oss-120b:cerebras", "What is 1 + 1?", "")}},
		{"chat_tools_tgi", spec{path: "/v1/chat/completions", body: chatBody(testModel, "weather?", weatherTools)}},
		{"chat_stream_tgi_usage", spec{path: "/v1/chat/completions", body: chatBody(testModel, "What is 1 + 1?", `"stream":true,"stream_options":{"include_usage":true}`)}},
		{"chat_stream_openai", spec{path: "/v1/chat/completions", body: chatBody("x/y:groq", "What is 1 + 1?", `"stream":true`)}},
		{"chat_stream_tools_tgi", spec{path: "/v1/chat/completions", body: chatBody(testModel, "weather?", `"stream":true,`+weatherTools)}},
		{"chat_stream_tools_openai", spec{path: "/v1/chat/completions", body: chatBody("x/y:groq", "weather?", `"stream":true,`+weatherTools)}},
		{"completions", spec{path: "/v1/completions", body: `{"model":"bigcode/starcoder","prompt":"def hello():"}`}},
		{"completions_stream", spec{path: "/v1/completions", body: `{"model":"bigcode/starcoder","prompt":"def hello():","stream":true}`}},
		{"text_generation", spec{path: "/hf-inference/models/" + testModel, body: `{"inputs":"What are you?"}`}},
		{"generate_details", spec{path: "/generate", body: `{"inputs":"What are you?","parameters":{"details":true,"seed":1}}`}},
		{"generate_stream_details", spec{path: "/generate_stream", body: `{"inputs":"What are you?","parameters":{"details":true}}`}},
		{"feature_extraction_1d", spec{path: "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction", body: `{"inputs":"hi"}`, header: map[string]string{"X-Hfsim-Dim": "4"}}},
		{"feature_extraction_4d", spec{path: "/hf-inference/models/facebook/bart-base/pipeline/feature-extraction", body: `{"inputs":["a","b c"]}`, header: map[string]string{"X-Hfsim-Dim": "2"}}},
		{"video_job", spec{path: "/v1/videos", body: `{"model":"sora-2","prompt":"A calico cat playing a piano on stage","seconds":"8","size":"1280x720"}`}},
		{"fault_loading", spec{path: "/v1/chat/completions", body: fixtureWithModel(t), header: map[string]string{"X-Hfsim-Fault": "loading"}}},
		{"fault_ratelimit", spec{path: "/v1/chat/completions", body: fixtureWithModel(t), header: map[string]string{"X-Hfsim-Fault": "ratelimit"}}},
		{"fault_stream_error", spec{path: "/generate_stream", body: `{"inputs":"a b c"}`, header: map[string]string{"X-Hfsim-Fault": "stream_error"}}},
		{"unauthorized", spec{path: "/v1/chat/completions", body: fixtureWithModel(t), header: map[string]string{"Authorization": "Bearer wrong"}}},
	}
	_, url := startServer(t, Options{Token: testToken})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, tc.sp)
			got := renderResponse(resp, readBody(t, resp))
			path := filepath.Join("testdata", "golden", tc.name+".txt")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create")
			assert.Equal(t, string(want), got)
		})
	}
}

func fixtureWithModel(t *testing.T) string {
	return strings.Replace(fixture(t, "llm-v1-chat/requests/good.json"), "{", `{"model":"`+testModel+`",`, 1)
}

func renderResponse(resp *http.Response, body []byte) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(resp.StatusCode) + "\n")
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		if k != "Date" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + ": " + strings.Join(resp.Header[k], ", ") + "\n")
	}
	b.WriteString("\n")
	b.Write(body)
	return b.String()
}
