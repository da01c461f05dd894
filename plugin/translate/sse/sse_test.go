package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// got is an event as the tests record it (Data copied: it aliases the
// parser's buffer).
type got struct {
	Name string `json:"name,omitempty"`
	Data string `json:"data"`
	ID   string `json:"id,omitempty"`
}

// result is everything a stream produced: its events and how it ended.
type result struct {
	Events []got  `json:"events"`
	Err    string `json:"err,omitempty"`
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// parse feeds chunks in order, then closes. The first error (from Feed or
// Close) ends the run.
func parse(max int, chunks ...[]byte) result {
	p := NewParser(max)
	r := result{Events: []got{}}
	emit := func(ev Event) error {
		r.Events = append(r.Events, got{Name: ev.Name, Data: string(ev.Data), ID: ev.ID})
		return nil
	}
	for _, c := range chunks {
		if err := p.Feed(c, emit); err != nil {
			r.Err = errText(err)
			return r
		}
	}
	r.Err = errText(p.Close())
	return r
}

func TestParser(t *testing.T) {
	ev := func(data string) got { return got{Data: data} }
	cases := []struct {
		name string
		in   string
		max  int
		want []got
		err  error
	}{
		{name: "tgi no space", in: "data:{\"a\":1}\n\n", want: []got{ev(`{"a":1}`)}},
		{name: "openai one space", in: "data: {\"a\":1}\n\n", want: []got{ev(`{"a":1}`)}},
		{name: "only one space removed", in: "data:  x\n\n", want: []got{ev(" x")}},
		{name: "crlf", in: "data: a\r\n\r\ndata: b\r\n\r\n", want: []got{ev("a"), ev("b")}},
		{name: "cr", in: "data: a\r\rdata: b\r\r", want: []got{ev("a"), ev("b")}},
		{name: "mixed ends", in: "data: a\r\n\ndata: b\r\rdata: c\n\r\n", want: []got{ev("a"), ev("b"), ev("c")}},
		{name: "comments skipped", in: ":\n\n: keep-alive\ndata: a\n:\n\n:\n\n", want: []got{ev("a")}},
		{name: "multi-line data", in: "data: a\ndata:b\ndata\n\n", want: []got{ev("a\nb\n")}},
		{name: "event and id", in: "event: delta\nid: 7\ndata: x\n\ndata: y\n\n",
			want: []got{{Name: "delta", ID: "7", Data: "x"}, {ID: "7", Data: "y"}}},
		{name: "id with NUL ignored", in: "id: 1\ndata: x\n\nid: a\x00b\ndata: y\n\n",
			want: []got{{ID: "1", Data: "x"}, {ID: "1", Data: "y"}}},
		{name: "empty data dispatched", in: "data:\n\n", want: []got{ev("")}},
		{name: "data-less event not dispatched", in: "event: ping\nid: 2\n\ndata: x\n\n", want: []got{{ID: "2", Data: "x"}}},
		{name: "unknown fields and retry skipped", in: "retry: 100\nfoo: bar\ndata: x\n\n", want: []got{ev("x")}},
		{name: "field without colon", in: "data\n\n", want: []got{ev("")}},
		{name: "colon in value kept", in: "data: a: b\n\n", want: []got{ev("a: b")}},
		{name: "bom removed", in: "\xef\xbb\xbfdata: x\n\n", want: []got{ev("x")}},
		{name: "bom only at start", in: "data: x\n\n\xef\xbb\xbfdata: y\n\n", want: []got{ev("x")}},
		{name: "blank lines only", in: "\n\n\r\n\r", want: []got{}},
		{name: "empty stream", in: "", want: []got{}},
		{name: "done event", in: "data:[DONE]\n\n", want: []got{ev("[DONE]")}},
		{name: "truncated line", in: "data: a\n\ndata: {\"b", want: []got{ev("a")}, err: ErrTruncated},
		{name: "truncated event", in: "data: a\n\ndata: b\n", want: []got{ev("a")}, err: ErrTruncated},
		{name: "truncated comment line", in: "data: a\n\n:", want: []got{ev("a")}, err: ErrTruncated},
		{name: "trailing cr ends the line", in: "data: a\n\r", want: []got{ev("a")}},
		{name: "too large line", max: 16, in: "data: 0123456789abcdef\n\n", want: []got{}, err: ErrEventTooLarge},
		{name: "too large over lines", max: 16, in: "data: 0123456\ndata: 789abcdef\n\n", want: []got{}, err: ErrEventTooLarge},
		{name: "too large comment", max: 16, in: ": 0123456789abcdef\n\n", want: []got{}, err: ErrEventTooLarge},
		{name: "at the limit", max: 16, in: "data: 0123456789\n\ndata: 0123456789\n\n", want: []got{ev("0123456789"), ev("0123456789")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			whole := parse(tc.max, []byte(tc.in))
			require.Equal(t, tc.want, whole.Events)
			require.Equal(t, errText(tc.err), whole.Err)
			// Every split point, and one byte at a time, give the same.
			for i := 0; i <= len(tc.in); i++ {
				require.Equal(t, whole, parse(tc.max, []byte(tc.in[:i]), []byte(tc.in[i:])), "split at %d", i)
			}
			require.Equal(t, whole, parse(tc.max, bytesOneByOne(tc.in)...), "byte by byte")
		})
	}
}

func bytesOneByOne(s string) [][]byte {
	out := make([][]byte, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = []byte{s[i]}
	}
	return out
}

func TestCRLFSplitAcrossFeeds(t *testing.T) {
	// The CR ends the line at once; the LF of the next chunk must not be
	// read as a blank line (which would dispatch early).
	r := parse(0, []byte("data: a\r"), []byte("\ndata: b\r"), []byte("\n\r"), []byte("\n"))
	require.Equal(t, result{Events: []got{{Data: "a\nb"}}}, r)
}

func TestEmitErrorStopsFeed(t *testing.T) {
	p := NewParser(0)
	stop := errors.New("stop")
	n := 0
	err := p.Feed([]byte("data: a\n\ndata: b\n\n"), func(Event) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}

func TestTooLargeIsSticky(t *testing.T) {
	p := NewParser(12)
	emit := func(Event) error { return nil }
	require.NoError(t, p.Feed([]byte("data: 0123"), emit))
	require.ErrorIs(t, p.Feed([]byte("456789"), emit), ErrEventTooLarge)
	require.ErrorIs(t, p.Feed([]byte("\n\n"), emit), ErrEventTooLarge)
	require.ErrorIs(t, p.Close(), ErrEventTooLarge)
}

func TestMemoryBounded(t *testing.T) {
	// A line that never ends: the parser refuses it once it passes the
	// limit instead of holding it all.
	p := NewParser(1 << 10)
	chunk := bytes.Repeat([]byte("x"), 100)
	emit := func(Event) error { return nil }
	require.NoError(t, p.Feed([]byte("data: "), emit))
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = p.Feed(chunk, emit)
		require.LessOrEqual(t, len(p.line)+len(p.data), 1<<10)
	}
	require.ErrorIs(t, err, ErrEventTooLarge)
}

func TestDataAliasesBuffer(t *testing.T) {
	// The Data of an event is reused for the next one; a caller that keeps
	// it must copy. This documents the contract and checks that the buffer
	// really is reused (no allocation per event).
	p := NewParser(0)
	var first []byte
	err := p.Feed([]byte("data: aaaa\n\ndata: bbbb\n\n"), func(ev Event) error {
		if first == nil {
			first = ev.Data
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "bbbb", string(first))
}

// TestGolden parses every testdata/*.sse stream (copies of the wire shapes
// of hfsim's golden transcripts and of synthesised edge cases), whole and
// split at every byte, and compares the events with testdata/*.events.json.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.sse")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sse")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(file)
			require.NoError(t, err)
			whole := parse(0, in)
			for i := 0; i <= len(in); i++ {
				require.Equal(t, whole, parse(0, in[:i], in[i:]), "split at %d", i)
			}
			require.Equal(t, whole, parse(0, bytesOneByOne(string(in))...), "byte by byte")
			out, err := json.MarshalIndent(whole, "", "  ")
			require.NoError(t, err)
			out = append(out, '\n')
			golden := strings.TrimSuffix(file, ".sse") + ".events.json"
			if *update {
				require.NoError(t, os.WriteFile(golden, out, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create %s", golden)
			require.Equal(t, string(want), string(out))
		})
	}
}
