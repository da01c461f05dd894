package translate

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Analytics: what the handlers write under "ai.proxy" in Kong's log record
// (logging.log_statistics, logging.log_payloads). The key names are Kong's
// ai-proxy ones (kong/llm/plugin/shared-filters/serialize-analytics.lua,
// 3.12+ for request_mode and time_to_first_token), so dashboards built for
// Kong's plugin read these records unchanged; usage.estimated, error and
// meta.upstream_status are this plugin's own and documented as such.
//
// The handlers send the whole record with one kong.log.set_serialize_value
// call of key "ai.proxy", so the builders here return the value of that key:
// a map of strings, numbers, true and nested maps. Never false and never nil:
// Kong's bridge turns false into "remove the key" and nil into the string
// "NULL_VALUE", so absent facts are left out.

// ProviderName is meta.provider_name.
const ProviderName = "huggingface"

// Request modes (meta.request_mode), as Kong 3.12+ names them.
const (
	RequestModeOneshot = "oneshot"
	RequestModeStream  = "stream"
)

// PayloadLimit is the most bytes of a body logged in ai.proxy.payload.*;
// a longer body is cut (at a UTF-8 boundary) and ends with truncatedMarker.
const PayloadLimit = 64 << 10

// truncatedMarker ends a cut payload; the number is the body's full size.
const truncatedMarker = "…[truncated by ai-proxy-hf: %d bytes in all]"

// Redacted replaces every secret value the plugin keeps out of the logs,
// the word Kong's own serializer writes for the authorization header.
const Redacted = "REDACTED"

// Error sources (ai.proxy.error.source).
const (
	// SourcePlugin: the plugin refused the request or the upstream's answer.
	SourcePlugin = "plugin"
	// SourceUpstream: the upstream answered with an error status.
	SourceUpstream = "upstream"
)

// Logged reports whether a config writes anything under ai.proxy.
func Logged(cfg *schema.Config) bool {
	return cfg.Logging.LogStatistics || cfg.Logging.LogPayloads
}

// RequestMode is meta.request_mode for a request: "stream" when it is
// passed through unbuffered or the client asked for a stream.
func RequestMode(stream bool) string {
	if stream {
		return RequestModeStream
	}
	return RequestModeOneshot
}

// meta is ai.proxy.meta without the latency.
func meta(cfg *schema.Config, requestModel, responseModel, mode string) map[string]any {
	m := map[string]any{
		"provider_name": ProviderName,
		"request_mode":  mode,
	}
	putString(m, "plugin_id", cfg.PluginID)
	putString(m, "request_model", requestModel)
	if responseModel == "" {
		responseModel = requestModel // Kong's fallback
	}
	putString(m, "response_model", responseModel)
	return m
}

// Cost is ai.proxy.usage.cost: (prompt × input_cost + completion ×
// output_cost) / 1,000,000, as Kong computes it — 0 unless both costs are
// configured.
func Cost(cfg *schema.Config, prompt, completion int) float64 {
	in, out := cfg.Model.Options.InputCost, cfg.Model.Options.OutputCost
	if in == nil || out == nil {
		return 0
	}
	return (float64(prompt)**in + float64(completion)**out) / 1e6
}

// usageRecord is ai.proxy.usage. latencyMS < 0 means unknown (streams):
// then time_per_token and time_to_first_token are left out.
func usageRecord(cfg *schema.Config, u Usage, latencyMS int64) map[string]any {
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	m := map[string]any{
		"prompt_tokens":     u.PromptTokens,
		"completion_tokens": u.CompletionTokens,
		"total_tokens":      total,
		"cost":              Cost(cfg, u.PromptTokens, u.CompletionTokens),
	}
	if latencyMS >= 0 {
		tpt := 0.0
		if u.CompletionTokens > 0 {
			tpt = float64(latencyMS) / float64(u.CompletionTokens)
			// A buffered answer arrives in one piece: its first token
			// reached the gateway with the last one.
			m["time_to_first_token"] = latencyMS
		}
		m["time_per_token"] = tpt
	}
	if u.Estimated {
		m["estimated"] = true
	}
	return m
}

// errorRecord is ai.proxy.error (this plugin's key).
func errorRecord(e *Error, source string, redact *Redactor) map[string]any {
	m := map[string]any{
		"status":  e.Status,
		"type":    e.TypeName(),
		"source":  source,
		"message": redact.String(e.Message),
	}
	putString(m, "code", e.Code)
	return m
}

// AccessRecord is the ai.proxy value of a request the access phase settles:
// a request the plugin rejected (rejected set), or one whose response is
// passed through unbuffered (a stream, preserve), for which no later phase
// of a Go plugin can write anything. It is nil when the config logs nothing.
//
// For an unbuffered response only what access knows is written: the models,
// the mode, the prompt-token estimate (marked estimated) and the request
// payload. Missing are llm_latency, completion tokens, time_per_token,
// time_to_first_token, the response model from the answer and the response
// payload (see plugin/ANALYTICS.md).
func AccessRecord(cfg *schema.Config, in *ClientRequest, st *State, rejected *Error, redact *Redactor) map[string]any {
	if !Logged(cfg) {
		return nil
	}
	out := map[string]any{}
	if cfg.Logging.LogStatistics {
		mode, model := RequestModeOneshot, cfg.Model.Name
		var body []byte
		if in != nil {
			body = in.Body
			if hasTrue(body, "stream") {
				mode = RequestModeStream
			}
			if model == "" {
				model = requestedModel(body)
			}
		}
		if st != nil {
			model = st.Model
			mode = RequestMode(st.Stream)
		}
		m := meta(cfg, model, "", mode)
		if rejected != nil {
			out["error"] = errorRecord(rejected, SourcePlugin, redact)
		} else {
			prompt := st.PromptTokens
			if prompt == 0 && jsonObject(body) {
				prompt = EstimatePrompt(body, true)
			}
			out["usage"] = usageRecord(cfg, Usage{PromptTokens: prompt, TotalTokens: prompt, Estimated: true}, -1)
		}
		out["meta"] = m
	}
	if cfg.Logging.LogPayloads && in != nil {
		if p := RequestPayload(cfg, in, redact); p != "" {
			out["payload"] = map[string]any{"request": p}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ResponseRecord is the ai.proxy value of a buffered request, written in the
// response phase: out is the client response (nil when failure is set: the
// plugin answers failure instead), in the upstream response as read (nil if
// reading it failed), latencyMS the time from access to now. It is nil when
// the config logs nothing.
func ResponseRecord(cfg *schema.Config, st *State, in *UpstreamResponse, out *ClientResponse, failure *Error, latencyMS int64, redact *Redactor) map[string]any {
	if !Logged(cfg) {
		return nil
	}
	rec := map[string]any{}
	var clientBody []byte
	var clientHeaders map[string]string
	if out != nil {
		clientBody, clientHeaders = out.Body, out.Headers
	}
	if clientBody == nil && in != nil && failure == nil {
		clientBody = in.Body // sent by Kong as the upstream gave it
	}
	if failure != nil {
		clientBody = failure.Body()
		clientHeaders = jsonHeaders(nil) // whatever the upstream's type was
	}
	if cfg.Logging.LogStatistics {
		m := meta(cfg, st.Model, responseModel(clientBody, out, st), RequestMode(st.Stream))
		if latencyMS < 0 {
			latencyMS = 0
		}
		m["llm_latency"] = latencyMS
		if in != nil {
			m["upstream_status"] = in.Status
		}
		rec["meta"] = m
		var u Usage
		switch {
		case failure != nil:
			rec["error"] = errorRecord(failure, SourcePlugin, redact)
		case out != nil && out.Error != nil:
			rec["error"] = errorRecord(out.Error, SourceUpstream, redact)
		case out != nil:
			u = out.Usage
		}
		rec["usage"] = usageRecord(cfg, u, latencyMS)
	}
	if cfg.Logging.LogPayloads {
		p := map[string]any{}
		putString(p, "request", st.Payload)
		if in != nil || failure != nil {
			putString(p, "response", ResponsePayload(cfg, in, clientBody, clientHeaders, redact))
		}
		if len(p) > 0 {
			rec["payload"] = p
		}
	}
	if len(rec) == 0 {
		return nil
	}
	return rec
}

// responseModel is meta.response_model: the model named by the body the
// client got (what Kong reads), else the one the upstream reported, else
// the request's.
func responseModel(clientBody []byte, out *ClientResponse, st *State) string {
	if jsonObject(clientBody) {
		if m := gjson.GetBytes(clientBody, "model"); m.Type == gjson.String && m.Str != "" {
			return m.Str
		}
	}
	if out != nil && out.Usage.ResponseModel != "" {
		return out.Usage.ResponseModel
	}
	return st.Model
}

// requestedModel is the "model" a rejected request asked for, clipped: it
// names what the client wanted without letting it fill the log.
func requestedModel(body []byte) string {
	if !jsonObject(body) {
		return ""
	}
	m := gjson.GetBytes(body, "model")
	if m.Type != gjson.String {
		return ""
	}
	return clip(m.Str)
}

// RequestPayload is ai.proxy.payload.request: the client's body as sent
// (Kong logs the raw body, not the one sent upstream), with the configured
// auth param field replaced by REDACTED and every secret value removed (see
// Redactor), cut at PayloadLimit. A binary body (multipart forms, images,
// anything not text) is described, not logged: "<N bytes TYPE>". Empty
// bodies give "".
func RequestPayload(cfg *schema.Config, in *ClientRequest, redact *Redactor) string {
	if len(in.Body) == 0 {
		return ""
	}
	ct := firstHeader(in.Headers, "content-type")
	if !textual(ct, in.Body) {
		return describe(len(in.Body), ct)
	}
	body := in.Body
	if p := cfg.Auth.ParamName; p != "" && jsonObject(body) && gjson.ValidBytes(body) {
		// Whoever put it there (the client, with allow_override), the auth
		// param field is a credential.
		if present(body, escapeKey(p)) {
			if b, err := sjson.SetBytes(body, escapeKey(p), Redacted); err == nil {
				body = b
			}
		}
	}
	return capPayload(redact.String(string(body)))
}

// ResponsePayload is ai.proxy.payload.response: the body the client got
// (clientBody, with its content type in clientHeaders when the plugin built
// it), secrets removed, cut at PayloadLimit. Binary answers (video/mp4) are
// described: "<N bytes video/mp4>", N from Content-Length when the plugin
// left the body unread.
func ResponsePayload(cfg *schema.Config, in *UpstreamResponse, clientBody []byte, clientHeaders map[string]string, redact *Redactor) string {
	ct := clientHeaders["Content-Type"]
	if ct == "" && in != nil {
		ct = firstHeader(in.Headers, "content-type")
	}
	if clientBody == nil && in != nil {
		n := -1
		if v, err := strconv.Atoi(firstHeader(in.Headers, "content-length")); err == nil {
			n = v
		}
		if n <= 0 && ct == "" {
			return ""
		}
		return describe(n, ct)
	}
	if len(clientBody) == 0 {
		return ""
	}
	if !textual(ct, clientBody) {
		return describe(len(clientBody), ct)
	}
	return capPayload(redact.String(string(clientBody)))
}

// textual reports whether a body with this content type is logged as text:
// JSON, text/*, form-urlencoded, or no type at all (Kong treats such bodies
// as JSON) — and valid UTF-8, since a log record is JSON text.
func textual(ct string, body []byte) bool {
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return false
		}
		ok := mt == "application/json" || strings.HasSuffix(mt, "+json") || strings.HasPrefix(mt, "text/") ||
			mt == "application/x-ndjson" || mt == "application/x-www-form-urlencoded"
		if !ok {
			return false
		}
	}
	return utf8.Valid(body)
}

// describe names a body that is not logged.
func describe(n int, ct string) string {
	mt := "application/octet-stream"
	if ct != "" {
		if t, _, err := mime.ParseMediaType(ct); err == nil {
			mt = t
		}
	}
	if n < 0 {
		return "<" + mt + " body, size unknown>"
	}
	return "<" + strconv.Itoa(n) + " bytes " + mt + ">"
}

// capPayload cuts s at PayloadLimit bytes (on a UTF-8 boundary) and marks
// the cut with the full size.
func capPayload(s string) string {
	if len(s) <= PayloadLimit {
		return s
	}
	cut := PayloadLimit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + strings.Replace(truncatedMarker, "%d", strconv.Itoa(len(s)), 1)
}

// putString sets a key to a non-empty string, made valid UTF-8 (a proto
// string must be; Kong's bridge would fail the whole call otherwise).
func putString(m map[string]any, k, v string) {
	if v == "" {
		return
	}
	m[k] = strings.ToValidUTF8(v, "\uFFFD")
}

// TypeName is the OpenAI error type the client sees for e.
func (e *Error) TypeName() string {
	if e.Type != "" {
		return e.Type
	}
	return errorType(e.Status)
}

// IsClientError reports whether e is the client's doing (4xx): logged at
// warn, not err.
func (e *Error) IsClientError() bool {
	return e.Status >= http.StatusBadRequest && e.Status < http.StatusInternalServerError
}
