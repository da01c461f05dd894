package translate

import (
	"bytes"
	"html"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// maxErrorMessage caps a message taken from an upstream body, so that an
// HTML page or a stack trace does not come back whole.
const maxErrorMessage = 1024

// UpstreamError turns a non-2xx upstream answer into the error the client
// gets: the upstream's status, and its message in the OpenAI shape
// ({"error":{"message","type","code"}}) so that OpenAI SDKs show it. It
// reads every shape Hugging Face and TGI/TEI use:
//
//	{"error":"...", "error_type":"..."}            TGI, TEI, legacy serverless
//	{"error":"... is currently loading","estimated_time":305.6}   → Retry-After: 306
//	{"error":{"message","type","code"}}             router, OpenAI-style providers
//	{"error":["...","..."]}                         legacy validation lists
//	{"message":"..."} / {"detail":"..."|[{"msg"}]}  axum / FastAPI bodies
//	an HTML page                                    its <title>
//	anything else                                   its text, or the status text
func UpstreamError(status int, body []byte) *Error {
	e := &Error{Status: status}
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		e.Message = "upstream answered " + strconv.Itoa(status) + " " + http.StatusText(status) + " with an empty body"
	case trimmed[0] == '{' && gjson.ValidBytes(trimmed):
		jsonError(e, trimmed)
	case looksLikeHTML(trimmed):
		e.Message = "upstream answered " + strconv.Itoa(status) + " " + http.StatusText(status) + " with an HTML page"
		if t := htmlTitle(trimmed); t != "" {
			e.Message += ": " + t
		}
	default:
		e.Message = clip(string(trimmed))
	}
	if e.Message == "" {
		e.Message = "upstream answered " + strconv.Itoa(status) + " " + http.StatusText(status)
	}
	return e
}

// jsonError fills e from a JSON object error body.
func jsonError(e *Error, body []byte) {
	root := gjson.ParseBytes(body)
	errField := root.Get("error")
	switch {
	case errField.Type == gjson.String:
		e.Message = errField.Str
	case errField.IsObject():
		e.Message = errField.Get("message").String()
		if t := errField.Get("type"); t.Type == gjson.String {
			e.Type = t.Str
		}
		if c := errField.Get("code"); c.Type == gjson.String || c.Type == gjson.Number {
			e.Code = c.String()
		}
	case errField.IsArray():
		var parts []string
		for _, p := range errField.Array() {
			parts = append(parts, p.String())
		}
		e.Message = strings.Join(parts, "; ")
	}
	if e.Message == "" {
		e.Message = root.Get("message").String()
	}
	if e.Message == "" {
		e.Message = detailMessage(root.Get("detail"))
	}
	if e.Message == "" {
		e.Message = clip(string(body))
	}
	e.Message = clip(e.Message)
	if e.Code == "" {
		if t := root.Get("error_type"); t.Type == gjson.String {
			e.Code = t.Str
		}
	}
	if est := root.Get("estimated_time"); est.Type == gjson.Number {
		if e.Code == "" {
			e.Code = "model_loading"
		}
		e.Headers = map[string]string{"Retry-After": retryAfter(est.Float())}
	}
}

// detailMessage reads FastAPI's "detail": a string, or a list of {"msg"}.
func detailMessage(d gjson.Result) string {
	if d.Type == gjson.String {
		return d.Str
	}
	if !d.IsArray() {
		return ""
	}
	var parts []string
	for _, item := range d.Array() {
		if m := item.Get("msg"); m.Type == gjson.String {
			parts = append(parts, m.Str)
		}
	}
	return strings.Join(parts, "; ")
}

// retryAfter is Retry-After in whole seconds, rounded up, at least 1.
func retryAfter(seconds float64) string {
	if math.IsNaN(seconds) || seconds < 1 {
		return "1"
	}
	if seconds > 86400 {
		seconds = 86400
	}
	return strconv.Itoa(int(math.Ceil(seconds)))
}

func looksLikeHTML(b []byte) bool {
	if len(b) == 0 || b[0] != '<' {
		return false
	}
	head := b
	if len(head) > 512 {
		head = head[:512]
	}
	l := bytes.ToLower(head)
	return bytes.Contains(l, []byte("<html")) || bytes.Contains(l, []byte("<!doctype")) ||
		bytes.Contains(l, []byte("<head")) || bytes.Contains(l, []byte("<body")) || bytes.Contains(l, []byte("<title"))
}

// htmlTitle is the text of an HTML page's <title>, or "".
func htmlTitle(b []byte) string {
	l := bytes.ToLower(b)
	start := bytes.Index(l, []byte("<title"))
	if start < 0 {
		return ""
	}
	gt := bytes.IndexByte(l[start:], '>')
	if gt < 0 {
		return ""
	}
	from := start + gt + 1
	end := bytes.Index(l[from:], []byte("</title"))
	if end < 0 {
		return ""
	}
	return clip(strings.Join(strings.Fields(html.UnescapeString(string(b[from:from+end]))), " "))
}

// clip trims a message and caps it at maxErrorMessage bytes on a rune
// boundary.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxErrorMessage {
		return s
	}
	cut := maxErrorMessage
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// alreadyOpenAIError reports whether an upstream error body is already in
// the OpenAI shape with a message; it can then go to the client unchanged.
func alreadyOpenAIError(body []byte) bool {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || !gjson.ValidBytes(trimmed) {
		return false
	}
	m := gjson.GetBytes(trimmed, "error.message")
	return m.Type == gjson.String && m.Str != ""
}

// errorResponse is the ClientResponse for an upstream error: the upstream
// body unchanged when it is already OpenAI-shaped (no exit needed), else the
// normalised body.
func errorResponse(in *UpstreamResponse) *ClientResponse {
	e := UpstreamError(in.Status, in.Body)
	if alreadyOpenAIError(in.Body) && len(e.Headers) == 0 {
		return &ClientResponse{Status: in.Status, Error: e}
	}
	return &ClientResponse{Status: in.Status, Body: e.Body(), Headers: jsonHeaders(e.Headers), Error: e}
}

// jsonHeaders is a response header set with a JSON content type, plus extra.
func jsonHeaders(extra map[string]string) map[string]string {
	h := make(map[string]string, 1+len(extra))
	h["Content-Type"] = "application/json"
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// badGateway is the 502 for a 2xx upstream body that is not what the route
// expects: the client gets a clear message instead of a body its SDK
// cannot read.
func badGateway(format string, args ...any) *Error {
	e := Errorf(http.StatusBadGateway, format, args...)
	e.Code = "bad_upstream_response"
	return e
}
