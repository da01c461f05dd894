package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// canned is one answer of the scripted upstream.
type canned struct {
	status      int
	contentType string
	body        string
}

// scripted is an upstream that answers each request (by X-E2E-Id) with
// what the test set, for response shapes hfsim does not produce (legacy
// arrays on a chat path, other models, odd 200 bodies).
type scripted struct {
	url     string
	mu      sync.Mutex
	answers map[string]canned
}

func startScripted(t *testing.T) *scripted {
	t.Helper()
	s := &scripted{answers: map[string]canned{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		a, ok := s.answers[r.Header.Get("X-E2E-Id")]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "scripted: no answer set", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", a.contentType)
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *scripted) set(id string, a canned) {
	s.mu.Lock()
	s.answers[id] = a
	s.mu.Unlock()
}

// TestTextgenResponses: issue 4 row 8, the 200 answers. OpenAI answers pass
// through byte for byte (id, created, finish_reason, tool_calls, usage
// kept; only a different model is set to the resolved one), legacy
// [{"generated_text"}] answers become OpenAI objects, native answers keep
// TGI's shape, and a 200 of the wrong shape is a 502 in the OpenAI shape.
func TestTextgenResponses(t *testing.T) {
	t.Parallel()
	tgi := startHF(t, hfsim.Options{Token: hfToken})
	sc := startScripted(t)
	onTGI := func(c string) string { return conf(t, c, "model.options.upstream_url", jsonString(tgi.URL())) }
	native := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
	r := startRig(t,
		route{path: "/rs-chat", config: chatConf(t)},
		route{path: "/rs-noheader", config: chatConf(t, "model_name_header", "false")},
		route{path: "/rs-scripted", config: chatConf(t, "model.options.upstream_url", jsonString(sc.url))},
		route{path: "/rs-scripted-cmpl", config: conf(t, baseConf("llm/v1/completions", tgModel), "model.options.upstream_url", jsonString(sc.url))},
		route{path: "/rs-cmpl-router", config: baseConf("llm/v1/completions", tgModel)},
		route{path: "/rs-cmpl-tgi", config: onTGI(baseConf("llm/v1/completions", tgModel))},
		route{path: "/rs-native-router", config: native},
		route{path: "/rs-native-tgi", config: onTGI(native)},
	)
	const prompt = "Tell me one thing"
	tools := `"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer"}}}}}]`

	// Passthrough: what the client gets is exactly what the upstream
	// answered to the request the plugin sent.
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		onTGI            bool
		check            func(t *testing.T, body []byte)
	}{
		{name: "chat openai style with tool call", path: "/rs-chat", body: `{` + tools + `,` + chatBody(prompt)[1:], headers: []string{"X-Hfsim-Style", "openai"},
			check: func(t *testing.T, b []byte) {
				assert.True(t, strings.HasPrefix(gjson.GetBytes(b, "id").String(), "chatcmpl-"), "id: %s", b)
				assert.Equal(t, int64(hfsim.DefaultCreated), gjson.GetBytes(b, "created").Int())
				assert.Equal(t, "tool_calls", gjson.GetBytes(b, "choices.0.finish_reason").String())
				assert.True(t, strings.HasPrefix(gjson.GetBytes(b, "choices.0.message.tool_calls.0.id").String(), "call_"))
				assert.JSONEq(t, `{"q":"hfsim","n":1}`, gjson.GetBytes(b, "choices.0.message.tool_calls.0.function.arguments").String())
				assert.True(t, gjson.GetBytes(b, "usage.total_tokens").Exists())
			}},
		{name: "chat tgi style", path: "/rs-chat", body: chatBody(prompt),
			check: func(t *testing.T, b []byte) {
				assert.Equal(t, hfsim.Reply(prompt), gjson.GetBytes(b, "choices.0.message.content").String())
				assert.Equal(t, "stop", gjson.GetBytes(b, "choices.0.finish_reason").String())
				assert.Equal(t, hfsim.FingerprintTGI, gjson.GetBytes(b, "system_fingerprint").String())
				assert.Equal(t, int64(hfsim.ChatPromptTokens([]byte(chatBody(prompt)))), gjson.GetBytes(b, "usage.prompt_tokens").Int())
			}},
		{name: "chat finish length", path: "/rs-chat", body: `{"max_tokens":2,` + chatBody(prompt)[1:],
			check: func(t *testing.T, b []byte) {
				assert.Equal(t, "length", gjson.GetBytes(b, "choices.0.finish_reason").String())
			}},
		{name: "completions on tgi", path: "/rs-cmpl-tgi", body: `{"prompt":"` + prompt + `","max_tokens":2}`, onTGI: true,
			check: func(t *testing.T, b []byte) {
				assert.Equal(t, "text_completion", gjson.GetBytes(b, "object").String())
				want, _ := hfsim.Truncate(hfsim.Reply(prompt), 2)
				assert.Equal(t, want, gjson.GetBytes(b, "choices.0.text").String())
			}},
		{name: "native generate on tgi", path: "/rs-native-tgi/generate", body: `{"inputs":"` + prompt + `","parameters":{"details":true}}`, onTGI: true,
			check: func(t *testing.T, b []byte) {
				assert.Equal(t, hfsim.Reply(prompt), gjson.GetBytes(b, "generated_text").String())
				assert.Equal(t, "eos_token", gjson.GetBytes(b, "details.finish_reason").String())
			}},
		{name: "native compat on tgi", path: "/rs-native-tgi", body: `{"inputs":"` + prompt + `"}`, onTGI: true,
			check: func(t *testing.T, b []byte) {
				assert.Equal(t, hfsim.Reply(prompt), gjson.GetBytes(b, "0.generated_text").String())
			}},
		{name: "native compat on router", path: "/rs-native-router", body: `{"inputs":"` + prompt + `"}`,
			check: func(t *testing.T, b []byte) {
				assert.Equal(t, hfsim.Reply(prompt), gjson.GetBytes(b, "0.generated_text").String())
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.send(t, tc.path, tc.body, with(id(t), tc.headers...))
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			srv := router
			if tc.onTGI {
				srv = tgi
			}
			direct := replay(t, srv, oneUpstream(t, srv, e2eID(t)))
			assert.Equal(t, string(direct.body), string(res.body), "passed through byte for byte")
			tc.check(t, res.body)
			assert.NotEmpty(t, res.header.Get("X-Kong-LLM-Model"))
		})
	}

	// Translated: the router's text-generation answers become what the
	// client's format expects.
	t.Run("completions on the router become text_completion", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/rs-cmpl-router", `{"prompt":"`+prompt+`","max_tokens":3,"stop":["zzz"],"seed":5}`, id(t))
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		up := oneUpstream(t, router, e2eID(t))
		assert.JSONEq(t, `{"inputs":"`+prompt+`","parameters":{"max_new_tokens":3,"seed":5,"stop":["zzz"],"return_full_text":false}}`, string(up.Body))
		want, _ := hfsim.Truncate(hfsim.Reply(prompt), 3)
		b := res.body
		assert.Equal(t, "text_completion", gjson.GetBytes(b, "object").String())
		assert.True(t, strings.HasPrefix(gjson.GetBytes(b, "id").String(), "cmpl-"), "id: %s", b)
		assert.Positive(t, gjson.GetBytes(b, "created").Int())
		assert.Equal(t, tgModel, gjson.GetBytes(b, "model").String())
		assert.Equal(t, want, gjson.GetBytes(b, "choices.0.text").String())
		assert.Equal(t, int64(0), gjson.GetBytes(b, "choices.0.index").Int())
		assert.True(t, gjson.GetBytes(b, "choices.0.finish_reason").Exists())
		assert.True(t, gjson.GetBytes(b, "usage.total_tokens").Exists())
		assert.Equal(t, "huggingface/"+tgModel, res.header.Get("X-Kong-LLM-Model"))
		assert.Contains(t, res.header.Get("Content-Type"), "application/json")
	})
	t.Run("native generate on the router is unwrapped", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/rs-native-router/generate", `{"inputs":"`+prompt+`"}`, id(t))
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.JSONEq(t, `{"generated_text":`+jsonString(hfsim.Reply(prompt))+`}`, string(res.body))
		assert.Equal(t, "/hf-inference/models/"+tgModel, oneUpstream(t, router, e2eID(t)).Path)
	})

	// Shapes hfsim does not make, from the scripted upstream.
	for _, tc := range []struct {
		name, path string
		answer     canned
		check      func(t *testing.T, res response)
	}{
		{name: "legacy array on chat", path: "/rs-scripted",
			answer: canned{200, "application/json", `[{"generated_text":"Legacy hello"}]`},
			check: func(t *testing.T, res response) {
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				b := res.body
				assert.Equal(t, "chat.completion", gjson.GetBytes(b, "object").String())
				assert.True(t, strings.HasPrefix(gjson.GetBytes(b, "id").String(), "chatcmpl-"), "id: %s", b)
				assert.Positive(t, gjson.GetBytes(b, "created").Int())
				assert.Equal(t, chatModel, gjson.GetBytes(b, "model").String())
				assert.Equal(t, "assistant", gjson.GetBytes(b, "choices.0.message.role").String())
				assert.Equal(t, "Legacy hello", gjson.GetBytes(b, "choices.0.message.content").String())
				assert.Equal(t, "stop", gjson.GetBytes(b, "choices.0.finish_reason").String())
				assert.True(t, gjson.GetBytes(b, "usage.completion_tokens").Exists())
			}},
		{name: "legacy with details", path: "/rs-scripted",
			answer: canned{200, "application/json", `[{"generated_text":"a b","details":{"finish_reason":"length","generated_tokens":2}}]`},
			check: func(t *testing.T, res response) {
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				assert.Equal(t, "length", gjson.GetBytes(res.body, "choices.0.finish_reason").String())
				assert.Equal(t, int64(2), gjson.GetBytes(res.body, "usage.completion_tokens").Int())
			}},
		{name: "legacy array on completions", path: "/rs-scripted-cmpl",
			answer: canned{200, "application/json", `[{"generated_text":"single"}]`},
			check: func(t *testing.T, res response) {
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				assert.Equal(t, "text_completion", gjson.GetBytes(res.body, "object").String())
				assert.Equal(t, "single", gjson.GetBytes(res.body, "choices.0.text").String())
				assert.Equal(t, tgModel, gjson.GetBytes(res.body, "model").String())
			}},
		{name: "other model rewritten, the rest kept", path: "/rs-scripted",
			answer: canned{200, "application/json", `{"id":"x-1","object":"chat.completion","created":7,"model":"tgi","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`},
			check: func(t *testing.T, res response) {
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				assert.Equal(t, `{"id":"x-1","object":"chat.completion","created":7,"model":"`+chatModel+`","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, string(res.body))
			}},
		{name: "wrong shape", path: "/rs-scripted", answer: canned{200, "application/json", `{"foo":1}`},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, http.StatusBadGateway, "server_error", "bad_upstream_response", `the upstream answered 200 without "choices"; expected an OpenAI chat.completion`)
			}},
		{name: "not json", path: "/rs-scripted", answer: canned{200, "application/json", `{"choices":[`},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, http.StatusBadGateway, "server_error", "bad_upstream_response", "the upstream answered 200 with a body that is not JSON; expected an OpenAI chat.completion")
			}},
		{name: "plain text", path: "/rs-scripted", answer: canned{200, "text/plain", `hello`},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, http.StatusBadGateway, "server_error", "bad_upstream_response", "the upstream answered 200 with a body that is not JSON; expected an OpenAI chat.completion")
			}},
		{name: "empty 200", path: "/rs-scripted", answer: canned{200, "application/json", ``},
			check: func(t *testing.T, res response) {
				requireOpenAIErrorShape(t, res, http.StatusBadGateway, "server_error", "bad_upstream_response")
			}},
		{name: "json scalar", path: "/rs-scripted", answer: canned{200, "application/json", `42`},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, http.StatusBadGateway, "server_error", "bad_upstream_response", "the upstream answered 200 with JSON that is not an object; expected an OpenAI chat.completion")
			}},
		{name: "array of other things", path: "/rs-scripted", answer: canned{200, "application/json", `[1,2]`},
			check: func(t *testing.T, res response) {
				requireOpenAIErrorShape(t, res, http.StatusBadGateway, "server_error", "bad_upstream_response")
			}},
		{name: "error object in a 200", path: "/rs-scripted", answer: canned{200, "application/json", `{"error":"boom happened"}`},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, http.StatusBadGateway, "server_error", "bad_upstream_response", "the upstream answered 200 with an error: boom happened")
			}},
		{name: "fastapi detail error", path: "/rs-scripted", answer: canned{422, "application/json", `{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}`},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, 422, "invalid_request_error", "", "field required")
			}},
		{name: "plain text error", path: "/rs-scripted", answer: canned{500, "text/plain", "worker crashed\n"},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, 500, "server_error", "", "worker crashed")
			}},
		{name: "empty error", path: "/rs-scripted", answer: canned{503, "text/plain", ""},
			check: func(t *testing.T, res response) {
				requireOpenAIError(t, res, 503, "server_error", "", "upstream answered 503 Service Unavailable with an empty body")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc.set(e2eID(t), tc.answer)
			body := chatBody(prompt)
			if strings.Contains(tc.path, "cmpl") {
				body = `{"prompt":"x"}`
			}
			res := r.send(t, tc.path, body, id(t))
			tc.check(t, res)
			if res.status >= 400 {
				assert.Empty(t, res.header.Values("X-Kong-LLM-Model"), "no model header on errors")
			}
		})
	}

	// X-Kong-LLM-Model with model_name_header on and off.
	for _, tc := range []struct {
		path, want string
	}{
		{"/rs-chat", "huggingface/" + chatModel},
		{"/rs-noheader", ""},
	} {
		t.Run("model header "+tc.path, func(t *testing.T) {
			t.Parallel()
			res := r.send(t, tc.path, chatBody(prompt), id(t))
			require.Equal(t, http.StatusOK, res.status)
			assert.Equal(t, tc.want, res.header.Get("X-Kong-LLM-Model"))
			if tc.want == "" {
				assert.Empty(t, res.header.Values("X-Kong-LLM-Model"))
			}
		})
	}
}
