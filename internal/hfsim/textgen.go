package hfsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Token is a generated token as TGI reports it.
type Token struct {
	ID      int     `json:"id"`
	Text    string  `json:"text"`
	Logprob float32 `json:"logprob"`
	Special bool    `json:"special"`
}

type prefillToken struct {
	ID      int      `json:"id"`
	Text    string   `json:"text"`
	Logprob *float32 `json:"logprob"`
}

type genDetails struct {
	FinishReason    string         `json:"finish_reason"`
	GeneratedTokens int            `json:"generated_tokens"`
	Seed            *int64         `json:"seed"`
	Prefill         []prefillToken `json:"prefill"`
	Tokens          []Token        `json:"tokens"`
}

type generateResponse struct {
	GeneratedText string      `json:"generated_text"`
	Details       *genDetails `json:"details,omitempty"`
}

type streamDetails struct {
	FinishReason    string `json:"finish_reason"`
	GeneratedTokens int    `json:"generated_tokens"`
	InputLength     int    `json:"input_length"`
	Seed            *int64 `json:"seed"`
}

type streamToken struct {
	Index         int            `json:"index"`
	Token         Token          `json:"token"`
	GeneratedText *string        `json:"generated_text"`
	Details       *streamDetails `json:"details"`
}

// genPlan is a TGI generate request worked out.
type genPlan struct {
	inputs   string
	pieces   []string
	text     string // generated_text as returned (prompt prepended if return_full_text)
	finish   string
	details  bool
	prefill  bool
	seed     *int64
	inTokens int
}

// NewToken is the token TGI reports for a generated piece.
func NewToken(piece string) Token {
	return Token{ID: TokenID(piece), Text: piece, Logprob: TokenLogprob(piece)}
}

// planGenerate validates a TGI {"inputs","parameters"} body like TGI's
// validation does and works out the answer. On error it has answered.
func (c *call) planGenerate(missingStatus int) (genPlan, bool) {
	if !c.requireJSON(missingStatus) {
		return genPlan{}, false
	}
	in := gjson.GetBytes(c.body, "inputs")
	if in.Type != gjson.String {
		writeJSON(c.w, missingStatus, axumRejection{Message: MissingFieldMessage(c.body, "inputs")})
		return genPlan{}, false
	}
	params := gjson.GetBytes(c.body, "parameters")
	p := genPlan{
		inputs:   in.String(),
		details:  params.Get("details").Bool(),
		prefill:  params.Get("decoder_input_details").Bool(),
		inTokens: Words(in.String()),
	}
	if msg := validateGenerate(p, params, c.s.opts.MaxTotalTokens); msg != "" {
		writeValidation(c.w, msg)
		return genPlan{}, false
	}
	if s := params.Get("seed"); s.Type == gjson.Number {
		v := s.Int()
		p.seed = &v
	}
	text, cut := Truncate(c.replyFor(p.inputs), int(params.Get("max_new_tokens").Int()))
	p.pieces = Pieces(text)
	p.finish = "eos_token"
	if cut {
		p.finish = "length"
	}
	p.text = text
	if params.Get("return_full_text").Bool() {
		p.text = p.inputs + text
	}
	return p, true
}

// validateGenerate returns TGI's validation message for bad parameters.
func validateGenerate(p genPlan, params gjson.Result, maxTotal int) string {
	if strings.TrimSpace(p.inputs) == "" {
		return "`inputs` cannot be empty"
	}
	if t := params.Get("temperature"); t.Exists() && t.Float() <= 0 {
		return "`temperature` must be strictly positive"
	}
	if t := params.Get("top_p"); t.Exists() && (t.Float() <= 0 || t.Float() >= 1) {
		return "`top_p` must be > 0.0 and < 1.0"
	}
	if t := params.Get("top_k"); t.Exists() && t.Int() <= 0 {
		return "`top_k` must be strictly positive"
	}
	if m := params.Get("max_new_tokens"); m.Exists() {
		if m.Int() <= 0 {
			return "`max_new_tokens` must be strictly positive"
		}
		if p.inTokens+int(m.Int()) > maxTotal {
			return fmt.Sprintf("`inputs` tokens + `max_new_tokens` must be <= %d. Given: %d `inputs` tokens and %d `max_new_tokens`",
				maxTotal, p.inTokens, m.Int())
		}
	}
	return ""
}

func (p genPlan) usage() *usage { return newUsage(p.inTokens, len(p.pieces)) }

func (p genPlan) response() generateResponse {
	r := generateResponse{GeneratedText: p.text}
	if !p.details {
		return r
	}
	d := &genDetails{FinishReason: p.finish, GeneratedTokens: len(p.pieces), Seed: p.seed, Prefill: []prefillToken{}}
	if p.prefill {
		for i, w := range Pieces(p.inputs) {
			pt := prefillToken{ID: TokenID(w), Text: w}
			if i > 0 {
				lp := TokenLogprob(w)
				pt.Logprob = &lp
			}
			d.Prefill = append(d.Prefill, pt)
		}
	}
	for _, piece := range p.pieces {
		d.Tokens = append(d.Tokens, NewToken(piece))
	}
	r.Details = d
	return r
}

// events renders /generate_stream: one event per token, index from 1,
// generated_text and details null; the last event carries generated_text
// and, with parameters.details, the stream details. TGI sends no [DONE].
func (p genPlan) events() [][]byte {
	out := make([][]byte, 0, len(p.pieces))
	for i, piece := range p.pieces {
		ev := streamToken{Index: i + 1, Token: NewToken(piece)}
		if i == len(p.pieces)-1 {
			ev.GeneratedText = &p.text
			if p.details {
				ev.Details = &streamDetails{FinishReason: p.finish, GeneratedTokens: len(p.pieces), InputLength: p.inTokens, Seed: p.seed}
			}
		}
		out = append(out, marshal(ev))
	}
	return out
}

// nativeTGI: TGI's own routes always frame like TGI unless a test insists.
func (c *call) nativeTGI() {
	if c.r.Header.Get(headerStyle) == "" {
		c.style = StyleTGI
	}
}

// generate serves TGI /generate and /generate_stream.
func (c *call) generate(stream bool) {
	c.nativeTGI()
	p, ok := c.planGenerate(http.StatusUnprocessableEntity)
	if !ok {
		return
	}
	if stream {
		c.generateStream(p)
		return
	}
	if c.fault == FaultHuge {
		c.hugeJSON(`{"generated_text":"`, `"}`)
		return
	}
	if c.fault == FaultStreamError {
		writeRaw(c.w, http.StatusFailedDependency, "application/json", BodyGenerationErr)
		return
	}
	c.writeAnswer(c.tgiHeaders(p.inputs, p.usage()), marshal(p.response()))
}

func (c *call) generateStream(p genPlan) {
	if c.fault == FaultHuge {
		// Token events of HugeChunk; the final event carries an empty
		// generated_text (the real text would double the size) and the count.
		n := 0
		c.hugeStream(c.tgiStreamHeaders(p.inputs), func(text string) []byte {
			n++
			return marshal(streamToken{Index: n, Token: NewToken(text)})
		}, func() [][]byte {
			empty := ""
			last := streamToken{Index: n + 1, Token: Token{ID: 2, Text: "</s>", Special: true}, GeneratedText: &empty}
			if p.details {
				last.Details = &streamDetails{FinishReason: "length", GeneratedTokens: n + 1, InputLength: p.inTokens, Seed: p.seed}
			}
			return [][]byte{marshal(last)}
		})
		return
	}
	sw := c.startSSE(c.tgiStreamHeaders(p.inputs))
	sw.run(p.events())
}

// compatGenerate serves TGI's "/" route: like /generate but the answer is
// wrapped in an array, and "stream":true streams. Kong 3.9 sends
// llm/v1/completions here when upstream_url has no path.
func (c *call) compatGenerate() {
	c.nativeTGI()
	c.arrayGenerate(http.StatusUnprocessableEntity)
}

// textGeneration serves hf-inference POST /models/{org}/{name}: TGI's "/"
// semantics behind the router, which answers missing inputs with 400 (Kong
// fixture llm-v1-completions/responses/bad_request.json).
func (c *call) textGeneration() {
	c.nativeTGI()
	c.arrayGenerate(http.StatusBadRequest)
}

func (c *call) arrayGenerate(missingStatus int) {
	p, ok := c.planGenerate(missingStatus)
	if !ok {
		return
	}
	if gjson.GetBytes(c.body, "stream").Bool() {
		c.generateStream(p)
		return
	}
	if c.fault == FaultHuge {
		c.hugeJSON(`[{"generated_text":"`, `"}]`)
		return
	}
	if c.fault == FaultStreamError {
		writeRaw(c.w, http.StatusFailedDependency, "application/json", BodyGenerationErr)
		return
	}
	body := append([]byte{'['}, marshal(p.response())...)
	c.writeAnswer(c.tgiHeaders(p.inputs, p.usage()), append(body, ']'))
}

type completionChoice struct {
	Index        int     `json:"index"`
	Text         string  `json:"text"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type textCompletion struct {
	Object            string             `json:"object"`
	ID                string             `json:"id"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Choices           []completionChoice `json:"choices"`
	Usage             *usage             `json:"usage,omitempty"`
}

// completions serves OpenAI POST /v1/completions (TGI, vLLM): one choice
// per prompt (a string or an array of strings).
func (c *call) completions() {
	if !c.requireJSON(http.StatusUnprocessableEntity) {
		return
	}
	pr := gjson.GetBytes(c.body, "prompt")
	var prompts []string
	switch {
	case pr.Type == gjson.String:
		prompts = []string{pr.String()}
	case pr.IsArray():
		for _, v := range pr.Array() {
			prompts = append(prompts, v.String())
		}
	}
	if len(prompts) == 0 {
		writeJSON(c.w, http.StatusUnprocessableEntity, axumRejection{Message: MissingFieldMessage(c.body, "prompt")})
		return
	}
	limit := maxTokens(c.body, "max_tokens")
	model := c.responseModel()
	var choices []completionChoice
	var pieces [][]string
	u := newUsage(0, 0)
	for i, prompt := range prompts {
		text, cut := Truncate(c.replyFor(prompt), limit)
		finish := "stop"
		if cut {
			finish = "length"
		}
		choices = append(choices, completionChoice{Index: i, Text: text, FinishReason: strPtr(finish)})
		pieces = append(pieces, Pieces(text))
		u.PromptTokens += Words(prompt)
		u.CompletionTokens += len(Pieces(text))
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	base := textCompletion{Object: "text_completion", ID: c.completionID("cmpl-"), Created: c.s.opts.Created,
		Model: model, SystemFingerprint: c.fingerprint()}
	stream := gjson.GetBytes(c.body, "stream").Bool()
	if c.fault == FaultHuge && stream {
		fin := base
		fin.Choices = []completionChoice{{Index: 0, FinishReason: strPtr("length")}}
		c.hugeStream(c.tgiStreamHeaders(strings.Join(prompts, "")), func(text string) []byte {
			ev := base
			ev.Choices = []completionChoice{{Index: 0, Text: text}}
			return marshal(ev)
		}, func() [][]byte { return [][]byte{marshal(fin), []byte(Done)} })
		return
	}
	if c.fault == FaultHuge {
		c.hugeJSON(`{"object":"text_completion","id":"","created":`+strconv.FormatInt(c.s.opts.Created, 10)+
			`,"model":`+string(marshal(model))+`,"choices":[{"index":0,"text":"`, `","logprobs":null,"finish_reason":"stop"}]}`)
		return
	}
	if !stream {
		if c.fault == FaultStreamError {
			writeRaw(c.w, http.StatusFailedDependency, "application/json", BodyGenerationErr)
			return
		}
		resp := base
		resp.Choices, resp.Usage = choices, u
		c.writeAnswer(c.tgiHeaders(strings.Join(prompts, ""), u), marshal(resp))
		return
	}
	var events [][]byte
	for i, ps := range pieces {
		for _, piece := range ps {
			ev := base
			ev.Choices = []completionChoice{{Index: i, Text: piece}}
			events = append(events, marshal(ev))
		}
		ev := base
		ev.Choices = []completionChoice{{Index: i, Text: "", FinishReason: choices[i].FinishReason}}
		events = append(events, marshal(ev))
	}
	if gjson.GetBytes(c.body, "stream_options.include_usage").Bool() {
		ev := base
		ev.Choices, ev.Usage = []completionChoice{}, u
		events = append(events, marshal(ev))
	}
	events = append(events, []byte(Done))
	sw := c.startSSE(c.tgiStreamHeaders(strings.Join(prompts, "")))
	sw.run(events)
}
