package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// Issue 9 through the stand-in: the relay (plugin/relay) carries streams;
// these tests show the "must show" list. The PDK budget of a stream
// is in callbudget_test.go, the streamed faults of every hfsim mode in
// textgen_faults_test.go, the openai npm client's streams in
// clients_e2e_test.go.

// freeAddr is a free loopback host:port for a listener of the plugin server.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// relayRig is a rig whose plugin server's relay and metrics listener are on
// addresses the test knows.
type relayRig struct {
	*rig
	relayAddr, metricsAddr string
}

func startRelayRig(t *testing.T, routes ...route) *relayRig {
	t.Helper()
	rr := &relayRig{relayAddr: freeAddr(t), metricsAddr: freeAddr(t)}
	rr.rig = startRigWith(t, rigOptions{pluginArgs: []string{"-relay-listen", rr.relayAddr, "-metrics-listen", rr.metricsAddr}}, routes...)
	return rr
}

// metrics scrapes the plugin server's /metrics.
func (rr *relayRig) metrics(t *testing.T) string {
	t.Helper()
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + rr.metricsAddr + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	keep(b)
	return string(b)
}

// metric is the value of the first sample line of /metrics that starts
// with name and holds every label pair given ("" and false when none).
func metric(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		return v, err == nil
	}
	return 0, false
}

// TestRelayFirstEventBeforeUpstreamEnds: the upstream holds its second
// event until the client has the first, so the stream only completes if
// the relay (and Kong) flush each event as it comes.
func TestRelayFirstEventBeforeUpstreamEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var closed atomic.Bool
	var held atomic.Bool
	hf := startHF(t, hfsim.Options{Token: hfToken, BeforeEvent: func(_ *http.Request, i int, _ bool) {
		if i != 1 {
			return
		}
		select {
		case <-release:
		case <-time.After(10 * time.Second):
			held.Store(true) // the first event never reached the client on its own
		}
	}})
	r := startRig(t, route{path: "/early", config: chatConf(t, "model.options.upstream_url", jsonString(hf.URL()))})
	var first time.Time
	res := r.streamEach(t, "/early", withStream(chatBody("Say hello to the world")), id(t), func(i int, _ string) {
		if i == 0 {
			first = time.Now()
			if closed.CompareAndSwap(false, true) {
				close(release)
			}
		}
	})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	assert.False(t, held.Load(), "the first event arrived only after the upstream went on")
	assert.False(t, first.IsZero())
	data := dataEvents(sseEvents(t, res.body))
	require.Greater(t, len(data), 2)
	assert.Equal(t, hfsim.Done, data[len(data)-1])
}

// TestRelayStreamMemoryFlat: a stream of more than 10,000 events (about
// 43 MB) through the relay leaves the plugin server's resident memory
// where it was: the relay holds one read buffer and one event, never the
// stream. RSS is read from the plugin server's /metrics
// (process_resident_memory_bytes, from /proc/<pid>/stat).
func TestRelayStreamMemoryFlat(t *testing.T) {
	t.Parallel()
	rr := startRelayRig(t, route{path: "/long", config: chatConf(t)})
	stream := func(size string) (int, response) {
		n := 0
		res := rr.streamEach(t, "/long", withStream(chatBody("long")), with(id(t), "X-Hfsim-Fault", hfsim.FaultHuge, "X-Hfsim-Size", size), func(int, string) { n++ })
		return n, res
	}
	// Warm up: the first stream grows the heap to its working size.
	_, res := stream("2000000")
	require.Equal(t, http.StatusOK, res.status)
	before, ok := metric(rr.metrics(t), "process_resident_memory_bytes")
	require.True(t, ok, "no process_resident_memory_bytes in /metrics")
	events, res := stream("43000000")
	require.Equal(t, http.StatusOK, res.status)
	require.GreaterOrEqual(t, events, 10000, "a stream of at least 10,000 events")
	assert.Equal(t, "[DONE]", strings.TrimSpace(strings.TrimPrefix(string(lastLine(res.body)), "data:")))
	after, ok := metric(rr.metrics(t), "process_resident_memory_bytes")
	require.True(t, ok)
	t.Logf("plugin server RSS: %.1f MB before, %.1f MB after a %d-event, %d-byte stream", before/1e6, after/1e6, events, len(res.body))
	// Generous: a quarter of the stream. A relay that buffered it would
	// grow by the whole 43 MB.
	assert.Less(t, after-before, 11e6, "the plugin server's RSS grew with the stream")
}

// lastLine is the last non-empty line of b.
func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

// TestRelayStreamUpstreamErrors: an upstream error before the first byte
// of a stream gets the buffered path's answer: the status, the OpenAI
// error body, Retry-After on a model loading; a refused connection is a
// 502 OpenAI error, not Kong's page.
func TestRelayStreamUpstreamErrors(t *testing.T) {
	t.Parallel()
	refused := freeAddr(t) // nothing listens there
	r := startRig(t,
		route{path: "/se", config: chatConf(t)},
		route{path: "/se-badtoken", config: conf(t, chatConf(t), "auth", `{"header_name":"Authorization","header_value":"Bearer hf_wrong_token_x"}`)},
		route{path: "/se-refused", config: chatConf(t, "model.options.upstream_url", jsonString("http://"+refused))},
		route{path: "/se-loading", config: conf(t, baseConf("llm/v1/chat", hfsim.FaultModelOrg+"/"+hfsim.FaultLoading))},
	)
	for _, tc := range []struct {
		name, path, fault string
		status            int
		typ, code         string
		retryAfter        string
	}{
		{name: "model loading (hfsim-fault/loading)", path: "/se-loading", status: 503, typ: "server_error", code: "model_loading", retryAfter: "306"},
		{name: "401 wrong token", path: "/se-badtoken", status: 401, typ: "authentication_error"},
		{name: "429", path: "/se", fault: hfsim.FaultRateLimit, status: 429, typ: "rate_limit_error"},
		{name: "500", path: "/se", fault: hfsim.FaultHTML500, status: 500, typ: "server_error"},
		{name: "refused connection", path: "/se-refused", status: 502, typ: "server_error", code: "upstream_unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := id(t)
			if tc.fault != "" {
				h["X-Hfsim-Fault"] = tc.fault
			}
			res := r.send(t, tc.path, withStream(chatBody("x")), h)
			requireOpenAIErrorShape(t, res, tc.status, tc.typ, tc.code)
			assert.Contains(t, res.header.Get("Content-Type"), "application/json")
			assert.Empty(t, res.header.Get("X-Kong-LLM-Model"), "no model header on an error")
			if tc.retryAfter != "" {
				assert.Equal(t, tc.retryAfter, res.header.Get("Retry-After"))
			}
		})
	}
}

// TestRelayRouterCompletionsStream: completions on the router (no
// upstream_url) stream: the relay turns hf-inference text-generation
// events into OpenAI text_completion chunks and ends with [DONE].
func TestRelayRouterCompletionsStream(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/rc", config: baseConf("llm/v1/completions", tgModel)})
	const prompt = "Once upon a time"
	res, events := r.stream(t, "/rc", `{"prompt":"`+prompt+`","stream":true}`, id(t))
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	assert.Contains(t, res.header.Get("Content-Type"), "text/event-stream")
	require.Greater(t, len(events), 2)
	assert.Equal(t, "[DONE]", events[len(events)-1].data)
	var text strings.Builder
	for _, ev := range events[:len(events)-1] {
		assert.Equal(t, "text_completion", gjson.Get(ev.data, "object").String(), "%s", ev.data)
		assert.Equal(t, tgModel, gjson.Get(ev.data, "model").String())
		text.WriteString(gjson.Get(ev.data, "choices.0.text").String())
	}
	assert.Equal(t, hfsim.Reply(prompt), text.String())
	up := oneUpstream(t, router, e2eID(t))
	assert.Equal(t, "/hf-inference/models/"+tgModel, up.Path)
	assert.True(t, gjson.GetBytes(up.Body, "stream").Bool(), "hf-inference is asked for its event stream: %s", up.Body)
}

// TestRelayStreamFigures: a streamed chat's usage, cost, latency and time
// to first token reach the plugin server's Prometheus metrics (Kong's
// ai_llm_* names and labels); its ai.proxy record, written in access
// before the stream exists, holds what access knew (the request model,
// request_mode stream, the prompt estimate), not the stream's figures.
func TestRelayStreamFigures(t *testing.T) {
	t.Parallel()
	const model = "meta-llama/Llama-3.1-8B-Instruct"
	rr := startRelayRig(t, route{path: "/fig", config: conf(t, baseConf("llm/v1/chat", model),
		"model.options", `{"input_cost":1000,"output_cost":2000}`, "logging", `{"log_statistics":true}`)})
	h := with(id(t), "X-Hfsim-Style", "openai")
	res, events := rr.stream(t, "/fig", withStream(`{"stream_options":{"include_usage":true},`+chatBody("Count the figures")[1:]), h)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.NotEmpty(t, events)
	var usage gjson.Result
	for _, ev := range events {
		if u := gjson.Get(ev.data, "usage"); u.IsObject() {
			usage = u
		}
	}
	require.True(t, usage.Exists(), "the upstream's usage chunk: %s", res.body)
	prompt, completion := usage.Get("prompt_tokens").Float(), usage.Get("completion_tokens").Float()
	require.Positive(t, completion)

	lm := `ai_model="` + model + `"`
	provider := `ai_provider="huggingface"`
	var text string
	require.Eventually(t, func() bool {
		text = rr.metrics(t)
		_, ok := metric(text, "ai_llm_requests_total", lm)
		return ok
	}, 10*time.Second, 50*time.Millisecond, "the stream's figures reach /metrics when it ends")
	n, _ := metric(text, "ai_llm_requests_total", lm, provider)
	assert.Equal(t, 1.0, n)
	got, ok := metric(text, "ai_llm_tokens_total", lm, `token_type="completion_tokens"`)
	assert.True(t, ok)
	assert.Equal(t, completion, got)
	got, _ = metric(text, "ai_llm_tokens_total", lm, `token_type="prompt_tokens"`)
	assert.Equal(t, prompt, got)
	got, _ = metric(text, "ai_llm_tokens_total", lm, `token_type="total_tokens"`)
	assert.Equal(t, prompt+completion, got)
	cost, _ := metric(text, "ai_llm_cost_total", lm)
	assert.InDelta(t, (prompt*1000+completion*2000)/1e6, cost, 1e-9, "Kong's cost rule")
	ttft, ok := metric(text, "ai_llm_time_to_first_token_ms_count", lm)
	assert.True(t, ok)
	assert.Equal(t, 1.0, ttft)
	lat, _ := metric(text, "ai_llm_provider_latency_ms_count", lm)
	assert.Equal(t, 1.0, lat)
	_, ok = metric(text, "go_goroutines")
	assert.True(t, ok, "Go runtime metrics are served too")

	// The record: what access knew.
	p := aiProxy(t, rr.loggedRecord(t, h["X-E2E-Id"]))
	assert.Equal(t, "stream", p.Get("meta.request_mode").String())
	assert.Equal(t, model, p.Get("meta.request_model").String())
	assert.True(t, p.Get("usage.estimated").Bool(), "the record's prompt count is access's estimate")
	assert.EqualValues(t, 0, p.Get("usage.completion_tokens").Int(), "the stream's counts are not in the record (Kong serialized it before the stream ended)")
	assert.False(t, p.Get("usage.time_to_first_token").Exists())

	// The relay's summary line on the plugin server's output, with Kong's
	// request id.
	rid := gjson.GetBytes(toJSONBytes(t, rr.loggedRecord(t, h["X-E2E-Id"])), "request.id").String()
	require.NotEmpty(t, rid)
	require.Eventually(t, func() bool {
		return strings.Contains(rr.errlog.String(), `"request_id":"`+rid+`"`)
	}, 10*time.Second, 50*time.Millisecond, "no relay summary line for request %s", rid)
	for _, line := range strings.Split(rr.errlog.String(), "\n") {
		if strings.Contains(line, rid) && strings.Contains(line, `"ai_proxy_hf":"relay"`) {
			assert.Contains(t, line, `"completion_tokens":`+strconv.Itoa(int(completion)))
			assert.Contains(t, line, `"time_to_first_token_ms":`)
		}
	}
}

// TestRelayTicketRequired: a client that reaches the relay's address
// directly gets 403 in the OpenAI shape and nothing goes upstream, with no
// ticket, a made-up one, or one already used.
func TestRelayTicketRequired(t *testing.T) {
	t.Parallel()
	rr := startRelayRig(t, route{path: "/tk", config: chatConf(t)})
	// One request through Kong, so that the relay is known to be up.
	res := rr.send(t, "/tk", chatBody("x"), id(t, "kong"))
	require.Equal(t, http.StatusOK, res.status)
	for _, path := range []string{"/", "/v1/chat/completions", "/ai-proxy-hf/relay/", "/ai-proxy-hf/relay/00112233445566778899aabbccddeeff", "/ai-proxy-hf/relay/../../v1/chat/completions"} {
		req, err := http.NewRequest(http.MethodPost, "http://"+rr.relayAddr+path, strings.NewReader(chatBody("direct")))
		require.NoError(t, err)
		req.Header.Set("X-E2E-Id", e2eID(t, "direct"))
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		keep(b)
		assert.Equal(t, http.StatusForbidden, res.StatusCode, "%s: %s", path, b)
		assert.Equal(t, "invalid_relay_ticket", gjson.GetBytes(b, "error.code").String(), "%s", b)
	}
	requireNothingUpstream(t, router, e2eID(t, "direct"))
}

// TestRelayLoopbackOnly: the plugin server refuses to bind its relay or its
// metrics listener anywhere but loopback.
func TestRelayLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-relay-listen", "0.0.0.0:0"},
		{"-relay-listen", "[::]:0"},
		{"-relay-listen", ":0"},
		{"-metrics-listen", "0.0.0.0:0"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, pluginBin, append(args, "-kong-prefix", t.TempDir())...)
		out, err := cmd.CombinedOutput()
		cancel()
		require.Error(t, err, "%v: the server must not start", args)
		assert.Contains(t, string(out), "not a loopback address", "%v: %s", args, out)
	}
}

// TestRelayTimeoutUnderKongs: with -relay-timeout under the service's
// read_timeout, the relay, not Kong, answers an upstream slower than both:
// a 504 in the OpenAI shape, buffered or streamed (with the relay's default
// of 60 s a shorter read_timeout gives Kong's own 504 page:
// textgen_faults_test.go).
func TestRelayTimeoutUnderKongs(t *testing.T) {
	t.Parallel()
	r := startRigWith(t, rigOptions{pluginArgs: []string{"-relay-timeout", "300ms"}}, route{path: "/slow", config: chatConf(t), readTimeoutMS: 2000})
	for _, stream := range []bool{false, true} {
		body := chatBody("slow")
		if stream {
			body = withStream(body)
		}
		res := r.send(t, "/slow", body, with(id(t, strconv.FormatBool(stream)), "X-Hfsim-Fault", hfsim.FaultSlowFirstByte, "X-Hfsim-First-Byte-Delay", "3s"))
		requireOpenAIErrorShape(t, res, http.StatusGatewayTimeout, "server_error", "upstream_timeout")
	}
}
