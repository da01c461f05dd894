package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"github.com/stretchr/testify/require"
)

// The external-Kong mode: with KONG_PROXY_URL, KONG_ADMIN_URL and
// HF_UPSTREAM_URL set, the suite starts no stand-in and no fake router of
// its own. Each rig pushes its kong.yaml to that Kong with POST /config
// (DB-less), the router is the hfsim at HF_UPSTREAM_URL (its request log
// read over HTTP), and the records are the lines Kong's file-log writes
// under KONG_FILE_LOG_DIR. The settings:
//
//	KONG_PROXY_URL      Kong's proxy, e.g. http://127.0.0.1:8000
//	KONG_ADMIN_URL      its Admin API, e.g. http://127.0.0.1:8001
//	HF_UPSTREAM_URL     an hfsim started with -token hf_e2e_SECRET_token_0123456789
//	                    that Kong's plugin server uses as the router
//	                    (AI_PROXY_HF_ROUTER_URL in Kong's environment)
//	KONG_FILE_LOG_DIR   a directory Kong writes and the suite reads at the
//	                    same path (a bind mount); each rig's file-log
//	                    writes its own file there
//	KONG_ERROR_LOG_PATH optional: Kong's error log (proxy_error_log) as the
//	                    suite sees it; tests that read the error log skip
//	                    without it
//
// Kong must reach the suite's own listeners on 127.0.0.1 (the dedicated
// TGI/TEI upstreams some tests start), so it shares the host's network
// (kong/compose.e2e.yml runs it with network_mode: host), and it must
// run one worker (KONG_NGINX_WORKER_PROCESSES=1): the rig's readiness
// probe reaches one worker, and each worker rebuilds its router on its
// own after POST /config.
type externalKong struct {
	proxyURL, adminURL, upstreamURL string
	fileLogDir, errorLogPath        string
}

// external is the external Kong, nil when the suite runs the stand-in.
var external *externalKong

// externalFromEnv reads the external-Kong settings: all three URLs or none.
func externalFromEnv() (*externalKong, error) {
	e := &externalKong{
		proxyURL:     strings.TrimRight(os.Getenv("KONG_PROXY_URL"), "/"),
		adminURL:     strings.TrimRight(os.Getenv("KONG_ADMIN_URL"), "/"),
		upstreamURL:  strings.TrimRight(os.Getenv("HF_UPSTREAM_URL"), "/"),
		fileLogDir:   os.Getenv("KONG_FILE_LOG_DIR"),
		errorLogPath: os.Getenv("KONG_ERROR_LOG_PATH"),
	}
	set := 0
	for _, v := range []string{e.proxyURL, e.adminURL, e.upstreamURL} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0:
		return nil, nil
	case set < 3:
		return nil, errors.New("external-Kong mode needs all of KONG_PROXY_URL, KONG_ADMIN_URL and HF_UPSTREAM_URL (or none of them for the stand-in)")
	case e.fileLogDir == "" || !filepath.IsAbs(e.fileLogDir):
		return nil, errors.New("external-Kong mode needs KONG_FILE_LOG_DIR: an absolute directory Kong's file-log writes and the suite reads at the same path")
	}
	if err := os.MkdirAll(e.fileLogDir, 0o777); err != nil {
		return nil, fmt.Errorf("KONG_FILE_LOG_DIR: %w", err)
	}
	return e, nil
}

// needStandIn skips a test in the external-Kong mode: it reads something
// only the stand-in has (its counters, its process supervision, its own
// sections of the log record), named by reason.
func needStandIn(tb testing.TB, reason string) {
	tb.Helper()
	if external != nil {
		tb.Skipf("needs the Kong stand-in (not run against %s): %s", external.proxyURL, reason)
	}
}

// needErrorLog skips a test that reads Kong's error log when the external
// Kong's error log is not readable (KONG_ERROR_LOG_PATH unset).
func (r *rig) needErrorLog(tb testing.TB) {
	tb.Helper()
	if external != nil && external.errorLogPath == "" {
		tb.Skip("reads Kong's error log: set KONG_ERROR_LOG_PATH to the external Kong's proxy_error_log")
	}
}

// gateway is what a test reaches of the Kong under test: *kongsim.Kong,
// or an external Kong (whose stand-in-only methods fail the test).
type gateway interface {
	ProxyAddr() string
	AdminAddr() string
	ProxyURL() string
	AdminURL() string
	Records() []json.RawMessage
	WaitRecords(ctx context.Context, n int) ([]json.RawMessage, error)
	Stats() kongsim.Stats
	Plugin(name string) *pluginserver.Plugin
	Supervisor(name string) *pluginserver.Supervisor
	Close()
}

// logText is a log the rig shows as text: the stand-in's error log
// buffer, or the tail of an external Kong's error log file.
type logText interface{ String() string }

// externalRigMu serializes rigs on the one external Kong: each rig's POST
// /config replaces the whole configuration. TestMain raises -parallel in
// this mode so that tests waiting here never starve the running rig's
// parallel subtests of a slot.
var externalRigMu sync.Mutex

var rigSeq atomic.Int64

// rigFileName keeps the characters file-log's path pattern accepts.
var rigFileName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// startExternalRig pushes the test's config to the external Kong and
// waits until its proxy serves it. The rig holds the Kong until its test
// ends, so a test calls t.Parallel before startRig, never after (a paused
// test holding the Kong would wait for the sequential tests waiting for it).
func startExternalRig(tb testing.TB, routes ...route) *rig {
	tb.Helper()
	externalRigMu.Lock()
	tb.Cleanup(externalRigMu.Unlock)
	seq := rigSeq.Add(1)
	name := rigFileName.ReplaceAllString(tb.Name(), "_")
	if len(name) > 80 {
		name = name[:80]
	}
	logPath := filepath.Join(external.fileLogDir, fmt.Sprintf("rig-%03d-%s.jsonl", seq, name))
	gw := &externalGateway{e: external, logPath: logPath}
	r := &rig{k: gw, logPath: logPath, errlog: newFileTail(external.errorLogPath), stderr: &syncBuffer{}}
	readyPath := fmt.Sprintf("/__rig-ready/%d", seq)
	// The readiness route has a file-log of its own (the most specific
	// config wins), so that its probes stay out of the test's records.
	ready := fmt.Sprintf("- name: rig-ready\n  url: http://127.0.0.1:9/unused\n  routes:\n  - name: rig-ready\n    paths: [%q]\n"+
		"    plugins:\n    - name: file-log\n      config:\n        path: %s\n", readyPath, filepath.Join(external.fileLogDir, "rig-ready.jsonl"))
	doc := kongYAMLWith(logPath, ready, routes...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(tb, gw.postConfig(ctx, doc), "POST /config to %s", external.adminURL)
	require.NoError(tb, gw.waitServing(ctx, readyPath), "the pushed config never served %s", readyPath)
	_, bench := tb.(*testing.B)
	tb.Cleanup(func() {
		if !bench {
			keepRigLogs(r)
		}
		if tb.Failed() {
			tb.Logf("kong error log (%s) during the test:\n%s", external.errorLogPath, r.errlog.String())
		}
	})
	return r
}

// externalGateway is an external Kong seen by one rig.
type externalGateway struct {
	e       *externalKong
	logPath string
}

func hostOf(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	return rest
}

func (g *externalGateway) ProxyAddr() string { return hostOf(g.e.proxyURL) }
func (g *externalGateway) AdminAddr() string { return hostOf(g.e.adminURL) }
func (g *externalGateway) ProxyURL() string  { return g.e.proxyURL }
func (g *externalGateway) AdminURL() string  { return g.e.adminURL }
func (g *externalGateway) Close()            {}

const standInOnly = "only the Kong stand-in has %s: call needStandIn(t, reason) first"

func (g *externalGateway) Stats() kongsim.Stats { panic(fmt.Sprintf(standInOnly, "Stats")) }
func (g *externalGateway) Plugin(string) *pluginserver.Plugin {
	panic(fmt.Sprintf(standInOnly, "plugin instance counters"))
}
func (g *externalGateway) Supervisor(string) *pluginserver.Supervisor {
	panic(fmt.Sprintf(standInOnly, "plugin process supervision"))
}

// Records are the lines the rig's file-log wrote so far.
func (g *externalGateway) Records() []json.RawMessage {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		return nil
	}
	var out []json.RawMessage
	for _, l := range bytes.Split(b, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 && json.Valid(l) {
			out = append(out, json.RawMessage(l))
		}
	}
	return out
}

// WaitRecords waits until file-log wrote at least n lines.
func (g *externalGateway) WaitRecords(ctx context.Context, n int) ([]json.RawMessage, error) {
	for {
		if recs := g.Records(); len(recs) >= n {
			return recs, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d log records in %s: %w", len(g.Records()), g.logPath, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// postConfig is POST /config with the YAML as the raw body; 429 (a
// reload still running, kong/api/routes/config.lua:154) is retried.
func (g *externalGateway) postConfig(ctx context.Context, yaml string) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.e.adminURL+"/config", strings.NewReader(yaml))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "text/yaml")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusCreated:
			return nil
		case http.StatusTooManyRequests:
			select {
			case <-ctx.Done():
				return fmt.Errorf("429 until the deadline: %s", body)
			case <-time.After(200 * time.Millisecond):
			}
		default:
			return fmt.Errorf("%d %s\nconfig:\n%s", res.StatusCode, body, yaml)
		}
	}
}

// waitServing probes the readiness route until the proxy routes it (any
// answer but Kong's 404 "no Route matched": its service refuses, 502).
func (g *externalGateway) waitServing(ctx context.Context, path string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.e.proxyURL+path, nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// fileTail is an error log file read from where it ended when the rig
// started (rigs are serialized: what follows is this rig's).
type fileTail struct {
	path   string
	offset int64
}

func newFileTail(path string) *fileTail {
	t := &fileTail{path: path}
	if fi, err := os.Stat(path); err == nil && path != "" {
		t.offset = fi.Size()
	}
	return t
}

func (t *fileTail) String() string {
	if t.path == "" {
		return ""
	}
	f, err := os.Open(t.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// standIn reports whether the suite runs on the stand-in (its counters
// are there to check).
func standIn() bool { return external == nil }

// spooledBodies is the stand-in's count of request bodies spooled to
// client_body_temp (0 on an external Kong: check standIn first).
func (r *rig) spooledBodies() uint64 {
	if !standIn() {
		return 0
	}
	return r.k.Stats().BodiesSpooled
}

// TestExternalSettings: the external mode takes all three URLs or none,
// and a file-log directory it can share with Kong.
func TestExternalSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		on      bool
		wantErr string
	}{
		{name: "none: the stand-in", env: map[string]string{}},
		{name: "all", on: true, env: map[string]string{"KONG_PROXY_URL": "http://127.0.0.1:8000/", "KONG_ADMIN_URL": "http://127.0.0.1:8001",
			"HF_UPSTREAM_URL": "http://127.0.0.1:8090", "KONG_FILE_LOG_DIR": dir}},
		{name: "proxy only", env: map[string]string{"KONG_PROXY_URL": "http://127.0.0.1:8000"}, wantErr: "needs all of"},
		{name: "no log dir", env: map[string]string{"KONG_PROXY_URL": "http://a", "KONG_ADMIN_URL": "http://b", "HF_UPSTREAM_URL": "http://c"},
			wantErr: "KONG_FILE_LOG_DIR"},
		{name: "relative log dir", env: map[string]string{"KONG_PROXY_URL": "http://a", "KONG_ADMIN_URL": "http://b", "HF_UPSTREAM_URL": "http://c",
			"KONG_FILE_LOG_DIR": "logs"}, wantErr: "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"KONG_PROXY_URL", "KONG_ADMIN_URL", "HF_UPSTREAM_URL", "KONG_FILE_LOG_DIR", "KONG_ERROR_LOG_PATH"} {
				t.Setenv(k, tc.env[k])
			}
			e, err := externalFromEnv()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.on, e != nil)
			if e != nil {
				require.Equal(t, "http://127.0.0.1:8000", e.proxyURL, "no trailing slash: paths are appended")
				require.DirExists(t, dir)
			}
		})
	}
}

// TestFileTail: the rig's view of an external error log starts where the
// file ended when the rig started.
func TestFileTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	require.NoError(t, os.WriteFile(path, []byte("before\n"), 0o644))
	tail := newFileTail(path)
	require.Empty(t, tail.String())
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("during\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, "during\n", tail.String())
	require.Empty(t, newFileTail("").String(), "no error log: nothing to read")
}
