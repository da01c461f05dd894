package relay

import (
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus figures, named and labelled as Kong's
// prometheus plugin declares its AI metrics (kong/plugins/prometheus/
// exporter.lua:162-177: ai_llm_requests_total, ai_llm_cost_total,
// ai_llm_tokens_total, ai_llm_provider_latency_ms), without the "kong_"
// namespace Kong's exporter adds (exporter.lua:50): a Kong dashboard reads
// them with the prefix dropped, and the two never collide. That matters:
// with ai_metrics on, Kong's exporter counts this plugin's ai.proxy record
// (prometheus/handler.lua:57-59, serialized.ai_metrics = message.ai), so a
// logged stream shows in Kong's series with access's figures and here with
// the stream's. They exist because a stream's
// figures are known only when it ends, after Kong has serialized the
// request's log record (see plugin/ANALYTICS.md): a Go plugin cannot put
// them in the record, so they are exported here, for streams and for every
// other relayed request alike.
type Metrics struct {
	requests *prometheus.CounterVec
	cost     *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	ttft     *prometheus.HistogramVec
	relayed  *prometheus.CounterVec

	// The children, cached per model (tokens: per model and token type)
	// and per (mode, status class): WithLabelValues hashes its labels and
	// allocates on every call. A child is made when first used, as
	// WithLabelValues makes it, so the exported series are the same.
	requestsC, costC  cowCache[string, prometheus.Counter]
	latencyC, ttftC   cowCache[string, prometheus.Observer]
	tokensC, relayedC cowCache[[2]string, prometheus.Counter]
}

// child is the cached child of key, made by mk on first use.
func child[K comparable, V any](c *cowCache[K, V], k K, mk func() V) V {
	if v, ok := c.load(k); ok {
		return v
	}
	return c.store(k, mk())
}

// aiLabels are Kong's labels of the AI metrics (exporter.lua). The cache
// and embeddings labels are always "" here (no semantic cache); workspace
// is not known to the plugin server without a PDK call, so "" too.
var aiLabels = []string{"ai_provider", "ai_model", "cache_status", "vector_db", "embeddings_provider", "embeddings_model", "workspace"}

// Kong's AI_LLM_PROVIDER_LATENCY_BUCKETS (exporter.lua), in ms.
var providerLatencyBuckets = []float64{250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 10000, 30000, 60000}

// ttftBuckets are finer at the low end: a first token is usually well
// under the whole answer's latency.
var ttftBuckets = []float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// NewMetrics registers the relay's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ai_llm_requests_total",
			Help: "AI requests total per ai_provider in Kong (ai-proxy-hf relay)"}, aiLabels),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ai_llm_cost_total",
			Help: "AI requests cost per ai_provider/cache in Kong (ai-proxy-hf relay)"}, aiLabels),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ai_llm_tokens_total",
			Help: "AI tokens per ai_provider/cache in Kong (ai-proxy-hf relay)"}, append(append([]string{}, aiLabels[:6]...), "token_type", "workspace")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ai_llm_provider_latency_ms",
			Help: "LLM response Latency for each AI plugins per ai_provider in Kong (ai-proxy-hf relay: access to the end of the answer)", Buckets: providerLatencyBuckets}, aiLabels),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ai_llm_time_to_first_token_ms",
			Help: "Time from the start of the request to the first generated token per ai_provider (ai-proxy-hf relay)", Buckets: ttftBuckets}, aiLabels),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ai_proxy_hf_relay_requests_total",
			Help: "Requests the ai-proxy-hf relay answered, by mode (stream, oneshot; rejected: refused before the upstream; no_ticket: no valid ticket) and status class"}, []string{"mode", "status"}),
	}
	for _, c := range []*cowCache[string, prometheus.Counter]{&m.requestsC, &m.costC} {
		c.max = 1024
	}
	m.latencyC.max, m.ttftC.max, m.tokensC.max, m.relayedC.max = 1024, 1024, 3*1024, 64
	reg.MustRegister(m.requests, m.cost, m.tokens, m.latency, m.ttft, m.relayed)
	return m
}

// labels are Kong's label values of a model's series: the provider, the
// model, the always-empty cache labels.
func labels(model string) []string {
	return []string{translate.ProviderName, model, "", "", "", "", ""}
}

// relayedCounter is the (mode, status class) child.
func (m *Metrics) relayedCounter(mode, class string) prometheus.Counter {
	return child(&m.relayedC, [2]string{mode, class}, func() prometheus.Counter { return m.relayed.WithLabelValues(mode, class) })
}

// observe records one relayed request that reached the upstream.
func (m *Metrics) observe(x *exchange, latency time.Duration) {
	m.relayedCounter(translate.RequestMode(x.stream), statusClass(x.status)).Inc()
	if x.status == 0 {
		return
	}
	model := x.model
	child(&m.requestsC, model, func() prometheus.Counter { return m.requests.WithLabelValues(labels(model)...) }).Inc()
	u := x.usage
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	if c := translate.Cost(x.t.Config, u.PromptTokens, u.CompletionTokens); c > 0 {
		child(&m.costC, model, func() prometheus.Counter { return m.cost.WithLabelValues(labels(model)...) }).Add(c)
	}
	child(&m.latencyC, model, func() prometheus.Observer { return m.latency.WithLabelValues(labels(model)...) }).Observe(float64(latency.Milliseconds()))
	if x.ttft > 0 {
		child(&m.ttftC, model, func() prometheus.Observer { return m.ttft.WithLabelValues(labels(model)...) }).Observe(float64(x.ttft.Milliseconds()))
	}
	for _, tk := range [...]struct {
		kind string
		n    int
	}{{"prompt_tokens", u.PromptTokens}, {"completion_tokens", u.CompletionTokens}, {"total_tokens", u.TotalTokens}} {
		if tk.n > 0 {
			child(&m.tokensC, [2]string{model, tk.kind}, func() prometheus.Counter {
				return m.tokens.WithLabelValues(translate.ProviderName, model, "", "", "", "", tk.kind, "")
			}).Add(float64(tk.n))
		}
	}
}

func statusClass(s int) string {
	switch {
	case s == 0:
		return "none"
	case s < 300:
		return "2xx"
	case s < 500:
		return "4xx"
	default:
		return "5xx"
	}
}
