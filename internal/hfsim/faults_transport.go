package hfsim

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Faults of the connection rather than of the answer: an upstream that
// sends its headers a byte at a time (slow-loris), and one whose body never
// ends. Both are bounded, so a test cannot hang on them: they stop when the
// peer goes away, and at the latest after TrickleFor / EndlessFor.
const (
	// FaultSlowHeaders: the status line and headers of the normal answer
	// are written one byte per TrickleInterval for TrickleFor (an
	// "X-Hfsim-Pad" header makes the head long enough), then the rest of
	// the head and the body at once.
	FaultSlowHeaders = "slow_headers"
	// FaultEndless: 200 and a chunked body that never ends — a JSON object
	// opened and filled, or SSE chunks without [DONE] for a stream — one
	// piece per TrickleInterval, until the peer goes away; at EndlessFor
	// (or Trickle-For) the connection is closed without the last chunk,
	// a truncated body, never a clean end.
	FaultEndless = "endless"
)

// Defaults and request headers of the transport faults.
const (
	DefaultTrickleInterval = 100 * time.Millisecond
	DefaultTrickleFor      = 5 * time.Second
	DefaultEndlessFor      = 2 * time.Minute

	headerTrickleInterval = "X-Hfsim-Trickle-Interval"
	headerTrickleFor      = "X-Hfsim-Trickle-For"
	// EndlessChunk is one piece of an endless JSON body.
	EndlessChunk = "hfsim endless body. "
	// EndlessEvent is one event of an endless stream.
	EndlessEvent = `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"more "},"finish_reason":null}]}` + "\n\n"
)

// trickle returns the interval and total duration of a transport fault.
func (c *call) trickle(total time.Duration) (interval, dur time.Duration) {
	interval, dur = DefaultTrickleInterval, total
	if v := c.r.Header.Get(headerTrickleInterval); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			interval = d
		}
	}
	if v := c.r.Header.Get(headerTrickleFor); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			dur = d
		}
	}
	return interval, dur
}

// slowHeaders answers normally, but the head of the answer reaches the
// peer one byte per interval. The answer is rendered first (into a
// recorder), so it is exactly what the route would have sent.
func (c *call) slowHeaders() {
	interval, dur := c.trickle(DefaultTrickleFor)
	rec := httptest.NewRecorder()
	w := c.w
	c.w = rec
	c.route()
	c.w = w
	res := rec.Result()
	body := rec.Body.Bytes()

	var head strings.Builder
	fmt.Fprintf(&head, "HTTP/1.1 %d %s\r\n", res.StatusCode, http.StatusText(res.StatusCode))
	res.Header.Del("Transfer-Encoding")
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	res.Header.Set("Connection", "close")
	// The first dur/interval bytes of the head go one per interval, the
	// rest at once; the pad makes the head at least that long.
	slow := max(int(dur/interval), 1)
	res.Header.Set("X-Hfsim-Pad", strings.Repeat("p", slow))
	_ = res.Header.Write(&head)
	head.WriteString("\r\n")

	conn, buf, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		writeJSONError(c.w, http.StatusInternalServerError, "hfsim: fault slow_headers needs an HTTP/1.1 connection: "+err.Error())
		return
	}
	defer conn.Close()
	if buf != nil {
		_ = buf.Flush()
	}
	ctx, stop := peerGone(conn, c.r.Context())
	defer stop()
	h := head.String()
	for i := 0; i < slow; i++ {
		if _, err := conn.Write([]byte{h[i]}); err != nil {
			return
		}
		if !sleepCtx(ctx, interval) {
			return
		}
	}
	_, _ = conn.Write([]byte(h[slow:]))
	_, _ = conn.Write(body)
}

// endless sends 200 and then a body that never finishes.
func (c *call) endless() {
	interval, dur := c.trickle(DefaultEndlessFor)
	stream := gjson.GetBytes(c.body, "stream").Bool() || strings.HasSuffix(c.path, "/generate_stream")
	conn, buf, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		writeJSONError(c.w, http.StatusInternalServerError, "hfsim: fault endless needs an HTTP/1.1 connection: "+err.Error())
		return
	}
	defer conn.Close() // a cut, never a clean end of the body
	if buf != nil {
		_ = buf.Flush()
	}
	ctype, first, piece := "application/json", `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`, EndlessChunk
	if stream {
		ctype, first, piece = "text/event-stream", "", EndlessEvent
	}
	// Chunked, and the last chunk never comes: closing the connection
	// (at the deadline) is a truncated body for the peer, not an end.
	chunk := func(w *bufio.Writer, p string) error {
		if p != "" {
			fmt.Fprintf(w, "%x\r\n%s\r\n", len(p), p)
		}
		return w.Flush()
	}
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", ctype)
	if chunk(bw, first) != nil {
		return
	}
	ctx, stop := peerGone(conn, c.r.Context())
	defer stop()
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		if chunk(bw, piece) != nil {
			return
		}
		if !sleepCtx(ctx, interval) {
			return
		}
	}
}

// peerGone returns a context cancelled when ctx ends or the peer closes
// its side of a hijacked connection (a read returns), so a trickle stops
// as soon as nobody listens.
func peerGone(conn net.Conn, ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		var b [1]byte
		_, _ = conn.Read(b[:])
		cancel()
	}()
	return ctx, cancel
}
