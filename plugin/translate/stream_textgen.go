package translate

import (
	"hash/fnv"
	"strconv"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate/sse"
	"github.com/tidwall/gjson"
)

// textgenStream translates the router's hf-inference text-generation
// stream (TGI token events) into OpenAI text_completion chunks, for
// llm/v1/completions on the router. Each token event
//
//	data:{"index":1,"token":{"id":315,"text":" I","logprob":-0.2,"special":false},"generated_text":null,"details":null}
//
// becomes
//
//	data: {"id":"cmpl-…","object":"text_completion","created":…,"model":"<model>","choices":[{"index":0,"text":" I","logprobs":null,"finish_reason":null}]}
//
// (Kong's F.4 mapping, with the id, created and finish_reason that OpenAI
// clients read). The last event (generated_text or details set) carries
// finish_reason from details.finish_reason: eos_token and stop_sequence are
// "stop", length is "length". The text of special tokens (</s>, <|eot_id|>)
// is not sent, as TGI's and huggingface_hub's clients skip it; a special
// token that is not the last event yields no chunk. The stream ends with a
// usage chunk (choices [], only when the client asked for it with
// stream_options.include_usage) and data: [DONE].
//
// id and created are the same in every chunk: created is State.StartedAt in
// seconds, the id a hash of the model, StartedAt and the first event
// translated (the package never reads the clock or a random source).
type textgenStream struct {
	tally
	// prefix is every chunk's bytes up to the text value, built on the
	// first chunk.
	prefix []byte
	final  bool // the last event (with details) was translated
}

func newTextgenStream(st *State) *textgenStream { return &textgenStream{tally: tally{st: st}} }

func (s *textgenStream) Passthrough() bool { return false }

// Event implements [Stream.Event]. An event that is not a JSON object or
// has no token.text string is an error (a 502 *Error): the translation
// cannot go on, and the client is told so rather than sent a chunk it
// cannot read.
func (s *textgenStream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	data := eventData(ev)
	if data == "" || isDone(data) {
		return dst, nil
	}
	if !jsonObjectText(data) {
		return dst, badGateway("the router's text-generation stream sent an event that is not JSON; expected TGI token events")
	}
	if e := eventError(data); e != nil {
		return dst, e
	}
	tev, ok := readTGI(data)
	if !ok || tev.text.Type != gjson.String {
		return dst, badGateway("the router's text-generation stream sent an event without token.text; expected TGI token events {\"token\":{\"text\":...}}")
	}
	s.tgiEvent(tev)
	text := tev.text.Str
	if tev.special {
		text = ""
		if !tev.final {
			return dst, nil
		}
	}
	s.text(len(text))
	reason := ""
	if tev.final {
		s.final = true
		reason = finishReason(tev.details.Get("finish_reason").Str)
	}
	return s.chunk(dst, data, text, reason), nil
}

// chunk appends one text_completion chunk; reason "" is a null
// finish_reason.
func (s *textgenStream) chunk(dst []byte, data, text, reason string) []byte {
	dst = append(dst, s.chunkPrefix(data)...)
	dst = append(dst, `"choices":[{"index":0,"text":`...)
	dst = gjson.AppendJSONString(dst, text)
	dst = append(dst, `,"logprobs":null,"finish_reason":`...)
	if reason == "" {
		dst = append(dst, "null"...)
	} else {
		dst = gjson.AppendJSONString(dst, reason)
	}
	return append(dst, "}]}\n\n"...)
}

// chunkPrefix is `data: {"id":…,"object":"text_completion","created":…,"model":…,`,
// the same for every chunk of the stream; data (the first event translated)
// goes into the id.
func (s *textgenStream) chunkPrefix(data string) []byte {
	if s.prefix != nil {
		return s.prefix
	}
	h := fnv.New64a()
	h.Write([]byte(s.st.Model))
	h.Write([]byte(strconv.FormatInt(s.st.StartedAt, 10)))
	h.Write([]byte(data))
	p := make([]byte, 0, 96+len(s.st.Model))
	p = append(p, `data: {"id":"cmpl-`...)
	p = strconv.AppendUint(p, h.Sum64(), 36)
	p = append(p, `","object":"text_completion","created":`...)
	p = strconv.AppendInt(p, s.st.StartedAt/1000, 10)
	p = append(p, `,"model":`...)
	p = gjson.AppendJSONString(p, s.st.Model)
	p = append(p, ',')
	s.prefix = p
	return p
}

// End implements [Stream.End]: on a clean end the usage chunk (when asked
// for) and [DONE]; on a failure the OpenAI error event. The client's bytes
// are all complete events, so no blank line is needed before it.
func (s *textgenStream) End(dst []byte, err error) []byte {
	if err != nil {
		return appendOpenAIError(dst, err)
	}
	if s.st.IncludeUsage {
		u := s.Usage()
		dst = append(dst, s.chunkPrefix("")...)
		dst = append(dst, `"choices":[],"usage":{"prompt_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
		dst = append(dst, `,"completion_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
		dst = append(dst, `,"total_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
		dst = append(dst, "}}\n\n"...)
	}
	return append(dst, doneEvent...)
}
