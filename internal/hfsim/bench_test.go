package hfsim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func benchServe(b *testing.B, s *Server, path, body string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}

func BenchmarkChatJSON(b *testing.B) {
	benchServe(b, New(Options{}), "/v1/chat/completions", chatBody(testModel, "What is 1 + 1?", ""))
}

func BenchmarkChatStream(b *testing.B) {
	benchServe(b, New(Options{}), "/v1/chat/completions", chatBody(testModel, strings.Repeat("word ", 100), `"stream":true`))
}

func BenchmarkGenerateStream(b *testing.B) {
	benchServe(b, New(Options{}), "/generate_stream", `{"inputs":"`+strings.Repeat("word ", 100)+`","parameters":{"details":true}}`)
}

func BenchmarkFeatureExtraction384x8(b *testing.B) {
	benchServe(b, New(Options{}), "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction",
		`{"inputs":["a","b","c","d","e","f","g","h"]}`)
}

func BenchmarkReadEvents(b *testing.B) {
	w := httptest.NewRecorder()
	New(Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
		strings.NewReader(chatBody(testModel, strings.Repeat("word ", 100), `"stream":true`))))
	stream := w.Body.Bytes()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadEvents(bytes.NewReader(stream)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVideoReader1MiB(b *testing.B) {
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.Copy(io.Discard, VideoReader("prompt", 1<<20)); err != nil {
			b.Fatal(err)
		}
	}
}
