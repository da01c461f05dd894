package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate/sse"
)

// BenchmarkStreamEvent measures one upstream event through each stream
// translator (parsing excluded: see sse's BenchmarkParser), in steady
// state: the events of a recorded transcript, round and round, into a
// reused buffer as the relay would use one.
func BenchmarkStreamEvent(b *testing.B) {
	for _, bc := range []struct {
		name, route, config, upstream string
	}{
		{"chat", "chat", "router", "chat_tgi_usage.sse"},
		{"chat-tools", "chat", "router", "chat_tools_openai.sse"},
		{"completions-router", "completions", "router", "textgen_details.sse"},
		{"completions-upstream_url", "completions", "tgi", "completions_tgi.sse"},
		{"native", "native", "tgi", "native_details.sse"},
		{"preserve", "preserve", "router", "chat_openai_usage.sse"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := loadConfig(b, bc.route, rawJSON(`"`+bc.config+`"`))
			raw, err := os.ReadFile(filepath.Join("testdata", "stream", "upstream", bc.upstream))
			if err != nil {
				b.Fatal(err)
			}
			var events []sse.Event
			if err := sse.NewParser(0).Feed(raw, func(ev sse.Event) error {
				events = append(events, sse.Event{Data: append([]byte(nil), ev.Data...)})
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			st := State{Model: "org/m", StartedAt: 1722866733000, PromptTokens: 9}
			s := capabilityFor(b, bc.route, cfg).NewStream(cfg, &st)
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				out, err := s.Event(buf[:0], events[i%len(events)])
				if err != nil {
					b.Fatal(err)
				}
				buf = out
				i++
			}
			if s.Usage().CompletionTokens == 0 {
				b.Fatal("nothing counted")
			}
		})
	}
}
