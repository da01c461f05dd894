package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// badCase is one request the plugin must refuse: what is sent, and a
// substring of the error message that names the problem. The assertions
// are on what the client, the fake upstream's request log and the logs
// see, never on which phase (or which part of the plugin) answered.
type badCase struct {
	name    string
	path    string
	method  string // POST when empty
	body    []byte
	headers map[string]string
	// status is the exact 4xx expected; 0 accepts any 4xx.
	status int
	// want is a substring of error.message naming the problem.
	want string
	// kong: Kong itself refuses the request before any plugin runs (a path
	// that, once normalised, matches no route), with its own error body
	// {"message": …, "request_id": …} holding want.
	kong bool
}

// bc builds a badCase with a string body.
func bc(name, path, body string, status int, want string, headers ...string) badCase {
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return badCase{name: name, path: path, body: []byte(body), headers: h, status: status, want: want}
}

// runBadCases runs every case as a parallel subtest on one rig, then checks
// that the plugin server survived them all: the same process (no crash, no
// respawn), no "panic" in anything the stand-in logged, and a good request
// still answered. good is a request that must succeed afterwards.
func runBadCases(t *testing.T, r *rig, cases []badCase, good func(t *testing.T)) {
	t.Helper()
	pid, spawns := survivorPID(t, r)
	seen := map[string]bool{}
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			require.False(t, seen[c.name], "two cases named %q", c.name)
			seen[c.name] = true
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				checkBadCase(t, r, c)
			})
		}
	})
	requirePluginServerHealthy(t, r, pid, spawns)
	if good != nil {
		t.Run("good request after the battery", good)
	}
}

// checkBadCase sends one bad request and asserts the answer: a 4xx in
// the OpenAI error shape naming the problem, nothing forwarded upstream,
// no credential in the answer.
func checkBadCase(t *testing.T, r *rig, c badCase) {
	t.Helper()
	id := reqID(t)
	h := with(c.headers, "X-E2E-Id", id)
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	res := r.do(t, method, c.path, c.body, h)
	if c.status != 0 {
		require.Equal(t, c.status, res.status, "body: %.600s", res.body)
	} else {
		require.True(t, res.status >= 400 && res.status < 500, "want a 4xx, got %d: %.600s", res.status, res.body)
	}
	if c.kong {
		assert.Contains(t, gjson.GetBytes(res.body, "message").String(), c.want, "body: %s", res.body)
		assert.True(t, gjson.GetBytes(res.body, "request_id").Exists(), "body: %s", res.body)
	} else {
		msg := requireOpenAIErrorShape(t, res, res.status, "invalid_request_error", "*")
		assert.Contains(t, msg, c.want, "the message must name the problem")
	}
	assert.Empty(t, upstreamRequests(router, id), "a refused request reached the upstream")
	var hdrs strings.Builder
	for k, vs := range res.header {
		hdrs.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	requireNoSecrets(t, "the answer", append([]byte(hdrs.String()), res.body...))
}

// requirePluginServerHealthy asserts the plugin server process is the one
// that ran before (it neither crashed nor was respawned) and that nothing
// the stand-in logged — Kong's error log, the plugin server's output it
// relays, its own stderr — mentions a panic.
func requirePluginServerHealthy(t *testing.T, r *rig, pid, spawns int) {
	t.Helper()
	if external == nil {
		nowPID, nowSpawns := pluginPID(t, r)
		assert.Equal(t, pid, nowPID, "the plugin server process changed: it died")
		assert.Equal(t, spawns, nowSpawns, "the plugin server was respawned")
	}
	logs := map[string]string{"error log": r.errlog.String()}
	if r.stderr != nil {
		logs["stderr"] = r.stderr.String()
	}
	for what, log := range logs {
		assert.NotContains(t, strings.ToLower(log), "panic", "the stand-in's %s mentions a panic", what)
	}
}

// survivorPID is pluginPID on the stand-in. Against an external Kong the
// process is not ours to watch (0, 0): the batteries still assert every
// answer, the upstream log, Kong's error log (when readable) and the good
// request afterwards.
func survivorPID(t *testing.T, r *rig) (pid, spawns int) {
	t.Helper()
	if external != nil {
		return 0, 0
	}
	return pluginPID(t, r)
}

// goodChat is a request that must still succeed on a chat route.
func goodChat(r *rig, path string) func(t *testing.T) {
	return func(t *testing.T) {
		res := r.send(t, path, chatBody("still there?"), id(t))
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.NotEmpty(t, gjson.GetBytes(res.body, "choices.0.message.content").String())
	}
}
