package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// Issue 6 behaviour 4: an upstream error, an answer the plugin could not
// use and a request the plugin rejected each leave a record with the status
// and the reason (ai.proxy.error, this plugin's key) and a line in Kong's
// error log that an operator can grep for "[ai-proxy-hf]".

// requireErrorRecord checks ai.proxy.error against what the client got.
func requireErrorRecord(t *testing.T, p gjson.Result, res response, source string) {
	t.Helper()
	client := gjson.ParseBytes(res.body).Get("error")
	require.True(t, client.IsObject(), "the client got an OpenAI error: %s", res.body)
	e := p.Get("error")
	keys := []string{"status", "message", "type", "source"}
	if client.Get("code").Type == gjson.String {
		keys = append(keys, "code")
		assert.Equal(t, client.Get("code").String(), e.Get("code").String())
	}
	requireKeys(t, e, keys...)
	assert.EqualValues(t, res.status, e.Get("status").Int())
	assert.Equal(t, client.Get("message").String(), e.Get("message").String())
	assert.Equal(t, client.Get("type").String(), e.Get("type").String())
	assert.Equal(t, source, e.Get("source").String())
}

// waitErrorLog waits for a line of the rig's error log holding all parts.
func (r *rig) waitErrorLog(t *testing.T, parts ...string) string {
	t.Helper()
	r.needErrorLog(t)
	var found string
	require.Eventually(t, func() bool {
		for _, l := range strings.Split(r.errlog.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				found = l
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "no error-log line with %q", parts)
	return found
}

func TestAnalyticsErrors(t *testing.T) {
	t.Parallel()
	const offModel = "HuggingFaceH4/zephyr-7b-beta"
	tgi := `"upstream_url":"` + routerURL + `/tgi"`
	r := startRig(t,
		route{path: "/chat", config: anConfig("llm/v1/chat", "", "", true, true)},
		route{path: "/chat-off", config: conf(t, anConfig("llm/v1/chat", "", "", false, false), "model.name", jsonString(offModel))},
		route{path: "/native", config: anConfig("llm/v1/chat", `"llm_format":"huggingface"`, tgi, true, false)},
		route{path: "/deny", config: conf(t, anConfig("llm/v1/chat", "", "", true, false), "response_streaming", `"deny"`)},
		route{path: "/small", config: anConfig("llm/v1/chat", `"max_request_body_size":64`, "", true, true)},
		route{path: "/completions", config: anConfig("llm/v1/completions", "", "", true, false)},
	)
	chat := `{"messages":[{"role":"user","content":"What is 1 + 1?"}]}`

	upstream := []struct {
		fault, path, body string
		status            int
		source            string
		logLine           []string // parts of the error-log line
	}{
		{fault: "loading", status: 503, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 503 for model " + anModel + ": server_error: Model " + anModel + " is currently loading"}},
		{fault: "ratelimit", status: 429, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 429", "rate_limit_error"}},
		{fault: "overloaded", status: 429, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 429", "Model is overloaded"}},
		{fault: "credits", status: 402, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 402", "insufficient_quota"}},
		{fault: "permission", status: 403, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 403", "permission_error"}},
		{fault: "model_not_supported", status: 400, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 400", "is not supported by any provider"}},
		{fault: "html500", status: 500, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 500", "HTML page"}},
		{fault: "timeout", status: 504, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 504", "time out"}},
		{fault: "validation", path: "/native/generate", body: `{"inputs":"hi","parameters":{"temperature":0}}`, status: 422, source: "upstream", logLine: []string{"[warn]", "[ai-proxy-hf] upstream answered 422", "Input validation error"}},
		{fault: "bad_json", status: 502, source: "plugin", logLine: []string{"[error]", "[ai-proxy-hf] 502 the upstream answered 200 with a body that is not JSON"}},
		{fault: "wrong_shape", status: 502, source: "plugin", logLine: []string{"[error]", "[ai-proxy-hf] 502 the upstream answered 200 without \"choices\""}},
	}
	for _, tc := range upstream {
		t.Run("upstream "+tc.fault, func(t *testing.T) {
			path, body := "/chat", chat
			if tc.path != "" {
				path, body = tc.path, tc.body
			}
			h := with(id(t), "X-Hfsim-Fault", tc.fault)
			res := r.send(t, path, body, h)
			require.Equal(t, tc.status, res.status, "%s", res.body)
			p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
			requireKeys(t, p.Get("meta"), anMetaKeys...)
			upstreamStatus := tc.status
			if tc.source == "plugin" {
				upstreamStatus = 200
			}
			assert.EqualValues(t, upstreamStatus, p.Get("meta.upstream_status").Int(), "the upstream's status")
			assert.Equal(t, "oneshot", p.Get("meta.request_mode").String())
			requireKeys(t, p.Get("usage"), "prompt_tokens", "completion_tokens", "total_tokens", "cost", "time_per_token")
			assert.Zero(t, p.Get("usage.total_tokens").Int(), "nothing generated")
			requireErrorRecord(t, p, res, tc.source)
			r.waitErrorLog(t, tc.logLine...)
			if p.Get("payload").Exists() {
				assert.Equal(t, string(res.body), p.Get("payload.response").String(), "the error the client got")
			}
		})
	}

	t.Run("Kong answered itself (upstream reset): the plugin's 502, no upstream status", func(t *testing.T) {
		h := with(id(t), "X-Hfsim-Fault", "reset")
		res := r.send(t, "/chat", chat, h)
		require.Equal(t, http.StatusBadGateway, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireErrorRecord(t, p, res, "plugin")
		assert.Equal(t, "upstream_unreachable", p.Get("error.code").String())
		assert.False(t, p.Get("meta.upstream_status").Exists())
		r.waitErrorLog(t, "[error]", "[ai-proxy-hf] 502 the upstream could not be reached")
	})

	rejected := []struct {
		name, path, body string
		status           int
		code             string
		logLine          string
	}{
		{name: "bad JSON", path: "/chat", body: `{"messages":`, status: 400, logLine: "[ai-proxy-hf] rejected request: 400 content-type header does not match request body, or bad JSON formatting"},
		{name: "another model", path: "/chat", body: `{"model":"evil/model","messages":[{"role":"user","content":"x"}]}`, status: 400, logLine: "[ai-proxy-hf] rejected request: 400 cannot use own model - must be: " + anModel},
		{name: "streaming denied", path: "/deny", body: `{"messages":[{"role":"user","content":"x"}],"stream":true}`, status: 400, logLine: "[ai-proxy-hf] rejected request: 400 response streaming is not enabled for this LLM"},
		{name: "body over max_request_body_size", path: "/small", body: `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 100) + `"}]}`, status: 413, logLine: "[ai-proxy-hf] rejected request: 413 "},
	}
	for _, tc := range rejected {
		t.Run("rejected: "+tc.name, func(t *testing.T) {
			h := id(t)
			res := r.send(t, tc.path, tc.body, h)
			require.Equal(t, tc.status, res.status, "%s", res.body)
			p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
			want := []string{"meta", "error"}
			if tc.path == "/chat" { // payloads on: the refused body is logged
				want = append(want, "payload")
				requireKeys(t, p.Get("payload"), "request")
				assert.Equal(t, tc.body, p.Get("payload.request").String())
			}
			// A body refused for its size is not logged (payloads are on for
			// /small): the plugin refuses it unread when Kong spooled it.
			requireKeys(t, p, want...)
			requireKeys(t, p.Get("meta"), "plugin_id", "provider_name", "request_model", "response_model", "request_mode")
			assert.Equal(t, anModel, p.Get("meta.request_model").String())
			requireErrorRecord(t, p, res, "plugin")
			if tc.code != "" {
				assert.Equal(t, tc.code, p.Get("error.code").String())
			}
			wantMode := "oneshot"
			if strings.Contains(tc.body, `"stream":true`) {
				wantMode = "stream"
			}
			assert.Equal(t, wantMode, p.Get("meta.request_mode").String(), "what the client asked for")
			line := r.waitErrorLog(t, "[warn]", tc.logLine)
			assert.NotContains(t, line, hfToken)
		})
	}

	t.Run("rejected with statistics off: no record, no line", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/chat-off", `{"model":"evil/model","messages":[{"role":"user","content":"x"}]}`, h)
		require.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
		rec := r.loggedRecord(t, h["X-E2E-Id"])
		assert.NotContains(t, rec, "ai")
		assert.EqualValues(t, 400, gjson.GetBytes(toJSONBytes(t, rec), "response.status").Int(), "Kong's record has the status")
		r.needErrorLog(t)
		assert.NotContains(t, r.errlog.String(), "must be: "+offModel, "no warn line: statistics off keeps the call budget")
	})

	t.Run("a stream that fails midway: the record is the one written in access", func(t *testing.T) {
		h := with(id(t), "X-Hfsim-Fault", "stream_error")
		res, _ := r.stream(t, "/chat", withStream(chat), h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		assert.Contains(t, string(res.body), "Request failed during generation")
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		assert.Equal(t, "stream", p.Get("meta.request_mode").String())
		assert.False(t, p.Get("error").Exists(), "the plugin never sees a streamed body: the error is not in the record (plugin/ANALYTICS.md)")
	})
}
