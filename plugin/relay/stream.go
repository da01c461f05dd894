package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
)

// StreamTranslator turns the bytes of one upstream answer into the
// client's, for the relay: the SSE parser and the capability's
// translate.Stream behind one push interface. One per response.
type StreamTranslator interface {
	// Passthrough reports whether the upstream bytes go to the client
	// unchanged (Feed's output is then ignored, but Feed still counts).
	Passthrough() bool
	// Feed takes a chunk of upstream bytes and appends the client bytes
	// for the events it completed. An error ends the stream (End(err)).
	Feed(dst, chunk []byte) ([]byte, error)
	// End appends the closing bytes: [DONE] when due, or, with err, one
	// OpenAI-shaped error event.
	End(dst []byte, err error) []byte
	Usage() translate.Usage
	// Started reports whether generated content has been seen (time to
	// first token).
	Started() bool
}

// newStream picks the translator of a streamed 2xx SSE answer (sse.go:
// the capability's translate.Stream behind the SSE parser); nil copies
// the bytes untouched.
var newStream = func(t *Ticket, st *translate.State, maxEvent int) StreamTranslator { return nil }

// chunkSize is the relay's read buffer: memory per stream is this plus
// one pending event, whatever the stream's length.
const chunkSize = 32 << 10

// streamBufs holds the read and output buffers of finished streams for
// the next ones.
var streamBufs = sync.Pool{New: func() any { return &[2][]byte{make([]byte, chunkSize), make([]byte, 0, chunkSize)} }}

// stream copies (or translates) a streamed answer to the client, flushing
// after every chunk read, so that each event leaves as it arrives. tr nil
// copies the bytes untouched (preserve, a 2xx that is not SSE).
func (r *Relay) stream(w http.ResponseWriter, client, ctx context.Context, cancel context.CancelFunc, x *exchange, st *translate.State, res *http.Response, tr StreamTranslator) {
	t := x.t
	if tr == nil {
		tr = &rawStream{}
	}
	copyHeaders(w.Header(), res.Header)
	// Kong proxies to the relay with nginx's proxy_buffering on
	// (kong/templates/nginx_kong.lua, location /): without this header
	// nginx would hold events until its buffers fill, whatever the upstream
	// said. TGI sends it; the router and a translated stream may not.
	w.Header().Set("X-Accel-Buffering", "no")
	setModelHeader(w.Header(), t.Config, st.Model, res.StatusCode)
	x.status = res.StatusCode
	w.WriteHeader(res.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	// The idle timer cancels the upstream read when the upstream goes
	// quiet; MaxStream's deadline is on ctx.
	var idle atomic.Bool
	timer := time.AfterFunc(r.opts.IdleTimeout, func() { idle.Store(true); cancel() })
	defer timer.Stop()

	bufs := streamBufs.Get().(*[2][]byte)
	defer streamBufs.Put(bufs)
	buf, out := bufs[0], bufs[1][:0]
	defer func() {
		if cap(out) <= 4*chunkSize { // keep a grown output buffer, not a huge one
			bufs[1] = out[:0]
		}
	}()
	var endErr error
	for {
		n, err := res.Body.Read(buf)
		timer.Reset(r.opts.IdleTimeout)
		if n > 0 {
			var ferr error
			out, ferr = tr.Feed(out[:0], buf[:n])
			chunk := out
			if tr.Passthrough() {
				chunk = buf[:n]
			}
			if len(chunk) > 0 {
				if _, werr := w.Write(chunk); werr != nil {
					return // the client went away; ctx ends the upstream call
				}
				x.bytes += int64(len(chunk))
				_ = rc.Flush()
			}
			if x.ttft == 0 && tr.Started() {
				x.ttft = time.Since(t.Start)
			}
			if ferr != nil {
				endErr = ferr
				break
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if client.Err() != nil {
				return // the client went away
			}
			switch {
			case idle.Load():
				endErr = errStreamIdle
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				endErr = errStreamTooLong
			default:
				endErr = err
			}
			break
		}
	}
	x.usage = tr.Usage()
	if endErr != nil {
		x.err = streamError(endErr)
	}
	out = tr.End(out[:0], endErr)
	if len(out) > 0 {
		n, _ := w.Write(out)
		x.bytes += int64(n)
		_ = rc.Flush()
	}
}

// streamError is the summary's error of a stream that ended badly.
func streamError(err error) *translate.Error {
	var e *translate.Error
	if errors.As(err, &e) {
		return e
	}
	return &translate.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "stream_error", Message: "the upstream stream ended early: " + err.Error()}
}

// rawStream is the translator of an answer passed through untouched:
// bytes counted, no usage, and on a broken stream one OpenAI-shaped error
// event (the client would otherwise see a stream that just stops), the
// same as the passed-through streams of translate end with.
type rawStream struct{ started bool }

func (s *rawStream) Passthrough() bool { return true }

func (s *rawStream) Feed(dst, chunk []byte) ([]byte, error) {
	s.started = s.started || len(chunk) > 0
	return dst, nil
}

func (s *rawStream) End(dst []byte, err error) []byte {
	if err == nil {
		return dst
	}
	return translate.AppendPassthroughError(dst, err)
}

func (s *rawStream) Usage() translate.Usage { return translate.Usage{} }
func (s *rawStream) Started() bool          { return s.started }
