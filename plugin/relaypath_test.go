package plugin

import (
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/relay"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withRelay makes a running relay the data path for the test (the plugin
// server's, as cmd/ai-proxy-hf starts it) and removes it afterwards.
func withRelay(t *testing.T) *relay.Relay {
	t.Helper()
	r := relay.New(relay.Options{Log: &strings.Builder{}})
	require.NoError(t, r.Listen("127.0.0.1:0"))
	UseRelay(r)
	t.Cleanup(func() {
		UseRelay(nil)
		_ = r.Close()
	})
	return r
}

// relayCalls are access's calls on the relay's data path: the headers
// (client credentials to clear), the path, then Kong pointed at the relay
// with buffering off. Nothing else: the body, the translation, the
// upstream's answer and any rejection are the relay's.
var relayCalls = []string{"kong.request.get_headers", "kong.request.get_path_with_query",
	"kong.service.set_target", "kong.service.request.set_scheme", "kong.service.request.set_path", "kong.nginx.set_ctx"}

// The call budget with the relay, logging off: six calls whatever the
// route, the body or whether it streams (handlers.go's table).
func TestRelayCallBudget(t *testing.T) {
	r := withRelay(t)
	named := `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, rt, path, body string
		headers              map[string][]string
		want                 []string
	}{
		{name: "chat, body names the model", rt: "llm/v1/chat", path: "/chat", body: named, want: relayCalls},
		{name: "chat, model filled in", rt: "llm/v1/chat", path: "/chat", body: `{"messages":[{"role":"user","content":"hi"}]}`, want: relayCalls},
		{name: "chat streamed", rt: "llm/v1/chat", path: "/chat", body: `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, want: relayCalls},
		{name: "completions on the router", rt: "llm/v1/completions", path: "/c", body: `{"prompt":"hi"}`, want: relayCalls},
		{name: "completions streamed on the router", rt: "llm/v1/completions", path: "/c", body: `{"prompt":"hi","stream":true}`, want: relayCalls},
		{name: "preserve", rt: "preserve", path: "/p/v1/chat/completions", body: named, want: relayCalls},
		{name: "bad JSON: the relay rejects it", rt: "llm/v1/chat", path: "/chat", body: `{"messages":`, want: relayCalls},
		{name: "a client key to clear: +1", rt: "llm/v1/chat", path: "/chat", body: named,
			headers: map[string][]string{"apikey": {"kong-key"}, "content-type": {"application/json"}},
			want:    append(append(append([]string{}, relayCalls[:5]...), "kong.service.request.clear_header"), relayCalls[5])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := instance(t, loggingConfig(tc.rt, "", "", logOff))
			h := tc.headers
			if h == nil {
				h = map[string][]string{"content-type": {"application/json"}}
			}
			f := &fakeKong{body: []byte(tc.body), headers: h, pathQuery: tc.path}
			f.run(t, i.Access)
			assert.Equal(t, tc.want, f.calls)
			assert.Nil(t, f.exit, "access answers nothing: the relay does")
			assert.Equal(t, "127.0.0.1", f.target.Host)
			assert.EqualValues(t, r.Port(), f.target.Port)
			assert.Equal(t, "http", f.upScheme)
			assert.True(t, strings.HasPrefix(f.path, relay.PathPrefix), f.path)
			assert.Len(t, strings.TrimPrefix(f.path, relay.PathPrefix), 32, "a 128-bit ticket")
			assert.Equal(t, false, f.ctxSet["buffered_proxying"])
			assert.Empty(t, f.setHdrs, "the credential is the relay's to add: it never sits on Kong's request")
			if tc.headers != nil {
				assert.Equal(t, []string{"apikey"}, f.cleared, "a client key leaves Kong's request, and so its log record")
			}
		})
	}
}

// With log_statistics on, a buffered request keeps the PDK path (its
// response phase writes the whole record; TestAnalyticsCallBudget); a
// stream goes through the relay after access translated it: the three
// reads, the relay's four calls, and the record. A request whose Kong
// record needs a credential edited (here: a key in the query) is
// translated in access even with logging off.
func TestRelayCallBudgetTranslatedInAccess(t *testing.T) {
	withRelay(t)
	reads := []string{"kong.request.get_raw_body", "kong.request.get_headers", "kong.request.get_path_with_query"}
	point := relayCalls[2:]
	stream := `{"messages":[{"role":"user","content":"hi"}],"stream":true}`

	i := instance(t, loggingConfig("llm/v1/chat", "", "", logStats))
	f := &fakeKong{body: []byte(stream), headers: map[string][]string{"content-type": {"application/json"}}, pathQuery: "/chat"}
	f.run(t, i.Access)
	assert.Equal(t, calls(reads, point, []string{"kong.log.set_serialize_value"}), f.calls)
	assert.Equal(t, "stream", f.serialized["ai.proxy"].(map[string]any)["meta"].(map[string]any)["request_mode"])

	buffered := `{"messages":[{"role":"user","content":"hi"}]}`
	f = &fakeKong{body: []byte(buffered), headers: map[string][]string{"content-type": {"application/json"}}, pathQuery: "/chat"}
	f.run(t, i.Access)
	assert.Equal(t, "router.huggingface.co", f.target.Host, "logged and buffered: Kong calls Hugging Face, the response phase writes the record")

	i = instance(t, loggingConfig("llm/v1/chat", "", "", logOff))
	f = &fakeKong{body: []byte(buffered), headers: map[string][]string{"content-type": {"application/json"}},
		pathQuery: "/chat?apikey=kong-key", scheme: "http", host: "gw.local", port: 8000}
	f.run(t, i.Access)
	// headers, path, then the body; Kong pointed at the relay; then the
	// scheme, host and port for request.url, and the record's
	// request.querystring.apikey, upstream_uri, request.uri, request.url.
	assert.Equal(t, calls(relayCalls[:2], []string{"kong.request.get_raw_body"}, point,
		[]string{"kong.request.get_scheme", "kong.request.get_host", "kong.request.get_port",
			"kong.log.set_serialize_value", "kong.log.set_serialize_value", "kong.log.set_serialize_value", "kong.log.set_serialize_value"}), f.calls)
	assert.Equal(t, f.path+"?apikey=REDACTED", f.serialized["upstream_uri"], "Kong's upstream_uri is the relay's path with the client's query")
	assert.Equal(t, "REDACTED", f.serialized["request.querystring.apikey"])
	assert.Equal(t, "/chat?apikey=REDACTED", f.serialized["request.uri"])
	assert.Equal(t, "127.0.0.1", f.target.Host)
}
