package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 6 behaviour 5, through the stand-in: the PDK calls of each request
// type are those of plugin/handlers.go's table. Logging off, every request
// takes the relay: six calls in access, whatever the route, rejections
// included (the relay rejects). log_statistics keeps the PDK path for
// buffered requests and adds what the table says: the state (when not
// already carried), one kong.log.set_serialize_value, the token-header
// read of completions-on-the-router and native answers, a rejection's
// warn line; a stream goes through the relay after access translated it
// (eight calls, the record written in access).
func TestAnalyticsCallBudget(t *testing.T) {
	t.Parallel()
	tgi := `"upstream_url":"` + routerURL + `/tgi"`
	native := `"llm_format":"huggingface"`
	const embedModel = "sentence-transformers/all-MiniLM-L6-v2"
	const videoModel = "Lightricks/LTX-Video"
	routes := []route{}
	for _, stats := range []bool{false, true} {
		sfx := map[bool]string{false: "-off", true: "-on"}[stats]
		routes = append(routes,
			route{path: "/chat" + sfx, config: anConfig("llm/v1/chat", "", "", stats, false)},
			route{path: "/completions" + sfx, config: anConfig("llm/v1/completions", "", "", stats, false)},
			route{path: "/native" + sfx, config: anConfig("llm/v1/chat", native, tgi, stats, false)},
			route{path: "/preserve" + sfx, config: anConfig("preserve", "", "", stats, false)},
			route{path: "/embed" + sfx, config: anModelConfig(t, "llm/v1/embeddings", "text/embeddings", embedModel, "", stats, false)},
			route{path: "/video" + sfx, config: anModelConfig(t, "video/v1/videos/generations", "video/generation", videoModel, "", stats, false)},
		)
	}
	r := startRig(t, routes...)
	chatNamed := `{"model":"` + anModel + `","messages":[{"role":"user","content":"What is 1 + 1?"}]}`
	tests := []struct {
		name, path, body string
		headers          []string
		stream           bool
		status           int
		off, on          [2]int // access, response; -1: no response phase
		extraOn          map[string]int
	}{
		{name: "chat, body names the model", path: "/chat", body: chatNamed, off: [2]int{6, -1}, on: [2]int{8, 5}},
		{name: "chat, model filled in", path: "/chat", body: `{"messages":[{"role":"user","content":"hi"}]}`, off: [2]int{6, -1}, on: [2]int{9, 5}},
		{name: "chat streamed", path: "/chat", body: withStream(chatNamed), stream: true, off: [2]int{6, -1}, on: [2]int{8, -1}},
		{name: "completions on the router", path: "/completions", body: `{"prompt":"Once upon a time"}`, off: [2]int{6, -1}, on: [2]int{9, 6},
			extraOn: map[string]int{"response:kong.response.get_headers": 1}},
		{name: "native /generate", path: "/native/generate", body: `{"inputs":"hi","parameters":{"max_new_tokens":2}}`, off: [2]int{6, -1}, on: [2]int{8, 6},
			extraOn: map[string]int{"response:kong.response.get_headers": 1}},
		{name: "native /generate_stream", path: "/native/generate_stream", body: `{"inputs":"hi"}`, stream: true, off: [2]int{6, -1}, on: [2]int{8, -1}},
		{name: "preserve", path: "/preserve/v1/chat/completions", body: chatNamed, off: [2]int{6, -1}, on: [2]int{8, -1}},
		{name: "rejected", path: "/chat", body: `{"model":"evil/model","messages":[]}`, status: 400, off: [2]int{6, -1}, on: [2]int{6, -1},
			extraOn: map[string]int{"access:kong.log.warn": 1}},
		{name: "embeddings", path: "/embed", body: `{"input":"hello world"}`, off: [2]int{6, -1}, on: [2]int{9, 6}},
		{name: "video JSON job", path: "/video", body: `{"prompt":"a cat"}`, headers: []string{"X-Hfsim-Video", "json"}, off: [2]int{6, -1}, on: [2]int{9, 6}},
		{name: "video bytes (body left unread)", path: "/video", body: `{"prompt":"a cat"}`, headers: []string{"X-Hfsim-Video", "mp4", "X-Hfsim-Size", "1000"}, off: [2]int{6, -1}, on: [2]int{9, 5}},
	}
	for _, tc := range tests {
		for _, on := range []bool{false, true} {
			name := map[bool]string{false: "/logging off", true: "/statistics on"}[on]
			t.Run(tc.name+name, func(t *testing.T) {
				h := id(t)
				for i := 0; i+1 < len(tc.headers); i += 2 {
					h[tc.headers[i]] = tc.headers[i+1]
				}
				// "/native/generate" → "/native-on/generate"
				first, rest, _ := strings.Cut(tc.path[1:], "/")
				path := "/" + first + map[bool]string{false: "-off", true: "-on"}[on]
				if rest != "" {
					path += "/" + rest
				}
				var res response
				if tc.stream {
					res, _ = r.stream(t, path, tc.body, h)
				} else {
					res = r.send(t, path, tc.body, h)
				}
				want := tc.status
				if want == 0 {
					want = http.StatusOK
				}
				require.Equal(t, want, res.status, "%s", res.body)
				calls := pdkCalls(t, r.recordFor(t, h["X-E2E-Id"]))
				budget := tc.off
				if on {
					budget = tc.on
				}
				assert.Equal(t, budget[0], callTotal(calls["access"]), "access: %v", calls["access"])
				if budget[1] < 0 {
					assert.Nil(t, calls["response"], "no response phase")
				} else {
					assert.Equal(t, budget[1], callTotal(calls["response"]), "response: %v", calls["response"])
				}
				records := calls["access"]["kong.log.set_serialize_value"] + calls["response"]["kong.log.set_serialize_value"]
				if on {
					assert.Equal(t, 1, records, "one set_serialize_value call, of key ai.proxy")
					for k, n := range tc.extraOn {
						phase, method, _ := strings.Cut(k, ":")
						assert.Equal(t, n, calls[phase][method], k)
					}
				} else {
					assert.Zero(t, records, "logging off: no record")
					assert.Zero(t, calls["access"]["kong.log.warn"], "logging off: no warn line for a rejection")
				}
			})
		}
	}
}
