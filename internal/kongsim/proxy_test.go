package kongsim_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const globalPlugin = `plugins:
- name: pdkplugin
  config:
    tag: global
`

func TestGetters(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))

	res, body := r.do(t, "GET", "/r1/x/../y//z?a=1&a=2&b", nil, map[string]string{
		"X-Test-Access": "getters", "X-Custom-Header": "cv", "Host": "Example.COM:8000",
	})
	require.Equal(t, 200, res.StatusCode, "body: %s", body)
	rep := jsonMap(t, body)
	for k, want := range map[string]any{
		"tag":                 "global",
		"scheme":              "http",
		"host":                "example.com",
		"forwarded_host":      "example.com",
		"forwarded_scheme":    "http",
		"method":              "GET",
		"path":                "/r1/y/z",
		"path_with_query":     "/r1/x/../y//z?a=1&a=2&b",
		"raw_query":           "a=1&a=2&b",
		"query_arg_a":         "1",
		"header_custom":       "cv",
		"header_missing":      "",
		"http_version":        1.1,
		"subsystem":           "http",
		"client_ip":           "127.0.0.1",
		"client_forwarded_ip": "127.0.0.1",
		"client_protocol":     "http",
		"var_request_uri":     "/r1/x/../y//z?a=1&a=2&b",
		"var_missing":         "",
		"ip_trusted":          false,
		"memory_workers":      float64(1),
		"seq":                 float64(1),
		// buffered_proxying was set when the plugin (it has a response
		// handler) was collected, just before its access handler.
		"ctx_buffered_proxying": true,
	} {
		assert.Equal(t, want, rep[k], k)
	}
	assert.Equal(t, map[string]any{"a": []any{"1", "2"}}, rep["query"], "go-pdk drops the bare key b (a Lua true)")
	assert.Equal(t, []any{"cv"}, rep["headers"].(map[string]any)["x-custom-header"])
	assert.Equal(t, "Example.COM:8000", rep["headers"].(map[string]any)["host"].([]any)[0])
	assert.Regexp(t, `^plugins:pdkplugin:::::[0-9a-f-]{36}$`, rep["key"])
	route := rep["route"].(map[string]any)
	assert.Equal(t, []any{"/r1"}, route["paths"])
	assert.Equal(t, true, route["strip_path"])
	svc := rep["service"].(map[string]any)
	assert.Equal(t, "/base", svc["path"])
	assert.Equal(t, "http", svc["protocol"])
	start := rep["req_start_time"].(float64)
	assert.InDelta(t, float64(time.Now().Unix()), start, 60)
	assert.Regexp(t, `^[0-9a-f-]{36}$`, rep["node_id"])
}

func TestQueryArgWithoutValueFailsLikeKong(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	// ?flag has the Lua value true, which cannot be encoded as a String.
	res, body := r.do(t, "GET", "/r1?flag", nil, map[string]string{"X-Test-Access": "query-arg-bool", "Accept": "application/json"})
	assert.Equal(t, 500, res.StatusCode)
	assert.Contains(t, string(body), `"message":"An unexpected error occurred"`)
	assert.Contains(t, r.errlog.String(), "string expected for field 'v', got boolean")
}

func TestServiceRequestSettersAndSharedState(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	for _, mode := range []string{"setters", "stream,setters"} {
		t.Run(mode, func(t *testing.T) {
			res, body := r.do(t, "POST", "/r1/x?q=1", strings.NewReader("orig"), map[string]string{
				"X-Test-Access": mode, "X-Set-Path": "/new path?z", "X-Set-Raw-Query": "k=v", "X-Set-Method": "PUT",
				"X-Set-Body": "newbody", "X-Remove-Me": "x", "X-Set-Host": "upstream.example",
				"X-Forwarded-For": "10.0.0.1",
			})
			require.Equal(t, 200, res.StatusCode, "body: %s", body)
			e := decodeEcho(t, body)
			assert.Equal(t, "PUT", e.Method)
			// set_path escapes the space but not '?'; access.after appends
			// the (new) query.
			assert.Equal(t, "/new%20path?z?k=v", e.URI)
			assert.Equal(t, "newbody", e.Body)
			assert.Equal(t, "upstream.example", e.Host, "set_header Host sets $upstream_host")
			assert.Equal(t, []string{"7"}, e.Headers["Content-Length"])
			assert.Equal(t, []string{"yes"}, e.Headers["X-Set-By-Plugin"])
			assert.Equal(t, []string{"a1", "a2"}, e.Headers["X-Added"])
			assert.Equal(t, []string{"b1", "b2"}, e.Headers["X-Bulk"])
			assert.Nil(t, e.Headers["X-Remove-Me"])
			assert.Equal(t, []string{"10.0.0.1, 127.0.0.1"}, e.Headers["X-Forwarded-For"])
			assert.Equal(t, []string{"/r1"}, e.Headers["X-Forwarded-Prefix"])
			assert.Equal(t, []string{"/r1/x"}, e.Headers["X-Forwarded-Path"])
			assert.Equal(t, []string{"1.1 kong/3.9.1"}, e.Headers["Via"])
			assert.Len(t, e.Headers["X-Kong-Request-Id"], 1)
			// kong.request.* see the service.request changes (but not set_path).
			assert.Equal(t, []string{`header=yes removed="" query=k=v method=PUT path=/r1/x body=newbody`}, e.Headers["X-Seen"])
		})
	}
}

func TestSetHeadersWithHostIsALuaError(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, _ := r.do(t, "GET", "/r1", nil, map[string]string{"X-Test-Access": "setters", "X-Set-Headers-Host": "1"})
	assert.Equal(t, 500, res.StatusCode, "go-pdk sends a list for Host; an nginx variable takes only a string")
}

func TestUpstreamPathsAndRouting(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, ""))
	cases := []struct {
		method, path string
		status       int
		uri          string
	}{
		{"GET", "/r1", 200, "/base"},
		{"GET", "/r1/", 200, "/base/"},
		{"GET", "/r1/a/b?x=1&y", 200, "/base/a/b?x=1&y"},
		{"GET", "/r1?", 200, "/base?"},
		{"GET", "/r2/a", 200, "/base/r2/a"},
		{"GET", "/r1%20x", 200, "/base/%20x"}, // normalised "/r1 x": the postfix " x" gets a "/"
		{"POST", "/post/p", 200, "/base/p"},
		{"GET", "/post/p", 404, ""},
		{"GET", "/nothing", 404, ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			res, body := r.do(t, c.method, c.path, nil, map[string]string{"Accept": "application/json"})
			require.Equal(t, c.status, res.StatusCode, "body: %s", body)
			if c.status == 404 {
				assert.JSONEq(t, fmt.Sprintf(`{"message":"no Route matched with those values","request_id":%q}`, res.Header.Get("X-Kong-Request-Id")), string(body))
				assert.NotEmpty(t, res.Header.Get("X-Kong-Response-Latency"))
				assert.Equal(t, "kong/3.9.1", res.Header.Get("Server"))
				return
			}
			assert.Equal(t, c.uri, decodeEcho(t, body).URI)
			assert.Equal(t, "1.1 kong/3.9.1", res.Header.Get("Via"))
			assert.NotEmpty(t, res.Header.Get("X-Kong-Upstream-Latency"))
			assert.NotEmpty(t, res.Header.Get("X-Kong-Proxy-Latency"))
			assert.Empty(t, res.Header.Get("X-Accel-Buffering"), "nginx hides X-Accel-* upstream headers")
		})
	}
}

func TestBufferedResponsePhase(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))

	t.Run("exit replaces the response", func(t *testing.T) {
		res, body := r.do(t, "POST", "/r1/x", strings.NewReader("payload"), map[string]string{"X-Test-Response": "report"})
		require.Equal(t, 201, res.StatusCode, "body: %s", body)
		assert.Equal(t, strconv.Itoa(len(body)), res.Header.Get("Content-Length"))
		assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
		rep := jsonMap(t, body)
		assert.Equal(t, float64(200), rep["service_status"])
		assert.Equal(t, "up-value", rep["service_header"])
		assert.Equal(t, float64(0), rep["service_headers_len"], "a proxy table: Go gets an empty map")
		assert.Contains(t, rep["service_body"], `"uri":"/base/x"`)
		assert.Equal(t, float64(200), rep["response_status"])
		assert.Equal(t, "up-value", rep["response_header"])
		assert.Equal(t, "service", rep["source"])
		assert.Equal(t, "payload", rep["request_body"])
		rh := rep["response_headers"].(map[string]any)
		assert.Equal(t, []any{"up-value"}, rh["x-upstream-header"])
		assert.Nil(t, rh["via"], "Kong's headers come in the header filter, after the response phase")
	})
	t.Run("status and headers without exit", func(t *testing.T) {
		res, body := r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Response": "set-status"})
		assert.Equal(t, 202, res.StatusCode)
		assert.Equal(t, "yes", res.Header.Get("X-Response-Phase"))
		assert.Equal(t, "/base/x", decodeEcho(t, body).URI)
	})
	t.Run("access headers and upstream headers", func(t *testing.T) {
		res, body := r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Access": "resp-headers"})
		require.Equal(t, 200, res.StatusCode, "the upstream status replaces set_status(299): %s", body)
		assert.Equal(t, "from-access", res.Header.Get("X-Access-Set"))
		assert.Equal(t, []string{"one", "two"}, res.Header.Values("X-Access-Added"))
		assert.Equal(t, []string{"m1", "m2"}, res.Header.Values("X-Multi"))
		assert.Empty(t, res.Header.Values("X-To-Clear"))
		assert.Equal(t, []string{"from-upstream"}, res.Header.Values("X-Upstream-Same"), "buffered: kong.response.set_headers(upstream) overwrites")
	})
	t.Run("streamed: access headers stay next to the upstream's", func(t *testing.T) {
		res, _ := r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Access": "stream,resp-headers"})
		require.Equal(t, 200, res.StatusCode)
		assert.Equal(t, []string{"from-access", "from-upstream"}, res.Header.Values("X-Upstream-Same"))
		assert.Equal(t, "from-access", res.Header.Get("X-Access-Set"))
	})
	t.Run("set_ctx nil stores NULL_VALUE, which keeps buffering", func(t *testing.T) {
		res, body := r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Access": "stream-nil", "X-Test-Response": "report"})
		require.Equal(t, 201, res.StatusCode, "body: %s", body)
	})
	st := r.k.Stats()
	assert.GreaterOrEqual(t, st.BufferedProxied, uint64(4))
	assert.GreaterOrEqual(t, st.StreamedProxied, uint64(1))
}

func TestStreamingSSEArrivesBeforeUpstreamFinishes(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: two\n\n")
	}))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))

	req, err := http.NewRequest("GET", r.k.ProxyURL()+"/r1/sse", nil)
	require.NoError(t, err)
	req.Header.Set("X-Test-Access", "stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	assert.Empty(t, res.Header.Get("Content-Length"))
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: one\n", line)
	select {
	case <-finished:
		t.Fatal("the upstream finished before the first event reached the client")
	default:
	}
	close(release)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "\ndata: two\n\n", string(rest))
	<-finished
}

func TestBufferedSSEArrivesWhole(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	}))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, body := r.do(t, "GET", "/r1/sse", nil, nil)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "data: 0\n\ndata: 1\n\ndata: 2\n\n", string(body))
}

func TestExitInAccess(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		echoHandler(w, r)
	}))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))

	res, body := r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Access": "exit"})
	assert.Equal(t, 418, res.StatusCode)
	assert.Equal(t, `{"teapot":true}`, string(body))
	assert.Equal(t, "15", res.Header.Get("Content-Length"))
	assert.Equal(t, []string{"a", "b"}, res.Header.Values("X-Exit"))
	assert.Equal(t, "global", res.Header.Get("X-Plugin-Tag"), "headers set before exit stay")
	assert.NotEmpty(t, res.Header.Get("X-Kong-Response-Latency"))
	assert.Empty(t, res.Header.Get("Via"))
	assert.Equal(t, "kong/3.9.1", res.Header.Get("Server"))

	res, body = r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Access": "exit-status"})
	assert.Equal(t, 204, res.StatusCode)
	assert.Empty(t, body)
	assert.Equal(t, int64(0), hits.Load(), "no upstream call after exit")

	rec := r.recordFor(t, res.Header.Get("X-Kong-Request-Id"))
	assert.Equal(t, "kong", rec["source"])
	assert.Equal(t, float64(204), rec["response"].(map[string]any)["status"])

	res, body = r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Access": "exit-bad-status", "Accept": "application/json"})
	assert.Equal(t, 500, res.StatusCode)
	assert.Contains(t, string(body), "An unexpected error occurred")
	assert.Contains(t, r.errlog.String(), "code must be a number between 100 and 599")
}

func TestPhaseViolationsAndUnknownMethods(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	cases := []struct {
		name, header, value string
		accept              string
		wantBody            string
		method, phase       string
		unknown             bool
	}{
		{name: "service.response body in access", header: "X-Test-Access", value: "violation", accept: "application/json",
			wantBody: "{\n  \"message\":\"An unexpected error occurred\",\n  \"request_id\":\"%s\"\n}",
			method:   "kong.service.response.get_raw_body", phase: "access"},
		{name: "response.get_status in access", header: "X-Test-Access", value: "violation-response-get-status",
			wantBody: "{\n  \"message\":\"An unexpected error occurred\",\n  \"request_id\":\"%s\"\n}",
			method:   "kong.response.get_status", phase: "access"},
		{name: "log.serialize in access", header: "X-Test-Access", value: "serialize-in-access",
			wantBody: "{\n  \"message\":\"An unexpected error occurred\",\n  \"request_id\":\"%s\"\n}",
			method:   "kong.log.serialize", phase: "access"},
		{name: "unknown method", header: "X-Test-Access", value: "unknown-method",
			wantBody: "{\n  \"message\":\"An unexpected error occurred\",\n  \"request_id\":\"%s\"\n}",
			method:   "kong.no.such_method", unknown: true},
		{name: "service.request.set_path in response: error handler, text/plain", header: "X-Test-Response", value: "violation",
			wantBody: "An unexpected error occurred\nrequest_id: %s\n",
			method:   "kong.service.request.set_path", phase: "response"},
		{name: "router.get_route in rewrite", header: "X-Test-Rewrite", value: "violation", accept: "text/html",
			wantBody: "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>An unexpected error occurred.</p>\n    <p>request_id: %s</p>\n  </body>\n</html>\n",
			method:   "kong.router.get_route", phase: "rewrite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := r.k.Stats().PDK
			h := map[string]string{c.header: c.value}
			if c.accept != "" {
				h["Accept"] = c.accept
			}
			res, body := r.do(t, "GET", "/r1/x", nil, h)
			require.Equal(t, 500, res.StatusCode, "body: %s", body)
			assert.Equal(t, fmt.Sprintf(c.wantBody, res.Header.Get("X-Kong-Request-Id")), string(body))
			after := r.k.Stats().PDK
			if c.unknown {
				assert.Equal(t, before.UnknownMethods[c.method]+1, after.UnknownMethods[c.method])
				assert.Contains(t, r.stderr.String(), "UNKNOWN PDK METHOD")
				assert.Contains(t, r.errlog.String(), `pluginserver error: method "kong.no.such_method" not found`)
				return
			}
			assert.Equal(t, before.PhaseViolations[c.method][c.phase]+1, after.PhaseViolations[c.method][c.phase])
			assert.Contains(t, r.stderr.String(), "PHASE VIOLATION: plugin \"pdkplugin\" called "+c.method)
			assert.Contains(t, r.errlog.String(), "function cannot be called in "+c.phase+" phase")
		})
	}
	// The counters are on the admin listener too.
	res, err := http.Get(r.k.AdminURL() + "/kongsim/stats")
	require.NoError(t, err)
	defer res.Body.Close()
	var st map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&st))
	pdk := st["pdk"].(map[string]any)
	assert.GreaterOrEqual(t, pdk["total_phase_violations"].(float64), float64(5))
	assert.Equal(t, float64(1), pdk["total_unknown_methods"])
}

func TestRewriteRunsGlobalPluginsOnly(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	routeScoped := kongYAML(up.URL, `plugins:
- name: pdkplugin
  route: r1
  config:
    tag: on-route
`)
	r := startRig(t, routeScoped)
	res, body := r.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Rewrite": "exit"})
	assert.Equal(t, 200, res.StatusCode, "a route plugin has no rewrite handler run: %s", body)
	assert.Equal(t, "on-route", res.Header.Get("X-Plugin-Tag"))

	r2 := startRig(t, kongYAML(up.URL, globalPlugin))
	res, body = r2.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Rewrite": "exit"})
	assert.Equal(t, 403, res.StatusCode)
	assert.Equal(t, "rewrite exit", string(body))
	assert.Equal(t, "yes", res.Header.Get("X-Rewrite"))
	assert.Empty(t, res.Header.Get("X-Plugin-Tag"), "access never ran")
	rec := r2.record(t, 1)
	assert.Nil(t, rec["route"], "the router never ran")

	res, body = r2.do(t, "GET", "/r1/x", nil, map[string]string{"X-Test-Rewrite": "mark"})
	assert.Equal(t, []string{"global"}, decodeEcho(t, body).Headers["X-Rewrite-Mark"])
	assert.Equal(t, 200, res.StatusCode)
}

func TestCtxSharedAndNginxCtxQuirks(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, body := r.do(t, "GET", "/r1", nil, map[string]string{"X-Test-Access": "shared"})
	require.Equal(t, 200, res.StatusCode, "body: %s", body)
	rep := jsonMap(t, body)
	assert.Equal(t, "hello", rep["s_string"])
	assert.Equal(t, 42.5, rep["s_number"])
	assert.Equal(t, true, rep["s_true"])
	assert.Nil(t, rep["s_false"], "false arrives in Lua as nil: the key is gone")
	assert.Equal(t, "NULL_VALUE", rep["s_nil"], "a Go nil arrives as the enum name")
	assert.Equal(t, []any{"a", "b"}, rep["s_list"])
	assert.Equal(t, map[string]any{"k": "v"}, rep["s_map"])
	assert.Nil(t, rep["c_false"])
	assert.Equal(t, "NULL_VALUE", rep["c_nil"])
	assert.Equal(t, "ctx-value", rep["c_str"])
	assert.Equal(t, true, rep["buffered_proxying"])
	assert.Equal(t, float64(0x20), rep["KONG_PHASE"])
}

func TestKongLogLines(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, _ := r.do(t, "GET", "/r1", nil, map[string]string{"X-Test-Access": "logs"})
	require.Equal(t, 200, res.StatusCode)
	log := r.errlog.String()
	for _, want := range []string{
		"[error] %d#0: *%s [kong] pb_rpc.lua:233 [pdkplugin] err line 1 true, client: 127.0.0.1, server: kong, request: \"GET /r1 HTTP/1.1\"",
		"[warn] %d#0: *%s [kong] pb_rpc.lua:233 [pdkplugin] warn line",
		"[notice] %d#0: *%s [kong] pb_rpc.lua:233 [pdkplugin] notice line",
		"[info] %d#0: *%s [kong] pb_rpc.lua:233 [pdkplugin] info line",
		"[debug] %d#0: *%s [kong] pb_rpc.lua:233 [pdkplugin] debug line",
		"[alert] %d#0: *%s [kong] pb_rpc.lua:233 [pdkplugin] alert line",
		"[crit] %d#0: *%s [kong] pb_rpc.lua:233 [pdkplugin] crit line",
	} {
		want = strings.Replace(want, "%d", strconv.Itoa(os.Getpid()), 1)
		want = strings.Replace(want, "*%s ", "", 1)
		assert.Contains(t, strings.ReplaceAll(log, "*1 ", ""), want)
	}
}

func TestSetTarget(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	var got atomic.Value
	up2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Host)
		echoHandler(w, r)
	}))
	defer up2.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	port := up2.Listener.Addr().(*net.TCPAddr).Port
	res, body := r.do(t, "GET", "/r1/t", nil, map[string]string{
		"X-Test-Access": "set-target", "X-Target-Host": "localhost", "X-Target-Port": strconv.Itoa(port),
	})
	require.Equal(t, 200, res.StatusCode, "body: %s", body)
	assert.Equal(t, "localhost", got.Load(), "set_target sets Host without the port")
	assert.Equal(t, "/base/t", decodeEcho(t, body).URI)
}

func TestUpstreamFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cfg := fmt.Sprintf(`_format_version: "3.0"
services:
- name: dead
  url: %s
  retries: 2
  routes:
  - name: dead
    paths: ["/dead"]
- name: slow
  url: %s
  read_timeout: 200
  routes:
  - name: slow
    paths: ["/slow"]
%s`, deadURL, slow.URL, globalPlugin)
	r := startRig(t, cfg)
	for _, mode := range []string{"buffered", "stream"} {
		h := map[string]string{"Content-Type": "application/json"}
		if mode == "stream" {
			h["X-Test-Access"] = "stream"
		}
		t.Run(mode+" connection refused", func(t *testing.T) {
			res, body := r.do(t, "GET", "/dead", nil, h)
			assert.Equal(t, 502, res.StatusCode)
			assert.Contains(t, string(body), `"message":"An invalid response was received from the upstream server"`)
		})
		t.Run(mode+" read timeout", func(t *testing.T) {
			res, body := r.do(t, "GET", "/slow", nil, h)
			assert.Equal(t, 504, res.StatusCode)
			assert.Contains(t, string(body), `"message":"The upstream server is timing out"`)
		})
	}
	r.record(t, 4)
	find := func(streamed bool) map[string]any {
		for _, raw := range r.k.Records() {
			var rec map[string]any
			require.NoError(t, json.Unmarshal(raw, &rec))
			req := rec["request"].(map[string]any)
			_, hasHeader := req["headers"].(map[string]any)["x-test-access"]
			if req["uri"] == "/dead" && hasHeader == streamed {
				return rec
			}
		}
		t.Fatalf("no record for /dead (streamed %v)", streamed)
		return nil
	}
	rec := find(false)
	tries := rec["tries"].([]any)
	assert.Len(t, tries, 3, "connection failures are retried up to the service's retries")
	assert.Equal(t, "failed", tries[0].(map[string]any)["state"])
	assert.Equal(t, float64(502), rec["upstream_status"], "buffered: the error page's status, as a number")
	assert.Equal(t, "502, 502, 502", find(true)["upstream_status"], "streamed: $upstream_status lists every try")
	assert.Contains(t, r.errlog.String(), "connect() failed (111: Connection refused) while connecting to upstream")
}

func TestTruncatedBufferedBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		hj, ok := w.(http.Hijacker)
		if !ok {
			return
		}
		c, _, err := hj.Hijack()
		if err == nil {
			_ = c.Close()
		}
	}))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, body := r.do(t, "GET", "/r1", nil, map[string]string{"Accept": "application/json"})
	// Kong.response: ngx.status = res.status or 502, then the error handler.
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(body), `"message":"The upstream server responded with 200"`)
}

func TestLargeBodyGoesThroughATempFile(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	big := strings.Repeat("x", 20000) + "Z"
	res, body := r.do(t, "POST", "/r1", strings.NewReader(big), map[string]string{"X-Test-Access": "body"})
	require.Equal(t, 200, res.StatusCode, "body: %s", body)
	rep := jsonMap(t, body)
	assert.Equal(t, float64(len(big)), rep["len"])
	assert.Equal(t, "Z", rep["last"])
	assert.Equal(t, uint64(1), r.k.Stats().BodiesSpooled)
	r.record(t, 1) // the request has ended
	entries, err := os.ReadDir(filepath.Join(r.prefix, "client_body_temp"))
	require.NoError(t, err)
	assert.Empty(t, entries, "the temp file goes when the request ends")

	// Without a plugin reading it, the body still reaches the upstream.
	res, body = r.do(t, "POST", "/r1", strings.NewReader(big), map[string]string{"X-Test-Access": "stream"})
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, big, decodeEcho(t, body).Body)

	// Small bodies stay in memory.
	res, body = r.do(t, "POST", "/r1", strings.NewReader("small"), map[string]string{"X-Test-Access": "body"})
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, float64(5), jsonMap(t, body)["len"])
	assert.Equal(t, uint64(2), r.k.Stats().BodiesSpooled)
}

// waitFor polls cond until it holds or the deadline passes: for
// conditions with no event to wait on (a process being respawned).
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCrashingServerRecovers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, _ := r.do(t, "GET", "/r1", nil, nil)
	require.Equal(t, 200, res.StatusCode)

	sup := r.k.Supervisor("pdkplugin")
	require.NotNil(t, sup)
	res, body := r.do(t, "GET", "/r1", nil, map[string]string{"X-Test-Access": "panic", "Accept": "application/json"})
	assert.Equal(t, 500, res.StatusCode, "body: %s", body)
	assert.Contains(t, string(body), "An unexpected error occurred")

	waitFor(t, 10*time.Second, func() bool { return sup.Spawns() >= 2 && sup.PID() != 0 })
	var ok bool
	for i := 0; i < 100 && !ok; i++ {
		res, _ = r.do(t, "GET", "/r1", nil, nil)
		ok = res.StatusCode == 200
		if !ok {
			time.Sleep(20 * time.Millisecond) // the new process may not listen yet
		}
	}
	assert.True(t, ok, "requests work again once the server is back")
	c := r.k.Plugin("pdkplugin").Counters()
	assert.GreaterOrEqual(t, c.EventRetries, int64(1), "the dropped connection was retried")
	assert.GreaterOrEqual(t, c.InstanceResets, int64(1))
	assert.Contains(t, r.errlog.String(), "panic requested by X-Test-Access")
}

func TestConfigChangeUnderTraffic(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, err := http.Get(r.k.AdminURL() + "/plugins")
	require.NoError(t, err)
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	res.Body.Close()
	require.Len(t, list.Data, 1)
	id := list.Data[0].ID

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failures, total atomic.Int64
	var lastTag atomic.Value
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := client.Get(r.k.ProxyURL() + "/r1")
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				total.Add(1)
				if res.StatusCode != 200 {
					failures.Add(1)
				}
				lastTag.Store(res.Header.Get("X-Plugin-Tag"))
			}
		}()
	}
	for i := 1; i <= 3; i++ {
		req, err := http.NewRequest("PATCH", r.k.AdminURL()+"/plugins/"+id, strings.NewReader(fmt.Sprintf(`{"config":{"tag":"v%d"}}`, i)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode, "%s", b)
		waitFor(t, 5*time.Second, func() bool { return lastTag.Load() == fmt.Sprintf("v%d", i) })
	}
	cancel()
	wg.Wait()
	assert.Zero(t, failures.Load(), "no request failed during %d", total.Load())
	c := r.k.Plugin("pdkplugin").Counters()
	assert.GreaterOrEqual(t, c.InstancesStarted, int64(4))
	assert.GreaterOrEqual(t, c.InstancesClosed, int64(3), "each old instance is closed after the new one started")
	res2, body := r.do(t, "GET", "/r1", nil, nil)
	assert.Equal(t, "v3", res2.Header.Get("X-Plugin-Tag"))
	assert.Equal(t, "4", res2.Header.Get("X-Plugin-Seq"), "a new __seq__ per config change")
	_ = body
}

func TestLogPhase(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	dir := t.TempDir()
	fileLog := filepath.Join(dir, "file.log")
	pluginLog := filepath.Join(dir, "plugin.log")
	r := startRig(t, kongYAML(up.URL, fmt.Sprintf(`plugins:
- name: pdkplugin
  config:
    tag: global
    log_file: %s
- name: file-log
  config:
    path: %s
`, pluginLog, fileLog)))
	res, _ := r.do(t, "POST", "/r1/x?k=v", strings.NewReader("hi"), map[string]string{
		"X-Test-Access": "serialize", "Authorization": "Bearer secret",
	})
	require.Equal(t, 200, res.StatusCode)
	r.record(t, 1)

	raw, err := os.ReadFile(fileLog)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	require.Len(t, lines, 1, "one line per request")
	assert.Contains(t, lines[0], `"upstream_uri":"\/base\/x?k=v"`, "cjson escapes slashes")
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	assert.Equal(t, map[string]any{"proxy": map[string]any{"model": "m1", "usage": map[string]any{"total": float64(12)}}, "null": "NULL_VALUE"},
		rec["ai"], "dotted keys make sub-tables; false removes; nil is the string NULL_VALUE")
	req := rec["request"].(map[string]any)
	assert.Equal(t, "POST", req["method"])
	assert.Equal(t, "/r1/x?k=v", req["uri"])
	assert.Equal(t, map[string]any{"k": "v"}, req["querystring"])
	assert.Equal(t, "REDACTED", req["headers"].(map[string]any)["authorization"])
	assert.Equal(t, float64(200), rec["response"].(map[string]any)["status"])
	assert.Equal(t, "upstream", rec["source"])
	// Buffered: the main request has no $upstream_status, so Kong logs
	// ctx.buffered_status, a number.
	assert.Equal(t, float64(200), rec["upstream_status"])
	assert.NotNil(t, rec["route"])
	assert.NotNil(t, rec["service"])
	assert.NotNil(t, rec["latencies"])
	assert.Equal(t, "127.0.0.1", rec["client_ip"])
	calls := rec["kongsim"].(map[string]any)["pdk_calls"].(map[string]any)
	assert.Equal(t, float64(4), calls["access"].(map[string]any)["kong.log.set_serialize_value"])
	assert.Nil(t, rec["ai"].(map[string]any)["dropped"])

	// The plugin's log handler ran in the timer, on saved data.
	var line map[string]any
	waitFor(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(pluginLog)
		return err == nil && json.Unmarshal(b, &line) == nil
	})
	assert.Equal(t, float64(200), line["status"])
	assert.Equal(t, "service", line["source"])
	assert.Equal(t, "shared-in-access", line["shared"])
	assert.Equal(t, "serialize", line["header"])
	assert.Equal(t, "/r1/x", line["path"])
	assert.NotEmpty(t, line["route_id"])
	assert.Contains(t, line["resp_headers"], "x-kong-request-id")
	ser := line["serialize"].(map[string]any)
	assert.Equal(t, "REDACTED", ser["request"].(map[string]any)["headers"].(map[string]any)["authorization"])
	assert.Nil(t, ser["kongsim"], "plugins get Kong's record only")
	errs := line["errors"].(map[string]any)
	assert.NotEmpty(t, errs["get_method"], "ngx.req is not available in a timer")
	// kong/runloop/plugin_servers/plugin.lua build_phases: the log event
	// gets serialize_data = kong.log.serialize() taken before the timer,
	// and file-log serialized the record in its own log handler: a value
	// set from the Go log handler lands in the timer's copy of ngx.ctx.
	assert.Equal(t, "", errs["set_serialize_value"], "set_serialize_value is accepted in the timer")
	assert.Nil(t, rec["ai"].(map[string]any)["proxy"].(map[string]any)["from_log_phase"], "but it never reaches the record")
	for _, r := range r.k.Records() {
		assert.NotContains(t, string(r), "from_log_phase")
	}
	assert.Contains(t, r.errlog.String(), "API disabled in the current context")
	assert.Contains(t, r.errlog.String(), "context: ngx.timer")
}

func TestLogPhaseRunsForGlobalPluginsOnNoRoute(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	fileLog := filepath.Join(t.TempDir(), "file.log")
	r := startRig(t, kongYAML(up.URL, fmt.Sprintf(`plugins:
- name: file-log
  config:
    path: %s
`, fileLog)))
	res, _ := r.do(t, "GET", "/nothing", nil, nil)
	assert.Equal(t, 404, res.StatusCode)
	r.record(t, 1)
	raw, err := os.ReadFile(fileLog)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"status":404`)
	assert.Contains(t, string(raw), `"source":"kong"`)
}

func TestStreamCutMidBodyReachesTheClientTruncated(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
	}))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	req, err := http.NewRequest("GET", r.k.ProxyURL()+"/r1", nil)
	require.NoError(t, err)
	req.Header.Set("X-Test-Access", "stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	assert.Equal(t, "data: one\n\n", string(b))
	assert.Error(t, err, "nginx closes the connection: no terminating chunk")
	rec := r.record(t, 1)
	assert.Equal(t, float64(200), rec["response"].(map[string]any)["status"], "the log phase still runs")
}

func TestHTTPSUpstreamWithSNI(t *testing.T) {
	var sni atomic.Value
	up := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	up.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(h.ServerName)
		return nil, nil
	}}
	up.StartTLS()
	defer up.Close()
	port := up.Listener.Addr().(*net.TCPAddr).Port
	cfg := fmt.Sprintf(`_format_version: "3.0"
services:
- name: tls
  url: https://localhost:%d/base
  routes:
  - name: tls
    paths: ["/tls"]
`, port)
	r := startRig(t, cfg)
	res, body := r.do(t, "GET", "/tls/x", nil, nil)
	require.Equal(t, 200, res.StatusCode, "body: %s", body)
	e := decodeEcho(t, body)
	assert.Equal(t, "/base/x", e.URI)
	assert.Equal(t, fmt.Sprintf("localhost:%d", port), e.Host)
	assert.Equal(t, "localhost", sni.Load(), "proxy_ssl_name $upstream_host, without the port")
}

func TestNonLoopbackListenIsRefused(t *testing.T) {
	prefix := t.TempDir()
	_, err := kongsim.Start(context.Background(), kongsim.Options{
		Environ:   []string{"KONG_PREFIX=" + prefix, "KONG_DATABASE=off", "KONG_PROXY_ACCESS_LOG=off"},
		ProxyAddr: "0.0.0.0:0", ErrorLog: &syncBuffer{}, Stderr: &syncBuffer{},
		Config: kongsim.NewStaticConfig(&kongsim.Snapshot{}),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "loopback")
}
