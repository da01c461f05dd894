package e2e

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTextgenPDKCalls: issue 4 "the number of PDK calls per request for
// chat (streaming and not) is asserted". Each request's calls, method by
// method and phase by phase, as the stand-in counted them on the plugin
// socket, against the table in plugin/handlers.go (model.name configured,
// auth header, no client credential to clear).
func TestTextgenPDKCalls(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/pdk-chat", config: chatConf(t, "max_request_body_size", "9000")},
		route{path: "/pdk-bad", config: chatConf(t, "model.options.upstream_url", `"http://tgi:port/"`)},
	)
	// With logging off every request takes the relay (plugin/relaypath.go):
	// access reads the headers (credentials to clear) and the path, then
	// points Kong at the relay with buffering off. The relay reads the
	// body Kong forwards, validates, translates, calls the upstream and
	// answers, rejections and upstream errors included: no response phase.
	relayed := []string{"kong.request.get_headers", "kong.request.get_path_with_query",
		"kong.service.set_target", "kong.service.request.set_scheme", "kong.service.request.set_path", "kong.nginx.set_ctx"}
	exit := []string{"kong.response.exit"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	named := `{"model":"` + chatModel + `","messages":[{"role":"user","content":"count my calls"}]}`
	unnamed := chatBody("count my calls")
	for _, tc := range []struct {
		name, path, body string
		fault            string
		status           int
		access, resp     []string
		total            int
	}{
		{"chat, body names the model", "/pdk-chat", named, "", 200, relayed, nil, 6},
		{"chat, model filled in", "/pdk-chat", unnamed, "", 200, relayed, nil, 6},
		{"chat streamed, body names the model", "/pdk-chat", withStream(named), "", 200, relayed, nil, 6},
		{"chat streamed, model filled in", "/pdk-chat", withStream(unnamed), "", 200, relayed, nil, 6},
		{"rejected: other model", "/pdk-chat", `{"model":"` + otherModel + `","messages":[{"role":"user","content":"x"}]}`, "", 400, relayed, nil, 6},
		{"rejected: bad JSON", "/pdk-chat", `{"messages":`, "", 400, relayed, nil, 6},
		{"rejected streamed: no model id", "/pdk-chat", withStream(`{"model":"a/b/c","messages":[{"role":"user","content":"x"}]}`), "", 400, relayed, nil, 6},
		{"rejected: body over the limit", "/pdk-chat", chatBody(strings.Repeat("x", 9500)), "", 413, relayed, nil, 6},
		// The 500 is logged (kong.log.err), then answered.
		{"misconfigured instance", "/pdk-bad", named, "", 500, cat([]string{"kong.log.err"}, exit), nil, 2},
		{"upstream 503 loading", "/pdk-chat", named, "loading", 503, relayed, nil, 6},
		{"upstream 429", "/pdk-chat", named, "overloaded", 429, relayed, nil, 6},
		{"upstream reset", "/pdk-chat", named, "reset", 502, relayed, nil, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := id(t)
			if tc.fault != "" {
				h["X-Hfsim-Fault"] = tc.fault
			}
			res := r.send(t, tc.path, tc.body, h)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			calls := pdkCalls(t, r.recordFor(t, e2eID(t)))
			access, resp := callList(calls["access"]), callList(calls["response"])
			t.Logf("PDK calls: access %d, response %d, total %d; access %v; response %v", len(access), len(resp), len(access)+len(resp), access, resp)
			assert.Equal(t, sorted(tc.access), access, "access phase calls")
			assert.Equal(t, sorted(tc.resp), resp, "response phase calls")
			assert.Equal(t, tc.total, len(access)+len(resp))
			for phase, m := range calls {
				if phase != "access" && phase != "response" {
					assert.Empty(t, m, "no calls in %s", phase)
				}
			}
		})
	}
}

// TestTextgenPDKCallsWithStatistics: the same budget with
// logging.log_statistics on (handlers.go's second column). A buffered
// request keeps the PDK path, whose response phase writes the whole
// record: the state carried to it and the ai.proxy record cost one call
// each, a rejection adds the record and a warn line. A stream goes through
// the relay after access translated it: three reads, the relay's four
// calls, the record.
func TestTextgenPDKCallsWithStatistics(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/pdk-stats", config: chatConf(t, "logging", `{"log_statistics":true}`)})
	named := `{"model":"` + chatModel + `","messages":[{"role":"user","content":"count my calls"}]}`
	for _, tc := range []struct {
		name, body              string
		status                  int
		access, response, total int
	}{
		{"chat, body names the model", named, 200, 8, 5, 13},
		{"chat, model filled in", chatBody("count my calls"), 200, 9, 5, 14},
		{"chat streamed, body names the model", withStream(named), 200, 8, 0, 8},
		{"rejected", `{"model":"` + otherModel + `","messages":[{"role":"user","content":"x"}]}`, 400, 6, 0, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.send(t, "/pdk-stats", tc.body, id(t))
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			calls := pdkCalls(t, r.recordFor(t, e2eID(t)))
			access, resp := callList(calls["access"]), callList(calls["response"])
			t.Logf("PDK calls with log_statistics: access %d, response %d, total %d; access %v; response %v", len(access), len(resp), len(access)+len(resp), access, resp)
			assert.Len(t, access, tc.access, "access phase calls")
			assert.Len(t, resp, tc.response, "response phase calls")
			assert.Equal(t, tc.total, len(access)+len(resp))
		})
	}
}

// callList expands a method → count map into a sorted list of calls.
func callList(m map[string]int) []string {
	var out []string
	for name, n := range m {
		for i := 0; i < n; i++ {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
