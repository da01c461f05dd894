package translate

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Kong's request-validation messages (normalize-request, llm/init.lua), kept
// verbatim.
const (
	msgBadJSON        = "content-type header does not match request body, or bad JSON formatting"
	msgNoPrompts      = "request body doesn't contain valid prompts"
	msgMultiFormat    = "request matches multiple LLM request formats"
	msgStreamDenied   = "response streaming is not enabled for this LLM"
	msgChatOnComplete = "[llm/v1/chat] message format is not compatible with [llm/v1/completions] route type"
	msgCompleteOnChat = "[llm/v1/completions] message format is not compatible with [llm/v1/chat] route type"
)

// CheckBodySize refuses a body over max_request_body_size (0 = no limit)
// with a 413, before anything is parsed or sent upstream. The handler calls
// it with the size of a spooled body file before reading the file.
func CheckBodySize(cfg *schema.Config, n int64) error {
	max := int64(cfg.MaxRequestBodySize)
	if max > 0 && n > max {
		return &Error{
			Status:  http.StatusRequestEntityTooLarge,
			Message: "request body is " + strconv.FormatInt(n, 10) + " bytes, over the max_request_body_size of " + strconv.FormatInt(max, 10) + " bytes of this route",
			Code:    "request_too_large",
		}
	}
	return nil
}

// ParseObject checks, once, that a body is one JSON object without
// duplicate top-level keys. Duplicates are refused because this plugin and
// the upstream could read different values for the same key (a client could
// then pass one "model" check and get another model upstream). After it
// succeeds, gjson reads and sjson edits of the body are safe.
func ParseObject(body []byte) error {
	_, err := scanObject(body, nil, nil)
	return err
}

// scanObject is ParseObject that also captures, in the same single pass
// over the top level, the values of the keys asked for: out[i] is the value
// of keys[i] (zero Result when absent). It returns the number of top-level
// keys. One pass instead of a gjson.Get per key matters for large bodies.
func scanObject(body []byte, keys []string, out []gjson.Result) (int, error) {
	if !gjson.ValidBytes(body) {
		return 0, Errorf(http.StatusBadRequest, msgBadJSON)
	}
	// JSON text is UTF-8 (RFC 8259 §8.1) and gjson does not check it: a
	// body that is not would reach the upstream as sent.
	if !utf8.Valid(body) {
		return 0, Errorf(http.StatusBadRequest, msgBadJSON+": the body is not valid UTF-8")
	}
	root := gjson.Parse(bstr(body))
	if !root.IsObject() {
		return 0, Errorf(http.StatusBadRequest, msgBadJSON)
	}
	var small [24]string
	seen := small[:0]
	var many map[string]struct{}
	var dup string
	n := 0
	root.ForEach(func(key, value gjson.Result) bool {
		k := key.Str
		n++
		for i, want := range keys {
			if k == want {
				out[i] = value
			}
		}
		if many == nil && len(seen) < cap(small) {
			for _, s := range seen {
				if s == k {
					dup = k
					return false
				}
			}
			seen = append(seen, k)
			return true
		}
		if many == nil {
			many = make(map[string]struct{}, 2*len(seen))
			for _, s := range seen {
				many[s] = struct{}{}
			}
		}
		if _, ok := many[k]; ok {
			dup = k
			return false
		}
		many[k] = struct{}{}
		return true
	})
	if dup != "" {
		return 0, Errorf(http.StatusBadRequest, "the request body has the key %s more than once", quoteForMessage(dup))
	}
	return n, nil
}

// appendFields adds "key": raw pairs at the end of a JSON object in one
// copy (sjson would copy the body once per field). fields alternates keys
// and raw JSON values; keys must be plain (no escaping needed) and absent
// from the object. n is the object's number of keys.
func appendFields(body []byte, n int, fields []string) []byte {
	if len(fields) == 0 {
		return body
	}
	end := len(body) - 1
	for end >= 0 && body[end] != '}' {
		end--
	}
	size := len(body) + 8
	for _, f := range fields {
		size += len(f) + 3
	}
	out := make([]byte, 0, size)
	// Keep the client's bytes up to the last value, then the new fields.
	head := bytes.TrimRight(body[:end], " \t\r\n")
	out = append(out, head...)
	for i := 0; i+1 < len(fields); i += 2 {
		if n > 0 || i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, fields[i]...)
		out = append(out, '"', ':')
		out = append(out, fields[i+1]...)
	}
	out = append(out, body[len(head):]...)
	return out
}

// bstr views a body as a string without copying, for gjson. The body is
// never modified while the view is in use: sjson edits below return new
// slices (ReplaceInPlace is not used).
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// StreamRequested applies response_streaming to what the client asked for
// (asked = the request wants a stream): deny refuses a stream with Kong's
// 400, always streams every request.
func StreamRequested(cfg *schema.Config, asked bool) (bool, error) {
	switch cfg.ResponseStreaming {
	case "deny":
		if asked {
			return false, Errorf(http.StatusBadRequest, msgStreamDenied)
		}
		return false, nil
	case "always":
		return true, nil
	default:
		return asked, nil
	}
}

// OptionPaths names, for one body format, where model.options land.
type OptionPaths struct {
	MaxTokens string
	// MaxTokensAlias is a second field that also sets the token limit (for
	// OpenAI, max_completion_tokens): when the client set it, max_tokens is
	// not filled in either.
	MaxTokensAlias string
	Temperature    string
	TopP           string
	TopK           string
}

// OpenAIOptions places options in an OpenAI chat or completions body.
var OpenAIOptions = OptionPaths{
	MaxTokens: "max_tokens", MaxTokensAlias: "max_completion_tokens",
	Temperature: "temperature", TopP: "top_p", TopK: "top_k",
}

// TGIOptions places options in a TGI / hf-inference {"inputs","parameters"} body.
var TGIOptions = OptionPaths{
	MaxTokens: "parameters.max_new_tokens", Temperature: "parameters.temperature",
	TopP: "parameters.top_p", TopK: "parameters.top_k",
}

// FillOptions sets model.options (max_tokens, temperature, top_p, top_k)
// into a body where the request left them out (absent or null): the
// request's own values win, as the Kong 3.13 docs say. Only configured
// options are written, so top_k never reaches an upstream that was not
// configured with it. It reports whether the body changed.
func FillOptions(cfg *schema.Config, body []byte, p OptionPaths) ([]byte, bool, error) {
	o := cfg.Model.Options
	changed := false
	set := func(path, alias, raw string) error {
		if path == "" || raw == "" || present(body, path) || (alias != "" && present(body, alias)) {
			return nil
		}
		var err error
		body, err = sjson.SetRawBytes(body, path, []byte(raw))
		changed = changed || err == nil
		return err
	}
	if err := set(p.MaxTokens, p.MaxTokensAlias, intRaw(o.MaxTokens)); err != nil {
		return nil, false, editError(err)
	}
	if err := set(p.Temperature, "", floatRaw(o.Temperature)); err != nil {
		return nil, false, editError(err)
	}
	if err := set(p.TopP, "", floatRaw(o.TopP)); err != nil {
		return nil, false, editError(err)
	}
	if err := set(p.TopK, "", intRaw(o.TopK)); err != nil {
		return nil, false, editError(err)
	}
	return body, changed, nil
}

// present reports whether a body sets a field to something other than null.
func present(body []byte, path string) bool {
	r := gjson.GetBytes(body, path)
	return r.Exists() && r.Type != gjson.Null
}

func intRaw(v *int) string {
	if v == nil {
		return ""
	}
	return strconv.Itoa(*v)
}

func floatRaw(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// editError is an sjson failure on a body ParseObject accepted: a bug, so a
// 500 that keeps the cause for the logs.
func editError(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Message: "ai-proxy-hf could not edit the request body", Type: "server_error", Err: err}
}

// HFOptionHeaders adds model.options.huggingface as Hugging Face's request
// headers (x-use-cache, x-wait-for-model) when they are configured. The
// router rejects unknown body keys, so they are never sent in the body.
func HFOptionHeaders(cfg *schema.Config, h map[string]string) {
	hf := cfg.Model.Options.HuggingFace
	if hf.UseCache != nil {
		h["x-use-cache"] = strconv.FormatBool(*hf.UseCache)
	}
	if hf.WaitForModel != nil {
		h["x-wait-for-model"] = strconv.FormatBool(*hf.WaitForModel)
	}
}

// setString sets a top-level string field, reporting whether it changed.
func setString(body []byte, key, value string) ([]byte, bool, error) {
	if cur := gjson.GetBytes(body, escapeKey(key)); cur.Type == gjson.String && cur.Str == value {
		return body, false, nil
	}
	out, err := sjson.SetBytes(body, escapeKey(key), value)
	if err != nil {
		return nil, false, editError(err)
	}
	return out, true, nil
}

// escapeKey turns a literal top-level key into a gjson/sjson path (a
// configured param_name may hold '.', '*' or '?', which are path syntax).
func escapeKey(k string) string {
	if !strings.ContainsAny(k, `.*?|#@\!=<>%"`) {
		return k
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		switch k[i] {
		case '.', '*', '?', '|', '#', '@', '\\', '!', '=', '<', '>', '%', '"':
			b.WriteByte('\\')
		}
		b.WriteByte(k[i])
	}
	return b.String()
}
