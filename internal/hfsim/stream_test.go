package hfsim

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readFrame reads one SSE block (up to and including the blank line).
func readFrame(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			return b.String(), nil
		}
	}
}

// lockstep makes the server wait, before writing event i, until the client
// has read event i-1. A server (or anything between) that held events back
// would never let the client read, and the hook reports a failure instead
// of the stream finishing.
type lockstep struct {
	mu     sync.Mutex
	read   chan int // indexes the client has read
	failed []string
}

func newLockstep() *lockstep { return &lockstep{read: make(chan int, 64)} }

func (l *lockstep) before(r *http.Request, index int, _ bool) {
	if index == 0 {
		return
	}
	select {
	case got := <-l.read:
		if got != index-1 {
			l.fail(fmt.Sprintf("event %d: client reported %d", index, got))
		}
	case <-time.After(5 * time.Second):
		l.fail(fmt.Sprintf("event %d: client never received event %d before the server wrote the next", index, index-1))
	case <-r.Context().Done():
	}
}

func (l *lockstep) fail(msg string) {
	l.mu.Lock()
	l.failed = append(l.failed, msg)
	l.mu.Unlock()
}

func TestStreamsAreFlushedEventByEvent(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		events           int // data events incl. [DONE]
	}{
		{"chat_tgi", "/v1/chat/completions", chatBody(testModel, "one two three four", `"stream":true,"stream_options":{"include_usage":true}`), 5 + 1 + 1 + 1},
		{"chat_openai", "/v1/chat/completions", chatBody("a/b:groq", "one two", `"stream":true`), 1 + 3 + 1 + 1},
		{"completions", "/v1/completions", `{"prompt":"one two","stream":true}`, 3 + 1 + 1},
		{"generate_stream", "/generate_stream", `{"inputs":"one two"}`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := newLockstep()
			_, url := startServer(t, Options{BeforeEvent: ls.before})
			resp := send(t, url, spec{path: tc.path, body: tc.body})
			require.Equal(t, 200, resp.StatusCode)
			r := bufio.NewReader(resp.Body)
			var all bytes.Buffer
			got := 0
			for {
				frame, err := readFrame(r)
				all.WriteString(frame)
				if err != nil {
					break
				}
				if strings.HasPrefix(frame, "data:") {
					ls.read <- got
					got++
				}
			}
			ls.mu.Lock()
			defer ls.mu.Unlock()
			assert.Empty(t, ls.failed)
			assert.Equal(t, tc.events, got)
			evs, err := ReadEvents(&all)
			require.NoError(t, err)
			assert.Len(t, dataEvents(evs), tc.events)
		})
	}
}

// The first event reaches the client while the server is still holding the
// final one.
func TestFirstEventArrivesBeforeLast(t *testing.T) {
	release := make(chan struct{})
	reached := make(chan struct{}, 1)
	_, url := startServer(t, Options{BeforeEvent: func(r *http.Request, _ int, final bool) {
		if !final {
			return
		}
		reached <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}})
	resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "hello", `"stream":true`)})
	r := bufio.NewReader(resp.Body)
	first, err := readFrame(r)
	require.NoError(t, err)
	assert.Contains(t, first, `"content":"Echo:"`)
	select {
	case <-reached:
	case <-time.After(5 * time.Second):
		t.Fatal("server never reached the final event")
	}
	close(release)
	evs, err := ReadEvents(r)
	require.NoError(t, err)
	data := dataEvents(evs)
	require.NotEmpty(t, data)
	assert.Equal(t, Done, data[len(data)-1].Data)
}

// A client that goes away mid-stream ends the handler (no goroutine stays
// sleeping between events).
func TestStreamStopsWhenClientLeaves(t *testing.T) {
	done := make(chan struct{})
	s := New(Options{EventDelay: time.Hour})
	srvURL := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r)
		close(done)
	}))
	resp := send(t, srvURL, spec{path: "/v1/chat/completions", body: chatBody(testModel, "a b", `"stream":true`)})
	r := bufio.NewReader(resp.Body)
	_, err := readFrame(r)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still running after the client left")
	}
}
