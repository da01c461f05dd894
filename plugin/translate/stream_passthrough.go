package translate

import (
	"errors"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate/sse"
	"github.com/tidwall/gjson"
)

// The passed-through streams: the client gets the upstream's bytes as they
// are, and these only read the events for the analytics and End.

// openAIStream is an OpenAI chat.completion.chunk or text_completion stream
// passed through (chat; completions on a TGI/vLLM upstream_url). Usage is
// the upstream's usage chunk (stream_options.include_usage), else
// estimated from the text.
type openAIStream struct {
	tally
	done bool // the upstream sent [DONE]
}

func newOpenAIStream(st *State) *openAIStream { return &openAIStream{tally: tally{st: st}} }

func (s *openAIStream) Passthrough() bool { return true }

// Event implements [Stream.Event]. An upstream error event is an error; an
// event that is not JSON is passed on uncounted (the stream is not ours to
// judge: the client reads it as the upstream wrote it).
func (s *openAIStream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	data := eventData(ev)
	if isDone(data) {
		s.done = true
		return dst, nil
	}
	if !jsonObjectText(data) {
		return dst, nil
	}
	if e := eventError(data); e != nil {
		return dst, e
	}
	s.openAIChunk(data)
	return dst, nil
}

// End implements [Stream.End]: [DONE] when the upstream did not send it
// (OpenAI clients wait for it), or the OpenAI error event.
func (s *openAIStream) End(dst []byte, err error) []byte {
	if err != nil {
		return AppendPassthroughError(dst, err)
	}
	if !s.done {
		s.done = true
		dst = append(dst, doneEvent...)
	}
	return dst
}

// nativeStream is a TGI /generate_stream (or compat "/" stream) passed
// through untouched to a client of TGI's own API (llm_format huggingface).
// Usage is the last event's details.generated_tokens (and input_length),
// else the token events counted (Estimated).
type nativeStream struct {
	tally
}

func (s *nativeStream) Passthrough() bool { return true }

// Event implements [Stream.Event]: token events are counted, an error event
// is an error, anything else is passed on uncounted.
func (s *nativeStream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	data := eventData(ev)
	if !jsonObjectText(data) {
		return dst, nil
	}
	if e := eventError(data); e != nil {
		return dst, e
	}
	if tev, ok := readTGI(data); ok {
		s.started = true
		s.tgiEvent(tev)
	}
	return dst, nil
}

// End implements [Stream.End]. TGI streams end without [DONE]. A failure is
// told in TGI's own shape, data:{"error":"…","error_type":"…"}, not
// OpenAI's: the client of a native route is a TGI client (huggingface_hub,
// @huggingface/inference, text-generation), which reads exactly that event
// as an error and maps error_type to its exception. A failure of the
// plugin's making is "incomplete_generation", TGI's own type for a
// generation that stopped early; an upstream error event keeps its type.
// When the failure is the upstream's error event, the client has already
// had it (the stream is copied as it came); the second one, in the same
// shape, is never read by a client that stops at the first.
func (s *nativeStream) End(dst []byte, err error) []byte {
	if err == nil {
		return dst
	}
	msg, code := streamFailure(err)
	if !errors.Is(err, errUpstreamEvent) || code == codeUpstreamEvent {
		code = "incomplete_generation"
	}
	dst = append(dst, passthroughEnd...)
	dst = append(dst, `data:{"error":`...)
	dst = gjson.AppendJSONString(dst, msg)
	dst = append(dst, `,"error_type":`...)
	dst = gjson.AppendJSONString(dst, code)
	return append(dst, "}\n\n"...)
}

// preserveStream is a preserve route's stream: any shape, passed through.
// It counts what it recognises (OpenAI chunks and usage, TGI token events)
// and never fails on what it does not.
type preserveStream struct {
	tally
}

func (s *preserveStream) Passthrough() bool { return true }

// Event implements [Stream.Event]; it never returns an error: the route
// promises the upstream's answer as it is, error events included.
func (s *preserveStream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	data := eventData(ev)
	switch {
	case data == "" || isDone(data):
	case !jsonObjectText(data):
		s.started = true // content of a shape this plugin does not know
	case eventError(data) != nil:
	default:
		if tev, ok := readTGI(data); ok {
			s.started = true
			s.tgiEvent(tev)
			return dst, nil
		}
		if !s.openAIChunk(data) {
			s.started = true // a JSON event of another API
		}
	}
	return dst, nil
}

// End implements [Stream.End]: nothing on a clean end (the upstream sent
// whatever its format ends with), the OpenAI error event on a failure.
func (s *preserveStream) End(dst []byte, err error) []byte {
	if err == nil {
		return dst
	}
	return AppendPassthroughError(dst, err)
}
