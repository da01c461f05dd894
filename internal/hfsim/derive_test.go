package hfsim

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPieces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"Echo: What is 1 + 1?", []string{"Echo:", " What", " is", " 1", " +", " 1?"}},
		{"  lead  and trail  ", []string{"  lead", "  and", " trail", "  "}},
		{"line\nbreak\ttab", []string{"line", "\nbreak", "\ttab"}},
		{"héllo wörld 世界", []string{"héllo", " wörld", " 世界"}},
	} {
		got := Pieces(tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.in, strings.Join(got, ""), "pieces rebuild the text")
	}
}

func TestReplyAndTruncate(t *testing.T) {
	assert.Equal(t, "Echo: hi", Reply("hi"))
	assert.Equal(t, "Echo: (empty)", Reply(" \n"))
	for _, tc := range []struct {
		in    string
		limit int
		want  string
		cut   bool
	}{
		{"a b c", 0, "a b c", false},
		{"a b c", 3, "a b c", false},
		{"a b c", 2, "a b", true},
		{"a b c", -1, "a b c", false},
	} {
		got, cut := Truncate(tc.in, tc.limit)
		assert.Equal(t, tc.want, got)
		assert.Equal(t, tc.cut, cut)
	}
}

func TestVector(t *testing.T) {
	a := Vector("hello", 384, true)
	require.Len(t, a, 384)
	assert.Equal(t, a, Vector("hello", 384, true), "deterministic")
	assert.NotEqual(t, a, Vector("hello!", 384, true))
	var norm float64
	for _, f := range a {
		norm += float64(f) * float64(f)
	}
	assert.InDelta(t, 1, math.Sqrt(norm), 1e-5)
	raw := Vector("hello", 8, false)
	for _, f := range raw {
		assert.True(t, f >= -1 && f < 1, "raw values in [-1,1): %v", f)
	}
	assert.Equal(t, raw[:4], Vector("hello", 4, false), "a smaller dim is a prefix of the raw vector")
	tv := TokenVectors("a b c", 5)
	require.Len(t, tv, 5)
	assert.Equal(t, Vector("a b c#0", 5, false), tv[0])
}

func TestEncodeEmbeddings(t *testing.T) {
	v := func(s string) string { return string(appendFloat32(nil, Vector(s, 1, true)[0])) }
	assert.Equal(t, "["+v("a")+"]", string(EncodeEmbeddings([]string{"a"}, 1, 1, true)))
	assert.Equal(t, "[["+v("a")+"],["+v("b")+"]]", string(EncodeEmbeddings([]string{"a", "b"}, 2, 1, true)))
	tok := func(s string) string {
		return string(appendFloat32(nil, Vector(s, 1, false)[0]))
	}
	three := "[[[" + tok("a#0") + "],[" + tok("a#1") + "],[" + tok("a#2") + "]]]"
	assert.Equal(t, three, string(EncodeEmbeddings([]string{"a"}, 3, 1, true)))
	assert.Equal(t, "["+three+"]", string(EncodeEmbeddings([]string{"a"}, 4, 1, true)))
}

func TestEmbeddingKindFor(t *testing.T) {
	for model, want := range map[string]string{
		"sentence-transformers/distilbert-base-nli-mean-tokens": KindPooled, // pooled although "distilbert"
		"sentence-transformers/all-MiniLM-L6-v2":                KindPooled,
		"BAAI/bge-small-en-v1.5":                                KindPooled,
		"intfloat/multilingual-e5-large":                        KindPooled,
		"thenlper/gte-large":                                    KindPooled,
		"nomic-ai/nomic-embed-text-v1.5":                        KindPooled,
		"facebook/bart-base":                                    KindToken,
		"google-bert/bert-base-uncased":                         KindToken,
		"openai-community/gpt2":                                 KindToken,
		"mistralai/Mistral-7B-Instruct-v0.2":                    "",
	} {
		assert.Equal(t, want, EmbeddingKindFor(model), model)
	}
}

func TestToolArguments(t *testing.T) {
	for _, tc := range []struct{ params, want string }{
		{``, `{}`},
		{`{"type":"object"}`, `{}`},
		{`{"properties":{"s":{"type":"string"},"n":{"type":"number"},"i":{"type":"integer"},"b":{"type":"boolean"},"a":{"type":"array"},"o":{"type":"object"},"x":{}}}`,
			`{"s":"hfsim","n":1,"i":1,"b":true,"a":[],"o":{},"x":null}`},
		{`{"properties":{"unit":{"type":"string","enum":["celsius","f"]},"k":{"enum":[3]}}}`, `{"unit":"celsius","k":3}`},
		{`{"properties":{"we\"ird":{"type":"string"}}}`, `{"we\"ird":"hfsim"}`},
	} {
		assert.Equal(t, tc.want, ToolArguments(tc.params), tc.params)
	}
}

func TestSplitRunes(t *testing.T) {
	assert.Equal(t, []string{"abcdefgh", "ij"}, splitRunes("abcdefghij", 8))
	got := splitRunes("aaaaaaa世界", 8) // 世 would straddle the 8-byte boundary
	assert.Equal(t, []string{"aaaaaaa", "世界"}, got)
	assert.Equal(t, []string{"世", "界"}, splitRunes("世界", 1), "a rune wider than n is kept whole")
	assert.Nil(t, splitRunes("", 8))
}

func TestMissingFieldMessage(t *testing.T) {
	assert.Equal(t, "Failed to deserialize the JSON body into the target type: missing field `inputs` at line 1 column 2",
		MissingFieldMessage([]byte(`{}`), "inputs"))
	assert.Equal(t, "Failed to deserialize the JSON body into the target type: missing field `inputs` at line 3 column 3",
		MissingFieldMessage([]byte("{\n \"a\":1\n  }"), "inputs"))
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:80", "nonsense"} {
		_, err := New(Options{}).Start(addr)
		assert.Error(t, err, addr)
	}
}

func TestStartAndRecord(t *testing.T) {
	var logged []string
	s := New(Options{Logf: func(f string, a ...any) { logged = append(logged, sprintf(f, a...)) }})
	url, err := s.Start("127.0.0.1:0")
	require.NoError(t, err)
	assert.Equal(t, url, s.URL())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Close(ctx))
	})
	resp := send(t, url, spec{path: "/hf-inference/models/a/b?x=1&y=2", body: `{"inputs":"q"}`, header: map[string]string{"X-Custom": "v"}})
	_ = readBody(t, resp)
	resp = send(t, url, spec{method: "GET", path: "/health"})
	assert.Equal(t, 200, resp.StatusCode)
	resp = send(t, url, spec{path: "/nowhere", body: `{}`})
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, `{"error":"Not Found"}`, string(readBody(t, resp)))

	reqs := s.Requests()
	require.Len(t, reqs, 3)
	r := reqs[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "/hf-inference/models/a/b", r.Path)
	assert.Equal(t, "x=1&y=2", r.RawQuery)
	assert.Equal(t, "v", r.Header.Get("X-Custom"))
	assert.Equal(t, "Bearer "+testToken, r.Header.Get("Authorization"))
	assert.Equal(t, `{"inputs":"q"}`, string(r.Body))
	assert.Equal(t, "a/b", r.Model)
	assert.Equal(t, "GET", reqs[1].Method)
	require.Len(t, logged, 3)
	assert.Equal(t, `hfsim: POST /hf-inference/models/a/b?x=1&y=2 model="a/b" fault=""`, logged[0])

	reqs[0].Body[0] = 'X' // the copy is the caller's
	s.Reset()
	assert.Empty(t, s.Requests())
	_, ok := s.LastRequest()
	assert.False(t, ok)
}

func TestMaxBody(t *testing.T) {
	s, url := startServer(t, Options{MaxBody: 10})
	resp := send(t, url, spec{path: "/generate", body: `{"inputs":"0123456789"}`})
	assert.Equal(t, 413, resp.StatusCode)
	rec, _ := s.LastRequest()
	assert.Len(t, rec.Body, 11, "the recorded body stops one byte past the limit")
}

func TestModelFromPath(t *testing.T) {
	for p, want := range map[string]string{
		"/hf-inference/models/org/name/pipeline/feature-extraction": "org/name",
		"/hf-inference/models/org/name":                             "org/name",
		"/models/gpt2":                                              "gpt2",
		"/models/gpt2/v1/chat/completions":                          "gpt2",
		"/models/org/name/generate":                                 "org/name",
		"/pipeline/feature-extraction/org/name":                     "org/name",
		"/v1/chat/completions":                                      "",
	} {
		assert.Equal(t, want, modelFromPath(p), p)
	}
}
