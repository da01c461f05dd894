package relay

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refSummary is the line as a map, the form the summary struct must
// encode to byte for byte.
func refSummary(x *exchange, latency time.Duration) map[string]any {
	u := x.usage
	line := map[string]any{
		"ai_proxy_hf":   "relay",
		"request_id":    x.requestID,
		"mode":          translate.RequestMode(x.stream),
		"model":         x.model,
		"status":        x.status,
		"latency_ms":    latency.Milliseconds(),
		"bytes":         x.bytes,
		"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
		"total_tokens": max(u.TotalTokens, u.PromptTokens+u.CompletionTokens),
		"cost":         translate.Cost(x.t.Config, u.PromptTokens, u.CompletionTokens),
	}
	if u.Estimated {
		line["estimated"] = true
	}
	if x.ttft > 0 {
		line["time_to_first_token_ms"] = x.ttft.Milliseconds()
	}
	if x.err != nil {
		line["error"] = x.t.Redact.String(x.err.Error())
	}
	return line
}

func TestSummaryLine(t *testing.T) {
	cfg, err := schema.Parse([]byte(`{"route_type":"llm/v1/chat","auth":{"header_name":"Authorization","header_value":"Bearer ` + testToken + `"},` +
		`"model":{"provider":"huggingface","name":"` + testModel + `","options":{"input_cost":1.5,"output_cost":2.25}}}`))
	require.NoError(t, err)
	tk := &Ticket{Config: cfg, Redact: translate.NewRedactor(cfg)}
	for _, tc := range []struct {
		name    string
		x       exchange
		latency time.Duration
	}{
		{"stream", exchange{requestID: "r<1>&", model: testModel, stream: true, status: 200, bytes: 1234, ttft: 5 * time.Millisecond,
			usage: translate.Usage{PromptTokens: 12, CompletionTokens: 30}}, 40 * time.Millisecond},
		{"estimated, ttft under 1ms", exchange{model: "m", stream: true, status: 200, ttft: 300 * time.Microsecond,
			usage: translate.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 9, Estimated: true}}, time.Second},
		{"error with the secret", exchange{model: "m", status: 502,
			err: &translate.Error{Status: http.StatusBadGateway, Message: "upstream said " + testToken + " \"quoted\""}}, 0},
		{"empty", exchange{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tc.x
			x.t = tk
			want, err := json.Marshal(refSummary(&x, tc.latency))
			require.NoError(t, err)
			got, err := json.Marshal(x.summary(tc.latency))
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
			assert.NotContains(t, string(got), testToken)
		})
	}
}
