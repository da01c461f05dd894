package sse

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkParser feeds a TGI-style chat stream (keep-alive comments, no
// space after "data:") in network-sized chunks that split events, and
// reports per event: the target is zero allocations in steady state.
func BenchmarkParser(b *testing.B) {
	one, err := os.ReadFile("testdata/chat_stream_tgi_usage.sse")
	if err != nil {
		b.Fatal(err)
	}
	stream := bytes.Repeat(one, 64)
	events := bytes.Count(stream, []byte("\ndata:")) + 1
	for _, tc := range []struct {
		name  string
		chunk int
	}{{"chunk-97B", 97}, {"chunk-4KiB", 4096}} {
		b.Run(tc.name, func(b *testing.B) {
			p := NewParser(0)
			n := 0
			emit := func(ev Event) error { n += len(ev.Data); return nil }
			b.SetBytes(int64(len(stream)) / int64(events))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += events {
				for rest := stream; len(rest) > 0; {
					c := min(tc.chunk, len(rest))
					if err := p.Feed(rest[:c], emit); err != nil {
						b.Fatal(err)
					}
					rest = rest[c:]
				}
			}
			if n == 0 {
				b.Fatal("no data")
			}
		})
	}
}
