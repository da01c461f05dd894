package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate/sse"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// FuzzTextgenStream feeds arbitrary upstream bytes, cut into chunks, to the
// router completions translator (the one stream whose client bytes the
// plugin writes): it never panics, its errors are *Error values, and the
// client stream is always well formed SSE — whole events only, each one's
// data valid JSON or [DONE] — ending in [DONE] or in one error event.
func FuzzTextgenStream(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "stream", "upstream", "textgen_*.sse"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b, []byte{13, 200, 1}, false)
		}
	}
	f.Add([]byte("data:{\"token\":{\"text\":\"\\u00e9\\ud800\",\"special\":false},\"details\":{\"finish_reason\":\"x\",\"generated_tokens\":-1}}\n\n"), []byte{3}, true)
	f.Add([]byte("data:{\"error\":[\"a\",1]}\n\n"), []byte{}, true)
	cfg := &schema.Config{RouteType: RouteCompletions, Model: schema.Model{Name: "org/m"}} // the router
	f.Fuzz(func(t *testing.T, in, cuts []byte, includeUsage bool) {
		st := State{Model: "org/m", StartedAt: 1722866733000, PromptTokens: 3, IncludeUsage: includeUsage}
		s := (Completions{}).NewStream(cfg, &st)
		if s.Passthrough() {
			t.Fatal("router completions must be translated")
		}
		var chunks [][]byte
		for i, rest := 0, in; len(rest) > 0; i++ {
			n := 1
			if len(cuts) > 0 {
				n = max(1, int(cuts[i%len(cuts)]))
			}
			n = min(n, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		client, rec := relay(t, s, chunks, "")
		var datas []string
		p := sse.NewParser(0)
		if err := p.Feed(client, func(ev sse.Event) error {
			datas = append(datas, string(ev.Data))
			return nil
		}); err != nil {
			t.Fatalf("client stream does not parse: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("client stream ends mid-event: %q", client)
		}
		if len(datas) == 0 {
			t.Fatal("no event at all")
		}
		for i, d := range datas {
			last := i == len(datas)-1
			if d == "[DONE]" {
				if !last || rec.EndError != "" {
					t.Fatalf("[DONE] misplaced in %q", client)
				}
				continue
			}
			if !gjson.Valid(d) {
				t.Fatalf("event data is not JSON: %q", d)
			}
			isErr := gjson.Get(d, "error").Exists()
			if isErr != (last && rec.EndError != "") {
				t.Fatalf("error event misplaced in %q", client)
			}
			if !isErr && gjson.Get(d, "object").Str != "text_completion" {
				t.Fatalf("not a text_completion chunk: %q", d)
			}
		}
		u := s.Usage()
		if u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Fatalf("usage does not add up: %+v", u)
		}
	})
}
