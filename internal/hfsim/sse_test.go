package hfsim

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadEvents(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Event
		err  error
	}{
		{"tgi_style", "data:{\"a\":1}\n\n:\n\ndata:[DONE]\n\n",
			[]Event{{Data: `{"a":1}`}, {Comment: true}, {Data: "[DONE]"}}, nil},
		{"openai_style", "data: {\"a\":1}\n\ndata: [DONE]\n\n",
			[]Event{{Data: `{"a":1}`, Spaced: true}, {Data: "[DONE]", Spaced: true}}, nil},
		{"only_one_space_is_framing", "data:  x\n\n", []Event{{Data: " x", Spaced: true}}, nil},
		{"crlf", "data: a\r\n\r\ndata:b\r\n\r\n", []Event{{Data: "a", Spaced: true}, {Data: "b"}}, nil},
		{"lone_cr", "data: a\r\rdata: b\r\r", []Event{{Data: "a", Spaced: true}, {Data: "b", Spaced: true}}, nil},
		{"multi_line_data", "data: a\ndata: b\n\n", []Event{{Data: "a\nb", Spaced: true}}, nil},
		{"event_name_and_ignored_fields", "event: error\nid: 7\nretry: 10\ndata: x\n\n", []Event{{Name: "error", Data: "x", Spaced: true}}, nil},
		{"comment_text", ": keep-alive\n\n", []Event{{Comment: true, Data: " keep-alive"}}, nil},
		{"blank_lines_only", "\n\n\n", nil, nil},
		{"field_without_colon", "data\n\n", []Event{{Data: ""}}, nil},
		{"truncated_mid_line", "data: a\n\ndata: {\"b", []Event{{Data: "a", Spaced: true}}, ErrTruncated},
		{"truncated_after_line", "data: a\n", nil, ErrTruncated},
		{"empty", "", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadEvents(strings.NewReader(tc.in))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
			// Byte-at-a-time delivery gives the same result.
			got1, err1 := ReadEvents(iotest.OneByteReader(strings.NewReader(tc.in)))
			assert.Equal(t, tc.want, got1)
			assert.Equal(t, err == nil, err1 == nil)
		})
	}
}

func TestReadEventsReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadEvents(iotest.ErrReader(boom))
	require.ErrorIs(t, err, boom)
}

func FuzzReadEvents(f *testing.F) {
	for _, s := range []string{
		"data:{\"a\":1}\n\n:\n\ndata:[DONE]\n\n", "data: x\r\n\r\n", "event: e\ndata\n\n", "data: a\rdata: b\r\r", ":", "\r", "data:  x\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		evs, err := ReadEvents(strings.NewReader(in))
		if err != nil && !errors.Is(err, ErrTruncated) {
			t.Fatalf("unexpected error %v", err)
		}
		// Re-framing every data event OpenAI-style ("data: " keeps a leading
		// space of the data) and parsing again is stable.
		var b strings.Builder
		for _, e := range evs {
			if e.Comment || strings.ContainsAny(e.Data, "\r\n") {
				continue
			}
			b.WriteString("data: " + e.Data + "\n\n")
		}
		again, err := ReadEvents(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		j := 0
		for _, e := range evs {
			if e.Comment || strings.ContainsAny(e.Data, "\r\n") {
				continue
			}
			if again[j].Data != e.Data {
				t.Fatalf("event %d: %q != %q", j, again[j].Data, e.Data)
			}
			j++
		}
	})
}
