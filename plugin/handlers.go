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
// the handlers make as few as they can; handlers_test.go asserts these.
//
//	access (every request)
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
//	  buffered (non-streamed) request:
//	  + kong.ctx.shared.set                only when the state differs from what the config implies
//	                                       (model from the body, native /generate, statistics on, ...)
//	  streamed / preserve request:
//	  + kong.nginx.set_ctx                 buffered_proxying = false
//	  + kong.response.set_header           X-Kong-LLM-Model (model_name_header, model known)
//	  rejected request: the three reads, then kong.response.exit.
//
//	response (buffered requests only; Kong skips it for streams)
//	  kong.ctx.shared.get                  the state, or nil → implied by the config
//	  kong.service.response.get_status
//	  + kong.response.get_headers          only when the capability reads token headers (statistics on)
//	  kong.service.response.get_raw_body  unless the capability does not need it
//	                                       (video bytes: translate.ResponseBodyReader)
//	  then one of: kong.response.exit      body changed (model rewritten, legacy shape, error normalised)
//	               kong.response.set_header X-Kong-LLM-Model on an unchanged 2xx body (model_name_header)
//	               nothing                 unchanged body, no header to add
//
// Per request type (model.name configured, auth header, no client
// credential to clear; handlers_test.go asserts each row):
//
//	                                          access   response   total
//	chat, body already names the model           7        4         11
//	chat, model / options filled in (usual)      8        4         12
//	chat or completions streamed                 9        -          9   (+1 set_raw_body if the body changes)
//	completions on the router (translated)       8        4         12
//	native /generate (mode carried)              8        4         12
//	native /generate_stream                      9        -          9
//	preserve (always unbuffered)                 9        -          9
//	rejected (bad JSON, other model, ...)        4        -          4
//	body over max_request_body_size (spooled)    2        -          2
//	misconfigured instance                       1        -          1
//
// (response: 4 = state get, status, body, and either set_header or exit.)
// logging.log_statistics adds the state in access (one call) and, for
// text-generation responses, the header read.

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
	if i.cfgErr != nil {
		exitConfigError(kong, i.cfgErr)
		return
	}
	in, err := i.readRequest(kong)
	if err != nil {
		exitError(kong, err)
		return
	}
	up, err := i.capability.Request(i.cfg, in)
	if err != nil {
		exitError(kong, err)
		return
	}
	if err := i.applyUpstream(kong, up); err != nil {
		exitError(kong, err)
	}
}

// readRequest makes the three reads every request needs.
func (i *Instance) readRequest(kong *pdk.PDK) (*translate.ClientRequest, error) {
	body, err := i.readBody(kong)
	if err != nil {
		return nil, err
	}
	headers, err := kong.Request.GetHeaders(maxHeaders)
	if err != nil {
		// Kong's values reach Go as proto strings: a header that is not
		// valid UTF-8 fails here, and that is the client's doing.
		return nil, &translate.Error{Status: http.StatusBadRequest, Message: "the request headers could not be read (is a header value not valid UTF-8?)", Err: err}
	}
	pathQuery, err := kong.Request.GetPathWithQuery()
	if err != nil {
		return nil, &translate.Error{Status: http.StatusBadRequest, Message: "the request path could not be read (is it not valid UTF-8?)", Err: err}
	}
	path, query, _ := strings.Cut(pathQuery, "?")
	return &translate.ClientRequest{Path: path, Query: query, Headers: headers, Body: body}, nil
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
func (i *Instance) applyUpstream(kong *pdk.PDK, up *translate.UpstreamRequest) error {
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
	if up.Stream {
		return i.streamResponse(kong, up)
	}
	return i.carryState(kong, up.State)
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
func (i *Instance) carryState(kong *pdk.PDK, st translate.State) error {
	if st == translate.ImpliedState(i.cfg) && !i.cfg.Logging.LogStatistics {
		return nil
	}
	if i.cfg.Logging.LogStatistics {
		st.StartedAt = time.Now().UnixMilli()
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
		exitError(kong, err)
		return
	}
	in, err := i.readResponse(kong, st)
	if err != nil {
		exitError(kong, err)
		return
	}
	out, err := i.capability.Response(i.cfg, st, in)
	if err != nil {
		e := translate.AsError(err)
		logError(kong, e)
		exitError(kong, e)
		return
	}
	if out.Error != nil {
		_ = kong.Log.Warn(fmt.Sprintf("ai-proxy-hf: upstream answered %d for model %s: %s", out.Status, st.Model, out.Error.Message))
	}
	i.sendResponse(kong, st, in, out)
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
	if in.Body, err = kong.ServiceResponse.GetRawBody(); err != nil {
		return nil, internalError("could not read the upstream body", err)
	}
	return in, nil
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
			logError(kong, internalError("could not set the response status", err))
		}
	}
	if wantModel {
		if err := kong.Response.SetHeader(modelHeader, "huggingface/"+st.Model); err != nil {
			logError(kong, internalError("could not set the "+modelHeader+" header", err))
		}
	}
}

// internalError is a 500 the client sees without internals; err is logged.
func internalError(msg string, err error) *translate.Error {
	return &translate.Error{Status: http.StatusInternalServerError, Message: "ai-proxy-hf: " + msg, Type: "server_error", Err: err}
}

// exitError answers the client with an error in the OpenAI shape.
func exitError(kong *pdk.PDK, err error) {
	e := translate.AsError(err)
	if e.Status >= 500 {
		logError(kong, e)
	}
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

// logError writes an error line an operator can grep for. The message and
// cause never hold config secrets: they name fields, not values.
func logError(kong *pdk.PDK, e *translate.Error) {
	_ = kong.Log.Err("ai-proxy-hf: " + e.Error())
}

// recoverPanic turns a panic in a handler into a 500 in the OpenAI shape.
// go-pdk has no recover: without this a panic kills the plugin server and
// every request in flight with it.
func recoverPanic(kong *pdk.PDK, phase string) {
	r := recover()
	if r == nil {
		return
	}
	_ = kong.Log.Err(fmt.Sprintf("ai-proxy-hf: panic in %s: %v", phase, r))
	e := &translate.Error{Status: http.StatusInternalServerError, Message: "internal error in the ai-proxy-hf plugin (" + phase + ")", Type: "server_error"}
	kong.Response.Exit(e.Status, e.Body(), map[string][]string{"Content-Type": {"application/json"}})
}
