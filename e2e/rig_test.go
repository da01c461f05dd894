package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
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

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
	"github.com/stretchr/testify/require"
)

// hfToken is the token the fake upstream accepts; the gateway injects it.
// secrets lists every secret the suite configures: no response and no log
// record may ever contain one (TestNoSecretLeaks).
const (
	hfToken      = "hf_e2e_SECRET_token_0123456789"
	clientAPIKey = "client-kong-apikey-SECRET-42"
	paramSecret  = "param-SECRET-value-77"
)

var secrets = []string{hfToken, clientAPIKey, paramSecret}

var (
	// pluginBin is the real plugin binary, built once in TestMain.
	pluginBin string
	// router is the fake upstream playing https://router.huggingface.co:
	// the plugin's router base is pointed at it with AI_PROXY_HF_ROUTER_URL,
	// inherited by the plugin server as Kong's environment would be.
	router    *hfsim.Server
	routerURL string

	// transcript collects every response body and log record the suite
	// saw, for the secret scan.
	transcriptMu sync.Mutex
	transcript   bytes.Buffer
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if external, err = externalFromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "ai-proxy-hf-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginBin = filepath.Join(dir, "ai-proxy-hf")
	build := exec.Command("go", "build", "-o", pluginBin, "../cmd/ai-proxy-hf")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the plugin:", err)
		return 1
	}
	if external != nil {
		// The router is the hfsim Kong's plugin server was pointed at.
		// Rigs are serialized in this mode; the waiting tests must not
		// hold the -parallel slots the running rig's subtests need.
		router, routerURL = hfsim.Remote(external.upstreamURL), external.upstreamURL
		flag.Parse()
		_ = flag.Set("test.parallel", "1000")
		fmt.Fprintf(os.Stderr, "e2e: external Kong: proxy %s, admin %s, router %s, file-log in %s\n",
			external.proxyURL, external.adminURL, external.upstreamURL, external.fileLogDir)
		return afterSuite(m.Run())
	}
	router = hfsim.New(hfsim.Options{Token: hfToken})
	routerURL, err = router.Start("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer router.Close(context.Background())
	os.Setenv("AI_PROXY_HF_ROUTER_URL", routerURL)
	// The secret scan runs after every test, parallel ones included
	// (secrets_test.go).
	return afterSuite(m.Run())
}

// rig is one Kong with the plugin, configured by a kong.yaml: a stand-in
// of its own, or the external Kong (external_test.go) with the rig's
// config pushed to it.
type rig struct {
	k       gateway
	prefix  string
	logPath string
	errlog  logText
	stderr  *syncBuffer
}

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

// kongEnv is the KONG_* environment of a DB-less Kong with the plugin,
// as kong/kong.conf and docker-compose.yml set it (paths aside).
func kongEnv(prefix string, pluginArgs ...string) []string {
	return []string{
		"KONG_PREFIX=" + prefix,
		"KONG_DATABASE=off",
		"KONG_PROXY_LISTEN=127.0.0.1:0",
		"KONG_ADMIN_LISTEN=127.0.0.1:0",
		"KONG_PROXY_ACCESS_LOG=off",
		"KONG_LOG_LEVEL=info",
		"KONG_PLUGINS=bundled,ai-proxy-hf",
		"KONG_PLUGINSERVER_NAMES=ai-proxy-hf",
		"KONG_PLUGINSERVER_AI_PROXY_HF_SOCKET=" + filepath.Join(prefix, "ai-proxy-hf.socket"),
		"KONG_PLUGINSERVER_AI_PROXY_HF_START_CMD=" + strings.Join(append([]string{pluginBin, "-kong-prefix", prefix}, pluginArgs...), " "),
		"KONG_PLUGINSERVER_AI_PROXY_HF_QUERY_CMD=" + pluginBin + " -dump",
	}
}

// route is one route of a test kong.yaml with the plugin's config on it.
type route struct {
	path   string
	config string // the plugin's config as a JSON object
	// noPlugin leaves the route without the plugin.
	noPlugin bool
	// readTimeoutMS, when set, puts the route on a service of its own with
	// that read_timeout (Kong's upstream read timeout).
	readTimeoutMS int
}

// kongYAML builds a DB-less config: one service (its URL is only Kong's
// default target: the plugin sets the real one), one route per entry with
// the plugin on it, and the bundled file-log writing every record to logPath.
func kongYAML(logPath string, routes ...route) string {
	return kongYAMLWith(logPath, "", routes...)
}

// kongYAMLWith is kongYAML with more services (YAML list items) after the
// test's own.
func kongYAMLWith(logPath, moreServices string, routes ...route) string {
	var b strings.Builder
	writeRoute := func(i int, r route) {
		fmt.Fprintf(&b, "  - name: r%d\n    paths: [%q]\n    strip_path: true\n", i, r.path)
		if !r.noPlugin {
			fmt.Fprintf(&b, "    plugins:\n    - name: ai-proxy-hf\n      config: %s\n", r.config)
		}
	}
	fmt.Fprintf(&b, "_format_version: \"3.0\"\nservices:\n- name: hf\n  url: http://127.0.0.1:9/unused\n  routes:\n")
	for i, r := range routes {
		if r.readTimeoutMS == 0 {
			writeRoute(i, r)
		}
	}
	for i, r := range routes {
		if r.readTimeoutMS != 0 {
			fmt.Fprintf(&b, "- name: hf-r%d\n  url: http://127.0.0.1:9/unused\n  read_timeout: %d\n  routes:\n", i, r.readTimeoutMS)
			writeRoute(i, r)
		}
	}
	b.WriteString(moreServices)
	fmt.Fprintf(&b, "plugins:\n- name: file-log\n  config:\n    path: %s\n", logPath)
	return b.String()
}

// startRig starts the stand-in with the given routes for a test or a
// benchmark and stops it when it ends, dumping its logs if it failed.
// A test's rig logs join the transcript of the secret scan; a benchmark's
// do not: they grow with b.N, and so would the transcript held in memory.
func startRig(tb testing.TB, routes ...route) *rig {
	tb.Helper()
	return startRigWith(tb, rigOptions{}, routes...)
}

// rigOptions change how a rig's stand-in runs the plugin server; an
// external Kong runs its plugin server as it was started, so a rig with
// any of them needs the stand-in.
type rigOptions struct {
	// pluginArgs are extra arguments on the start command (for example
	// -metrics-listen).
	pluginArgs []string
	// pluginTimeout is the plugin socket's timeout (Kong's
	// lua_socket_*_timeout, 60 s, the limit of Kong/kong#13210), so that a
	// test can show a handler slower than the limit without waiting a
	// minute; 0: 20 s.
	pluginTimeout time.Duration
}

// startRigWith is startRig with opts.
func startRigWith(tb testing.TB, opts rigOptions, routes ...route) *rig {
	tb.Helper()
	if external != nil {
		if len(opts.pluginArgs) > 0 {
			needStandIn(tb, "starts the plugin server with "+strings.Join(opts.pluginArgs, " "))
		}
		if opts.pluginTimeout > 0 {
			needStandIn(tb, "the stand-in's plugin socket timeout is shortened")
		}
		return startExternalRig(tb, routes...)
	}
	pluginTimeout := opts.pluginTimeout
	if pluginTimeout == 0 {
		pluginTimeout = 20 * time.Second
	}
	prefix := tb.TempDir()
	errlog := &syncBuffer{}
	r := &rig{prefix: prefix, logPath: filepath.Join(prefix, "file-log.jsonl"), errlog: errlog, stderr: &syncBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := kongsim.Start(ctx, kongsim.Options{
		Environ:         kongEnv(prefix, opts.pluginArgs...),
		Declarative:     []byte(kongYAML(r.logPath, routes...)),
		ErrorLog:        errlog,
		Stderr:          r.stderr,
		PluginTimeout:   pluginTimeout,
		MaxEventRetries: 3,
	})
	require.NoError(tb, err, "error log:\n%s", r.errlog.String())
	r.k = k
	_, bench := tb.(*testing.B)
	tb.Cleanup(func() {
		k.Close()
		// Everything a test's rig logged joins the transcript for the
		// secret scan: file-log's records and Kong's error log.
		if !bench {
			keepRigLogs(r)
		}
		if tb.Failed() {
			tb.Logf("kong error log:\n%s\nstand-in stderr:\n%s", r.errlog.String(), r.stderr.String())
		}
	})
	return r
}

// response is what a client got.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// open sends one request through the stand-in's proxy and returns the
// answer unread, for the caller to read and close. A body is JSON unless
// headers name another Content-Type.
func (r *rig) open(t *testing.T, method, path string, body []byte, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, r.k.ProxyURL()+path, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil && headers["Content-Type"] == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	return res
}

// doLoose sends one request and reads the whole answer, returning what
// arrived and the read error instead of failing the test (for answers that
// may end early).
func (r *rig) doLoose(t *testing.T, method, path string, body []byte, headers map[string]string) (response, error) {
	t.Helper()
	res := r.open(t, method, path, body, headers)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	keep(b)
	return response{status: res.StatusCode, header: res.Header, body: b}, err
}

// do sends one request through the stand-in's proxy and reads the whole answer.
func (r *rig) do(t *testing.T, method, path string, body []byte, headers map[string]string) response {
	t.Helper()
	res, err := r.doLoose(t, method, path, body, headers)
	require.NoError(t, err)
	return res
}

// post sends a JSON body with POST.
func (r *rig) post(t *testing.T, path, body string, headers ...string) response {
	t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return r.do(t, http.MethodPost, path, []byte(body), h)
}

// sseEvent is one event as the client received it, with when it arrived.
type sseEvent struct {
	data string
	at   time.Time
}

// stream sends a request and reads the answer as it arrives, line by line,
// returning the raw bytes and the data: events in order.
func (r *rig) stream(t *testing.T, path, body string, headers map[string]string) (response, []sseEvent) {
	t.Helper()
	var events []sseEvent
	res := r.streamEach(t, path, body, headers, func(_ int, data string) {
		events = append(events, sseEvent{data: data, at: time.Now()})
	})
	return res, events
}

// waitRecords waits until the stand-in has published n log records (the
// log phase runs after the response, like Kong's timer) and returns them.
func (r *rig) waitRecords(t *testing.T, n int) []json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	recs, err := r.k.WaitRecords(ctx, n)
	require.NoError(t, err, "waiting for %d log records", n)
	return recs
}

// records waits for n log records (the log phase runs after the response,
// like Kong's timer) and returns them as file-log wrote them to its file.
func (r *rig) records(t *testing.T, n int) []map[string]any {
	t.Helper()
	r.waitRecords(t, n)
	var out []map[string]any
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(r.logPath)
		if err != nil {
			return false
		}
		lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
		if len(lines) < n {
			return false
		}
		out = out[:0]
		for _, l := range lines {
			var m map[string]any
			if json.Unmarshal(l, &m) != nil {
				return false
			}
			out = append(out, m)
		}
		keep(b)
		return true
	}, 10*time.Second, 10*time.Millisecond, "file-log did not write %d records to %s", n, r.logPath)
	return out
}

// memRecords waits for n records and returns them as the stand-in keeps
// them in memory: file-log's record plus the stand-in's own "kongsim"
// section (PDK calls per phase), which a real Kong would not write.
func (r *rig) memRecords(t *testing.T, n int) []map[string]any {
	t.Helper()
	recs := r.waitRecords(t, n)
	out := make([]map[string]any, 0, len(recs))
	for _, rec := range recs {
		var m map[string]any
		require.NoError(t, json.Unmarshal(rec, &m))
		out = append(out, m)
	}
	return out
}

// pdkCalls is the number of PDK calls the plugin made for one request,
// by phase, as the stand-in counted them (log record "kongsim.pdk_calls").
func pdkCalls(t *testing.T, rec map[string]any) map[string]map[string]int {
	t.Helper()
	needStandIn(t, "PDK calls per request are counted by the stand-in (kongsim.pdk_calls)")
	ks, ok := rec["kongsim"].(map[string]any)
	require.True(t, ok, "no kongsim section in the record: %v", rec)
	raw, err := json.Marshal(ks["pdk_calls"])
	require.NoError(t, err)
	var out map[string]map[string]int
	require.NoError(t, json.Unmarshal(raw, &out), "pdk_calls: %s", raw)
	return out
}

// upstreamRequests returns what the fake upstream received for requests
// carrying the given X-E2E-Id header value.
func upstreamRequests(srv *hfsim.Server, id string) []hfsim.Request {
	return srv.RequestsWith("X-E2E-Id", id)
}

// keep adds bytes a client or operator saw to the transcript.
func keep(b []byte) {
	transcriptMu.Lock()
	transcript.Write(b)
	transcript.WriteByte('\n')
	transcriptMu.Unlock()
}

// recordFor waits for the in-memory log record of the request that carried
// X-E2E-Id: id. Records are published when each request's log phase ends,
// in any order (parallel subtests; a stream's may come after the next
// request's), so the record is found by its id, not by its position.
func (r *rig) recordFor(t *testing.T, id string) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		for _, raw := range r.k.Records() {
			var m map[string]any
			if json.Unmarshal(raw, &m) != nil {
				continue
			}
			req, _ := m["request"].(map[string]any)
			h, _ := req["headers"].(map[string]any)
			if h["x-e2e-id"] == id {
				found = m
				return true
			}
		}
		return false
	}, 15*time.Second, 5*time.Millisecond, "no log record for the request %q", id)
	return found
}

// startHF starts a fake upstream of the test's own (a dedicated TGI or
// Inference Endpoint for model.options.upstream_url), closed when the test ends.
func startHF(t *testing.T, opts hfsim.Options) *hfsim.Server {
	t.Helper()
	srv := hfsim.New(opts)
	_, err := srv.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

// streamEach sends a request and calls onEvent for every data: event as it
// arrives (before the rest of the answer is read), so a test can act while
// the stream is still open. It returns the whole answer.
func (r *rig) streamEach(t *testing.T, path, body string, headers map[string]string, onEvent func(i int, data string)) response {
	t.Helper()
	res := r.open(t, http.MethodPost, path, []byte(body), headers)
	defer res.Body.Close()
	var raw bytes.Buffer
	rd := bufio.NewReader(io.TeeReader(res.Body, &raw))
	n := 0
	for {
		line, err := rd.ReadString('\n')
		if strings.HasPrefix(line, "data:") {
			onEvent(n, strings.TrimSpace(strings.TrimPrefix(line, "data:")))
			n++
		}
		if err != nil {
			break
		}
	}
	keep(raw.Bytes())
	return response{status: res.StatusCode, header: res.Header, body: raw.Bytes()}
}

// relayedCalls are the PDK calls of a request on the relay's data path
// with logging off (plugin/relaypath.go): the headers (client credentials
// to clear), the path, and Kong pointed at the relay with buffering off.
var relayedCalls = map[string]int{
	"kong.request.get_headers": 1, "kong.request.get_path_with_query": 1,
	"kong.service.set_target": 1, "kong.service.request.set_scheme": 1, "kong.service.request.set_path": 1,
	"kong.nginx.set_ctx": 1,
}
