package translate

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strconv"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// openAIBody is a validated OpenAI chat or completions request.
type openAIBody struct {
	body   []byte
	model  string
	stream bool
	// changed reports whether body differs from the client's.
	changed bool
}

// openAIKeys are the top-level fields of an OpenAI body the plugin reads,
// captured in one pass by scanObject; the constants index them.
var openAIKeys = []string{"model", "messages", "prompt", "stream", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k"}

const (
	kModel = iota
	kMessages
	kPrompt
	kStream
	kMaxTokens
	kMaxCompletionTokens
	kTemperature
	kTopP
	kTopK
	nOpenAIKeys
)

// parseOpenAI validates an OpenAI chat (route RouteChat) or completions
// (RouteCompletions) body in Kong's order — size, JSON, prompts, model,
// format, streaming — and returns it with the model set, model.options
// filled in and "stream" forced for response_streaming: always.
func parseOpenAI(cfg *schema.Config, in *ClientRequest, route string) (*openAIBody, error) {
	if err := CheckBodySize(cfg, int64(len(in.Body))); err != nil {
		return nil, err
	}
	var f [nOpenAIKeys]gjson.Result
	n, err := scanObject(in.Body, openAIKeys, f[:])
	if err != nil {
		return nil, err
	}
	hasMessages := nonEmptyArray(f[kMessages])
	hasPrompt := validPrompt(f[kPrompt])
	if !hasMessages && !hasPrompt {
		return nil, Errorf(http.StatusBadRequest, msgNoPrompts)
	}
	model, err := resolveModelValue(cfg, f[kModel])
	if err != nil {
		return nil, err
	}
	switch {
	case hasMessages && hasPrompt:
		return nil, Errorf(http.StatusBadRequest, msgMultiFormat)
	case route == RouteChat && !hasMessages:
		return nil, Errorf(http.StatusBadRequest, msgCompleteOnChat)
	case route == RouteCompletions && !hasPrompt:
		return nil, Errorf(http.StatusBadRequest, msgChatOnComplete)
	}
	if err := checkOpenAIFields(&f, hasMessages); err != nil {
		return nil, err
	}
	stream, err := StreamRequested(cfg, f[kStream].Type == gjson.True)
	if err != nil {
		return nil, err
	}
	out := &openAIBody{body: in.Body, model: model, stream: stream}
	if err := out.edit(cfg, n, &f); err != nil {
		return nil, err
	}
	return out, nil
}

// edit applies the body changes — model, options, stream — appending new
// fields in one copy and replacing present ones (a different model, a null
// option, "stream": false) in place.
func (b *openAIBody) edit(cfg *schema.Config, n int, f *[nOpenAIKeys]gjson.Result) error {
	var appends [12]string
	add := appends[:0]
	var replace []string
	set := func(key string, cur gjson.Result, raw string) {
		switch {
		case !cur.Exists():
			add = append(add, key, raw)
		default:
			replace = append(replace, key, raw)
		}
	}
	if f[kModel].Type != gjson.String || f[kModel].Str != b.model {
		set("model", f[kModel], string(gjson.AppendJSONString(nil, b.model)))
	}
	o := cfg.Model.Options
	unset := func(r gjson.Result) bool { return !r.Exists() || r.Type == gjson.Null }
	if raw := intRaw(o.MaxTokens); raw != "" && unset(f[kMaxTokens]) && unset(f[kMaxCompletionTokens]) {
		set("max_tokens", f[kMaxTokens], raw)
	}
	if raw := floatRaw(o.Temperature); raw != "" && unset(f[kTemperature]) {
		set("temperature", f[kTemperature], raw)
	}
	if raw := floatRaw(o.TopP); raw != "" && unset(f[kTopP]) {
		set("top_p", f[kTopP], raw)
	}
	if raw := intRaw(o.TopK); raw != "" && unset(f[kTopK]) {
		set("top_k", f[kTopK], raw)
	}
	if b.stream && f[kStream].Type != gjson.True {
		set("stream", f[kStream], "true")
	}
	if len(add) == 0 && len(replace) == 0 {
		return nil
	}
	body := b.body
	for i := 0; i+1 < len(replace); i += 2 {
		var err error
		if body, err = sjson.SetRawBytes(body, replace[i], []byte(replace[i+1])); err != nil {
			return editError(err)
		}
	}
	b.body, b.changed = appendFields(body, n, add), true
	return nil
}

// nonEmptyArray reports whether r is a JSON array with at least one element.
func nonEmptyArray(r gjson.Result) bool {
	if !r.IsArray() {
		return false
	}
	found := false
	r.ForEach(func(_, _ gjson.Result) bool {
		found = true
		return false
	})
	return found
}

// validPrompt is an OpenAI completions prompt: a string, or a non-empty
// array (of strings or token ids).
func validPrompt(r gjson.Result) bool {
	return r.Type == gjson.String || nonEmptyArray(r)
}

// openAIUpstream targets capPath and sets the headers and auth shared by the
// OpenAI-shaped routes.
func openAIUpstream(cfg *schema.Config, in *ClientRequest, b *openAIBody, capPath string) (*UpstreamRequest, error) {
	up, err := Target(cfg, capPath)
	if err != nil {
		return nil, err
	}
	jsonRequestHeaders(cfg, up, b.stream)
	body, changed, err := ApplyAuth(cfg, in, up, b.body)
	if err != nil {
		return nil, err
	}
	if b.changed || changed {
		up.Body = body
	}
	up.Stream = b.stream
	up.State = State{Model: b.model, Stream: b.stream}
	if cfg.Logging.LogStatistics {
		up.State.PromptTokens = EstimatePrompt(body, b.stream)
	}
	return up, nil
}

// jsonRequestHeaders sets what every JSON request upstream carries: the
// content type, Hugging Face's option headers and, for a buffered response
// the plugin must read, identity encoding (Kong hands the response phase
// the body as the upstream sent it, so a gzip body could not be read).
func jsonRequestHeaders(cfg *schema.Config, up *UpstreamRequest, stream bool) {
	up.SetHeaders["content-type"] = "application/json"
	if !stream {
		up.SetHeaders["accept-encoding"] = "identity"
	}
	HFOptionHeaders(cfg, up.SetHeaders)
}

// setRaw sets a top-level field to raw JSON.
func setRaw(body []byte, key, raw string) ([]byte, error) {
	out, err := sjson.SetRawBytes(body, escapeKey(key), []byte(raw))
	if err != nil {
		return nil, editError(err)
	}
	return out, nil
}

// openAIResponse passes a 200 OpenAI chat or completions response through:
// id, created, choices (finish_reason, tool_calls, logprobs) and usage are
// kept; only "model" is set to the resolved name when the upstream said
// another (for example without the ":provider" suffix). A non-2xx answer is
// normalised, a stream is passed as is, a legacy [{"generated_text"}] array
// is turned into an OpenAI object of kind object, and anything else is a 502.
func openAIResponse(st *State, in *UpstreamResponse, object string) (*ClientResponse, error) {
	if in.Status < 200 || in.Status > 299 {
		return errorResponse(in), nil
	}
	body := bytes.TrimSpace(in.Body)
	if looksLikeSSE(body) {
		return &ClientResponse{Status: in.Status, Usage: Usage{PromptTokens: st.PromptTokens, TotalTokens: st.PromptTokens, Estimated: true}}, nil
	}
	if !gjson.ValidBytes(body) {
		return nil, badGateway("the upstream answered %d with a body that is not JSON; expected an OpenAI %s", in.Status, object)
	}
	if body[0] == '[' {
		return legacyToOpenAI(st, in.Status, body, object)
	}
	if body[0] != '{' {
		return nil, badGateway("the upstream answered %d with JSON that is not an object; expected an OpenAI %s", in.Status, object)
	}
	var f [4]gjson.Result // one pass over the top level
	topValues(body, responseKeys, f[:])
	errField, choices, upstreamModel, usage := f[0], f[1], f[2], f[3]
	if errField.Exists() && errField.Type != gjson.Null {
		msg := UpstreamError(in.Status, body).Message
		return nil, badGateway("the upstream answered %d with an error: %s", in.Status, msg)
	}
	if !choices.IsArray() {
		return nil, badGateway("the upstream answered %d without \"choices\"; expected an OpenAI %s", in.Status, object)
	}
	out := &ClientResponse{Status: in.Status}
	out.Usage.ResponseModel = upstreamModel.String()
	if u, ok := usageFrom(usage); ok {
		out.Usage.PromptTokens, out.Usage.CompletionTokens, out.Usage.TotalTokens = u.PromptTokens, u.CompletionTokens, u.TotalTokens
	} else {
		text := choices.Get("0.message.content").String()
		if object == objectTextCompletion {
			text = choices.Get("0.text").String()
		}
		model := out.Usage.ResponseModel
		out.Usage = estimatedUsage(st, text)
		out.Usage.ResponseModel = model
	}
	if st.Model != "" && (upstreamModel.Type != gjson.String || upstreamModel.Str != st.Model) {
		edited, err := replaceValue(body, upstreamModel, string(gjson.AppendJSONString(nil, st.Model)))
		if err != nil {
			return nil, err
		}
		out.Body = edited
		out.Headers = jsonHeaders(nil)
	}
	return out, nil
}

// responseKeys are the top-level fields of an OpenAI response read by
// openAIResponse, in the order of its f array.
var responseKeys = []string{"error", "choices", "model", "usage"}

// topValues captures the values of some top-level keys of a valid JSON
// object in one pass (the first occurrence of each).
func topValues(body []byte, keys []string, out []gjson.Result) {
	gjson.Parse(bstr(body)).ForEach(func(key, value gjson.Result) bool {
		for i, want := range keys {
			if key.Str == want && !out[i].Exists() {
				out[i] = value
			}
		}
		return true
	})
}

// replaceValue sets the top-level "model" of a response (body must be the
// trimmed bytes cur was read from): in place of the value found (one copy,
// the rest of the body byte for byte), or with sjson when it has none.
func replaceValue(body []byte, cur gjson.Result, raw string) ([]byte, error) {
	if cur.Exists() && cur.Index > 0 && cur.Index+len(cur.Raw) <= len(body) && string(body[cur.Index:cur.Index+len(cur.Raw)]) == cur.Raw {
		out := make([]byte, 0, len(body)-len(cur.Raw)+len(raw))
		out = append(out, body[:cur.Index]...)
		out = append(out, raw...)
		return append(out, body[cur.Index+len(cur.Raw):]...), nil
	}
	out, err := sjson.SetRawBytes(body, "model", []byte(raw))
	if err != nil {
		return nil, editError(err)
	}
	return out, nil
}

// OpenAI object kinds.
const (
	objectChat           = "chat.completion"
	objectTextCompletion = "text_completion"
)

// generated is one element of a legacy text-generation answer.
type generated struct {
	Text         string
	FinishReason string
	Tokens       int // details.generated_tokens, 0 when absent
}

// legacyGenerated reads [{"generated_text", "details"?}, ...] or a single
// such object. ok is false for any other shape.
func legacyGenerated(body []byte) ([]generated, bool) {
	root := gjson.ParseBytes(body)
	var items []gjson.Result
	switch {
	case root.IsArray():
		items = root.Array()
	case root.IsObject():
		items = []gjson.Result{root}
	}
	if len(items) == 0 {
		return nil, false
	}
	out := make([]generated, 0, len(items))
	for _, it := range items {
		t := it.Get("generated_text")
		if t.Type != gjson.String {
			return nil, false
		}
		out = append(out, generated{
			Text:         t.Str,
			FinishReason: finishReason(it.Get("details.finish_reason").String()),
			Tokens:       int(it.Get("details.generated_tokens").Int()),
		})
	}
	return out, true
}

// finishReason maps TGI's finish reasons to OpenAI's.
func finishReason(tgi string) string {
	switch tgi {
	case "length":
		return "length"
	default: // eos_token, stop_sequence, or not reported
		return "stop"
	}
}

type openAIChoice struct {
	Index        int             `json:"index"`
	Message      *openAIMessage  `json:"message,omitempty"`
	Text         *string         `json:"text,omitempty"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type openAIMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type openAIUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type openAIObject struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"`
	Created int64          `json:"created"`
	Model   string         `json:"model"`
	Choices []openAIChoice `json:"choices"`
	Usage   openAIUsage    `json:"usage"`
}

var jsonNull = json.RawMessage("null")

// legacyToOpenAI turns a legacy text-generation answer into an OpenAI chat
// completion or text completion. Usage comes from the upstream's token
// headers, else from details.generated_tokens, else it is estimated.
func legacyToOpenAI(st *State, status int, body []byte, object string) (*ClientResponse, error) {
	gens, ok := legacyGenerated(body)
	if !ok {
		return nil, badGateway("the upstream answered %d with a JSON array that is not [{\"generated_text\": ...}]; expected an OpenAI %s", status, object)
	}
	obj := openAIObject{
		ID:      legacyID(object, st, body),
		Object:  object,
		Created: st.StartedAt / 1000,
		Model:   st.Model,
		Choices: make([]openAIChoice, len(gens)),
	}
	tokens, all := 0, ""
	for i, g := range gens {
		c := openAIChoice{Index: i, Logprobs: jsonNull, FinishReason: g.FinishReason}
		if object == objectChat {
			c.Message = &openAIMessage{Role: "assistant", Content: g.Text}
		} else {
			text := g.Text
			c.Text = &text
		}
		obj.Choices[i] = c
		tokens += g.Tokens
		all += g.Text
	}
	usage := estimatedUsage(st, all)
	if tokens > 0 {
		usage = Usage{PromptTokens: st.PromptTokens, CompletionTokens: tokens, TotalTokens: st.PromptTokens + tokens, Estimated: st.PromptTokens > 0}
	}
	return legacyResponse(status, obj, usage)
}

// legacyResponse marshals a built OpenAI object with its usage.
func legacyResponse(status int, obj openAIObject, usage Usage) (*ClientResponse, error) {
	obj.Usage = openAIUsage{PromptTokens: usage.PromptTokens, CompletionTokens: usage.CompletionTokens, TotalTokens: usage.TotalTokens}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "ai-proxy-hf could not build the response", Type: "server_error", Err: err}
	}
	return &ClientResponse{Status: status, Body: out, Headers: jsonHeaders(nil), Usage: usage}, nil
}

// legacyID makes an id for a response the upstream gave none: stable for
// one response (a hash of the body and the request time), so retries of the
// translation agree, and prefixed like OpenAI's.
func legacyID(object string, st *State, body []byte) string {
	h := fnv.New64a()
	h.Write(body)
	h.Write([]byte(strconv.FormatInt(st.StartedAt, 10)))
	prefix := "cmpl-"
	if object == objectChat {
		prefix = "chatcmpl-"
	}
	return prefix + strconv.FormatUint(h.Sum64(), 36)
}

// looksLikeSSE reports whether a body is an event stream: a stream Kong
// buffered anyway (another plugin with a response phase turned buffering
// back on) is passed through rather than refused.
func looksLikeSSE(b []byte) bool {
	for _, p := range [][]byte{[]byte("data:"), []byte("event:"), []byte(":"), []byte("id:"), []byte("retry:")} {
		if bytes.HasPrefix(b, p) {
			return true
		}
	}
	return false
}
