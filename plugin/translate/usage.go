package translate

import (
	"math"
	"strconv"

	"github.com/tidwall/gjson"
)

// UsageFromOpenAI reads an OpenAI "usage" object (chat, completions). ok is
// false when the body has none.
func UsageFromOpenAI(body []byte) (Usage, bool) {
	return usageFrom(gjson.GetBytes(body, "usage"))
}

// usageFrom reads a "usage" value already found.
func usageFrom(u gjson.Result) (Usage, bool) {
	if !u.IsObject() {
		return Usage{}, false
	}
	p, c, t := u.Get("prompt_tokens"), u.Get("completion_tokens"), u.Get("total_tokens")
	if !p.Exists() && !c.Exists() && !t.Exists() {
		return Usage{}, false
	}
	out := Usage{PromptTokens: int(p.Int()), CompletionTokens: int(c.Int()), TotalTokens: int(t.Int())}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out, true
}

// UsageFromHeaders reads TGI's x-prompt-tokens / x-generated-tokens response
// headers. ok is false when neither is there.
func UsageFromHeaders(h map[string][]string) (Usage, bool) {
	p, okP := headerInt(h, "x-prompt-tokens")
	g, okG := headerInt(h, "x-generated-tokens")
	if !okP && !okG {
		return Usage{}, false
	}
	return Usage{PromptTokens: p, CompletionTokens: g, TotalTokens: p + g}, true
}

func headerInt(h map[string][]string, name string) (int, bool) {
	v := headerValue(h, name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// EstimateWords counts whitespace-separated words, Kong's prompt estimate
// (one token per word).
func EstimateWords(s string) int {
	n, in := 0, false
	for i := 0; i < len(s); i++ {
		space := s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}

// EstimateCompletion is Kong's completion estimate: one token per four
// characters, rounded up.
func EstimateCompletion(s string) int {
	return estimateCompletionBytes(len(s))
}

// estimateCompletionBytes is EstimateCompletion for n bytes of text, for
// a stream that counts its text without keeping it.
func estimateCompletionBytes(n int) int { return (n + 3) / 4 }

// EstimatePrompt estimates the prompt tokens of an OpenAI chat, completions
// or TGI body the way Kong does: words in the messages' text (string
// contents and text parts), the prompt or the inputs; ×1.8 for streams,
// where Kong expects to undercount.
func EstimatePrompt(body []byte, stream bool) int {
	words := 0
	gjson.GetBytes(body, "messages").ForEach(func(_, m gjson.Result) bool {
		c := m.Get("content")
		if c.Type == gjson.String {
			words += EstimateWords(c.Str)
			return true
		}
		if !c.IsArray() {
			return true
		}
		c.ForEach(func(_, part gjson.Result) bool {
			if t := part.Get("text"); t.Type == gjson.String {
				words += EstimateWords(t.Str)
			}
			return true
		})
		return true
	})
	for _, key := range []string{"prompt", "inputs"} {
		r := gjson.GetBytes(body, key)
		if r.Type == gjson.String {
			words += EstimateWords(r.Str)
			continue
		}
		if !r.IsArray() {
			continue
		}
		r.ForEach(func(_, p gjson.Result) bool {
			if p.Type == gjson.String {
				words += EstimateWords(p.Str)
			}
			return true
		})
	}
	if stream {
		return int(math.Round(float64(words) * 1.8))
	}
	return words
}

// estimatedUsage completes a usage the upstream did not report: the prompt
// estimate carried from access and the completion estimated from its text.
func estimatedUsage(st *State, completion string) Usage {
	c := EstimateCompletion(completion)
	return Usage{PromptTokens: st.PromptTokens, CompletionTokens: c, TotalTokens: st.PromptTokens + c, Estimated: true}
}
