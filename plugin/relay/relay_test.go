package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testToken = "hf_relay_SECRET_token_42"
	testModel = "mistralai/Mistral-7B-Instruct-v0.2"
)

// syncBuf is a log sink the relay and the test share.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	relay   *Relay
	hf      *hfsim.Server
	hfURL   string
	log     *syncBuf
	reg     *prometheus.Registry
	metrics *Metrics
}

func newFixture(t *testing.T, opts Options, hfOpts hfsim.Options) *fixture {
	t.Helper()
	f := &fixture{log: &syncBuf{}, reg: prometheus.NewRegistry()}
	if hfOpts.Token == "" {
		hfOpts.Token = testToken
	}
	f.hf = hfsim.New(hfOpts)
	var err error
	f.hfURL, err = f.hf.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.hf.Close(context.Background()) })
	f.metrics = NewMetrics(f.reg)
	opts.Log, opts.Metrics = f.log, f.metrics
	f.relay = New(opts)
	require.NoError(t, f.relay.Listen("127.0.0.1:0"))
	t.Cleanup(func() {
		_ = f.relay.Close()
		assert.NotContains(t, f.log.String(), testToken, "a credential in the relay's log")
	})
	return f
}

// config is a plugin config on the fake upstream (as a dedicated endpoint)
// or, with upstreamURL "", on the router (pointed at the fake by env).
func config(t *testing.T, routeType, upstreamURL string, extra string) *schema.Config {
	t.Helper()
	opt := ""
	if upstreamURL != "" {
		opt = `"upstream_url":"` + upstreamURL + `"`
	}
	raw := `{"route_type":"` + routeType + `","model_name_header":true` + extra +
		`,"auth":{"header_name":"Authorization","header_value":"Bearer ` + testToken + `"},` +
		`"model":{"provider":"huggingface","name":"` + testModel + `","options":{"input_cost":1,"output_cost":2` + sep(opt) + `}}}`
	cfg, err := schema.Parse([]byte(raw))
	require.NoError(t, err, raw)
	return cfg
}

func sep(s string) string {
	if s == "" {
		return ""
	}
	return "," + s
}

// ticket registers a ticket for a request the relay translates itself.
func (f *fixture) ticket(t *testing.T, cfg *schema.Config, path string, headers map[string][]string) string {
	t.Helper()
	c, err := translate.For(cfg)
	require.NoError(t, err)
	if headers == nil {
		headers = map[string][]string{"content-type": {"application/json"}}
	}
	p, err := f.relay.Register(&Ticket{Config: cfg, Capability: c, Redact: translate.NewRedactor(cfg),
		In: &translate.ClientRequest{Path: path, Headers: headers}, Start: time.Now()})
	require.NoError(t, err)
	return p
}

func (f *fixture) post(t *testing.T, path, body string, h ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+f.relay.Addr()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, b
}

func errorOf(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m struct {
		Error map[string]any `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &m), "%s", body)
	require.NotNil(t, m.Error, "%s", body)
	require.NotEmpty(t, m.Error["message"])
	require.NotEmpty(t, m.Error["type"])
	return m.Error
}

const chatBody = `{"messages":[{"role":"user","content":"Say hello to the world"}]}`

func TestTickets(t *testing.T) {
	now := time.Unix(1000, 0)
	ts := newTickets(time.Second, 2)
	ts.now = func() time.Time { return now }
	a, err := ts.add(&Ticket{})
	require.NoError(t, err)
	assert.Len(t, a, ticketIDLen)
	b, err := ts.add(&Ticket{})
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	_, err = ts.add(&Ticket{})
	assert.ErrorIs(t, err, ErrTableFull, "bounded: a third live ticket is refused")

	assert.NotNil(t, ts.take(a))
	assert.Nil(t, ts.take(a), "single use")
	for _, bad := range []string{"", "zz", strings.Repeat("g", ticketIDLen), strings.ToUpper(b) + "0", strings.Repeat("0", ticketIDLen)} {
		assert.Nil(t, ts.take(bad), "%q", bad)
	}
	now = now.Add(2 * time.Second)
	assert.Nil(t, ts.take(b), "expired")
	c, err := ts.add(&Ticket{})
	require.NoError(t, err)
	now = now.Add(2 * time.Second)
	_, err = ts.add(&Ticket{})
	require.NoError(t, err)
	_, err = ts.add(&Ticket{})
	require.NoError(t, err, "a full table sweeps its expired tickets first")
	assert.Nil(t, ts.take(c))
	ts.sweep()
	assert.Equal(t, 2, ts.len())
	now = now.Add(2 * time.Second)
	ts.sweep()
	assert.Zero(t, ts.len(), "nothing leaks: expired tickets are swept")
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "127.0.0.2:8080": true, "[::1]:0": true, "localhost:0": true,
		"0.0.0.0:0": false, ":0": false, "[::]:0": false, "10.0.0.1:80": false, "example.com:80": false, "127.0.0.1": false,
	} {
		err := CheckLoopback(addr)
		assert.Equal(t, ok, err == nil, "%s: %v", addr, err)
	}
	r := New(Options{})
	assert.Error(t, r.Listen("0.0.0.0:0"), "the relay refuses a non-loopback bind")
	_, err := ServeMetrics(":0", NewRegistry())
	assert.Error(t, err, "the metrics listener refuses a non-loopback bind")
}

func TestNoTicketNothingUpstream(t *testing.T) {
	f := newFixture(t, Options{}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	used := f.ticket(t, cfg, "/chat", nil)
	res, _ := f.post(t, used, chatBody)
	require.Equal(t, http.StatusOK, res.StatusCode)
	before := len(f.hf.Requests())
	for _, path := range []string{"/", "/v1/chat/completions", PathPrefix, PathPrefix + "00112233445566778899aabbccddeeff", used, used + "x"} {
		res, body := f.post(t, path, chatBody)
		assert.Equal(t, http.StatusForbidden, res.StatusCode, path)
		assert.Equal(t, "invalid_relay_ticket", errorOf(t, body)["code"], path)
	}
	assert.Len(t, f.hf.Requests(), before, "nothing reached the upstream without a valid ticket")
	assert.Equal(t, 6.0, testutil.ToFloat64(f.metrics.relayed.WithLabelValues("no_ticket", "4xx")))
}

func TestBufferedChat(t *testing.T) {
	f := newFixture(t, Options{}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	res, body := f.post(t, f.ticket(t, cfg, "/chat", nil), chatBody, "X-Kong-Request-Id", "req-1", "Apikey", "client-key")
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	assert.Equal(t, "huggingface/"+testModel, res.Header.Get(modelHeader))
	var out map[string]any
	require.NoError(t, json.Unmarshal(body, &out))
	assert.Equal(t, "chat.completion", out["object"])
	assert.Equal(t, testModel, out["model"])
	ups := f.hf.Requests()
	require.Len(t, ups, 1)
	assert.Equal(t, "/v1/chat/completions", ups[0].Path)
	assert.Equal(t, "Bearer "+testToken, ups[0].Header.Get("Authorization"), "the relay adds the real credential")
	assert.Equal(t, "req-1", ups[0].Header.Get("X-Kong-Request-Id"))
	assert.Equal(t, float64(1), testutil.ToFloat64(f.metrics.requests.WithLabelValues("huggingface", testModel, "", "", "", "", "")))
	assert.Greater(t, testutil.ToFloat64(f.metrics.tokens.WithLabelValues("huggingface", testModel, "", "", "", "", "completion_tokens", "")), 0.0)
	assert.Greater(t, testutil.ToFloat64(f.metrics.cost.WithLabelValues("huggingface", testModel, "", "", "", "", "")), 0.0)
	assert.Equal(t, 1, testutil.CollectAndCount(f.metrics.latency))
}

func TestRejectedNothingUpstream(t *testing.T) {
	f := newFixture(t, Options{}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", f.hfURL, `,"max_request_body_size":80`)
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"messages":`, http.StatusBadRequest},
		{`{"model":"other/model","messages":[{"role":"user","content":"x"}]}`, http.StatusBadRequest},
		{`{"messages":[{"role":"user","content":"` + strings.Repeat("x", 100) + `"}]}`, http.StatusRequestEntityTooLarge},
	} {
		res, body := f.post(t, f.ticket(t, cfg, "/chat", nil), tc.body)
		assert.Equal(t, tc.status, res.StatusCode, "%s", body)
		errorOf(t, body)
	}
	assert.Empty(t, f.hf.Requests())
	assert.Equal(t, 3.0, testutil.ToFloat64(f.metrics.relayed.WithLabelValues("rejected", "4xx")))
}

func TestUpstreamErrorsBeforeFirstByte(t *testing.T) {
	f := newFixture(t, Options{}, hfsim.Options{})
	for _, stream := range []bool{false, true} {
		for _, tc := range []struct {
			fault  string
			status int
		}{{"loading", 503}, {"ratelimit", 429}, {"html500", 500}, {"permission", 403}} {
			cfg := config(t, "llm/v1/chat", f.hfURL, "")
			body := chatBody
			if stream {
				body = `{"stream":true,` + chatBody[1:]
			}
			res, b := f.post(t, f.ticket(t, cfg, "/chat", nil), body, "X-Hfsim-Fault", tc.fault)
			assert.Equal(t, tc.status, res.StatusCode, "%s stream=%v: %s", tc.fault, stream, b)
			assert.Contains(t, res.Header.Get("Content-Type"), "application/json")
			errorOf(t, b)
			if tc.fault == "loading" {
				assert.Equal(t, "306", res.Header.Get("Retry-After"))
			}
		}
	}
	// A wrong token upstream: 401 in the OpenAI shape.
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	c, _ := translate.For(cfg)
	up, err := c.Request(cfg, &translate.ClientRequest{Path: "/chat", Body: []byte(`{"stream":true,` + chatBody[1:]), Headers: map[string][]string{}})
	require.NoError(t, err)
	up.SetHeaders["authorization"] = "Bearer wrong"
	p, err := f.relay.Register(&Ticket{Config: cfg, Capability: c, Redact: translate.NewRedactor(cfg),
		In: &translate.ClientRequest{Path: "/chat", Body: []byte(chatBody)}, Upstream: up, Start: time.Now()})
	require.NoError(t, err)
	res, b := f.post(t, p, "")
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	errorOf(t, b)
}

func TestUnreachableUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now: connection refused
	f := newFixture(t, Options{}, hfsim.Options{})
	for _, body := range []string{chatBody, `{"stream":true,` + chatBody[1:]} {
		cfg := config(t, "llm/v1/chat", "http://"+addr, "")
		res, b := f.post(t, f.ticket(t, cfg, "/chat", nil), body)
		assert.Equal(t, http.StatusBadGateway, res.StatusCode)
		assert.Equal(t, "upstream_unreachable", errorOf(t, b)["code"])
	}
	assert.Contains(t, f.log.String(), `"status":502`)
}

func TestBufferedTooLarge(t *testing.T) {
	f := newFixture(t, Options{MaxBody: 1 << 20}, hfsim.Options{HugeSize: 2 << 20})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	res, b := f.post(t, f.ticket(t, cfg, "/chat", nil), chatBody, "X-Hfsim-Fault", "huge")
	assert.Equal(t, http.StatusBadGateway, res.StatusCode)
	assert.Contains(t, errorOf(t, b)["message"], "upstream response too large")
}

// readEvents reads data: lines as they arrive, calling each.
func readEvents(t *testing.T, body io.Reader, each func(data string)) {
	t.Helper()
	rd := bufio.NewReader(body)
	for {
		line, err := rd.ReadString('\n')
		if d, ok := strings.CutPrefix(line, "data:"); ok {
			each(strings.TrimSpace(d))
		}
		if err != nil {
			return
		}
	}
}

func TestStreamFlushedPerEvent(t *testing.T) {
	release := make(chan struct{})
	var notFlushed atomic.Bool
	f := newFixture(t, Options{}, hfsim.Options{BeforeEvent: func(_ *http.Request, i int, final bool) {
		if i == 1 {
			// The upstream holds its second event until the client has
			// the first: only a flush per event lets it through.
			select {
			case <-release:
			case <-time.After(10 * time.Second):
				notFlushed.Store(true)
			}
		}
	}})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	req, _ := http.NewRequest(http.MethodPost, "http://"+f.relay.Addr()+f.ticket(t, cfg, "/chat", nil), strings.NewReader(`{"stream":true,`+chatBody[1:]))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Type"), "text/event-stream")
	var events []string
	readEvents(t, res.Body, func(d string) {
		if len(events) == 0 {
			close(release)
		}
		events = append(events, d)
	})
	assert.False(t, notFlushed.Load(), "the first event reached the client only after the upstream went on")
	require.Greater(t, len(events), 2)
	assert.Equal(t, "[DONE]", events[len(events)-1])
	require.Eventually(t, func() bool { return strings.Contains(f.log.String(), `"mode":"stream"`) }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, testutil.CollectAndCount(f.metrics.ttft), "time to first token observed")
}

// An upstream stream without X-Accel-Buffering still reaches Kong with
// "no": nginx buffers a proxied answer unless told not to.
func TestStreamTellsNginxNotToBuffer(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n")
	}))
	defer up.Close()
	f := newFixture(t, Options{}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", up.URL, "")
	req, _ := http.NewRequest(http.MethodPost, "http://"+f.relay.Addr()+f.ticket(t, cfg, "/chat", nil), strings.NewReader(`{"stream":true,`+chatBody[1:]))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "no", res.Header.Get("X-Accel-Buffering"))
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"content":"hi"`)
}

func TestStreamMidStreamDeath(t *testing.T) {
	f := newFixture(t, Options{}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	res, b := f.post(t, f.ticket(t, cfg, "/chat", nil), `{"stream":true,`+chatBody[1:], "X-Hfsim-Fault", "stream_cut")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var last string
	readEvents(t, bytes.NewReader(b), func(d string) { last = d })
	assert.Contains(t, last, `"error"`, "an OpenAI error event ends a stream cut midway: %s", b)
	assert.Contains(t, last, `"server_error"`)
}

func TestStreamIdleUpstream(t *testing.T) {
	f := newFixture(t, Options{IdleTimeout: 200 * time.Millisecond}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	res, b := f.post(t, f.ticket(t, cfg, "/chat", nil), `{"stream":true,`+chatBody[1:], "X-Hfsim-Delay", "5s")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(b), `"code":"upstream_timeout"`, "%s", b)
	assert.Contains(t, f.log.String(), "idle timeout", "the summary line names the cause")
	assert.NotContains(t, string(b), "[DONE]")
}

func TestStreamClientGoneCancelsUpstream(t *testing.T) {
	gone := make(chan struct{})
	held := make(chan struct{}) // the upstream is holding its second event
	var upstreamDone atomic.Bool
	f := newFixture(t, Options{}, hfsim.Options{BeforeEvent: func(r *http.Request, i int, final bool) {
		if i == 1 {
			close(held)
			select {
			case <-r.Context().Done():
				upstreamDone.Store(true)
			case <-time.After(10 * time.Second):
			}
			close(gone)
		}
	}})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.relay.Addr()+f.ticket(t, cfg, "/chat", nil), strings.NewReader(`{"stream":true,`+chatBody[1:]))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	buf := make([]byte, 1)
	_, _ = res.Body.Read(buf)
	// The client leaves only once the upstream holds the stream: leaving
	// earlier, the cancel can reach hfsim between two events (a loaded
	// machine) and the hold below is never entered.
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream never reached its second event")
	}
	cancel()
	res.Body.Close()
	select {
	case <-gone:
	case <-time.After(15 * time.Second):
		t.Fatal("the upstream call outlived the client")
	}
	assert.True(t, upstreamDone.Load(), "the client going away cancels the upstream request")
}

func TestStreamAsksForIdentity(t *testing.T) {
	f := newFixture(t, Options{}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	res, _ := f.post(t, f.ticket(t, cfg, "/chat", nil), `{"stream":true,`+chatBody[1:], "Accept-Encoding", "gzip")
	require.Equal(t, http.StatusOK, res.StatusCode)
	ups := f.hf.Requests()
	require.Len(t, ups, 1)
	assert.Equal(t, "identity", ups[0].Header.Get("Accept-Encoding"), "the relay reads the events: they must come uncompressed")
}

func TestBufferedBodyThatNeverEnds(t *testing.T) {
	f := newFixture(t, Options{HeaderTimeout: 300 * time.Millisecond}, hfsim.Options{})
	cfg := config(t, "llm/v1/chat", f.hfURL, "")
	res, b := f.post(t, f.ticket(t, cfg, "/chat", nil), chatBody, "X-Hfsim-Fault", hfsim.FaultEndless,
		"X-Hfsim-Trickle-Interval", "1ms", "X-Hfsim-Trickle-For", "30s")
	assert.Equal(t, http.StatusGatewayTimeout, res.StatusCode, "%s", b)
	assert.Equal(t, "upstream_timeout", errorOf(t, b)["code"], "answered, not left waiting for the end")
}

// A raw (untranslated) stream ends a failure with the error event the
// translated streams use: a fixed text per cause, never the transport
// error's own text (addresses, URLs).
func TestRawStreamEndHidesTransportError(t *testing.T) {
	out := string((&rawStream{}).End(nil, errors.New("read tcp 127.0.0.1:1->10.1.2.3:443: connection reset by peer")))
	require.True(t, strings.HasPrefix(out, "\n\ndata: {\"error\":"), out)
	assert.True(t, strings.HasSuffix(out, "}\n\n"), out)
	assert.NotContains(t, out, "10.1.2.3")
	assert.Contains(t, out, `"code":"upstream_stream_failed"`)
	assert.Empty(t, (&rawStream{}).End(nil, nil))
}
