package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

const chatModel = "mistralai/Mistral-7B-Instruct-v0.2"

// instance builds an Instance the way go-pdk does, from Kong's config JSON.
func instance(t *testing.T, config string) *Instance {
	t.Helper()
	i := New().(*Instance)
	require.NoError(t, i.UnmarshalJSON([]byte(config)))
	require.NoError(t, i.cfgErr, "config must parse")
	return i
}

func chatConfig(extra string) string {
	return `{"route_type":"llm/v1/chat","response_streaming":"allow","model_name_header":true,
		"auth":{"header_name":"Authorization","header_value":"Bearer hf_secret","allow_override":false},
		"model":{"provider":"huggingface","name":"` + chatModel + `","options":{` + extra + `}},
		"logging":{"log_statistics":false,"log_payloads":false}}`
}

var readCalls = []string{"kong.request.get_raw_body", "kong.request.get_headers", "kong.request.get_path_with_query"}

var targetCalls = []string{"kong.service.set_target", "kong.service.request.set_scheme", "kong.service.request.set_path", "kong.service.request.set_headers"}

func calls(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The PDK call budget of an OpenAI chat request, asserted call by call.
func TestAccessChatCallBudget(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		extra string
		want  []string
	}{
		{
			name: "body names the model, no options: nothing to rewrite",
			body: `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}]}`,
			want: calls(readCalls, targetCalls),
		},
		{
			name: "model filled in: one set_raw_body",
			body: `{"messages":[{"role":"user","content":"hi"}]}`,
			want: calls(readCalls, targetCalls, []string{"kong.service.request.set_raw_body"}),
		},
		{
			name: "stream: buffering off and the model header, no state",
			body: `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}],"stream":true}`,
			want: calls(readCalls, targetCalls, []string{"kong.nginx.set_ctx", "kong.response.set_header"}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := instance(t, chatConfig(tc.extra))
			f := &fakeKong{body: []byte(tc.body), headers: map[string][]string{"content-type": {"application/json"}}, pathQuery: "/chat"}
			f.run(t, i.Access)
			assert.Equal(t, tc.want, f.calls)
			assert.Nil(t, f.exit)
			assert.Equal(t, "router.huggingface.co", f.target.Host)
			assert.EqualValues(t, 443, f.target.Port)
			assert.Equal(t, "https", f.upScheme)
			assert.Equal(t, "/v1/chat/completions", f.path)
			assert.Equal(t, []string{"Bearer hf_secret"}, f.setHdrs["authorization"])
			assert.NotContains(t, f.setHdrs, "host")
		})
	}
}

func TestAccessStreamSwitchesBufferingOff(t *testing.T) {
	i := instance(t, chatConfig(""))
	f := &fakeKong{body: []byte(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`), pathQuery: "/chat"}
	f.run(t, i.Access)
	require.Contains(t, f.ctxSet, "buffered_proxying")
	assert.Equal(t, false, f.ctxSet["buffered_proxying"], "must be false: nil would reach Lua as the truthy \"NULL_VALUE\"")
	assert.Equal(t, "huggingface/"+chatModel, f.respSet[modelHeader])
	assert.NotContains(t, f.setHdrs, "accept-encoding", "a stream is passed through, encoding and all")
	assert.Empty(t, f.shared, "no state for a stream: the response phase does not run")
}

func TestAccessClearsClientCredentials(t *testing.T) {
	i := instance(t, chatConfig(""))
	f := &fakeKong{
		body:      []byte(`{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}]}`),
		headers:   map[string][]string{"apikey": {"kong-key"}, "authorization": {"Basic dTpw"}, "x-api-key": {"k"}, "accept": {"*/*"}},
		pathQuery: "/chat?apikey=kong-key&beta=true",
		scheme:    "http", host: "gw.local", port: 8000,
	}
	f.run(t, i.Access)
	assert.ElementsMatch(t, []string{"apikey", "x-api-key"}, f.cleared, "authorization is the configured header: replaced, not cleared")
	assert.Equal(t, []string{"Bearer hf_secret"}, f.setHdrs["authorization"])
	require.NotNil(t, f.rawQuery)
	assert.Equal(t, "beta=true", *f.rawQuery)
	// The client's key in the query stays in Kong's request.uri and
	// request.url (the original request line) whatever the plugin forwards:
	// both are rewritten, which needs the scheme, host and port (issue 6;
	// only a request with a credential in its query pays these 5 calls).
	assert.Equal(t, calls(readCalls, targetCalls, []string{"kong.service.request.clear_header", "kong.service.request.clear_header", "kong.service.request.set_raw_query"},
		[]string{"kong.request.get_scheme", "kong.request.get_host", "kong.request.get_port", "kong.log.set_serialize_value", "kong.log.set_serialize_value"}), f.calls)
	assert.Equal(t, map[string]any{
		"request.uri": "/chat?apikey=REDACTED&beta=true",
		"request.url": "http://gw.local:8000/chat?apikey=REDACTED&beta=true",
	}, f.serialized)
}

func TestAccessRejectsWithoutForwarding(t *testing.T) {
	tests := []struct {
		name, body, msg string
		status          int32
	}{
		{"bad JSON", `{"messages":`, "content-type header does not match request body, or bad JSON formatting", 400},
		{"other model", `{"model":"evil/model","messages":[{"role":"user","content":"x"}]}`, "cannot use own model - must be: " + chatModel, 400},
		{"no prompts", `{"messages":null}`, "request body doesn't contain valid prompts", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := instance(t, chatConfig(""))
			f := &fakeKong{body: []byte(tc.body), pathQuery: "/chat"}
			f.run(t, i.Access)
			require.NotNil(t, f.exit)
			assert.Equal(t, tc.status, f.exit.Status)
			assert.Equal(t, tc.msg, gjson.GetBytes(f.exit.Body, "error.message").String())
			assert.Equal(t, calls(readCalls, []string{"kong.response.exit"}), f.calls, "rejected before any service call")
			assert.Equal(t, "application/json", f.exit.Headers.AsMap()["Content-Type"].([]any)[0])
		})
	}
}

func TestAccessSpooledBodyOverLimit(t *testing.T) {
	cfg := strings.Replace(chatConfig(""), `"route_type"`, `"max_request_body_size":64,"route_type"`, 1)
	i := instance(t, cfg)
	file := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(file, []byte(`{"messages":[{"role":"user","content":"`+strings.Repeat("x", 100)+`"}]}`), 0o600))
	f := &fakeKong{bodyFile: file, pathQuery: "/chat"}
	f.run(t, i.Access)
	require.NotNil(t, f.exit)
	assert.EqualValues(t, 413, f.exit.Status)
	assert.Equal(t, []string{"kong.request.get_raw_body", "kong.response.exit"}, f.calls)
}

func TestAccessSpooledBodyIsRead(t *testing.T) {
	i := instance(t, chatConfig(""))
	file := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(file, []byte(`{"messages":[{"role":"user","content":"hi"}]}`), 0o600))
	f := &fakeKong{bodyFile: file, pathQuery: "/chat"}
	f.run(t, i.Access)
	require.Nil(t, f.exit)
	assert.Equal(t, chatModel, gjson.GetBytes(f.rawBody, "model").String())
}

func TestResponseChatPassthrough(t *testing.T) {
	i := instance(t, chatConfig(""))
	body := `{"id":"x","object":"chat.completion","created":1,"model":"` + chatModel + `","choices":[{"index":0,"message":{"role":"assistant","content":"2"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	f := &fakeKong{status: 200, upstreamBd: []byte(body)}
	f.run(t, i.Response)
	assert.Nil(t, f.exit, "an unchanged body is sent by Kong, not re-sent")
	assert.Equal(t, []string{"kong.ctx.shared.get", "kong.service.response.get_status", "kong.service.response.get_raw_body", "kong.response.set_header"}, f.calls)
	assert.Equal(t, "huggingface/"+chatModel, f.respSet[modelHeader])
}

func TestResponseChatModelRewritten(t *testing.T) {
	i := instance(t, chatConfig(""))
	f := &fakeKong{status: 200, upstreamBd: []byte(`{"id":"x","model":"other","choices":[]}`)}
	f.run(t, i.Response)
	require.NotNil(t, f.exit)
	assert.EqualValues(t, 200, f.exit.Status)
	assert.Equal(t, chatModel, gjson.GetBytes(f.exit.Body, "model").String())
	assert.Equal(t, "huggingface/"+chatModel, f.exit.Headers.AsMap()[modelHeader].([]any)[0])
}

func TestResponseUpstreamLoading(t *testing.T) {
	i := instance(t, chatConfig(""))
	f := &fakeKong{status: 503, upstreamBd: []byte(`{"error":"Model ` + chatModel + ` is currently loading","estimated_time":305.6863708496094}`)}
	f.run(t, i.Response)
	require.NotNil(t, f.exit)
	assert.EqualValues(t, 503, f.exit.Status)
	assert.Equal(t, "Model "+chatModel+" is currently loading", gjson.GetBytes(f.exit.Body, "error.message").String())
	h := f.exit.Headers.AsMap()
	assert.Equal(t, "306", h["Retry-After"].([]any)[0])
	assert.NotContains(t, h, modelHeader, "the model header is for successful answers")
}

func TestResponseBadShapeIs502(t *testing.T) {
	i := instance(t, chatConfig(""))
	f := &fakeKong{status: 200, upstreamBd: []byte(`<html>oops</html>`)}
	f.run(t, i.Response)
	require.NotNil(t, f.exit)
	assert.EqualValues(t, 502, f.exit.Status)
	assert.Contains(t, gjson.GetBytes(f.exit.Body, "error.message").String(), "not JSON")
}

func TestNativeCarriesStateToResponse(t *testing.T) {
	cfg := `{"route_type":"llm/v1/chat","llm_format":"huggingface","response_streaming":"allow","model_name_header":true,
		"model":{"provider":"huggingface","name":"` + chatModel + `"},"logging":{"log_statistics":false,"log_payloads":false}}`
	i := instance(t, cfg)
	f := &fakeKong{body: []byte(`{"inputs":"hi","parameters":{"max_new_tokens":5}}`), pathQuery: "/native/generate"}
	f.run(t, i.Access)
	require.Nil(t, f.exit)
	assert.Equal(t, "/hf-inference/models/"+chatModel, f.path)
	require.Contains(t, f.shared, stateKey)

	// The response phase of the same request: the router's list unwrapped
	// to the object /generate answers.
	r := &fakeKong{shared: f.shared, status: 200, upstreamBd: []byte(`[{"generated_text":"hello"}]`)}
	r.run(t, i.Response)
	require.NotNil(t, r.exit)
	assert.JSONEq(t, `{"generated_text":"hello"}`, string(r.exit.Body))
}

func TestConfigErrorOnEveryRequest(t *testing.T) {
	i := New().(*Instance)
	require.NoError(t, i.UnmarshalJSON([]byte(`{"route_type":"llm/v1/chat","llm_format":"bedrock","model":{"provider":"huggingface"}}`)))
	require.Error(t, i.cfgErr)
	f := &fakeKong{}
	f.run(t, i.Access)
	require.NotNil(t, f.exit)
	assert.EqualValues(t, 500, f.exit.Status)
	assert.Contains(t, gjson.GetBytes(f.exit.Body, "error.message").String(), "misconfigured")
	assert.Equal(t, "invalid_plugin_config", gjson.GetBytes(f.exit.Body, "error.code").String())
}

// TestConfigPanicStartsAnyway: a panic while reading the config (go-pdk
// calls UnmarshalJSON outside any handler, with no recover) must neither
// kill the server nor fail the start; the instance answers 500s instead.
func TestConfigPanicStartsAnyway(t *testing.T) {
	parseConfig = func([]byte) (*schema.Config, error) { panic("parser bug") }
	t.Cleanup(func() { parseConfig = schema.Parse })
	i := New().(*Instance)
	require.NoError(t, i.UnmarshalJSON([]byte(chatConfig(""))))
	require.ErrorContains(t, i.cfgErr, "parser bug")
	f := &fakeKong{}
	f.run(t, i.Access)
	require.NotNil(t, f.exit)
	assert.EqualValues(t, 500, f.exit.Status)
	assert.Equal(t, "invalid_plugin_config", gjson.GetBytes(f.exit.Body, "error.code").String())
}

// panicky is a capability that panics, to prove the handlers recover.
type panicky struct{}

func (panicky) Request(*schema.Config, *translate.ClientRequest) (*translate.UpstreamRequest, error) {
	panic("boom")
}

func (panicky) Response(*schema.Config, *translate.State, *translate.UpstreamResponse) (*translate.ClientResponse, error) {
	panic("boom")
}

func TestHandlersRecoverPanics(t *testing.T) {
	for name, run := range map[string]func(*Instance) func(*fakeKong, *testing.T){
		"access": func(i *Instance) func(*fakeKong, *testing.T) {
			return func(f *fakeKong, t *testing.T) { f.run(t, i.Access) }
		},
		"response": func(i *Instance) func(*fakeKong, *testing.T) {
			return func(f *fakeKong, t *testing.T) { f.run(t, i.Response) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			i := instance(t, chatConfig(""))
			i.capability = panicky{}
			f := &fakeKong{body: []byte(`{}`), pathQuery: "/", status: 200}
			run(i)(f, t)
			require.NotNil(t, f.exit)
			assert.EqualValues(t, 500, f.exit.Status)
			assert.Contains(t, gjson.GetBytes(f.exit.Body, "error.message").String(), "internal error in the ai-proxy-hf plugin ("+name+")")
			assert.Contains(t, strings.Join(f.logs, "\n"), "panic in "+name+": boom")
		})
	}
}

// The call budget of the other request types (see the table in handlers.go).
func TestAccessCallBudgetPerRoute(t *testing.T) {
	base := `"response_streaming":"allow","model_name_header":true,
		"auth":{"header_name":"Authorization","header_value":"Bearer hf_secret"},
		"logging":{"log_statistics":false,"log_payloads":false}`
	tests := []struct {
		name, config, path, body string
		want                     []string
	}{
		{
			name:   "completions on the router: translated body, state implied",
			config: `{"route_type":"llm/v1/completions",` + base + `,"model":{"provider":"huggingface","name":"` + chatModel + `"}}`,
			path:   "/completions", body: `{"prompt":"hi"}`,
			want: calls(readCalls, targetCalls, []string{"kong.service.request.set_raw_body"}),
		},
		{
			name:   "native /generate: the mode travels in the state",
			config: `{"route_type":"llm/v1/chat","llm_format":"huggingface",` + base + `,"model":{"provider":"huggingface","name":"` + chatModel + `","options":{"upstream_url":"http://tgi:8080"}}}`,
			path:   "/native/generate", body: `{"inputs":"hi"}`,
			want: calls(readCalls, targetCalls, []string{"kong.ctx.shared.set"}),
		},
		{
			name:   "native /generate_stream: unbuffered",
			config: `{"route_type":"llm/v1/chat","llm_format":"huggingface",` + base + `,"model":{"provider":"huggingface","name":"` + chatModel + `","options":{"upstream_url":"http://tgi:8080"}}}`,
			path:   "/native/generate_stream", body: `{"inputs":"hi"}`,
			want: calls(readCalls, targetCalls, []string{"kong.nginx.set_ctx", "kong.response.set_header"}),
		},
		{
			name:   "preserve: always unbuffered",
			config: `{"route_type":"preserve",` + base + `,"model":{"provider":"huggingface","name":"` + chatModel + `"}}`,
			path:   "/v1/chat/completions", body: `{"messages":[]}`,
			want: calls(readCalls, targetCalls, []string{"kong.nginx.set_ctx", "kong.response.set_header"}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := instance(t, tc.config)
			f := &fakeKong{body: []byte(tc.body), pathQuery: tc.path}
			f.run(t, i.Access)
			require.Nil(t, f.exit, "%v", f.exit)
			assert.Equal(t, tc.want, f.calls)
		})
	}
}

func TestResponseTokenHeadersReadOnlyWhenAsked(t *testing.T) {
	cfg := `{"route_type":"llm/v1/completions","response_streaming":"allow","model_name_header":false,
		"model":{"provider":"huggingface","name":"` + chatModel + `"},"logging":{"log_statistics":true,"log_payloads":false}}`
	i := instance(t, cfg)
	a := &fakeKong{body: []byte(`{"prompt":"one two three"}`), pathQuery: "/completions"}
	a.run(t, i.Access)
	require.Contains(t, a.shared, stateKey, "statistics on: the state (with its start time) travels")

	r := &fakeKong{shared: a.shared, status: 200, upstreamBd: []byte(`[{"generated_text":"four five"}]`),
		respHdrs: map[string][]string{"x-prompt-tokens": {"3"}, "x-generated-tokens": {"2"}}}
	r.run(t, i.Response)
	assert.Equal(t, []string{"kong.ctx.shared.get", "kong.service.response.get_status", "kong.response.get_headers", "kong.service.response.get_raw_body",
		"kong.log.set_serialize_value", "kong.response.exit"}, r.calls, "statistics on: the record is one more call")
	rec := r.serialized["ai.proxy"].(map[string]any)
	assert.Equal(t, map[string]any{"prompt_tokens": 3.0, "completion_tokens": 2.0, "total_tokens": 5.0, "cost": 0.0,
		"time_per_token": rec["usage"].(map[string]any)["time_per_token"], "time_to_first_token": rec["meta"].(map[string]any)["llm_latency"]}, rec["usage"])
	require.NotNil(t, r.exit)
	assert.JSONEq(t, `{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}`, gjson.GetBytes(r.exit.Body, "usage").Raw)
	assert.Equal(t, "text_completion", gjson.GetBytes(r.exit.Body, "object").String())
	assert.NotContains(t, r.exit.Headers.AsMap(), modelHeader, "model_name_header is off")
}

// A video answer's bytes never cross the plugin socket: the response phase
// reads the status and the content type, and leaves the body to Kong
// (translate.ResponseBodyReader); a JSON job or an error is read.
func TestResponseVideoBytesNotRead(t *testing.T) {
	cfg := `{"route_type":"video/v1/videos/generations","genai_category":"video/generation","model_name_header":true,
		"auth":{"header_name":"Authorization","header_value":"Bearer hf_secret"},
		"model":{"provider":"huggingface","name":"Lightricks/LTX-Video"}}`
	i := instance(t, cfg)
	a := &fakeKong{body: []byte(`{"prompt":"a cat"}`), headers: map[string][]string{"content-type": {"application/json"}}, pathQuery: "/video"}
	a.run(t, i.Access)
	require.Nil(t, a.exit)
	require.Contains(t, a.shared, stateKey, "the video state asks for the headers")

	head := []string{"kong.ctx.shared.get", "kong.service.response.get_status", "kong.response.get_headers"}
	tests := []struct {
		name   string
		status int
		ctype  string
		want   []string
	}{
		{"mp4 bytes", 200, "video/mp4", calls(head, []string{"kong.response.set_header"})},
		{"json job", 200, "application/json", calls(head, []string{"kong.service.response.get_raw_body", "kong.response.set_header"})},
		{"error", 503, "application/json", calls(head, []string{"kong.nginx.get_ctx", "kong.service.response.get_raw_body", "kong.log.warn", "kong.response.exit"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeKong{shared: a.shared, status: tc.status, respHdrs: map[string][]string{"content-type": {tc.ctype}},
				upstreamBd: []byte(`{"id":"video_1","object":"video","model":"Lightricks/LTX-Video"}`)}
			r.run(t, i.Response)
			assert.Equal(t, tc.want, r.calls)
		})
	}
}

// After an upstream reset or timeout Kong's error handler has answered and
// cleared buffered_proxying: the response phase must not ask for the
// service body (Kong raises, and the client gets a bare 500) but answer the
// status in the OpenAI shape.
func TestResponseKongAnsweredItself(t *testing.T) {
	i := instance(t, chatConfig(""))
	for _, tc := range []struct {
		status int
		code   string
	}{{502, "upstream_unreachable"}, {504, "upstream_timeout"}} {
		f := &fakeKong{status: tc.status, kongAnswered: true}
		f.run(t, i.Response)
		require.NotNil(t, f.exit)
		assert.EqualValues(t, tc.status, f.exit.Status)
		assert.Equal(t, tc.code, gjson.GetBytes(f.exit.Body, "error.code").String())
		assert.Equal(t, "server_error", gjson.GetBytes(f.exit.Body, "error.type").String())
		assert.NotContains(t, f.calls, "kong.service.response.get_raw_body")
		assert.Contains(t, f.calls, "kong.nginx.get_ctx")
	}
}
