package hfsim

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Fingerprints reported in system_fingerprint.
const (
	FingerprintTGI    = "3.3.6-native"
	FingerprintOpenAI = "fp_hfsim"
	// DefaultModel is reported when the request names no model (a dedicated
	// TGI answers with the model it serves).
	DefaultModel = "hfsim/tgi"
)

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(prompt, completion int) *usage {
	return &usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

type toolFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type toolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function toolFunction `json:"function"`
}

type chatMessage struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	Logprobs     any         `json:"logprobs"`
	FinishReason string      `json:"finish_reason"`
}

type chatCompletion struct {
	Object            string       `json:"object"`
	ID                string       `json:"id"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []chatChoice `json:"choices"`
	Usage             *usage       `json:"usage"`
}

type chunkDelta struct {
	Role      string     `json:"role,omitempty"`
	Content   *string    `json:"content,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     any        `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chatChunk struct {
	Object            string        `json:"object"`
	ID                string        `json:"id"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []chunkChoice `json:"choices"`
	Usage             *usage        `json:"usage"`
}

// chatPlan is what a chat request will produce, before framing.
type chatPlan struct {
	model        string
	content      string // generated text ("" for a tool call)
	pieces       []string
	finish       string
	tool         *toolCall
	toolPieces   []string
	usage        *usage
	includeUsage bool
}

// MessageText is the text of a chat message content: the string itself, or
// the "text" parts of a content array joined with a space.
func MessageText(content gjson.Result) string {
	if content.IsArray() {
		var parts []string
		for _, p := range content.Array() {
			if p.Get("type").String() == "text" {
				parts = append(parts, p.Get("text").String())
			}
		}
		return strings.Join(parts, " ")
	}
	return content.String()
}

// ChatPromptTokens is the prompt_tokens the simulator reports for a chat
// body: Words of every message text plus ChatOverheadTokens per message.
func ChatPromptTokens(body []byte) int {
	n := 0
	for _, m := range gjson.GetBytes(body, "messages").Array() {
		n += Words(MessageText(m.Get("content"))) + ChatOverheadTokens
	}
	return n
}

// ChatPrompt is the text a chat reply echoes: the last user message, or the
// last message when no user spoke.
func ChatPrompt(body []byte) string {
	msgs := gjson.GetBytes(body, "messages").Array()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Get("role").String() == "user" {
			return MessageText(msgs[i].Get("content"))
		}
	}
	if len(msgs) > 0 {
		return MessageText(msgs[len(msgs)-1].Get("content"))
	}
	return ""
}

func (c *call) responseModel() string {
	if c.model != "" {
		return c.model
	}
	return DefaultModel
}

func (c *call) fingerprint() string {
	if c.style == StyleOpenAI {
		return FingerprintOpenAI
	}
	return FingerprintTGI
}

// completionID: TGI leaves ids empty; OpenAI-style providers derive one.
func (c *call) completionID(prefix string) string {
	if c.style == StyleOpenAI {
		return prefix + shortHash(string(c.body))
	}
	return ""
}

// maxTokens reads the first positive integer among fields.
func maxTokens(body []byte, fields ...string) int {
	for _, f := range fields {
		if v := gjson.GetBytes(body, f); v.Type == gjson.Number && v.Int() > 0 {
			return int(v.Int())
		}
	}
	return 0
}

// replyFor is Reply(prompt), or the X-Hfsim-Reply header verbatim.
func (c *call) replyFor(prompt string) string {
	if v := c.r.Header.Get(headerReply); v != "" {
		return v
	}
	return Reply(prompt)
}

func (c *call) chat() {
	if !c.requireJSON(http.StatusBadRequest) {
		return
	}
	msgs := gjson.GetBytes(c.body, "messages")
	if !msgs.IsArray() || len(msgs.Array()) == 0 {
		// Kong's own mock answers messages:null with this fixture.
		writeRaw(c.w, http.StatusBadRequest, "application/json", BodyTemplateError)
		return
	}
	p := c.planChat()
	stream := gjson.GetBytes(c.body, "stream").Bool()
	if c.fault == FaultHuge {
		c.chatHuge(p, stream)
		return
	}
	if !stream {
		if c.fault == FaultStreamError {
			writeRaw(c.w, http.StatusFailedDependency, "application/json", BodyGenerationErr)
			return
		}
		body := marshal(c.chatCompletion(p))
		c.writeAnswer(c.tgiHeaders(ChatPrompt(c.body), p.usage), body)
		return
	}
	sw := c.startSSE(c.tgiStreamHeaders(ChatPrompt(c.body)))
	sw.run(c.chatEvents(p))
}

// writeAnswer sends a 200 JSON answer, honouring faults bad_json and
// stream_cut (half the body with the full Content-Length, then close).
func (c *call) writeAnswer(extra http.Header, body []byte) {
	h := c.w.Header()
	for k, v := range extra {
		h[k] = v
	}
	switch c.fault {
	case FaultBadJSON:
		body = body[:len(body)-1]
		body = append(body, `,"hfsim":`...)
	case FaultStreamCut:
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		c.w.WriteHeader(http.StatusOK)
		c.cut(body[:len(body)/2])
		return
	}
	writeBytes(c.w, http.StatusOK, "application/json", body)
}

func (c *call) planChat() chatPlan {
	p := chatPlan{
		model:        c.responseModel(),
		includeUsage: gjson.GetBytes(c.body, "stream_options.include_usage").Bool(),
	}
	prompt := ChatPromptTokens(c.body)
	if tc := pickTool(c.body); tc != nil {
		p.tool = tc
		if c.style == StyleOpenAI {
			tc.ID = "call_" + shortHash(string(c.body))
		} else {
			tc.ID = "0"
		}
		p.toolPieces = splitRunes(tc.Function.Arguments, ToolArgumentChunk)
		p.finish = "stop"
		if c.style == StyleOpenAI {
			p.finish = "tool_calls"
		}
		p.usage = newUsage(prompt, len(p.toolPieces)+1)
		return p
	}
	text, cut := Truncate(c.replyFor(ChatPrompt(c.body)), maxTokens(c.body, "max_tokens", "max_completion_tokens"))
	p.content = text
	p.pieces = Pieces(text)
	p.finish = "stop"
	if cut {
		p.finish = "length"
	}
	p.usage = newUsage(prompt, len(p.pieces))
	return p
}

func (c *call) chatCompletion(p chatPlan) chatCompletion {
	msg := chatMessage{Role: "assistant"}
	if p.tool != nil {
		tc := *p.tool
		tc.Type = "function"
		msg.ToolCalls = []toolCall{tc}
	} else {
		content := p.content
		msg.Content = &content
	}
	return chatCompletion{
		Object:            "chat.completion",
		ID:                c.completionID("chatcmpl-"),
		Created:           c.s.opts.Created,
		Model:             p.model,
		SystemFingerprint: c.fingerprint(),
		Choices:           []chatChoice{{Index: 0, Message: msg, FinishReason: p.finish}},
		Usage:             p.usage,
	}
}

func strPtr(s string) *string { return &s }

// chatEvents renders the stream. TGI repeats role:"assistant" in every
// delta and ends with an empty-content delta carrying finish_reason;
// OpenAI-style providers send the role once, then bare deltas, then an
// empty delta with finish_reason. With include_usage a chunk with
// "choices":[] and usage precedes [DONE].
func (c *call) chatEvents(p chatPlan) [][]byte {
	chunk := func(d chunkDelta, finish *string) []byte { return c.chatChunk(p, d, finish) }
	tgi := c.style == StyleTGI
	role := func() string {
		if tgi {
			return "assistant"
		}
		return ""
	}
	var events [][]byte
	if !tgi && p.tool == nil {
		events = append(events, chunk(chunkDelta{Role: "assistant", Content: strPtr("")}, nil))
	}
	if p.tool != nil {
		zero := 0
		if !tgi {
			events = append(events, chunk(chunkDelta{Role: "assistant", ToolCalls: []toolCall{{
				Index: &zero, ID: p.tool.ID, Type: "function", Function: toolFunction{Name: p.tool.Function.Name},
			}}}, nil))
		}
		for i, piece := range p.toolPieces {
			tc := toolCall{Index: &zero, Function: toolFunction{Arguments: piece}}
			if tgi {
				// TGI repeats id and type in every delta, the name only in
				// the first (test_flash_llama_grammar_tools_choice_stream).
				tc.ID, tc.Type = p.tool.ID, "function"
				if i == 0 {
					tc.Function.Name = p.tool.Function.Name
				}
			}
			events = append(events, chunk(chunkDelta{Role: role(), ToolCalls: []toolCall{tc}}, nil))
		}
	} else {
		for _, piece := range p.pieces {
			events = append(events, chunk(chunkDelta{Role: role(), Content: strPtr(piece)}, nil))
		}
	}
	final := chunkDelta{}
	if tgi {
		final = chunkDelta{Role: "assistant", Content: strPtr("")}
	}
	events = append(events, chunk(final, strPtr(p.finish)))
	if p.includeUsage {
		events = append(events, marshal(chatChunk{
			Object: "chat.completion.chunk", ID: c.completionID("chatcmpl-"), Created: c.s.opts.Created,
			Model: p.model, SystemFingerprint: c.fingerprint(), Choices: []chunkChoice{}, Usage: p.usage,
		}))
	}
	return append(events, []byte(Done))
}

// ToolArgumentChunk is the size in bytes of the argument fragments streamed
// in tool-call deltas.
const ToolArgumentChunk = 8

// pickTool returns the call the simulator makes when the request offers
// tools: the function named by tool_choice, else the first tool; none when
// tool_choice is "none".
func pickTool(body []byte) *toolCall {
	tools := gjson.GetBytes(body, "tools").Array()
	if len(tools) == 0 {
		return nil
	}
	choice := gjson.GetBytes(body, "tool_choice")
	if choice.String() == "none" {
		return nil
	}
	fn := tools[0].Get("function")
	if name := choice.Get("function.name").String(); name != "" {
		for _, t := range tools {
			if t.Get("function.name").String() == name {
				fn = t.Get("function")
			}
		}
	}
	return &toolCall{Function: toolFunction{Name: fn.Get("name").String(), Arguments: ToolArguments(fn.Get("parameters").Raw)}}
}

// ToolArguments are the arguments the simulator passes to a function with
// the given JSON-schema parameters: every property in declaration order,
// set to the first enum value if any, else "hfsim" for strings, 1 for
// numbers and integers, true for booleans, [] for arrays, {} for objects,
// null otherwise. Compact JSON.
func ToolArguments(parameters string) string {
	out := []byte{'{'}
	first := true
	gjson.Get(parameters, "properties").ForEach(func(k, v gjson.Result) bool {
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, marshal(k.String())...)
		out = append(out, ':')
		if e := v.Get("enum.0"); e.Exists() {
			out = append(out, e.Raw...)
			return true
		}
		switch v.Get("type").String() {
		case "string":
			out = append(out, `"hfsim"`...)
		case "number", "integer":
			out = append(out, '1')
		case "boolean":
			out = append(out, "true"...)
		case "array":
			out = append(out, "[]"...)
		case "object":
			out = append(out, "{}"...)
		default:
			out = append(out, "null"...)
		}
		return true
	})
	return string(append(out, '}'))
}

func (c *call) chatChunk(p chatPlan, d chunkDelta, finish *string) []byte {
	return marshal(chatChunk{
		Object: "chat.completion.chunk", ID: c.completionID("chatcmpl-"), Created: c.s.opts.Created,
		Model: p.model, SystemFingerprint: c.fingerprint(),
		Choices: []chunkChoice{{Index: 0, Delta: d, FinishReason: finish}},
	})
}

// chatHuge answers fault huge: one chat.completion whose content pads the
// body to hugeSize() bytes, or a stream of HugeChunk deltas.
func (c *call) chatHuge(p chatPlan, stream bool) {
	if !stream {
		c.hugeJSON(`{"object":"chat.completion","id":"","created":`+strconv.FormatInt(c.s.opts.Created, 10)+
			`,"model":`+string(marshal(p.model))+`,"choices":[{"index":0,"message":{"role":"assistant","content":"`,
			`"},"logprobs":null,"finish_reason":"stop"}]}`)
		return
	}
	role := ""
	if c.style == StyleTGI {
		role = "assistant"
	}
	c.hugeStream(c.tgiStreamHeaders(ChatPrompt(c.body)), func(text string) []byte {
		return c.chatChunk(p, chunkDelta{Role: role, Content: &text}, nil)
	}, func() [][]byte { return [][]byte{c.chatChunk(p, chunkDelta{}, strPtr("length")), []byte(Done)} })
}
