package relay

import (
	"errors"
	"io"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate/sse"
)

func init() {
	newStream = func(t *Ticket, st *translate.State, maxEvent int) StreamTranslator {
		s, ok := t.Capability.(translate.Streamer)
		if !ok {
			return nil
		}
		return &sseStream{p: sse.NewParser(maxEvent), s: s.NewStream(t.Config, st)}
	}
}

// sseStream is the SSE parser in front of a capability's translate.Stream.
type sseStream struct {
	p   *sse.Parser
	s   translate.Stream
	dst []byte
}

func (x *sseStream) Passthrough() bool { return x.s.Passthrough() }

func (x *sseStream) Feed(dst, chunk []byte) ([]byte, error) {
	pass := x.s.Passthrough()
	x.dst = dst
	err := x.p.Feed(chunk, func(ev sse.Event) error {
		if pass {
			_, err := x.s.Event(nil, ev)
			return err
		}
		var err error
		x.dst, err = x.s.Event(x.dst, ev)
		return err
	})
	return x.dst, err
}

// End closes the parser first: bytes of an unfinished event at the end of
// the stream are an error (sse.ErrTruncated), reported as one.
func (x *sseStream) End(dst []byte, err error) []byte {
	// A body cut short (io.ErrUnexpectedEOF from a chunked answer) inside
	// an event is that event truncated; between events, a broken stream.
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		if cerr := x.p.Close(); cerr != nil {
			err = cerr
		}
	}
	return x.s.End(dst, err)
}

func (x *sseStream) Usage() translate.Usage { return x.s.Usage() }
func (x *sseStream) Started() bool          { return x.s.Started() }
