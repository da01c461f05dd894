package hfsim

import (
	"net/http"
	"strings"
	"time"
)

// Style is how SSE events are framed.
type Style string

const (
	// StyleTGI is TGI's axum framing: "data:" with no space, ":" keep-alive
	// comment lines between events, and X-Accel-Buffering: no.
	StyleTGI Style = "tgi"
	// StyleOpenAI is the framing of OpenAI-style providers: "data: " with a
	// space, no comments.
	StyleOpenAI Style = "openai"
)

// chooseStyle: X-Hfsim-Style header, else the model's ":provider" suffix
// (":tgi" and ":hf-inference" mean TGI, any other provider OpenAI), else
// Options.DefaultStyle.
func (c *call) chooseStyle() Style {
	switch Style(strings.ToLower(c.r.Header.Get(headerStyle))) {
	case StyleTGI:
		return StyleTGI
	case StyleOpenAI:
		return StyleOpenAI
	}
	if _, provider, ok := strings.Cut(c.model, ":"); ok {
		if provider == "tgi" || provider == "hf-inference" {
			return StyleTGI
		}
		return StyleOpenAI
	}
	return c.s.opts.DefaultStyle
}

// KeepAlive is the comment event TGI-style streams carry between events.
const KeepAlive = ":\n\n"

// sseWriter writes one event per flush, sleeping the configured delay
// between events, so a proxy that buffers is caught.
type sseWriter struct {
	c     *call
	rc    *http.ResponseController
	delay time.Duration
	n     int
	ok    bool
}

// startSSE writes the stream headers. extra headers (TGI's x-compute-*) are
// set before.
func (c *call) startSSE(extra http.Header) *sseWriter {
	h := c.w.Header()
	for k, v := range extra {
		h[k] = v
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	if c.style == StyleTGI {
		h.Set("X-Accel-Buffering", "no")
	}
	c.w.WriteHeader(http.StatusOK)
	sw := &sseWriter{c: c, rc: http.NewResponseController(c.w), delay: c.s.opts.EventDelay, ok: true}
	if v := c.r.Header.Get(headerDelay); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			sw.delay = d
		}
	}
	_ = sw.rc.Flush()
	return sw
}

// frame renders data as one SSE event in the call's style.
func (c *call) frame(data []byte) []byte {
	prefix := "data:"
	if c.style == StyleOpenAI {
		prefix = "data: "
	}
	out := make([]byte, 0, len(prefix)+len(data)+2)
	out = append(out, prefix...)
	out = append(out, data...)
	return append(out, '\n', '\n')
}

// event writes and flushes one data event. It returns false once the client
// is gone, and the caller stops.
func (sw *sseWriter) event(data []byte, final bool) bool {
	if !sw.pace() {
		return false
	}
	if sw.c.s.opts.BeforeEvent != nil {
		sw.c.s.opts.BeforeEvent(sw.c.r, sw.n, final)
	}
	sw.n++
	return sw.write(sw.c.frame(data))
}

// pace sleeps between events and writes TGI's keep-alive comment.
func (sw *sseWriter) pace() bool {
	if !sw.ok {
		return false
	}
	if sw.n == 0 {
		return true
	}
	if !sleepCtx(sw.c.r.Context(), sw.delay) {
		sw.ok = false
		return false
	}
	if sw.c.style == StyleTGI && !sw.c.s.opts.NoKeepAlive {
		return sw.write([]byte(KeepAlive))
	}
	return true
}

func (sw *sseWriter) write(b []byte) bool {
	if _, err := sw.c.w.Write(b); err != nil {
		sw.ok = false
		return false
	}
	if err := sw.rc.Flush(); err != nil {
		sw.ok = false
		return false
	}
	return true
}

// cutEvent writes the first half of an event and drops the connection.
func (sw *sseWriter) cutEvent(data []byte) {
	if !sw.pace() {
		return
	}
	f := sw.c.frame(data)
	sw.c.cut(f[:len(f)/2])
}

// BadJSONEvent replaces the second event of a stream under fault bad_json.
const BadJSONEvent = `{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"broken`

// run writes events in order; the last one is the final event. The stream
// faults strike at the second event (index 1), after one good event has
// reached the client: stream_error replaces it with TGI's error event and
// ends the stream, stream_cut sends half of it and drops the connection,
// bad_json replaces it with BadJSONEvent and carries on.
func (sw *sseWriter) run(events [][]byte) {
	for i, ev := range events {
		final := i == len(events)-1
		if i == 1 {
			switch sw.c.fault {
			case FaultStreamError:
				sw.event([]byte(BodyGenerationErr), true)
				return
			case FaultStreamCut:
				sw.cutEvent(ev)
				return
			case FaultBadJSON:
				ev = []byte(BadJSONEvent)
			}
		}
		if !sw.event(ev, final) {
			return
		}
	}
}

// Done is the payload of the event that ends OpenAI-compatible streams.
const Done = "[DONE]"

// hugeStream answers fault huge on a streaming request: events made by mk
// from HugeChunk until at least hugeSize() bytes of data events have been
// written, then the tail events (finish, usage, [DONE]). Nothing is held in
// memory beyond one event.
func (c *call) hugeStream(extra http.Header, mk func(text string) []byte, tail func() [][]byte) {
	sw := c.startSSE(extra)
	size := c.hugeSize()
	for written := int64(0); written < size; {
		ev := mk(HugeChunk)
		if !sw.event(ev, false) {
			return
		}
		written += int64(len(c.frame(ev)))
	}
	end := tail()
	for i, ev := range end {
		if !sw.event(ev, i == len(end)-1) {
			return
		}
	}
}

// HugeChunk is the text of each event of a huge stream (4000 bytes).
var HugeChunk = strings.Repeat(hugeFiller, 160)
