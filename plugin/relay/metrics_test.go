package relay

import (
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cached children add up across requests and models, and a series is
// made only when first used, as with WithLabelValues per request: no cost
// or time-to-first-token series for a model that never had either.
func TestMetricsObserveCached(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	priced, err := schema.Parse([]byte(`{"route_type":"llm/v1/chat","model":{"provider":"huggingface","name":"a","options":{"input_cost":1,"output_cost":2}}}`))
	require.NoError(t, err)
	free, err := schema.Parse([]byte(`{"route_type":"llm/v1/chat","model":{"provider":"huggingface","name":"b"}}`))
	require.NoError(t, err)
	for range 3 {
		m.observe(&exchange{t: &Ticket{Config: priced}, model: "a", stream: true, status: 200, ttft: 2 * time.Millisecond,
			usage: translate.Usage{PromptTokens: 10, CompletionTokens: 5}}, 30*time.Millisecond)
	}
	m.observe(&exchange{t: &Ticket{Config: free}, model: "b", status: 200, usage: translate.Usage{PromptTokens: 4}}, 10*time.Millisecond)
	m.observe(&exchange{t: &Ticket{Config: free}, model: "b", status: 0}, time.Millisecond)

	l := func(model string) []string { return []string{"huggingface", model, "", "", "", "", ""} }
	tk := func(model, kind string) float64 {
		return testutil.ToFloat64(m.tokens.WithLabelValues("huggingface", model, "", "", "", "", kind, ""))
	}
	assert.Equal(t, 3.0, testutil.ToFloat64(m.requests.WithLabelValues(l("a")...)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(l("b")...)))
	assert.Equal(t, 30.0, tk("a", "prompt_tokens"))
	assert.Equal(t, 15.0, tk("a", "completion_tokens"))
	assert.Equal(t, 45.0, tk("a", "total_tokens"))
	assert.Equal(t, 3.0, testutil.ToFloat64(m.relayed.WithLabelValues("stream", "2xx")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.relayed.WithLabelValues("oneshot", "2xx")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.relayed.WithLabelValues("oneshot", "none")))
	// Made only for "a": b had no cost and no first token.
	assert.Equal(t, 1, testutil.CollectAndCount(m.cost))
	assert.Equal(t, 1, testutil.CollectAndCount(m.ttft))
	assert.Equal(t, 2, testutil.CollectAndCount(m.latency))
	// b: prompt and total only (no completion tokens).
	assert.Equal(t, 5, testutil.CollectAndCount(m.tokens))
}
