package translate

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate/sse"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// Streamer is implemented by capabilities whose streamed 2xx answers
// (text/event-stream) the relay carries: chat (llm/v1/chat, openai format),
// completions (router: hf-inference text-generation events translated to
// OpenAI text_completion chunks; TGI/vLLM upstream_url: passed through),
// native /generate_stream (passed through untouched), preserve (passed
// through).
type Streamer interface {
	NewStream(cfg *schema.Config, st *State) Stream
}

// Stream translates one upstream SSE stream. One per response, not safe for
// concurrent use.
type Stream interface {
	// Passthrough reports whether the relay must copy the upstream bytes to
	// the client unchanged; it then still calls Event for every parsed event
	// (dst nil, output ignored) so that usage is counted.
	Passthrough() bool
	// Event appends to dst the client bytes (zero or more complete SSE
	// events, "data: ...\n\n") for one upstream event. An error means the
	// event is unusable (for example an hf-inference error event, or JSON of
	// the wrong shape on a translated stream); the relay then calls
	// End(dst, err) and stops. An upstream event that is itself an error
	// ({"error":...}) is reported as an error (an *Error), and End turns it
	// into the client's error event.
	Event(dst []byte, ev sse.Event) ([]byte, error)
	// End appends the closing bytes. err == nil: the upstream ended
	// cleanly; "data: [DONE]\n\n" is appended if the client format expects
	// it and it was not already sent (native TGI streams expect none).
	// err != nil (upstream died mid-stream, timed out, unusable event,
	// parser error): one error event is appended, and nothing after it
	// (OpenAI's shape, or TGI's for native; on a passed-through stream
	// after a blank line, which ends any partial event the client holds).
	End(dst []byte, err error) []byte
	// Usage is the usage so far: the upstream's figures when it sent them,
	// else an estimate flagged Estimated.
	Usage() Usage
	// Started reports whether an event carrying generated content (a
	// token, a content or tool-call delta) has been seen.
	Started() bool
}

// The capabilities that stream.
var (
	_ Streamer = Chat{}
	_ Streamer = Completions{}
	_ Streamer = Native{}
	_ Streamer = Preserve{}
)

// errUpstreamEvent marks an *Error built from an upstream error event, so
// that End names the cause ("the upstream reported …").
var errUpstreamEvent = errors.New("upstream error event")

// Codes of the error event that ends a stream, where the cause has none of
// its own: an upstream error event without error_type or code, and a
// translated stream's event of the wrong shape (the code badGateway sets).
const (
	codeUpstreamEvent = "upstream_error"
	codeBadUpstream   = "bad_upstream_response"
)

// doneEvent ends OpenAI streams.
const doneEvent = "data: [DONE]\n\n"

// eventData is the payload of an event without surrounding white space,
// viewed as a string without a copy (valid only while ev.Data is).
func eventData(ev sse.Event) string {
	return bstr(bytes.TrimSpace(ev.Data))
}

// isDone reports the "[DONE]" payload that ends OpenAI streams.
func isDone(data string) bool { return data == "[DONE]" }

// jsonObjectText reports whether data is one valid JSON object.
func jsonObjectText(data string) bool {
	return len(data) > 0 && data[0] == '{' && gjson.Valid(data)
}

// eventError reads an upstream error event: a JSON object whose "error"
// is set (TGI's {"error":"…","error_type":"…"} mid-stream, or an OpenAI
// {"error":{"message",…}}). It returns nil for any other event. data must be
// valid JSON.
func eventError(data string) *Error {
	e := gjson.Get(data, "error")
	if !e.Exists() || e.Type == gjson.Null {
		return nil
	}
	out := UpstreamError(http.StatusBadGateway, []byte(data))
	out.Err = errUpstreamEvent
	return out
}

// tally gathers what a stream tells about tokens and the model, shared by
// every stream translator.
type tally struct {
	st *State
	// reported is an OpenAI "usage" object of a chunk (the last one wins).
	reported    Usage
	hasReported bool
	// generated and input are TGI's details.generated_tokens and
	// details.input_length (or the prefill's length).
	generated, input       int
	hasGenerated, hasInput bool
	// tokens counts TGI token events; textBytes the generated text (content,
	// reasoning, tool-call arguments), for the estimates.
	tokens, textBytes int
	model             string
	started           bool
}

func (t *tally) Started() bool { return t.started }

// Usage implements [Stream.Usage]: the upstream's usage object, else TGI's
// details (prompt estimated unless input_length came), else the count of
// token events, else Kong's ceil(chars/4) estimate of the text; the prompt
// is st.PromptTokens whenever the upstream did not give it.
func (t *tally) Usage() Usage {
	var u Usage
	switch {
	case t.hasReported:
		u = t.reported
	case t.hasGenerated:
		u = Usage{CompletionTokens: t.generated, Estimated: !t.hasInput}
	case t.tokens > 0:
		u = Usage{CompletionTokens: t.tokens, Estimated: true}
	default:
		u = Usage{CompletionTokens: estimateCompletionBytes(t.textBytes), Estimated: true}
	}
	if !t.hasReported {
		u.PromptTokens = t.st.PromptTokens
		if t.hasInput {
			u.PromptTokens = t.input
		}
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	u.ResponseModel = t.model
	return u
}

// setModel keeps the chunks' "model" (copied once: data is a view).
func (t *tally) setModel(m gjson.Result) {
	if m.Type == gjson.String && m.Str != "" && m.Str != t.model {
		t.model = string([]byte(m.Str))
	}
}

// openAIChunk counts one OpenAI chat.completion.chunk or text_completion
// chunk: usage, model, and the generated text of every choice (delta
// content, reasoning and tool-call arguments for chat, text for
// completions). data must be valid JSON. It reports whether data looked
// like an OpenAI chunk (a "choices" array or a "usage" object).
func (t *tally) openAIChunk(data string) bool {
	var model, usage, choices gjson.Result
	gjson.Parse(data).ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "model":
			model = value
		case "usage":
			usage = value
		case "choices":
			choices = value
		}
		return true
	})
	t.setModel(model)
	u, ok := usageFrom(usage)
	if ok {
		t.reported, t.hasReported = u, true
	}
	if !choices.IsArray() {
		return ok
	}
	choices.ForEach(func(_, c gjson.Result) bool {
		if text := c.Get("text"); text.Type == gjson.String {
			t.text(len(text.Str))
		}
		delta := c.Get("delta")
		if !delta.IsObject() {
			return true
		}
		for _, key := range deltaText {
			if r := delta.Get(key); r.Type == gjson.String {
				t.text(len(r.Str))
			}
		}
		if calls := delta.Get("tool_calls"); calls.IsArray() {
			calls.ForEach(func(_, call gjson.Result) bool {
				t.started = true
				t.textBytes += len(call.Get("function.name").Str) + len(call.Get("function.arguments").Str)
				return true
			})
		}
		return true
	})
	return true
}

// deltaText are the delta fields that carry generated text: the content,
// and the reasoning that router providers stream under one name or another.
var deltaText = [...]string{"content", "reasoning_content", "reasoning"}

// text counts n bytes of generated text; any text starts the stream.
func (t *tally) text(n int) {
	t.textBytes += n
	if n > 0 {
		t.started = true
	}
}

// tgiEvent is one TGI token event as the tallies and the completions
// translator read it.
type tgiEvent struct {
	token   gjson.Result // the "token" object
	text    gjson.Result // token.text
	special bool
	// final: the last event of the stream (generated_text or details set).
	final   bool
	details gjson.Result
}

// readTGI reads a TGI token event; ok is false when data has no "token"
// object. data must be valid JSON.
func readTGI(data string) (ev tgiEvent, ok bool) {
	var generated gjson.Result
	gjson.Parse(data).ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "token":
			ev.token = value
		case "generated_text":
			generated = value
		case "details":
			ev.details = value
		}
		return true
	})
	if !ev.token.IsObject() {
		return ev, false
	}
	ev.text = ev.token.Get("text")
	ev.special = ev.token.Get("special").Type == gjson.True
	ev.final = (generated.Exists() && generated.Type != gjson.Null) || ev.details.IsObject()
	return ev, true
}

// tgiEvent counts one TGI token event: the token, and the final details
// (generated_tokens; input_length, or the prefill's length, when given).
func (t *tally) tgiEvent(ev tgiEvent) {
	t.tokens++
	if d := ev.details; d.IsObject() {
		if g := d.Get("generated_tokens"); g.Type == gjson.Number {
			t.generated, t.hasGenerated = int(g.Int()), true
		}
		if in := d.Get("input_length"); in.Type == gjson.Number {
			t.input, t.hasInput = int(in.Int()), true
		} else if p := d.Get("prefill"); p.IsArray() {
			if n := len(p.Array()); n > 0 {
				t.input, t.hasInput = n, true
			}
		}
	}
}

// Fixed texts of End, one per cause; the client-safe message of an *Error
// follows them. Nothing else of an error (a URL, a header) reaches the
// client.
const (
	msgStreamUpstream  = "the upstream reported an error during the stream"
	msgStreamTruncated = "the upstream stream ended in the middle of an event"
	msgStreamTooLarge  = "an upstream stream event was larger than the plugin accepts"
	msgStreamTimeout   = "the upstream did not send the rest of the stream in time"
	msgStreamCanceled  = "the stream was cancelled"
	msgStreamBadEvent  = "the upstream stream could not be translated"
	msgStreamFailed    = "the upstream connection failed during the stream"
)

// streamFailure is what the client is told about an error that ends a
// stream: a fixed text per cause, plus the message of an *Error (which is
// client-safe by construction), and an error code.
func streamFailure(err error) (msg, code string) {
	var e *Error
	hasE := errors.As(err, &e)
	withMessage := func(fixed, defCode string) (string, string) {
		if e.Message != "" {
			fixed += ": " + e.Message
		}
		if e.Code != "" {
			defCode = e.Code
		}
		return fixed, defCode
	}
	var te interface{ Timeout() bool } // net.Error and friends
	switch {
	case hasE && errors.Is(err, errUpstreamEvent):
		return withMessage(msgStreamUpstream, codeUpstreamEvent)
	case errors.Is(err, sse.ErrTruncated):
		return msgStreamTruncated, "upstream_stream_truncated"
	case errors.Is(err, sse.ErrEventTooLarge):
		return msgStreamTooLarge, "upstream_event_too_large"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout()):
		return msgStreamTimeout, "upstream_timeout"
	case errors.Is(err, context.Canceled):
		return msgStreamCanceled, "stream_cancelled"
	case hasE && e.Code == codeBadUpstream:
		return withMessage(msgStreamBadEvent, codeBadUpstream)
	case hasE:
		// An *Error of the relay's making: its message is client-safe.
		return withMessage(msgStreamFailed, "upstream_stream_failed")
	default:
		return msgStreamFailed, "upstream_stream_failed"
	}
}

// appendOpenAIError appends the OpenAI error event that ends a failed
// stream: data: {"error":{"message","type":"server_error","code"}}.
func appendOpenAIError(dst []byte, err error) []byte {
	msg, code := streamFailure(err)
	dst = append(dst, "data: "...)
	dst = append(dst, (&Error{Message: msg, Type: "server_error", Code: code}).Body()...)
	return append(dst, '\n', '\n')
}

// passthroughEnd is the blank line put before the error event of a
// passed-through stream: the client may hold a partial event (the relay
// copied the upstream bytes as they came, up to the failure), and the blank
// line ends it, so that the error event is read as an event of its own. A
// blank line with nothing pending is ignored by SSE clients.
const passthroughEnd = "\n\n"

// AppendPassthroughError ends a failed passed-through stream of any shape:
// the blank line of passthroughEnd, then the OpenAI error event (a fixed
// text per cause, never the error's own text unless it is an *Error).
func AppendPassthroughError(dst []byte, err error) []byte {
	return appendOpenAIError(append(dst, passthroughEnd...), err)
}
