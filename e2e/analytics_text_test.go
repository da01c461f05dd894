package e2e

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 6 through the stand-in: the ai.proxy part of the log record, as
// file-log wrote it, for chat, completions and native requests, statistics
// and payloads on and off, streamed and not. hfsim makes the counts
// predictable: chat usage prompt = words + 3 per message, completion = the
// reply's pieces; TGI's x-prompt-tokens / x-generated-tokens likewise.

func TestAnalyticsTextGeneration(t *testing.T) {
	t.Parallel()
	costs := `"input_cost":0.3,"output_cost":0.6`
	tgi := `"upstream_url":"` + routerURL + `/tgi"`
	native := `"llm_format":"huggingface"`
	r := startRig(t,
		route{path: "/stats", config: anConfig("llm/v1/chat", "", costs, true, false)},
		route{path: "/off", config: anConfig("llm/v1/chat", "", costs, false, false)},
		route{path: "/payloads", config: anConfig("llm/v1/chat", "", "", false, true)},
		route{path: "/both", config: anConfig("llm/v1/chat", "", costs, true, true)},
		route{path: "/completions", config: anConfig("llm/v1/completions", "", costs, true, true)},
		route{path: "/completions-tgi", config: anConfig("llm/v1/completions", "", costs+","+tgi, true, false)},
		route{path: "/native", config: anConfig("llm/v1/chat", native, costs+","+tgi, true, true)},
	)
	chat := `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 1 + 1?"}]}`
	cost := func(p, c int) float64 { return (float64(p)*0.3 + float64(c)*0.6) / 1e6 }

	t.Run("chat, statistics: every key of meta and usage, the upstream's usage", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/stats", chat, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p, "meta", "usage")
		requireKeys(t, p.Get("meta"), anMetaKeys...)
		requireKeys(t, p.Get("usage"), anStatsUsageKeys...)
		prompt := hfsim.ChatPromptTokens([]byte(chat))
		completion := len(hfsim.Pieces(hfsim.Reply(hfsim.ChatPrompt([]byte(chat)))))
		require.Equal(t, 13, prompt, "hfsim: 2+5 words, 3 per message")
		assert.Equal(t, res.json(t)["usage"], map[string]any{"prompt_tokens": float64(prompt), "completion_tokens": float64(completion), "total_tokens": float64(prompt + completion)})
		requireUUID(t, p.Get("meta.plugin_id"))
		assert.Equal(t, "huggingface", p.Get("meta.provider_name").String())
		assert.Equal(t, anModel, p.Get("meta.request_model").String())
		assert.Equal(t, anModel, p.Get("meta.response_model").String())
		assert.Equal(t, "oneshot", p.Get("meta.request_mode").String())
		assert.EqualValues(t, 200, p.Get("meta.upstream_status").Int())
		assert.EqualValues(t, prompt, p.Get("usage.prompt_tokens").Int())
		assert.EqualValues(t, completion, p.Get("usage.completion_tokens").Int())
		assert.EqualValues(t, prompt+completion, p.Get("usage.total_tokens").Int())
		assert.InDelta(t, cost(prompt, completion), p.Get("usage.cost").Float(), 1e-15)
		requireLatencyFigures(t, p, completion)
	})

	t.Run("chat, statistics off: no ai key at all", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/off", chat, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		rec := r.loggedRecord(t, h["X-E2E-Id"])
		assert.NotContains(t, rec, "ai")
	})

	t.Run("chat, payloads only: the bodies, no statistics", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/payloads", chat, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p, "payload")
		requireKeys(t, p.Get("payload"), "request", "response")
		assert.Equal(t, chat, p.Get("payload.request").String(), "the client's body as sent")
		assert.Equal(t, string(res.body), p.Get("payload.response").String(), "the body the client got")
	})

	t.Run("chat, statistics and payloads", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/both", chat, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p, "meta", "usage", "payload")
		requireKeys(t, p.Get("meta"), anMetaKeys...)
		requireKeys(t, p.Get("usage"), anStatsUsageKeys...)
		assert.Equal(t, chat, p.Get("payload.request").String())
		assert.Equal(t, string(res.body), p.Get("payload.response").String())
	})

	t.Run("payloads over 64 KiB: cut, marked, the full size named", func(t *testing.T) {
		h := id(t)
		long := strings.Repeat("lorem ", 20000) // 120,000 bytes
		body := `{"messages":[{"role":"user","content":"` + long + `"}]}`
		res := r.send(t, "/both", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body[:200])
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		for _, k := range []struct {
			key  string
			full string
		}{{"payload.request", body}, {"payload.response", string(res.body)}} {
			got := p.Get(k.key).String()
			marker := "…[truncated by ai-proxy-hf: " + strconv.Itoa(len(k.full)) + " bytes in all]"
			require.True(t, strings.HasSuffix(got, marker), "%s ends %q", k.key, got[len(got)-60:])
			kept := strings.TrimSuffix(got, marker)
			assert.Len(t, kept, 64*1024, k.key)
			assert.True(t, strings.HasPrefix(k.full, kept), k.key)
		}
		assert.EqualValues(t, 20000+3, p.Get("usage.prompt_tokens").Int(), "the statistics are the whole request's")
	})

	t.Run("chat streamed: what access knows, the prompt estimated", func(t *testing.T) {
		h := id(t)
		body := `{"messages":[{"role":"user","content":"Say hello to the world"}],"stream":true}`
		res, events := r.stream(t, "/both", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.NotEmpty(t, events)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p, "meta", "usage", "payload")
		requireKeys(t, p.Get("meta"), "plugin_id", "provider_name", "request_model", "response_model", "request_mode")
		assert.Equal(t, "stream", p.Get("meta.request_mode").String())
		assert.Equal(t, anModel, p.Get("meta.response_model").String(), "Kong's fallback: the request model")
		requireKeys(t, p.Get("usage"), "prompt_tokens", "completion_tokens", "total_tokens", "cost", "estimated")
		estimate := int(math.Round(5 * 1.8)) // Kong's stream estimate: words × 1.8
		assert.EqualValues(t, estimate, p.Get("usage.prompt_tokens").Int())
		assert.EqualValues(t, 0, p.Get("usage.completion_tokens").Int(), "the plugin never sees a streamed body")
		assert.EqualValues(t, estimate, p.Get("usage.total_tokens").Int())
		assert.InDelta(t, cost(estimate, 0), p.Get("usage.cost").Float(), 1e-15)
		assert.True(t, p.Get("usage.estimated").Bool())
		requireKeys(t, p.Get("payload"), "request")
		assert.Equal(t, body, p.Get("payload.request").String())
	})

	t.Run("completions on the router: TGI's token headers", func(t *testing.T) {
		h := id(t)
		body := `{"prompt":"Once upon a time"}`
		res := r.send(t, "/completions", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p.Get("meta"), anMetaKeys...)
		requireKeys(t, p.Get("usage"), anStatsUsageKeys...)
		completion := len(hfsim.Pieces(hfsim.Reply("Once upon a time")))
		assert.EqualValues(t, 4, p.Get("usage.prompt_tokens").Int(), "x-prompt-tokens")
		assert.EqualValues(t, completion, p.Get("usage.completion_tokens").Int(), "x-generated-tokens")
		assert.InDelta(t, cost(4, completion), p.Get("usage.cost").Float(), 1e-15)
		assert.Equal(t, anModel, p.Get("meta.response_model").String())
		requireLatencyFigures(t, p, completion)
		assert.Equal(t, body, p.Get("payload.request").String(), "the client's body, not the text-generation one sent upstream")
		assert.Equal(t, string(res.body), p.Get("payload.response").String(), "the translated body")
	})

	t.Run("completions on a dedicated upstream: the upstream's usage", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/completions-tgi", `{"prompt":"Tell me a story","max_tokens":3}`, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p.Get("usage"), anStatsUsageKeys...)
		assert.EqualValues(t, 4, p.Get("usage.prompt_tokens").Int())
		assert.EqualValues(t, 3, p.Get("usage.completion_tokens").Int(), "max_tokens 3")
		requireLatencyFigures(t, p, 3)
	})

	t.Run("native /generate: TGI's token headers, no model in the body", func(t *testing.T) {
		h := id(t)
		body := `{"inputs":"What is Deep Learning?","parameters":{"max_new_tokens":3}}`
		res := r.send(t, "/native/generate", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p, "meta", "usage", "payload")
		requireKeys(t, p.Get("meta"), anMetaKeys...)
		requireKeys(t, p.Get("usage"), anStatsUsageKeys...)
		assert.EqualValues(t, 4, p.Get("usage.prompt_tokens").Int())
		assert.EqualValues(t, 3, p.Get("usage.completion_tokens").Int())
		assert.Equal(t, anModel, p.Get("meta.response_model").String(), "TGI names no model: the request's")
		assert.Equal(t, "oneshot", p.Get("meta.request_mode").String())
		requireLatencyFigures(t, p, 3)
		assert.Equal(t, string(res.body), p.Get("payload.response").String())
	})

	t.Run("native /generate_stream: streamed, estimated", func(t *testing.T) {
		h := id(t)
		body := `{"inputs":"Hi there you","parameters":{"max_new_tokens":2}}`
		res, events := r.stream(t, "/native/generate_stream", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.NotEmpty(t, events)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		assert.Equal(t, "stream", p.Get("meta.request_mode").String())
		assert.False(t, p.Get("meta.llm_latency").Exists())
		assert.EqualValues(t, 5, p.Get("usage.prompt_tokens").Int(), "3 words × 1.8, rounded")
		assert.True(t, p.Get("usage.estimated").Bool())
		assert.False(t, p.Get("payload.response").Exists(), "a streamed body is never seen by the plugin")
	})

	t.Run("no counts from the upstream: Kong's estimates, marked", func(t *testing.T) {
		// In the OpenAI style the fake's text-generation answer carries no
		// token headers and no details: both counts are estimated.
		h := with(id(t), "X-Hfsim-Style", "openai")
		res := r.send(t, "/completions", `{"prompt":"Once upon a time"}`, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p.Get("usage"), append([]string{"estimated"}, anStatsUsageKeys...)...)
		reply := hfsim.Reply("Once upon a time")
		completion := (len(reply) + 3) / 4 // one token per 4 characters, rounded up
		assert.EqualValues(t, 4, p.Get("usage.prompt_tokens").Int(), "one token per word")
		assert.EqualValues(t, completion, p.Get("usage.completion_tokens").Int())
		assert.True(t, p.Get("usage.estimated").Bool())
		assert.Equal(t, map[string]any{"prompt_tokens": 4.0, "completion_tokens": float64(completion), "total_tokens": float64(4 + completion)}, res.json(t)["usage"], "the client sees the same figures")
	})
}
