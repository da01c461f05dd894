package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
)

// PDK calls per request. Each is a round trip on Kong's plugin socket, so
// the handlers make as few as they can; handlers_test.go, relaypath_test.go,
// analytics_test.go and, through the stand-in, e2e/callbudget_test.go,
// e2e/textgen_pdk_test.go and e2e/analytics_budget_test.go assert these.
//
// Two data paths (plugin/relaypath.go, plugin/relay):
//
//	relay (every request with logging off; every stream): access points Kong
//	at the plugin server's loopback relay with a single-use ticket; the relay
//	reads the body Kong forwards, validates and translates it (the same
//	Capability.Request), calls Hugging Face with the real credential and
//	answers (Capability.Response, or the stream translated event by event).
//	No response phase: buffering is off.
//	  kong.request.get_headers             credentials to clear (they would stay in Kong's record)
//	  kong.request.get_path_with_query     path (native, preserve), query (credentials, query auth)
//	  kong.service.set_target              127.0.0.1, the relay's port
//	  kong.service.request.set_scheme      http
//	  kong.service.request.set_path        /ai-proxy-hf/relay/<ticket>
//	  kong.nginx.set_ctx                   buffered_proxying = false
//	  + kong.service.request.clear_header  one per client credential header present (apikey, cookie, ...)
//	  translated in access first (the three reads of the PDK path, then the four
//	  relay calls): a stream with logging on (+ its record), and with logging off
//	  a request whose Kong record needs a credential edited (query credentials,
//	  the client's own value of a configured header other than Authorization)
//
//	PDK (buffered requests with logging on; every request without a relay,
//	-no-relay): access translates, Kong calls Hugging Face, the response
//	phase translates the buffered answer and writes the record.
//	access
//	  kong.request.get_raw_body            body (a spooled body is read from its file, size checked first)
//	  kong.request.get_headers             content, credentials, allow_override: one call for all headers
//	  kong.request.get_path_with_query     query (credential params, query auth), path (native, preserve)
//	  kong.service.set_target              upstream host and port (also sets Host and SNI)
//	  kong.service.request.set_scheme
//	  kong.service.request.set_path
//	  kong.service.request.set_headers     auth, content-type, accept-encoding, x-use-cache, ...: one call
//	  + kong.service.request.clear_header  one per client credential header present (apikey, authorization, ...)
//	  + kong.service.request.set_raw_query only when the query changes (credential dropped, query auth)
//	  + kong.service.request.set_raw_body  only when the body changes (model set, options filled, auth param)
//	  + kong.ctx.shared.set                only when the state differs from what the config implies
//	                                       (model from the body, native /generate, statistics on, ...)
//	  without a relay, a streamed / preserve request instead:
//	  + kong.nginx.set_ctx                 buffered_proxying = false
//	  + kong.response.set_header           X-Kong-LLM-Model (model_name_header, model known)
//	  + kong.log.set_serialize_value       "ai.proxy", only with logging on (the response phase will not run)
//	  rejected request: the three reads, then kong.response.exit.
//	  + kong.log.set_serialize_value       "ai.proxy", only with logging on; then kong.log.warn
//	                                       "[ai-proxy-hf] rejected request: ..." with log_statistics on
//	                                       (a 5xx is logged at err whatever the settings)
//	  credentials in Kong's own record (translate.LogEdits; none for the rows below):
//	  + kong.log.set_serialize_value       per field: request.headers.<auth header> when it is not
//	                                       Authorization (+1); query auth: request.querystring.<param>
//	                                       and upstream_uri (+2); a rejected request's credential headers
//	  + kong.request.get_scheme/host/port  and request.uri, request.url (+5) when the client sent a
//	                                       credential in the query; rejected, also its
//	                                       request.querystring.<param> and (kong.nginx.get_var) upstream_uri
//	response (buffered, PDK path only)
//	  kong.ctx.shared.get                  the state, or nil → implied by the config
//	  kong.service.response.get_status
//	  + kong.response.get_headers          only when the capability reads token headers (statistics on)
//	  + kong.nginx.get_ctx                 only on a 5xx: buffered_proxying; nil when Kong answered
//	                                       itself (upstream refused, reset, timed out) → 502/504 exit
//	                                       in the OpenAI shape instead of the body read
//	  kong.service.response.get_raw_body  unless the capability does not need it
//	                                       (video bytes: translate.ResponseBodyReader)
//	  + kong.log.set_serialize_value       "ai.proxy", only with logging on: the whole record, one call
//	  + kong.log.warn / kong.log.err        an upstream error / an error the plugin found
//	  then one of: kong.response.exit      body changed (model rewritten, legacy shape, error normalised)
//	               kong.response.set_header X-Kong-LLM-Model on an unchanged 2xx body (model_name_header)
//	               nothing                 unchanged body, no header to add
//
// Per request type (model.name configured, auth header, no client
// credential to clear), access + response:
//
//	                                          logging off (relay)   log_statistics on   without a relay
//	chat, body already names the model           6 + -    = 6        8 + 5 = 13          7 + 4 = 11
//	chat, model / options filled in (usual)      6 + -    = 6        9 + 5 = 14          8 + 4 = 12
//	chat or completions streamed                 6 + -    = 6        8 + - =  8          9 (+1 set_raw_body if the body changes)
//	completions on the router (translated)       6 + -    = 6        9 + 6 = 15          8 + 4 = 12
//	completions streamed on the router           6 + -    = 6        8 + - =  8          refused (400): needs the relay
//	native /generate (mode carried)              6 + -    = 6        8 + 6 = 14          8 + 4 = 12
//	native /generate_stream, preserve            6 + -    = 6        8 + - =  8          9
//	embeddings (state always carried)            6 + -    = 6        9 + 6 = 15          9 + 5 = 14
//	video, JSON job                              6 + -    = 6        9 + 6 = 15          9 + 5 = 14
//	video, video/mp4 bytes (body left unread)    6 + -    = 6        9 + 5 = 14          9 + 4 = 13
//	rejected (bad JSON, other model, ...)        6 (the relay rejects) 6                 4
//	body over max_request_body_size              6 (the relay, 413)  4 (spooled)         2 (spooled)
//	misconfigured instance                       2                   2                   2   (kong.log.err, exit; no record)
//
// (PDK response: 4 = state get, status, body, and either set_header or
// exit.) log_statistics adds, per request: the state in access (when not
// already carried), the record (kong.log.set_serialize_value: in the
// response phase, or in access for a stream or a rejection), the
// token-header read of completions-on-the-router and native responses, and
// for a rejection its warn line. log_payloads alone adds the same minus the
// header read and the warn line.

// stateKey is the kong.ctx.shared key carrying translate.State to the
// response phase, as a JSON string.
const stateKey = "ai_proxy_hf_state"

// modelHeader is Kong's response header naming the model.
const modelHeader = "X-Kong-LLM-Model"

// maxHeaders is the most headers Kong returns in one call (its limit); the
// default 100 could hide a credential header from the clearing.
const maxHeaders = 1000

// Access validates and translates the client request and points Kong at the
// upstream. A request it rejects is answered here and never forwarded.
func (i *Instance) Access(kong *pdk.PDK) {
	defer recoverPanic(kong, "access")
	start := time.Now()
	if i.cfgErr != nil {
		exitConfigError(kong, i.cfgErr)
		return
	}
	r := activeRelay
	var in *translate.ClientRequest
	if r != nil && !translate.Logged(i.cfg) {
		var done bool
		if in, done = i.accessMinimal(kong, r, start); done {
			return
		}
		// Headers and path are read; this request needs its record
		// edited, so access translates it.
		body, err := i.readBody(kong)
		if err != nil {
			i.reject(kong, in, err)
			return
		}
		in.Body = body
	} else {
		var err error
		if in, err = i.readRequest(kong); err != nil {
			i.reject(kong, in, err)
			return
		}
	}
	// With the relay, every stream goes through it, translated if need be.
	in.StreamRelay = r != nil
	up, err := i.capability.Request(i.cfg, in)
	if err != nil {
		i.reject(kong, in, err)
		return
	}
	if r != nil && (up.Stream || !translate.Logged(i.cfg)) {
		err = i.accessRelayed(kong, r, in, up, start)
	} else {
		err = i.applyUpstream(kong, in, up, start)
	}
	if err != nil {
		i.reject(kong, in, err)
	}
}

// readRequest makes the three reads every request needs. On an error the
// request holds what was read before it (for the log record).
func (i *Instance) readRequest(kong *pdk.PDK) (*translate.ClientRequest, error) {
	in := &translate.ClientRequest{}
	body, err := i.readBody(kong)
	if err != nil {
		return in, err
	}
	in.Body = body
	return in, readHeadersAndPath(kong, in)
}

// readHeadersAndPath reads the client's headers (one call for all) and
// path with query into in.
func readHeadersAndPath(kong *pdk.PDK, in *translate.ClientRequest) error {
	var err error
	if in.Headers, err = kong.Request.GetHeaders(maxHeaders); err != nil {
		// Kong's values reach Go as proto strings: a header that is not
		// valid UTF-8 fails here, and that is the client's doing.
		return &translate.Error{Status: http.StatusBadRequest, Message: "the request headers could not be read (is a header value not valid UTF-8?)", Err: err}
	}
	pathQuery, err := kong.Request.GetPathWithQuery()
	if err != nil {
		return &translate.Error{Status: http.StatusBadRequest, Message: "the request path could not be read (is it not valid UTF-8?)", Err: err}
	}
	in.Path, in.Query, _ = strings.Cut(pathQuery, "?")
	return nil
}

// readBody reads the client body. go-pdk's GetRawBody would read a body
// that Kong spooled to a temp file whatever its size; here the file's size
// is checked against max_request_body_size first.
func (i *Instance) readBody(kong *pdk.PDK) ([]byte, error) {
	out := new(kong_plugin_protocol.RawBodyResult)
	if err := kong.Request.Ask("kong.request.get_raw_body", nil, out); err != nil {
		return nil, internalError("could not read the request body from Kong", err)
	}
	switch k := out.Kind.(type) {
	case *kong_plugin_protocol.RawBodyResult_BodyFilepath:
		fi, err := os.Stat(k.BodyFilepath)
		if err != nil {
			return nil, internalError("could not read the request body Kong spooled to a file", err)
		}
		if err := translate.CheckBodySize(i.cfg, fi.Size()); err != nil {
			return nil, err
		}
		body, err := os.ReadFile(k.BodyFilepath)
		if err != nil {
			return nil, internalError("could not read the request body Kong spooled to a file", err)
		}
		return body, nil
	case *kong_plugin_protocol.RawBodyResult_Error:
		return nil, internalError("Kong could not read the request body", errors.New(k.Error))
	default:
		body := out.GetContent()
		if err := translate.CheckBodySize(i.cfg, int64(len(body))); err != nil {
			return nil, err
		}
		return body, nil
	}
}

// applyUpstream makes the service-request calls for an upstream request.
func (i *Instance) applyUpstream(kong *pdk.PDK, in *translate.ClientRequest, up *translate.UpstreamRequest, start time.Time) error {
	if err := kong.Service.SetTarget(up.Host, up.Port); err != nil {
		return internalError("could not set the upstream target", err)
	}
	if err := kong.ServiceRequest.SetScheme(up.Scheme); err != nil {
		return internalError("could not set the upstream scheme", err)
	}
	if err := kong.ServiceRequest.SetPath(up.Path); err != nil {
		return internalError("could not set the upstream path", err)
	}
	if len(up.SetHeaders) > 0 {
		h := make(map[string][]string, len(up.SetHeaders))
		for k, v := range up.SetHeaders {
			h[k] = []string{v}
		}
		if err := kong.ServiceRequest.SetHeaders(h); err != nil {
			return internalError("could not set the upstream headers", err)
		}
	}
	for _, name := range up.ClearHeaders {
		if err := kong.ServiceRequest.ClearHeader(name); err != nil {
			return internalError("could not clear a client credential header", err)
		}
	}
	if up.Query != nil {
		if err := kong.ServiceRequest.SetRawQuery(*up.Query); err != nil {
			return internalError("could not set the upstream query", err)
		}
	}
	if up.Body != nil {
		// Not go-pdk's SetRawBody(string): it sends a proto string, and a
		// body that is not valid UTF-8 would fail to marshal after the
		// method frame went out, desynchronising the socket.
		if err := kong.ServiceRequest.Ask("kong.service.request.set_raw_body", &kong_plugin_protocol.ByteString{V: up.Body}, nil); err != nil {
			return internalError("could not set the upstream body", err)
		}
	}
	if err := i.redactKongRecord(kong, in, up); err != nil {
		return err
	}
	if up.Stream {
		if err := i.streamResponse(kong, up); err != nil {
			return err
		}
		// No later phase of this plugin sees a streamed response: what
		// access knows is all the record will hold.
		if !translate.Logged(i.cfg) {
			return nil
		}
		rec := translate.AccessRecord(i.cfg, in, &up.State, nil, i.redact.WithRequest(i.cfg, in))
		return i.writeRecord(kong, rec)
	}
	return i.carryState(kong, in, up.State, start)
}

// streamResponse switches Kong's buffering off for this request, so events
// reach the client as they arrive (Kong then skips the response phase), and
// sets the model header now, since no later phase of this plugin sees the
// response.
func (i *Instance) streamResponse(kong *pdk.PDK, up *translate.UpstreamRequest) error {
	// false, not nil: a Go nil reaches Lua as the truthy string
	// "NULL_VALUE", and buffering would stay on.
	if err := kong.Nginx.SetCtx("buffered_proxying", false); err != nil {
		return internalError("could not switch Kong's response buffering off", err)
	}
	if i.cfg.ModelNameHeader && up.State.Model != "" {
		if err := kong.Response.SetHeader(modelHeader, "huggingface/"+up.State.Model); err != nil {
			return internalError("could not set the "+modelHeader+" header", err)
		}
	}
	return nil
}

// carryState stores the state for the response phase, unless the response
// phase can rebuild it from the config (one PDK call saved per request).
// With logging on it always travels: it carries the start time and the
// request payload to the response phase, which writes the whole record.
func (i *Instance) carryState(kong *pdk.PDK, in *translate.ClientRequest, st translate.State, start time.Time) error {
	if st == translate.ImpliedState(i.cfg) && !translate.Logged(i.cfg) {
		return nil
	}
	if i.cfg.Logging.LogStatistics {
		st.StartedAt = start.UnixMilli()
	}
	if i.cfg.Logging.LogPayloads {
		st.Payload = translate.RequestPayload(i.cfg, in, i.redact.WithRequest(i.cfg, in))
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return internalError("could not encode the request state", err)
	}
	if err := kong.Ctx.SetShared(stateKey, string(raw)); err != nil {
		return internalError("could not store the request state", err)
	}
	return nil
}

// Response translates the buffered upstream response. Kong runs it only
// for buffered requests; streams never get here.
func (i *Instance) Response(kong *pdk.PDK) {
	defer recoverPanic(kong, "response")
	if i.cfgErr != nil {
		exitConfigError(kong, i.cfgErr)
		return
	}
	st, err := i.loadState(kong)
	if err != nil {
		implied := translate.ImpliedState(i.cfg)
		i.fail(kong, &implied, nil, err)
		return
	}
	in, err := i.readResponse(kong, st)
	if err != nil {
		i.fail(kong, st, nil, err)
		return
	}
	out, err := i.capability.Response(i.cfg, st, in)
	if err != nil {
		i.fail(kong, st, in, err)
		return
	}
	// Written before the answer: kong.response.exit never returns.
	rec := translate.ResponseRecord(i.cfg, st, in, out, nil, latency(st), i.redact)
	if err := i.writeRecord(kong, rec); err != nil {
		logError(kong, i.redact, translate.AsError(err))
	}
	if out.Error != nil {
		logWarn(kong, i.redact, fmt.Sprintf("upstream answered %d for model %s: %s: %s", out.Status, st.Model, out.Error.TypeName(), out.Error.Message))
	}
	i.sendResponse(kong, st, in, out)
}

// fail answers a buffered request with an error the plugin found (the
// upstream's answer unusable, or a PDK call failing): record and log line
// first, since kong.response.exit never returns.
func (i *Instance) fail(kong *pdk.PDK, st *translate.State, in *translate.UpstreamResponse, err error) {
	e := translate.AsError(err)
	rec := translate.ResponseRecord(i.cfg, st, in, nil, e, latency(st), i.redact)
	if werr := i.writeRecord(kong, rec); werr != nil {
		logError(kong, i.redact, translate.AsError(werr))
	}
	logError(kong, i.redact, e)
	exitWith(kong, e)
}

// latency is meta.llm_latency: milliseconds from the start of access to now.
func latency(st *translate.State) int64 {
	if st.StartedAt == 0 {
		return 0
	}
	return time.Now().UnixMilli() - st.StartedAt
}

// loadState reads the state carried from access, or the one the config
// implies when access carried none.
func (i *Instance) loadState(kong *pdk.PDK) (*translate.State, error) {
	v, err := kong.Ctx.GetSharedAny(stateKey)
	if err != nil {
		return nil, internalError("could not read the request state", err)
	}
	st := translate.ImpliedState(i.cfg)
	if s, ok := v.(string); ok && s != "" {
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			return nil, internalError("could not decode the request state", err)
		}
	}
	if st.StartedAt == 0 {
		st.StartedAt = time.Now().UnixMilli()
	}
	return &st, nil
}

// readResponse reads the buffered upstream response. The headers come from
// kong.response.get_headers: kong.service.response.get_headers is empty in
// Kong's buffered response phase. The body is not read when the capability
// says it does not need it (translate.ResponseBodyReader: video bytes), so
// that a 50 MB answer never crosses the plugin socket; Kong then sends it
// as it came.
func (i *Instance) readResponse(kong *pdk.PDK, st *translate.State) (*translate.UpstreamResponse, error) {
	status, err := kong.ServiceResponse.GetStatus()
	if err != nil {
		return nil, internalError("could not read the upstream status", err)
	}
	in := &translate.UpstreamResponse{Status: status}
	if st.Headers {
		if in.Headers, err = kong.Response.GetHeaders(maxHeaders); err != nil {
			return nil, internalError("could not read the upstream headers", err)
		}
	}
	if r, ok := i.capability.(translate.ResponseBodyReader); ok && !r.ReadsResponseBody(status, in.Headers) {
		return in, nil
	}
	if status >= 500 || status == 0 {
		if err := kongAnswered(kong, status); err != nil {
			return nil, err
		}
	}
	if in.Body, err = kong.ServiceResponse.GetRawBody(); err != nil {
		return nil, internalError("could not read the upstream body", err)
	}
	return in, nil
}

// kongAnswered turns a 5xx that Kong made itself into the client's error.
// When the upstream refused the connection, reset it or passed the
// service's timeouts, Kong's error handler answered inside the buffered
// subrequest and set buffered_proxying to nil (kong/error_handlers.lua);
// the response phase still runs, but there is no service body, and
// kong.service.response.get_raw_body would raise a Lua error that fails the
// whole event into Kong's bare 500. Asked only on a 5xx, so an upstream's
// answer costs no extra call.
func kongAnswered(kong *pdk.PDK, status int) error {
	v, err := kong.Nginx.GetCtxAny("buffered_proxying")
	if err != nil {
		return internalError("could not read Kong's buffering state", err)
	}
	if b, _ := v.(bool); b {
		return nil
	}
	if status == http.StatusGatewayTimeout {
		return &translate.Error{Status: status, Type: "server_error", Code: "upstream_timeout",
			Message: "the upstream did not answer within the service's timeouts (Kong answered 504)"}
	}
	if status == 0 {
		status = http.StatusBadGateway
	}
	return &translate.Error{Status: status, Type: "server_error", Code: "upstream_unreachable",
		Message: fmt.Sprintf("the upstream could not be reached or closed the connection without an answer (Kong answered %d)", status)}
}

// sendResponse answers the client: exit when the body changes, else only
// the headers that change (Kong sends the upstream body itself).
func (i *Instance) sendResponse(kong *pdk.PDK, st *translate.State, in *translate.UpstreamResponse, out *translate.ClientResponse) {
	success := out.Status >= 200 && out.Status <= 299
	wantModel := success && i.cfg.ModelNameHeader && st.Model != ""
	if out.Body != nil {
		h := make(map[string][]string, len(out.Headers)+1)
		for k, v := range out.Headers {
			h[k] = []string{v}
		}
		if wantModel {
			h[modelHeader] = []string{"huggingface/" + st.Model}
		}
		kong.Response.Exit(out.Status, out.Body, h)
		return
	}
	if out.Status != in.Status {
		if err := kong.Response.SetStatus(out.Status); err != nil {
			logError(kong, i.redact, internalError("could not set the response status", err))
		}
	}
	if wantModel {
		if err := kong.Response.SetHeader(modelHeader, "huggingface/"+st.Model); err != nil {
			logError(kong, i.redact, internalError("could not set the "+modelHeader+" header", err))
		}
	}
}

// internalError is a 500 the client sees without internals; err is logged.
func internalError(msg string, err error) *translate.Error {
	return &translate.Error{Status: http.StatusInternalServerError, Message: "ai-proxy-hf: " + msg, Type: "server_error", Err: err}
}

// reject answers a request the access phase refused (or failed to
// forward): the record and the log line first, since kong.response.exit
// never returns. A client error (4xx) is logged at warn only with
// log_statistics on, so that statistics off keeps the call budget; a 5xx
// is always logged at err.
func (i *Instance) reject(kong *pdk.PDK, in *translate.ClientRequest, err error) {
	e := translate.AsError(err)
	// The client's own credentials, left on a request the plugin did not
	// forward, stay off the record whatever the logging settings.
	_ = i.redactKongRecord(kong, in, nil)
	redact := i.redact
	if translate.Logged(i.cfg) || !e.IsClientError() {
		redact = i.redact.WithRequest(i.cfg, in)
	}
	if werr := i.writeRecord(kong, translate.AccessRecord(i.cfg, in, nil, e, redact)); werr != nil {
		logError(kong, redact, translate.AsError(werr))
	}
	switch {
	case !e.IsClientError():
		logError(kong, redact, e)
	case i.cfg.Logging.LogStatistics:
		logWarn(kong, redact, "rejected request: "+e.Error())
	}
	exitWith(kong, e)
}

// exitError answers the client with an error in the OpenAI shape, logging
// a 5xx. It is for failures before any config is usable: no record.
func exitError(kong *pdk.PDK, err error) {
	e := translate.AsError(err)
	if e.Status >= 500 {
		logError(kong, nil, e)
	}
	exitWith(kong, e)
}

// exitWith answers the client with e in the OpenAI shape.
func exitWith(kong *pdk.PDK, e *translate.Error) {
	h := map[string][]string{"Content-Type": {"application/json"}}
	for k, v := range e.Headers {
		h[k] = []string{v}
	}
	kong.Response.Exit(e.Status, e.Body(), h)
}

// exitConfigError answers every request of a misconfigured instance with a
// 500 naming the config problem (field names, never secret values).
func exitConfigError(kong *pdk.PDK, err error) {
	exitError(kong, &translate.Error{
		Status:  http.StatusInternalServerError,
		Message: "ai-proxy-hf is misconfigured: " + err.Error(),
		Type:    "server_error",
		Code:    "invalid_plugin_config",
	})
}

// recoverPanic turns a panic in a handler into a 500 in the OpenAI shape.
// go-pdk has no recover: without this a panic kills the plugin server and
// every request in flight with it.
func recoverPanic(kong *pdk.PDK, phase string) {
	r := recover()
	if r == nil {
		return
	}
	_ = kong.Log.Err(fmt.Sprintf("%spanic in %s: %v", logPrefix, phase, r))
	e := &translate.Error{Status: http.StatusInternalServerError, Message: "internal error in the ai-proxy-hf plugin (" + phase + ")", Type: "server_error"}
	kong.Response.Exit(e.Status, e.Body(), map[string][]string{"Content-Type": {"application/json"}})
}
