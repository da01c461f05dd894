package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// TestTextgenUpstreamSelection: issue 4 row 1. The router's paths by
// default; model.options.upstream_url as a base with the capability path
// appended, or kept when the URL already ends with it — streamed and not.
func TestTextgenUpstreamSelection(t *testing.T) {
	t.Parallel()
	tgi := startHF(t, hfsim.Options{Token: hfToken})
	base := tgi.URL()
	chat := func(up string) string { return chatConf(t, "model.options.upstream_url", jsonString(up)) }
	cmpl := func(up string) string {
		c := conf(t, baseConf("llm/v1/completions", tgModel))
		if up != "" {
			c = conf(t, c, "model.options.upstream_url", jsonString(up))
		}
		return c
	}
	native := func(up string) string {
		c := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
		if up != "" {
			c = conf(t, c, "model.options.upstream_url", jsonString(up))
		}
		return c
	}
	r := startRig(t,
		route{path: "/sel-router", config: chatConf(t)},
		route{path: "/sel-tgi", config: chat(base)},
		route{path: "/sel-tgi-slash", config: chat(base + "/")},
		route{path: "/sel-tgi-v1", config: chat(base + "/v1/")},
		route{path: "/sel-tgi-prefix", config: chat(base + "/gw/tgi")},
		route{path: "/sel-tgi-full", config: chat(base + "/v1/chat/completions")},
		route{path: "/sel-cmpl-router", config: cmpl("")},
		route{path: "/sel-cmpl-tgi", config: cmpl(base)},
		route{path: "/sel-cmpl-full", config: cmpl(base + "/v1/completions")},
		route{path: "/sel-native-router", config: native("")},
		route{path: "/sel-native-tgi", config: native(base)},
		route{path: "/sel-native-prefix", config: native(base + "/gw")},
	)
	const prompt = "Where does this go?"
	chatB := chatBody(prompt)
	cmplB := `{"prompt":` + jsonString(prompt) + `}`
	nativeB := `{"inputs":` + jsonString(prompt) + `}`
	for _, tc := range []struct {
		name, path, body string
		onTGI            bool
		wantPath         string
		noStream         bool   // the route cannot stream (tested in TestTextgenStreaming)
		streamPath       string // the client path of the streamed variant, if another
		wantStreamPath   string
	}{
		{name: "chat router", path: "/sel-router", body: chatB, wantPath: "/v1/chat/completions"},
		{name: "chat tgi base", path: "/sel-tgi", body: chatB, onTGI: true, wantPath: "/v1/chat/completions"},
		{name: "chat tgi base slash", path: "/sel-tgi-slash", body: chatB, onTGI: true, wantPath: "/v1/chat/completions"},
		{name: "chat openai-style base", path: "/sel-tgi-v1", body: chatB, onTGI: true, wantPath: "/v1/chat/completions"},
		{name: "chat behind a path prefix", path: "/sel-tgi-prefix", body: chatB, onTGI: true, wantPath: "/gw/tgi/v1/chat/completions"},
		{name: "chat full url kept", path: "/sel-tgi-full", body: chatB, onTGI: true, wantPath: "/v1/chat/completions"},
		{name: "completions router", path: "/sel-cmpl-router", body: cmplB, wantPath: "/hf-inference/models/" + tgModel, noStream: true},
		{name: "completions tgi base", path: "/sel-cmpl-tgi", body: cmplB, onTGI: true, wantPath: "/v1/completions"},
		{name: "completions full url kept", path: "/sel-cmpl-full", body: cmplB, onTGI: true, wantPath: "/v1/completions"},
		{name: "native router", path: "/sel-native-router/generate", body: nativeB, wantPath: "/hf-inference/models/" + tgModel,
			streamPath: "/sel-native-router/generate_stream", wantStreamPath: "/hf-inference/models/" + tgModel},
		{name: "native tgi", path: "/sel-native-tgi/generate", body: nativeB, onTGI: true, wantPath: "/generate",
			streamPath: "/sel-native-tgi/generate_stream", wantStreamPath: "/generate_stream"},
		{name: "native tgi behind a prefix", path: "/sel-native-prefix/generate", body: nativeB, onTGI: true, wantPath: "/gw/generate",
			streamPath: "/sel-native-prefix/generate_stream", wantStreamPath: "/gw/generate_stream"},
	} {
		for _, stream := range []bool{false, true} {
			if stream && tc.noStream {
				continue
			}
			name := tc.name
			if stream {
				name += " stream"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv, other := router, tgi
				if tc.onTGI {
					srv, other = tgi, router
				}
				path, body, wantPath := tc.path, tc.body, tc.wantPath
				if stream {
					body = withStream(body)
					if tc.streamPath != "" {
						path, wantPath = tc.streamPath, tc.wantStreamPath
					}
				}
				res := r.send(t, path, body, id(t))
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				if stream {
					assert.Contains(t, res.header.Get("Content-Type"), "text/event-stream")
					assert.NotEmpty(t, dataEvents(sseEvents(t, res.body)))
				} else {
					assert.Contains(t, res.header.Get("Content-Type"), "application/json")
				}
				up := oneUpstream(t, srv, e2eID(t))
				assert.Equal(t, wantPath, up.Path)
				assert.Equal(t, http.MethodPost, up.Method)
				assert.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
				assert.Empty(t, upstreamRequests(other, e2eID(t)))
			})
		}
	}
}

// TestTextgenModel: issue 4 row 2. The model from the config, else from the
// body; a different body model, none at all and anything that is not a Hub
// id are 400s that never reach the upstream — streamed and not.
func TestTextgenModel(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/mod-cfg", config: chatConf(t)},
		route{path: "/mod-body", config: chatConf(t, "model.name", "-")},
	)
	msgs := `"messages":[{"role":"user","content":"Which model?"}]`
	withModel := func(m string) string { return `{"model":` + jsonString(m) + `,` + msgs + `}` }
	type want struct {
		status int
		model  string // upstream and response model (200)
		code   string // error code (400)
		msg    string // exact error message, or prefix when prefix is set
		prefix bool
	}
	invalid := func(m string) want {
		return want{status: 400, code: "invalid_model", msg: "model " + jsonString(m)[:1], prefix: true}
	}
	cases := []struct {
		name, path, body string
		want             want
	}{
		{"config model, none in body", "/mod-cfg", `{` + msgs + `}`, want{status: 200, model: chatModel}},
		{"config model, same in body", "/mod-cfg", withModel(chatModel), want{status: 200, model: chatModel}},
		{"config model, null in body", "/mod-cfg", `{"model":null,` + msgs + `}`, want{status: 200, model: chatModel}},
		{"config model, other in body", "/mod-cfg", withModel(otherModel), want{status: 400, msg: "cannot use own model - must be: " + chatModel}},
		{"config model, empty in body", "/mod-cfg", withModel(""), want{status: 200, model: chatModel}},
		{"body model", "/mod-body", withModel(otherModel), want{status: 200, model: otherModel}},
		{"body model with provider", "/mod-body", withModel(otherModel + ":together"), want{status: 200, model: otherModel + ":together"}},
		{"body model with policy", "/mod-body", withModel(otherModel + ":fastest"), want{status: 200, model: otherModel + ":fastest"}},
		{"no model anywhere", "/mod-body", `{` + msgs + `}`, want{status: 400, msg: "model parameter not found in request, nor in gateway configuration"}},
		{"model not a string", "/mod-body", `{"model":42,` + msgs + `}`, want{status: 400, msg: `the request's "model" must be a string`}},
		{"no org", "/mod-body", withModel("gpt2"), invalid("gpt2")},
		{"extra slash", "/mod-body", withModel("org/name/v1"), invalid("org/name/v1")},
		{"leading slash", "/mod-body", withModel("/org/name"), invalid("/org/name")},
		{"dot dot", "/mod-body", withModel("../../admin"), invalid("../../admin")},
		{"dot dot in name", "/mod-body", withModel("org/a..b"), invalid("org/a..b")},
		{"dot segment", "/mod-body", withModel("org/.."), invalid("org/..")},
		{"question mark", "/mod-body", withModel("org/name?x=1"), invalid("org/name?x=1")},
		{"hash", "/mod-body", withModel("org/name#frag"), invalid("org/name#frag")},
		{"percent", "/mod-body", withModel("org/name%2F..%2Fx"), invalid("org/name%2F..%2Fx")},
		{"space", "/mod-body", withModel("org/na me"), invalid("org/na me")},
		{"newline", "/mod-body", withModel("org/name\nX-Injected: 1"), invalid("org/name\nX-Injected: 1")},
		{"nul", "/mod-body", withModel("org/name\x00"), invalid("org/name\x00")},
		{"tab", "/mod-body", withModel("org/\tname"), invalid("org/\tname")},
		{"del", "/mod-body", withModel("org/name\x7f"), invalid("org/name\x7f")},
		{"backslash", "/mod-body", withModel(`org\name`), invalid(`org\name`)},
		{"empty suffix", "/mod-body", withModel("org/name:"), invalid("org/name:")},
		{"slash in suffix", "/mod-body", withModel("org/name:a/b"), invalid("org/name:a/b")},
		{"too long", "/mod-body", withModel("org/" + strings.Repeat("n", 300)), invalid("org/")},
	}
	for _, tc := range cases {
		bufferedAndStreamed(t, tc.name, tc.body, func(t *testing.T, stream bool, body string) {
			res := r.send(t, tc.path, body, id(t))
			if tc.want.status != http.StatusOK {
				msg := requireOpenAIErrorShape(t, res, tc.want.status, "invalid_request_error", tc.want.code)
				if tc.want.prefix {
					assert.True(t, strings.HasPrefix(msg, tc.want.msg), "message %q", msg)
					assert.Contains(t, msg, "is not a valid Hugging Face model id")
				} else {
					assert.Equal(t, tc.want.msg, msg)
				}
				requireNothingUpstream(t, router, e2eID(t))
				return
			}
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			up := oneUpstream(t, router, e2eID(t))
			assert.Equal(t, tc.want.model, gjson.GetBytes(up.Body, "model").String())
			assert.Equal(t, "huggingface/"+tc.want.model, res.header.Get("X-Kong-LLM-Model"))
			if stream {
				evs := dataEvents(sseEvents(t, res.body))
				require.NotEmpty(t, evs)
				assert.Equal(t, tc.want.model, gjson.Get(evs[0], "model").String())
			} else {
				assert.Equal(t, tc.want.model, gjson.GetBytes(res.body, "model").String())
			}
		})
	}
}

// TestTextgenBodyValidation: issue 4 row 3, the validation messages (Kong's
// own wording), streamed and not; nothing rejected reaches the upstream.
func TestTextgenBodyValidation(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/val-chat", config: chatConf(t)},
		route{path: "/val-cmpl", config: baseConf("llm/v1/completions", tgModel)},
		route{path: "/val-native", config: conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)},
	)
	const (
		badJSON   = "content-type header does not match request body, or bad JSON formatting"
		noPrompts = "request body doesn't contain valid prompts"
	)
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name, path, body, msg string
	}{
		{"not json", "/val-chat", `messages: hi`, badJSON},
		{"truncated json", "/val-chat", `{` + msgs, badJSON},
		{"json array", "/val-chat", `[{` + msgs + `}]`, badJSON},
		{"json string", "/val-chat", `"hi"`, badJSON},
		{"empty body", "/val-chat", ``, badJSON},
		{"empty object", "/val-chat", `{}`, noPrompts},
		{"messages empty", "/val-chat", `{"messages":[]}`, noPrompts},
		{"messages null", "/val-chat", `{"messages":null}`, noPrompts},
		{"messages not an array", "/val-chat", `{"messages":"hi"}`, noPrompts},
		{"both formats", "/val-chat", `{` + msgs + `,"prompt":"hi"}`, "request matches multiple LLM request formats"},
		{"prompt on chat", "/val-chat", `{"prompt":"hi"}`, "[llm/v1/completions] message format is not compatible with [llm/v1/chat] route type"},
		{"messages on completions", "/val-cmpl", `{` + msgs + `}`, "[llm/v1/chat] message format is not compatible with [llm/v1/completions] route type"},
		{"both formats on completions", "/val-cmpl", `{` + msgs + `,"prompt":"hi"}`, "request matches multiple LLM request formats"},
		{"prompt not a string", "/val-cmpl", `{"prompt":42}`, noPrompts},
		{"duplicate model key", "/val-chat", `{"model":"` + chatModel + `",` + msgs + `,"model":"evil/model"}`, `the request body has the key "model" more than once`},
		{"duplicate messages key", "/val-chat", `{` + msgs + `,` + msgs + `}`, `the request body has the key "messages" more than once`},
		{"native not json", "/val-native/generate", `inputs=hi`, badJSON},
		{"native without inputs", "/val-native/generate", `{"parameters":{}}`, `llm_format huggingface takes TGI requests: {"inputs": "<prompt>", "parameters": {...}}; "inputs" must be a string. OpenAI requests go to <route>/v1/completions (completions) or <route>/v1/chat/completions (chat)`},
		{"native parameters not an object", "/val-native/generate", `{"inputs":"hi","parameters":[1]}`, `"parameters" must be an object`},
	} {
		bufferedAndStreamed(t, tc.name, tc.body, func(t *testing.T, _ bool, body string) {
			res := r.send(t, tc.path, body, id(t))
			requireOpenAIError(t, res, http.StatusBadRequest, "invalid_request_error", "", tc.msg)
			requireNothingUpstream(t, router, e2eID(t))
		})
	}
}

// TestTextgenFieldsPassThrough: issue 4 row 3. OpenAI fields reach the
// upstream untouched: the upstream body equals the client's byte for byte
// once "model" and the filled-in options are taken out of both (key order,
// number spelling, escapes and whitespace kept).
func TestTextgenFieldsPassThrough(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/pass", config: chatConf(t)},
		route{path: "/pass-opts", config: chatConf(t, "model.options.max_tokens", "64", "model.options.temperature", "0.25", "model.options.top_p", "0.5", "model.options.top_k", "40")},
	)
	const tools = `[{"type":"function","function":{"name":"get_weather","description":"Weather \u00e9t\u00e9","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}]`
	compact := `{"seed":42,"messages":[{"role":"system","content":"Be \"brief\"\n"},{"role":"user","content":"Weather in Paris? \u2603"}],"stop":["\n\n","END"],"frequency_penalty":0.0,"presence_penalty":-1.50,"logit_bias":{"50256":-100},"response_format":{"type":"json_object"},"tools":` + tools + `,"tool_choice":"auto","n":1,"big":12345678901234567890,"exp":1E+2,"user":"u-1"}`
	pretty := "{\n  \"tools\": " + tools + ",\n  \"messages\": [\n    {\"role\": \"user\", \"content\": \"hi\"}\n  ],\n  \"seed\": 7,\n  \"stop\": \"END\",\n  \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": {\"type\": \"object\"}}}\n}\n"
	for _, tc := range []struct {
		name, path, body string
		// unchanged: the body already says everything (model, options).
		unchanged bool
	}{
		{name: "compact, model filled", path: "/pass", body: compact},
		{name: "pretty, model filled", path: "/pass", body: pretty},
		{name: "model already right", path: "/pass", body: `{"model":"` + chatModel + `",` + compact[1:], unchanged: true},
		{name: "options filled", path: "/pass-opts", body: compact},
		{name: "options all set by the client", path: "/pass-opts", body: `{"model":"` + chatModel + `","max_tokens":5,"temperature":1.0,"top_p":1,"top_k":1,` + compact[1:], unchanged: true},
	} {
		bufferedAndStreamed(t, tc.name, tc.body, func(t *testing.T, stream bool, body string) {
			res := r.send(t, tc.path, body, id(t))
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			up := oneUpstream(t, router, e2eID(t))
			if tc.unchanged {
				assert.Equal(t, body, string(up.Body), "a body that needs no change goes upstream as sent")
				return
			}
			strip := []string{"model", "max_tokens", "temperature", "top_p", "top_k"}
			assert.Equal(t, withoutKeys(t, []byte(body), strip...), withoutKeys(t, up.Body, strip...))
			assert.Equal(t, chatModel, gjson.GetBytes(up.Body, "model").String())
			// Tools go through, and the upstream answered with a call.
			if !stream {
				assert.Equal(t, "get_weather", gjson.GetBytes(res.body, "choices.0.message.tool_calls.0.function.name").String(), "body: %s", res.body)
			}
		})
	}
}

// TestTextgenOptions: issue 4 row 3. model.options fill in only what the
// request leaves out (absent or null); request values win (Kong 3.13);
// huggingface.use_cache / wait_for_model become headers, never body keys.
func TestTextgenOptions(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/opt", config: chatConf(t, "model.options.max_tokens", "3", "model.options.temperature", "0.25", "model.options.top_p", "0.5", "model.options.top_k", "40")},
		route{path: "/opt-hf", config: chatConf(t, "model.options.huggingface", `{"use_cache":false,"wait_for_model":true}`)},
		route{path: "/opt-none", config: chatConf(t)},
		route{path: "/opt-native", config: conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`, "model.options.max_tokens", "3", "model.options.temperature", "0.25", "model.options.huggingface", `{"use_cache":true,"wait_for_model":false}`)},
	)
	const prompt = "one two three four five six"
	msgs := `"messages":[{"role":"user","content":"` + prompt + `"}]`
	for _, tc := range []struct {
		name, path, body string
		want             map[string]string // upstream body path → raw JSON ("" = absent)
		headers          map[string]string // upstream header → value ("" = absent)
		truncatedTo      int               // max tokens the answer honours (0 = none)
	}{
		{name: "all filled", path: "/opt", body: `{` + msgs + `}`,
			want: map[string]string{"max_tokens": "3", "temperature": "0.25", "top_p": "0.5", "top_k": "40"}, truncatedTo: 3},
		{name: "request wins", path: "/opt", body: `{` + msgs + `,"max_tokens":5,"temperature":0.9000,"top_p":1,"top_k":7}`,
			want: map[string]string{"max_tokens": "5", "temperature": "0.9000", "top_p": "1", "top_k": "7"}, truncatedTo: 5},
		{name: "null filled", path: "/opt", body: `{` + msgs + `,"max_tokens":null,"temperature":null}`,
			want: map[string]string{"max_tokens": "3", "temperature": "0.25", "top_p": "0.5", "top_k": "40"}, truncatedTo: 3},
		{name: "max_completion_tokens counts as a limit", path: "/opt", body: `{` + msgs + `,"max_completion_tokens":4}`,
			want: map[string]string{"max_tokens": "", "max_completion_tokens": "4", "temperature": "0.25"}, truncatedTo: 4},
		{name: "nothing configured", path: "/opt-none", body: `{` + msgs + `}`,
			want:    map[string]string{"max_tokens": "", "temperature": "", "top_p": "", "top_k": ""},
			headers: map[string]string{"x-use-cache": "", "x-wait-for-model": ""}},
		{name: "hf options as headers", path: "/opt-hf", body: `{` + msgs + `}`,
			want:    map[string]string{"use_cache": "", "wait_for_model": "", "options": ""},
			headers: map[string]string{"x-use-cache": "false", "x-wait-for-model": "true"}},
		{name: "native parameters", path: "/opt-native/generate", body: `{"inputs":"` + prompt + `","parameters":{"temperature":0.5}}`,
			want:    map[string]string{"parameters.max_new_tokens": "3", "parameters.temperature": "0.5", "parameters.top_p": "", "use_cache": ""},
			headers: map[string]string{"x-use-cache": "true", "x-wait-for-model": "false"}, truncatedTo: 3},
	} {
		for _, stream := range []bool{false, true} {
			name, body, path := tc.name, tc.body, tc.path
			if stream {
				name += " stream"
				body = withStream(body)
				path = strings.Replace(path, "/generate", "/generate_stream", 1)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				res := r.send(t, path, body, id(t))
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				up := oneUpstream(t, router, e2eID(t))
				for p, raw := range tc.want {
					got := gjson.GetBytes(up.Body, p)
					if raw == "" {
						assert.False(t, got.Exists(), "%s should be absent: %s", p, up.Body)
					} else {
						assert.Equal(t, raw, got.Raw, "%s in %s", p, up.Body)
					}
				}
				for h, v := range tc.headers {
					assert.Equal(t, v, up.Header.Get(h), "upstream header %s", h)
					_, present := up.Header[http.CanonicalHeaderKey(h)]
					assert.Equal(t, v != "", present, "upstream header %s", h)
				}
				if tc.truncatedTo > 0 && !stream && !strings.Contains(path, "generate") {
					want, _ := hfsim.Truncate(hfsim.Reply(prompt), tc.truncatedTo)
					assert.Equal(t, want, gjson.GetBytes(res.body, "choices.0.message.content").String())
					assert.Equal(t, "length", gjson.GetBytes(res.body, "choices.0.finish_reason").String())
				}
			})
		}
	}
}

// TestTextgenBodySize: issue 4 row 3. A body over max_request_body_size is
// a 413 before anything goes upstream, also when the stand-in spooled it
// to a temp file (over client_body_buffer_size, 8 KiB); a spooled body
// under the limit is read from its file and forwarded whole.
func TestTextgenBodySize(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/size-small", config: chatConf(t, "max_request_body_size", "1024")},
		route{path: "/size-mid", config: chatConf(t, "max_request_body_size", "9000")},
		route{path: "/size-big", config: chatConf(t, "max_request_body_size", "65536")},
		route{path: "/size-unlimited", config: chatConf(t, "max_request_body_size", "0")},
		route{path: "/size-native", config: conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`, "max_request_body_size", "1024")},
	)
	body := func(n int) string { return chatBody(strings.Repeat("a", n)) }
	small := body(100)    // in memory, under every limit
	mid := body(2000)     // in memory, over 1024
	spooled := body(9500) // over 8 KiB: spooled
	huge := body(200000)  // spooled, over 64 KiB
	for _, tc := range []struct {
		name, path, body string
		status           int
		spooled          bool
	}{
		{"small under limit", "/size-small", small, 200, false},
		{"in memory over limit", "/size-small", mid, 413, false},
		{"spooled over limit", "/size-mid", spooled, 413, true},
		{"spooled under limit", "/size-big", spooled, 200, true},
		{"spooled far over limit", "/size-big", huge, 413, true},
		{"unlimited", "/size-unlimited", huge, 200, true},
		{"native over limit", "/size-native/generate", `{"inputs":"` + strings.Repeat("b", 2000) + `"}`, 413, false},
	} {
		// Not bufferedAndStreamed: its variants run in parallel, and the
		// spool counter is the rig's, so each request's share of it is
		// only known when the requests on this rig go one at a time.
		for _, stream := range []bool{false, true} {
			name, b := tc.name, tc.body
			if stream {
				name, b = name+" stream", withStream(b)
			}
			t.Run(name, func(t *testing.T) {
				before := r.spooledBodies()
				res := r.send(t, tc.path, b, id(t))
				spooled := r.spooledBodies() - before
				switch {
				case !standIn():
					// An external Kong's spooling is not observable.
				case tc.spooled:
					assert.Equal(t, uint64(1), spooled, "a %d-byte body is over client_body_buffer_size (8 KiB): the stand-in spools it", len(b))
				default:
					assert.Zero(t, spooled, "a %d-byte body fits client_body_buffer_size (8 KiB): kept in memory", len(b))
				}
				if tc.status == http.StatusRequestEntityTooLarge {
					msg := requireOpenAIErrorShape(t, res, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large")
					assert.Contains(t, msg, fmt.Sprintf("request body is %d bytes, over the max_request_body_size", len(b)))
					requireNothingUpstream(t, router, e2eID(t))
					return
				}
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				up := oneUpstream(t, router, e2eID(t))
				assert.Equal(t, withoutKeys(t, []byte(b), "model"), withoutKeys(t, up.Body, "model"), "the body reached the upstream whole")
			})
		}
	}
	if standIn() {
		assert.GreaterOrEqual(t, r.spooledBodies(), uint64(8), "the stand-in spooled the bodies over 8 KiB")
	}
}
