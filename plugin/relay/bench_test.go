package relay

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// benchRelay is a relay in front of an in-process hfsim, with a ticket
// maker for one chat config.
func benchRelay(b *testing.B) (*Relay, func() string) {
	b.Helper()
	hf := hfsim.New(hfsim.Options{Token: testToken, NoKeepAlive: true})
	u, err := hf.Start("127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { _ = hf.Close(context.Background()) })
	r := New(Options{Log: io.Discard})
	require.NoError(b, r.Listen("127.0.0.1:0"))
	b.Cleanup(func() { _ = r.Close() })
	cfg, err := schema.Parse([]byte(`{"route_type":"llm/v1/chat","auth":{"header_name":"Authorization","header_value":"Bearer ` + testToken + `"},` +
		`"model":{"provider":"huggingface","name":"` + testModel + `","options":{"upstream_url":"` + u + `"}}}`))
	require.NoError(b, err)
	c, err := translate.For(cfg)
	require.NoError(b, err)
	red := translate.NewRedactor(cfg)
	h := map[string][]string{"content-type": {"application/json"}}
	return r, func() string {
		p, err := r.Register(&Ticket{Config: cfg, Capability: c, Redact: red, In: &translate.ClientRequest{Path: "/chat", Headers: h}, Start: time.Now()})
		require.NoError(b, err)
		return "http://" + r.Addr() + p
	}
}

// BenchmarkRelayBufferedChat: one buffered chat through the relay (client
// → relay → hfsim and back, all in this process, keep-alive), translation
// included. The allocations are the relay's, the client's and hfsim's.
func BenchmarkRelayBufferedChat(b *testing.B) { benchChat(b, chatBody) }

// BenchmarkRelayStreamedChat: one streamed chat (about 7 events) through
// the relay: parsed, counted, flushed per event.
func BenchmarkRelayStreamedChat(b *testing.B) { benchChat(b, `{"stream":true,`+chatBody[1:]) }

// benchChat posts body through a new ticket per request, reading each
// answer to its end.
func benchChat(b *testing.B, body string) {
	_, ticket := benchRelay(b)
	client := &http.Client{Timeout: 10 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Post(ticket(), "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatal(res.Status)
		}
	}
}

// BenchmarkRegister: registering one ticket as the access handler does
// (the relay path) and taking it back.
func BenchmarkRegister(b *testing.B) {
	r := New(Options{Log: io.Discard})
	t := &Ticket{}
	b.ReportAllocs()
	for b.Loop() {
		p, err := r.Register(t)
		if err != nil {
			b.Fatal(err)
		}
		if r.tickets.take(strings.TrimPrefix(p, PathPrefix)) == nil {
			b.Fatal("ticket lost")
		}
	}
}

// BenchmarkTickets: registering and taking one ticket.
func BenchmarkTickets(b *testing.B) {
	ts := newTickets(time.Minute, DefaultMaxTickets)
	t := &Ticket{}
	b.ReportAllocs()
	for b.Loop() {
		id, err := ts.add(t)
		if err != nil {
			b.Fatal(err)
		}
		if ts.take(id) == nil {
			b.Fatal("ticket lost")
		}
	}
}

// BenchmarkMetricsObserve: the figures of one relayed chat (requests,
// latency, time to first token, three token counts, the relay counter).
func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry())
	cfg, err := schema.Parse([]byte(`{"route_type":"llm/v1/chat","model":{"provider":"huggingface","name":"` + testModel + `"}}`))
	require.NoError(b, err)
	x := &exchange{t: &Ticket{Config: cfg}, model: testModel, status: 200, ttft: 3 * time.Millisecond,
		usage: translate.Usage{PromptTokens: 12, CompletionTokens: 30}}
	b.ReportAllocs()
	for b.Loop() {
		m.observe(x, 40*time.Millisecond)
	}
}
