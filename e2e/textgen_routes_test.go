package e2e

import (
	"net/http"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// TestTextgenMisconfigured: issue 4 row 9. A config Kong's schema accepts
// (upstream_url matches the Lua pattern) but the plugin's Go validation
// refuses (url.Parse: the port is not a number) starts, and every request
// of that route gets a 500 in the OpenAI shape naming the field, streamed
// or not, while another route of the same plugin server keeps working.
func TestTextgenMisconfigured(t *testing.T) {
	t.Parallel()
	const badURL = "http://tgi:port/"
	r := startRig(t,
		route{path: "/bad", config: chatConf(t, "model.options.upstream_url", jsonString(badURL))},
		route{path: "/good", config: chatConf(t)},
	)
	bufferedAndStreamed(t, "bad", chatBody("hello"), func(t *testing.T, _ bool, body string) {
		res := r.send(t, "/bad", body, id(t))
		msg := requireOpenAIErrorShape(t, res, http.StatusInternalServerError, "server_error", "invalid_plugin_config")
		assert.Contains(t, msg, "model.options.upstream_url")
		assert.Contains(t, msg, "misconfigured")
		assert.NotContains(t, msg, hfToken, "the message names fields, never secrets")
		requireNothingUpstream(t, router, e2eID(t))
	})
	t.Run("other route works", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/good", chatBody("hello"), id(t))
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Equal(t, hfsim.Reply("hello"), gjson.GetBytes(res.body, "choices.0.message.content").String())
	})
}

// TestTextgenPreserve: issue 4 row 6, route_type preserve. The client's
// path (as sent, on the upstream base) and body go through unchanged with
// only routing and auth applied; the answer is never buffered, so streams
// work and nothing is translated; client credentials are still cleared and
// paths that could climb out of the base are refused.
func TestTextgenPreserve(t *testing.T) {
	t.Parallel()
	tgi := startHF(t, hfsim.Options{Token: hfToken})
	r := startRig(t,
		route{path: "/pv", config: conf(t, baseConf("preserve", chatModel), "model.options.upstream_url", jsonString(tgi.URL()))},
		route{path: "/pr", config: conf(t, baseConf("preserve", chatModel), "model.name", "-")},
	)
	chat := `{"messages":[{"role":"user","content":"preserve me"}],"temperature":0.10}`
	for _, tc := range []struct {
		name, path, body string
		onTGI            bool
		stream           bool
		wantPath         string
	}{
		{name: "chat on tgi", path: "/pv/v1/chat/completions", body: chat, onTGI: true, wantPath: "/pv/v1/chat/completions"},
		{name: "chat stream on tgi", path: "/pv/v1/chat/completions", body: withStream(chat), onTGI: true, stream: true, wantPath: "/pv/v1/chat/completions"},
		{name: "native generate on tgi", path: "/pv/generate", body: `{"inputs":"preserve me"}`, onTGI: true, wantPath: "/pv/generate"},
		{name: "native generate_stream on tgi", path: "/pv/generate_stream", body: `{"inputs":"preserve me"}`, onTGI: true, stream: true, wantPath: "/pv/generate_stream"},
		{name: "chat on the router", path: "/pr/v1/chat/completions", body: `{"model":"` + chatModel + `",` + chat[1:], wantPath: "/pr/v1/chat/completions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.send(t, tc.path+"?keep=1&apikey="+clientAPIKey, tc.body, with(id(t), "apikey", clientAPIKey, "Authorization", "Bearer "+clientAPIKey))
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			srv := router
			if tc.onTGI {
				srv = tgi
			}
			up := oneUpstream(t, srv, e2eID(t))
			assert.Equal(t, tc.wantPath, up.Path)
			assert.Equal(t, tc.body, string(up.Body), "the body goes through as sent")
			assert.Equal(t, "keep=1", up.RawQuery)
			assert.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
			assert.Empty(t, up.Header.Values("apikey"))
			direct := replay(t, srv, up)
			assert.Equal(t, string(direct.body), string(res.body), "the answer goes back as it came")
			if tc.stream {
				assert.Contains(t, res.header.Get("Content-Type"), "text/event-stream")
			}
			assert.Equal(t, "huggingface/"+chatModel, res.header.Get("X-Kong-LLM-Model"))
		})
	}
	for _, tc := range []struct {
		name, path, body string
		code             string
	}{
		// Kong's router matches the normalised path (/pv/admin); the
		// plugin sees the path as sent.
		{name: "dot dot segment", path: "/pv/v1/../admin"},
		{name: "encoded dot dot", path: "/pv/v1/%2e%2e/admin"},
		{name: "encoded slash", path: "/pv/v1%2fchat"},
		{name: "backslash", path: `/pv/v1\chat`},
		{name: "invalid model in body", path: "/pr/v1/chat/completions", body: `{"model":"../x","messages":[]}`, code: "invalid_model"},
		{name: "other model in body", path: "/pv/v1/chat/completions", body: `{"model":"` + otherModel + `","messages":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := tc.body
			if body == "" {
				body = chat
			}
			res := r.send(t, tc.path, body, id(t))
			requireOpenAIErrorShape(t, res, http.StatusBadRequest, "invalid_request_error", tc.code)
			requireNothingUpstream(t, tgi, e2eID(t))
			requireNothingUpstream(t, router, e2eID(t))
		})
	}
}

// TestTextgenRouterRefusals: requests that can only fail on the router
// are refused before they go: a provider suffix on hf-inference paths
// (completions and native), a non-streaming native request on a route
// that always streams.
func TestTextgenRouterRefusals(t *testing.T) {
	t.Parallel()
	native := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
	r := startRig(t,
		route{path: "/rr-cmpl", config: conf(t, baseConf("llm/v1/completions", tgModel), "model.name", "-")},
		route{path: "/rr-native", config: conf(t, native, "model.name", "-")},
		route{path: "/rr-native-always", config: conf(t, native, "response_streaming", `"always"`)},
	)
	for _, tc := range []struct {
		name, path, body, msgPart string
		status                    int
	}{
		{"completions with a provider", "/rr-cmpl", `{"model":"` + tgModel + `:together","prompt":"x"}`, `asks for provider "together"`, 400},
		{"completions with a policy", "/rr-cmpl", `{"model":"` + tgModel + `:fastest","prompt":"x"}`, "", 200},
		{"native with a provider", "/rr-native/generate", `{"model":"` + tgModel + `:groq","inputs":"x"}`, `asks for provider "groq"`, 400},
		{"native with hf-inference", "/rr-native/generate", `{"model":"` + tgModel + `:hf-inference","inputs":"x"}`, "", 200},
		{"native not streamed on an always route", "/rr-native-always/generate", `{"inputs":"x"}`, "response_streaming: always", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.send(t, tc.path, tc.body, id(t))
			if tc.status == http.StatusOK {
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				assert.Equal(t, "/hf-inference/models/"+tgModel, oneUpstream(t, router, e2eID(t)).Path, "the suffix is dropped from the path")
				return
			}
			msg := requireOpenAIErrorShape(t, res, tc.status, "invalid_request_error", "")
			assert.Contains(t, msg, tc.msgPart)
			requireNothingUpstream(t, router, e2eID(t))
		})
	}
}
