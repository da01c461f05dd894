package hfsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var fuzzPaths = []string{
	"/v1/chat/completions", "/v1/completions", "/generate", "/generate_stream", "/",
	"/hf-inference/models/a/b", "/hf-inference/models/sentence-transformers/x/pipeline/feature-extraction",
	"/hf-inference/models/facebook/bart-base/pipeline/feature-extraction", "/embed", "/embed_all", "/v1/embeddings", "/v1/videos",
}

// FuzzRequestBodies: whatever the body, every endpoint answers without
// panicking, and every JSON answer (and every SSE data event except
// [DONE]) is valid JSON.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"function":{"name":"f","parameters":{"properties":{"a":{"enum":["\u0000"]}}}}}]}`,
		`{"prompt":["a","b"],"stream":true,"max_tokens":1}`,
		`{"inputs":"x y","parameters":{"details":true,"decoder_input_details":true,"max_new_tokens":1,"seed":3}}`,
		`{"inputs":["a"],"normalize":false,"dimensions":2}`,
		`{"input":"a","encoding_format":"base64"}`,
		`{"prompt":"p","model":"m"}`, `{"inputs":"x","stream":true}`, `{}`, `[]`, `null`, ``,
	} {
		for i := range fuzzPaths {
			f.Add(uint8(i), s)
		}
	}
	// Small sizes and delays: the fuzzer finds the hfsim-fault/<mode> models.
	s := New(Options{EmbeddingDim: 3, HugeSize: 1024, VideoSize: 64, FirstByteDelay: time.Nanosecond})
	f.Fuzz(func(t *testing.T, pathIndex uint8, body string) {
		path := fuzzPaths[int(pathIndex)%len(fuzzPaths)]
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		rec, _ := s.LastRequest()
		s.Reset()
		if rec.Fault != "" {
			return // faults break answers on purpose; not panicking is enough
		}
		ct := w.Header().Get("Content-Type")
		switch {
		case ct == "application/json":
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s %q: invalid JSON answer %q", path, body, w.Body.String())
			}
		case ct == "text/event-stream":
			evs, err := ReadEvents(w.Body)
			if err != nil {
				t.Fatalf("%s %q: %v", path, body, err)
			}
			for _, e := range evs {
				if !e.Comment && e.Data != Done && !json.Valid([]byte(e.Data)) {
					t.Fatalf("%s %q: invalid event %q", path, body, e.Data)
				}
			}
		case w.Code == http.StatusOK && ct != "video/mp4":
			t.Fatalf("%s %q: 200 with content type %q", path, body, ct)
		}
	})
}
