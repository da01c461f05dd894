package translate

import (
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// benchChatConfig is a typical router chat config: auth header, two
// options to fill in, model_name_header.
func benchChatConfig() *schema.Config {
	mt, temp := 512, 0.7
	return &schema.Config{RouteType: RouteChat, ResponseStreaming: "allow", MaxRequestBodySize: 1 << 20, ModelNameHeader: true,
		Auth:  schema.Auth{HeaderName: "Authorization", HeaderValue: "Bearer hf_bench"},
		Model: schema.Model{Name: "meta-llama/Llama-3.1-8B-Instruct", Options: schema.ModelOptions{MaxTokens: &mt, Temperature: &temp}}}
}

// chatRequest2K is a 2 KiB OpenAI chat request: a system prompt, a few
// turns and one tool.
func chatRequest2K(tb testing.TB) []byte {
	turn := `{"role":"user","content":"` + strings.Repeat("Tell me more about the weather in Paris. ", 6) + `"},` +
		`{"role":"assistant","content":"` + strings.Repeat("It is mild and cloudy today. ", 6) + `"},`
	body := `{"messages":[{"role":"system","content":"You are a helpful assistant."},` + strings.Repeat(turn, 3) +
		`{"role":"user","content":"And tomorrow?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"day":{"type":"string"}},"required":["city"]}}}],"top_p":0.95,"stream":false}`
	for len(body) < 2048 {
		body = strings.Replace(body, `"And tomorrow?`, `"And tomorrow? Please`, 1)
	}
	if len(body) < 2048 || len(body) > 2200 {
		tb.Fatalf("request is %d bytes", len(body))
	}
	return []byte(body)
}

// chatResponse4K is a 4 KiB OpenAI chat response from the router.
func chatResponse4K(tb testing.TB, model string) []byte {
	content := strings.Repeat("Tomorrow in Paris will be mild with light rain in the afternoon. ", 58)
	body := `{"id":"chatcmpl-8f2a","object":"chat.completion","created":1731000000,"model":"` + model +
		`","system_fingerprint":"3.0.1-sha-abc","choices":[{"index":0,"message":{"role":"assistant","content":"` + content +
		`"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":512,"completion_tokens":780,"total_tokens":1292}}`
	if len(body) < 4000 || len(body) > 4300 {
		tb.Fatalf("response is %d bytes", len(body))
	}
	return []byte(body)
}

func BenchmarkChatRequest2KiB(b *testing.B) {
	cfg := benchChatConfig()
	in := &ClientRequest{Path: "/chat", Body: chatRequest2K(b),
		Headers: map[string][]string{"content-type": {"application/json"}, "apikey": {"consumer-key"}, "user-agent": {"OpenAI/Python 1.50"}}}
	b.SetBytes(int64(len(in.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Chat{}).Request(cfg, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChatResponse4KiB(b *testing.B) {
	cfg := benchChatConfig()
	for _, tc := range []struct{ name, upstreamModel string }{
		{"passthrough", "meta-llama/Llama-3.1-8B-Instruct"},
		{"model-rewritten", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := &UpstreamResponse{Status: 200, Body: chatResponse4K(b, tc.upstreamModel)}
			st := &State{Model: cfg.Model.Name, StartedAt: 1731000000000}
			b.SetBytes(int64(len(in.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (Chat{}).Response(cfg, st, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
