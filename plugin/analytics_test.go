package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loggingConfig is a config of route type rt with extra top-level fields,
// model options and the logging switches.
func loggingConfig(rt, extra, options, logging string) string {
	if extra != "" {
		extra += ","
	}
	return `{"route_type":"` + rt + `",` + extra + `"response_streaming":"allow","model_name_header":true,
		"auth":{"header_name":"Authorization","header_value":"Bearer hf_secret"},
		"model":{"provider":"huggingface","name":"` + chatModel + `","options":{` + options + `}},
		"logging":` + logging + `}`
}

const (
	logOff      = `{"log_statistics":false,"log_payloads":false}`
	logStats    = `{"log_statistics":true,"log_payloads":false}`
	logPayloads = `{"log_statistics":false,"log_payloads":true}`
)

// phaseCalls runs one request through access and, when Kong would run it,
// the response phase, and returns both fakes.
func phaseCalls(t *testing.T, config, path, body string, upstream []byte, respHdrs map[string][]string) (*fakeKong, *fakeKong) {
	t.Helper()
	i := New().(*Instance)
	require.NoError(t, i.UnmarshalJSON([]byte(config)))
	a := &fakeKong{body: []byte(body), headers: map[string][]string{"content-type": {"application/json"}}, pathQuery: path}
	if strings.HasPrefix(body, "@spooled:") {
		file := filepath.Join(t.TempDir(), "body")
		require.NoError(t, os.WriteFile(file, []byte(strings.TrimPrefix(body, "@spooled:")), 0o600))
		a.body, a.bodyFile = nil, file
	}
	a.run(t, i.Access)
	if a.exit != nil || a.ctxSet["buffered_proxying"] == false {
		return a, nil
	}
	r := &fakeKong{shared: a.shared, status: 200, upstreamBd: upstream, respHdrs: respHdrs}
	r.run(t, i.Response)
	return a, r
}

// The call budget of handlers.go's table, logging off and on, per request
// type: statistics off changes nothing; statistics on adds the state, the
// record and, for text-generation answers, the token-header read.
func TestAnalyticsCallBudget(t *testing.T) {
	chatBody := `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}]}`
	chatAnswer := []byte(`{"id":"x","object":"chat.completion","model":"` + chatModel + `","choices":[{"index":0,"message":{"role":"assistant","content":"2"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	tgiHeaders := map[string][]string{"x-prompt-tokens": {"1"}, "x-generated-tokens": {"2"}}
	tgi := `"upstream_url":"http://tgi:8080"`
	native := `"llm_format":"huggingface"`
	type row struct {
		name, rt, extra, options, path, body string
		upstream                             []byte
		headers                              map[string][]string
		off, stats, payloads                 [2]int // access, response (-1: the phase does not run)
		// noPayload: payloads alone have nothing to log (no body read).
		noPayload bool
	}
	rows := []row{
		{name: "chat, body names the model", rt: "llm/v1/chat", path: "/chat", body: chatBody, upstream: chatAnswer,
			off: [2]int{7, 4}, stats: [2]int{8, 5}, payloads: [2]int{8, 5}},
		{name: "chat, model filled in", rt: "llm/v1/chat", path: "/chat", body: `{"messages":[{"role":"user","content":"hi"}]}`, upstream: chatAnswer,
			off: [2]int{8, 4}, stats: [2]int{9, 5}, payloads: [2]int{9, 5}},
		{name: "chat streamed", rt: "llm/v1/chat", path: "/chat", body: `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}],"stream":true}`,
			off: [2]int{9, -1}, stats: [2]int{10, -1}, payloads: [2]int{10, -1}},
		{name: "completions on the router", rt: "llm/v1/completions", path: "/completions", body: `{"prompt":"hi"}`,
			upstream: []byte(`[{"generated_text":"a b"}]`), headers: tgiHeaders,
			off: [2]int{8, 4}, stats: [2]int{9, 6}, payloads: [2]int{9, 5}},
		{name: "native /generate", rt: "llm/v1/chat", extra: native, options: tgi, path: "/native/generate", body: `{"inputs":"hi"}`,
			upstream: []byte(`{"generated_text":"a b"}`), headers: tgiHeaders,
			off: [2]int{8, 4}, stats: [2]int{8, 6}, payloads: [2]int{8, 5}},
		{name: "native /generate_stream", rt: "llm/v1/chat", extra: native, options: tgi, path: "/native/generate_stream", body: `{"inputs":"hi"}`,
			off: [2]int{9, -1}, stats: [2]int{10, -1}, payloads: [2]int{10, -1}},
		{name: "preserve", rt: "preserve", path: "/v1/chat/completions", body: `{"messages":[]}`,
			off: [2]int{9, -1}, stats: [2]int{10, -1}, payloads: [2]int{10, -1}},
		{name: "rejected", rt: "llm/v1/chat", path: "/chat", body: `{"model":"evil/model","messages":[{"role":"user","content":"x"}]}`,
			off: [2]int{4, -1}, stats: [2]int{6, -1}, payloads: [2]int{5, -1}},
		{name: "spooled body over max_request_body_size", rt: "llm/v1/chat", extra: `"max_request_body_size":16`, path: "/chat", body: "@spooled:" + chatBody,
			off: [2]int{2, -1}, stats: [2]int{4, -1}, payloads: [2]int{2, -1}, noPayload: true},
	}
	for _, tc := range rows {
		for _, mode := range []struct {
			name, logging string
			want          [2]int
		}{{"off", logOff, tc.off}, {"statistics", logStats, tc.stats}, {"payloads", logPayloads, tc.payloads}} {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				a, r := phaseCalls(t, loggingConfig(tc.rt, tc.extra, tc.options, mode.logging), tc.path, tc.body, tc.upstream, tc.headers)
				assert.Len(t, a.calls, mode.want[0], "access: %v", a.calls)
				if mode.want[1] < 0 {
					assert.Nil(t, r, "the response phase does not run")
				} else {
					require.NotNil(t, r, "the response phase runs")
					assert.Len(t, r.calls, mode.want[1], "response: %v", r.calls)
				}
				records := len(a.serialized)
				if r != nil {
					records += len(r.serialized)
				}
				if mode.logging == logOff || (mode.logging == logPayloads && tc.noPayload) {
					assert.Zero(t, records, "logging off: no record")
				} else {
					assert.Equal(t, 1, records, "one set_serialize_value call per request, of key ai.proxy")
				}
			})
		}
	}
	t.Run("native /generate: statistics read the token headers", func(t *testing.T) {
		_, r := phaseCalls(t, loggingConfig("llm/v1/chat", native, tgi, logStats), "/native/generate", `{"inputs":"hi"}`, []byte(`{"generated_text":"a b"}`), tgiHeaders)
		assert.Contains(t, r.calls, "kong.response.get_headers")
		usage := r.serialized["ai.proxy"].(map[string]any)["usage"].(map[string]any)
		assert.Equal(t, 1.0, usage["prompt_tokens"])
		assert.Equal(t, 2.0, usage["completion_tokens"])
		assert.NotContains(t, usage, "estimated", "TGI's own counts")
	})
	t.Run("misconfigured: the err line and the exit, no record", func(t *testing.T) {
		i := New().(*Instance)
		require.NoError(t, i.UnmarshalJSON([]byte(`{"route_type":"llm/v1/chat","llm_format":"bedrock","model":{"provider":"huggingface"},"logging":{"log_statistics":true}}`)))
		f := &fakeKong{}
		f.run(t, i.Access)
		assert.Equal(t, []string{"kong.log.err", "kong.response.exit"}, f.calls)
		assert.True(t, strings.HasPrefix(f.logs[0], "kong.log.err 500 ai-proxy-hf is misconfigured"), f.logs[0])
	})
}

// What the handlers write: the record, its place, and the log lines.
func TestAnalyticsRecordsAndLogLines(t *testing.T) {
	both := `{"log_statistics":true,"log_payloads":true}`
	t.Run("chat: the whole record in the response phase", func(t *testing.T) {
		body := `{"messages":[{"role":"user","content":"one two three"}]}`
		a, r := phaseCalls(t, loggingConfig("llm/v1/chat", `"__plugin_id":"p-1"`, `"input_cost":10,"output_cost":10`, both), "/chat", body,
			[]byte(`{"model":"x","choices":[{"message":{"content":"2"}}],"usage":{"prompt_tokens":25,"completion_tokens":12,"total_tokens":37}}`), nil)
		assert.Empty(t, a.serialized, "a buffered request is logged once, in the response phase")
		rec := r.serialized["ai.proxy"].(map[string]any)
		meta := rec["meta"].(map[string]any)
		assert.Equal(t, "p-1", meta["plugin_id"])
		assert.Equal(t, "huggingface", meta["provider_name"])
		assert.Equal(t, chatModel, meta["request_model"])
		assert.Equal(t, chatModel, meta["response_model"], "the model of the body the client got")
		assert.Equal(t, "oneshot", meta["request_mode"])
		assert.Equal(t, 200.0, meta["upstream_status"])
		assert.GreaterOrEqual(t, meta["llm_latency"], 0.0)
		usage := rec["usage"].(map[string]any)
		assert.InDelta(t, 0.00037, usage["cost"], 1e-12, "Kong's spec: 25/12 tokens at 10/10")
		assert.Equal(t, 37.0, usage["total_tokens"])
		assert.Equal(t, body, rec["payload"].(map[string]any)["request"])
		assert.Contains(t, rec["payload"].(map[string]any)["response"], `"model":"`+chatModel+`"`)
	})
	t.Run("stream: what access knows, in access", func(t *testing.T) {
		a, r := phaseCalls(t, loggingConfig("llm/v1/chat", "", "", logStats), "/chat",
			`{"messages":[{"role":"user","content":"one two three four five"}],"stream":true}`, nil, nil)
		require.Nil(t, r)
		rec := a.serialized["ai.proxy"].(map[string]any)
		assert.Equal(t, "stream", rec["meta"].(map[string]any)["request_mode"])
		assert.NotContains(t, rec["meta"], "llm_latency", "unknown for a stream")
		assert.Equal(t, map[string]any{"prompt_tokens": 9.0, "completion_tokens": 0.0, "total_tokens": 9.0, "cost": 0.0, "estimated": true}, rec["usage"], "5 words × 1.8")
	})
	t.Run("rejected: record and warn line, then the exit", func(t *testing.T) {
		a, _ := phaseCalls(t, loggingConfig("llm/v1/chat", "", "", logStats), "/chat", `{"messages":`, nil, nil)
		assert.Equal(t, calls(readCalls, []string{"kong.log.set_serialize_value", "kong.log.warn", "kong.response.exit"}), a.calls)
		rec := a.serialized["ai.proxy"].(map[string]any)
		assert.Equal(t, map[string]any{"status": 400.0, "type": "invalid_request_error", "source": "plugin",
			"message": "content-type header does not match request body, or bad JSON formatting"}, rec["error"])
		assert.Equal(t, []string{"kong.log.warn rejected request: 400 content-type header does not match request body, or bad JSON formatting"}, a.logs)
	})
	t.Run("upstream error: record with the error, warn line", func(t *testing.T) {
		i := New().(*Instance)
		require.NoError(t, i.UnmarshalJSON([]byte(loggingConfig("llm/v1/chat", "", "", logStats))))
		r := &fakeKong{status: 429, upstreamBd: []byte(`{"error":"Model is overloaded","error_type":"overloaded"}`)}
		r.run(t, i.Response)
		rec := r.serialized["ai.proxy"].(map[string]any)
		assert.Equal(t, map[string]any{"status": 429.0, "type": "rate_limit_error", "code": "overloaded", "source": "upstream", "message": "Model is overloaded"}, rec["error"])
		assert.Equal(t, []string{"kong.log.warn upstream answered 429 for model " + chatModel + ": rate_limit_error: Model is overloaded"}, r.logs)
		assert.Equal(t, []string{"kong.ctx.shared.get", "kong.service.response.get_status", "kong.service.response.get_raw_body", "kong.log.set_serialize_value", "kong.log.warn", "kong.response.exit"}, r.calls)
	})
	t.Run("the plugin's 502: one err line", func(t *testing.T) {
		i := New().(*Instance)
		require.NoError(t, i.UnmarshalJSON([]byte(loggingConfig("llm/v1/chat", "", "", logStats))))
		r := &fakeKong{status: 200, upstreamBd: []byte(`{"foo":1}`)}
		r.run(t, i.Response)
		require.Len(t, r.logs, 1)
		assert.True(t, strings.HasPrefix(r.logs[0], "kong.log.err 502 "), r.logs[0])
		assert.Equal(t, "plugin", r.serialized["ai.proxy"].(map[string]any)["error"].(map[string]any)["source"])
	})
	t.Run("rejected with the client's credentials: Kong's record rewritten, logging off too", func(t *testing.T) {
		i := New().(*Instance)
		require.NoError(t, i.UnmarshalJSON([]byte(loggingConfig("llm/v1/chat", "", "", logOff))))
		f := &fakeKong{body: []byte(`{"messages":`), pathQuery: "/chat?jwt=client_jwt_1&x=1",
			headers: map[string][]string{"apikey": {"client_key_2"}, "cookie": {"s=client_cookie_3"}},
			scheme:  "https", host: "gw", port: 8443, vars: map[string]string{"upstream_uri": "/svc/chat"}}
		f.run(t, i.Access)
		require.NotNil(t, f.exit)
		assert.Equal(t, map[string]any{
			"request.headers.apikey":  "REDACTED",
			"request.headers.cookie":  "REDACTED",
			"request.querystring.jwt": "REDACTED",
			"upstream_uri":            "/svc/chat?jwt=REDACTED&x=1",
			"request.uri":             "/chat?jwt=REDACTED&x=1",
			"request.url":             "https://gw:8443/chat?jwt=REDACTED&x=1",
		}, f.serialized)
		assert.NotContains(t, f.calls, "kong.log.warn", "statistics off: no warn line")
	})
	t.Run("no secret in the record or the lines", func(t *testing.T) {
		cfg := `{"route_type":"llm/v1/chat","response_streaming":"allow",
			"auth":{"header_name":"X-HF-Key","header_value":"hf_VERY_secret_1","param_name":"k","param_value":"param_VERY_secret_2","param_location":"query"},
			"model":{"provider":"huggingface","name":"` + chatModel + `"},"logging":{"log_statistics":true,"log_payloads":true}}`
		a, r := phaseCalls(t, cfg, "/chat?apikey=client_VERY_secret_3", `{"messages":[{"role":"user","content":"hf_VERY_secret_1 client_VERY_secret_3"}]}`,
			[]byte(`{"error":"token param_VERY_secret_2 refused"}`), nil)
		all := strings.Join(append(a.logs, r.logs...), "\n")
		for _, f := range []*fakeKong{a, r} {
			for k, v := range f.serialized {
				all += "\n" + k + "=" + toJSON(t, v)
			}
		}
		for _, s := range []string{"hf_VERY_secret_1", "param_VERY_secret_2", "client_VERY_secret_3"} {
			assert.NotContains(t, all, s)
		}
		assert.Equal(t, "REDACTED", a.serialized["request.headers.x-hf-key"])
		assert.Equal(t, "REDACTED", a.serialized["request.querystring.k"])
		assert.Equal(t, "/v1/chat/completions?k=REDACTED", a.serialized["upstream_uri"])
		assert.Equal(t, "/chat?apikey=REDACTED", a.serialized["request.uri"])
	})
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
