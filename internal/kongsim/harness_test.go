package kongsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
	"github.com/stretchr/testify/require"
)

// pluginBin is the test plugin (testdata/pdkplugin) built once per run.
var pluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kongsim-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "pdkplugin")
	cmd := exec.Command("go", "build", "-o", pluginBin, "./testdata/pdkplugin")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test plugin:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is a running stand-in with the test plugin and its logs.
type rig struct {
	k      *kongsim.Kong
	prefix string
	errlog *syncBuffer
	stderr *syncBuffer
	env    []string
}

// pluginEnv is the KONG_* environment of a Kong with the test plugin, as
// a docker-compose file would set it.
func pluginEnv(prefix, bin string, extra ...string) []string {
	name := filepath.Base(bin)
	key := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	env := []string{
		"KONG_PREFIX=" + prefix,
		"KONG_DATABASE=off",
		"KONG_PROXY_LISTEN=127.0.0.1:0",
		"KONG_ADMIN_LISTEN=127.0.0.1:0",
		"KONG_PROXY_ACCESS_LOG=off",
		"KONG_LOG_LEVEL=debug",
		"KONG_PLUGINS=bundled," + name,
		"KONG_PLUGINSERVER_NAMES=" + name,
		"KONG_PLUGINSERVER_" + key + "_SOCKET=" + filepath.Join(prefix, name+".socket"),
		"KONG_PLUGINSERVER_" + key + "_START_CMD=" + bin + " -kong-prefix " + prefix,
		"KONG_PLUGINSERVER_" + key + "_QUERY_CMD=" + bin + " -dump",
	}
	return append(env, extra...)
}

func startRig(t *testing.T, declarative string, extraEnv ...string) *rig {
	t.Helper()
	prefix := t.TempDir()
	r := &rig{prefix: prefix, errlog: &syncBuffer{}, stderr: &syncBuffer{}}
	r.env = pluginEnv(prefix, pluginBin, extraEnv...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := kongsim.Start(ctx, kongsim.Options{
		Environ:         r.env,
		Declarative:     []byte(declarative),
		ErrorLog:        r.errlog,
		Stderr:          r.stderr,
		PluginTimeout:   10 * time.Second,
		MaxEventRetries: 3,
	})
	require.NoError(t, err, "error log:\n%s", r.errlog.String())
	r.k = k
	t.Cleanup(func() {
		k.Close()
		if t.Failed() {
			t.Logf("error log:\n%s\nstderr:\n%s", r.errlog.String(), r.stderr.String())
		}
	})
	return r
}

// do sends a request through the proxy.
func (r *rig) do(t *testing.T, method, path string, body io.Reader, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.k.ProxyURL()+path, body)
	require.NoError(t, err)
	for k, v := range headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, b
}

// lastRecord waits for n log records and returns the n-th.
func (r *rig) record(t *testing.T, n int) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := r.k.WaitRecords(ctx, n)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(recs[n-1], &m))
	return m
}

// recordFor waits for the log record of the request with the given
// X-Kong-Request-Id (log phases finish in any order).
func (r *rig) recordFor(t *testing.T, id string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n := 1; ; n++ {
		recs, err := r.k.WaitRecords(ctx, n)
		require.NoError(t, err, "no log record for request %s", id)
		for _, raw := range recs {
			var m map[string]any
			require.NoError(t, json.Unmarshal(raw, &m))
			if m["request"].(map[string]any)["id"] == id {
				return m
			}
		}
	}
}

// echo is an upstream that answers with what it received.
type echoed struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	out := echoed{Method: r.Method, URI: r.RequestURI, Host: r.Host, Headers: r.Header, Body: string(b)}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upstream-Header", "up-value")
	w.Header().Set("X-Upstream-Same", "from-upstream")
	w.Header().Set("X-Accel-Buffering", "no")
	_ = json.NewEncoder(w).Encode(out)
}

func decodeEcho(t *testing.T, b []byte) echoed {
	t.Helper()
	var e echoed
	require.NoError(t, json.Unmarshal(b, &e), "body: %s", b)
	return e
}

// kongYAML is a declarative config: one service to upstream, one route
// per path, the test plugin and file-log configured as given.
func kongYAML(upstream string, plugins string) string {
	return fmt.Sprintf(`_format_version: "3.0"
services:
- name: echo
  url: %s/base
  routes:
  - name: r1
    paths: ["/r1"]
    strip_path: true
  - name: r2
    paths: ["/r2"]
    strip_path: false
  - name: post-only
    paths: ["/post"]
    methods: ["POST"]
- name: noroute
  url: http://127.0.0.1:9
%s`, upstream, plugins)
}

func jsonMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body: %s", b)
	return m
}
