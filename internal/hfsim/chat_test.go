package hfsim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

const weatherTools = `"tools":[{"type":"function","function":{"name":"get_weather","description":"w","parameters":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["location"]}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"},"utc":{"type":"boolean"}}}}}]`

// idOf is the OpenAI-style id hfsim derives from a body, computed here
// independently of shortHash.
func idOf(prefix, body string) string {
	sum := sha256.Sum256(append([]byte(body), 0))
	return prefix + hex.EncodeToString(sum[:8])
}

// keyPaths lists every object key path of a JSON document (arrays use "#").
func keyPaths(v gjson.Result, prefix string, out map[string]bool) {
	switch {
	case v.IsObject():
		v.ForEach(func(k, val gjson.Result) bool {
			p := prefix + k.String()
			out[p] = true
			keyPaths(val, p+".", out)
			return true
		})
	case v.IsArray():
		for _, e := range v.Array() {
			keyPaths(e, prefix+"#.", out)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestChatJSON(t *testing.T) {
	const tgiGood = `{"object":"chat.completion","id":"","created":1722866733,"model":"mistralai/Mistral-7B-Instruct-v0.2","system_fingerprint":"3.3.6-native","choices":[{"index":0,"message":{"role":"assistant","content":"Echo: What is 1 + 1?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":16,"completion_tokens":6,"total_tokens":22}}`
	plain := chatBody(testModel, "What is 1 + 1?", "")
	groq := chatBody("openai/gpt-oss-120b:groq", "What is 1 + 1?", "")
	cases := []struct {
		name    string
		body    string
		header  map[string]string
		want    string            // exact body, if set
		fields  map[string]string // gjson path -> raw JSON value
		headers map[string]string // expected response headers ("" = absent)
	}{
		{
			name: "tgi_default", body: plain, want: tgiGood,
			headers: map[string]string{
				"x-compute-type": "gpu+optimized", "x-compute-characters": "14", "x-prompt-tokens": "16",
				"x-generated-tokens": "6", "x-total-tokens": "22", "x-inference-time": "60", "x-total-time": "61",
				"x-compute-time": "61", "x-validation-time": "1", "x-queue-time": "0", "x-time-per-token": "10",
			},
		},
		{
			name: "openai_by_model_suffix", body: groq,
			fields: map[string]string{
				"id": `"` + idOf("chatcmpl-", groq) + `"`, "model": `"openai/gpt-oss-120b:groq"`,
				"system_fingerprint": `"fp_hfsim"`, "choices.0.message.content": `"Echo: What is 1 + 1?"`,
				"usage": `{"prompt_tokens":16,"completion_tokens":6,"total_tokens":22}`,
			},
			headers: map[string]string{"x-compute-type": "", "x-prompt-tokens": ""},
		},
		{
			name: "tgi_by_model_suffix", body: chatBody("meta-llama/Llama-3.1-8B-Instruct:hf-inference", "hi", ""),
			fields: map[string]string{"id": `""`, "system_fingerprint": `"3.3.6-native"`, "choices.0.message.content": `"Echo: hi"`},
		},
		{
			name: "openai_by_header", body: plain, header: map[string]string{"X-Hfsim-Style": "openai"},
			fields: map[string]string{"id": `"` + idOf("chatcmpl-", plain) + `"`},
		},
		{
			name: "max_tokens_truncates", body: chatBody(testModel, "What is 1 + 1?", `"max_tokens":2`),
			fields: map[string]string{
				"choices.0.message.content": `"Echo: What"`, "choices.0.finish_reason": `"length"`,
				"usage": `{"prompt_tokens":16,"completion_tokens":2,"total_tokens":18}`,
			},
		},
		{
			name: "max_completion_tokens_alias", body: chatBody(testModel, "a b c d", `"max_completion_tokens":3`),
			fields: map[string]string{"choices.0.message.content": `"Echo: a b"`, "choices.0.finish_reason": `"length"`},
		},
		{
			name: "reply_header", body: plain, header: map[string]string{"X-Hfsim-Reply": "Hello 世界 <b>&"},
			fields: map[string]string{"choices.0.message.content": `"Hello 世界 <b>&"`, "usage.completion_tokens": "3"},
		},
		{
			name: "content_parts", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look at"},{"type":"image_url","image_url":{"url":"http://x/y.png"}},{"type":"text","text":"this"}]}]}`,
			fields: map[string]string{"choices.0.message.content": `"Echo: look at this"`, "usage.prompt_tokens": "6"},
		},
		{
			name: "no_model_reports_default", body: `{"messages":[{"role":"user","content":"x"}]}`,
			fields: map[string]string{"model": `"hfsim/tgi"`},
		},
		{
			name: "tool_call_tgi", body: chatBody(testModel, "weather?", weatherTools),
			fields: map[string]string{
				"choices.0.message":       `{"role":"assistant","content":null,"tool_calls":[{"id":"0","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"hfsim\",\"unit\":\"celsius\",\"days\":1}"}}]}`,
				"choices.0.finish_reason": `"stop"`,
				// 46 bytes of arguments -> 6 fragments of 8 bytes, + 1 for the name.
				"usage.completion_tokens": "7",
			},
		},
		{
			name: "tool_call_openai_named", body: chatBody("x/y:together", "time?", weatherTools+`,"tool_choice":{"type":"function","function":{"name":"get_time"}}`),
			fields: map[string]string{
				"choices.0.message.tool_calls.0.id":                 `"` + idOf("call_", chatBody("x/y:together", "time?", weatherTools+`,"tool_choice":{"type":"function","function":{"name":"get_time"}}`)) + `"`,
				"choices.0.message.tool_calls.0.function.name":      `"get_time"`,
				"choices.0.message.tool_calls.0.function.arguments": `"{\"tz\":\"hfsim\",\"utc\":true}"`,
				"choices.0.finish_reason":                           `"tool_calls"`,
			},
		},
		{
			name: "tool_choice_none", body: chatBody(testModel, "hi", weatherTools+`,"tool_choice":"none"`),
			fields: map[string]string{"choices.0.message.content": `"Echo: hi"`, "choices.0.message.tool_calls": ``},
		},
		{
			name: "legacy_models_path", body: plain,
			fields: map[string]string{"model": `"mistralai/Mistral-7B-Instruct-v0.2"`, "object": `"chat.completion"`},
		},
	}
	_, url := startServer(t, Options{Token: testToken})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/chat/completions"
			if tc.name == "legacy_models_path" {
				path = "/models/" + testModel + "/v1/chat/completions"
			}
			resp := send(t, url, spec{path: path, body: tc.body, header: tc.header})
			body := readBody(t, resp)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tc.want != "" {
				assert.Equal(t, tc.want, string(body))
			}
			for path, raw := range tc.fields {
				assert.Equal(t, raw, gjson.GetBytes(body, path).Raw, path)
			}
			for k, v := range tc.headers {
				assert.Equal(t, v, resp.Header.Get(k), k)
			}
		})
	}
}

// The answer to Kong's fixture request has the structure of Kong's fixture
// answer (a TGI 2.1.1 response): same keys at every level.
func TestChatMatchesKongFixtureShape(t *testing.T) {
	_, url := startServer(t, Options{})
	req := fixture(t, "llm-v1-chat/requests/good.json")
	resp := send(t, url, spec{path: "/v1/chat/completions", body: req})
	got := map[string]bool{}
	keyPaths(gjson.ParseBytes(readBody(t, resp)), "", got)
	want := map[string]bool{}
	keyPaths(gjson.Parse(fixture(t, "llm-v1-chat/responses/good.json")), "", want)
	assert.Equal(t, sortedKeys(want), sortedKeys(got))
}

func TestChatBadRequests(t *testing.T) {
	_, url := startServer(t, Options{})
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		// Kong's mock answers messages:null with the template error fixture.
		{"messages_null", `{"messages":null}`, 400, fixture(t, "llm-v1-chat/responses/bad_request.json")},
		{"messages_missing", `{"model":"x"}`, 400, fixture(t, "llm-v1-chat/responses/bad_request.json")},
		{"messages_empty", `{"messages":[]}`, 400, fixture(t, "llm-v1-chat/responses/bad_request.json")},
		{"not_json", `nope`, 400, `{"message":"Failed to parse the request body as JSON: expected value at line 1 column 1"}`},
		{"json_array", `[1]`, 400, `{"message":"Failed to parse the request body as JSON: expected value at line 1 column 1"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: "/v1/chat/completions", body: tc.body})
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.want, string(readBody(t, resp)))
		})
	}
}

func TestChatStream(t *testing.T) {
	const q = "What is 1 + 1?"
	reply := Pieces(Reply(q))
	cases := []struct {
		name     string
		body     string
		header   map[string]string
		style    Style
		usage    string // raw usage of the usage chunk; "" = no usage chunk
		tool     bool
		finish   string
		wantText string
	}{
		{name: "tgi", body: chatBody(testModel, q, `"stream":true`), style: StyleTGI, finish: "stop", wantText: Reply(q)},
		{name: "tgi_usage", body: chatBody(testModel, q, `"stream":true,"stream_options":{"include_usage":true}`), style: StyleTGI,
			usage: `{"prompt_tokens":16,"completion_tokens":6,"total_tokens":22}`, finish: "stop", wantText: Reply(q)},
		{name: "openai", body: chatBody("x/y:groq", q, `"stream":true`), style: StyleOpenAI, finish: "stop", wantText: Reply(q)},
		{name: "openai_usage_length", body: chatBody("x/y", q, `"stream":true,"max_tokens":3,"stream_options":{"include_usage":true}`),
			header: map[string]string{"X-Hfsim-Style": "openai"}, style: StyleOpenAI,
			usage: `{"prompt_tokens":16,"completion_tokens":3,"total_tokens":19}`, finish: "length", wantText: "Echo: What is"},
		{name: "tgi_tools", body: chatBody(testModel, q, `"stream":true,`+weatherTools), style: StyleTGI, tool: true, finish: "stop"},
		{name: "openai_tools_usage", body: chatBody("x/y:novita", q, `"stream":true,"stream_options":{"include_usage":true},`+weatherTools), style: StyleOpenAI, tool: true,
			usage: `{"prompt_tokens":16,"completion_tokens":7,"total_tokens":23}`, finish: "tool_calls"},
	}
	_, url := startServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: "/v1/chat/completions", body: tc.body, header: tc.header})
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			all, err := ReadEvents(resp.Body)
			require.NoError(t, err)
			data := dataEvents(all)
			comments := len(all) - len(data)
			if tc.style == StyleTGI {
				assert.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"))
				assert.Equal(t, len(data)-1, comments, "one keep-alive between consecutive events")
			} else {
				assert.Empty(t, resp.Header.Get("X-Accel-Buffering"))
				assert.Zero(t, comments)
			}
			for _, e := range data {
				assert.Equal(t, tc.style == StyleOpenAI, e.Spaced, "data prefix style of %q", e.Data)
			}
			require.Equal(t, Done, data[len(data)-1].Data)
			chunks := data[:len(data)-1]
			if tc.usage != "" {
				u := gjson.Parse(chunks[len(chunks)-1].Data)
				assert.Equal(t, `[]`, u.Get("choices").Raw)
				assert.Equal(t, tc.usage, u.Get("usage").Raw)
				chunks = chunks[:len(chunks)-1]
			}
			var text, args, name strings.Builder
			for i, e := range chunks {
				c := gjson.Parse(e.Data)
				require.Equal(t, "chat.completion.chunk", c.Get("object").String())
				assert.Equal(t, "null", c.Get("usage").Raw)
				d := c.Get("choices.0.delta")
				switch {
				case tc.style == StyleTGI:
					assert.Equal(t, "assistant", d.Get("role").String(), "TGI repeats the role")
				case i == 0:
					assert.Equal(t, "assistant", d.Get("role").String())
				default:
					assert.False(t, d.Get("role").Exists(), "OpenAI sends the role once")
				}
				text.WriteString(d.Get("content").String())
				args.WriteString(d.Get("tool_calls.0.function.arguments").String())
				if n := d.Get("tool_calls.0.function.name").String(); n != "" && name.Len() == 0 {
					name.WriteString(n)
				}
				if i < len(chunks)-1 {
					assert.Equal(t, "null", c.Get("choices.0.finish_reason").Raw)
				}
			}
			last := gjson.Parse(chunks[len(chunks)-1].Data)
			assert.Equal(t, tc.finish, last.Get("choices.0.finish_reason").String())
			if tc.tool {
				assert.Equal(t, "get_weather", name.String())
				assert.Equal(t, `{"location":"hfsim","unit":"celsius","days":1}`, args.String())
				assert.Empty(t, text.String())
				return
			}
			assert.Equal(t, tc.wantText, text.String())
			if tc.style == StyleTGI && tc.finish == "stop" {
				assert.Len(t, chunks, len(reply)+1, "one chunk per piece, then the finish chunk")
			}
		})
	}
}
