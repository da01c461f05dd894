package pdk

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Body is the client request body as nginx holds it after read_body: in
// memory when it fits client_body_buffer_size, else in a temp file.
type Body struct {
	Data []byte // in memory (nil when in a file)
	File string // client_body_temp file, when the body did not fit
	Size int64
}

// BodyReader reads the client body on first use (ngx.req.read_body).
type BodyReader func() (*Body, error)

// Balancer is ctx.balancer_data: the target of the upstream call.
type Balancer struct {
	Scheme         string
	Host           string
	Port           int
	Retries        int
	ConnectTimeout int // ms
	SendTimeout    int // ms
	ReadTimeout    int // ms
	PreserveHost   bool
	Tries          []map[string]any
}

// State is one request as Kong's PDK sees it: the nginx request (variables,
// headers_in, headers_out, status, body), ngx.ctx and kong.ctx.shared.
// Every field is guarded by the state's lock (Acquire/Release); the PDK
// dispatcher and the proxy take it.
type State struct {
	lock *sync.Mutex

	// nginx variables fixed by the connection and request line.
	Conn        uint64
	RemoteAddr  string
	RemotePort  int
	ServerAddr  string
	ServerPort  int
	Scheme      string  // $scheme
	HTTPVersion float64 // ngx.req.http_version()
	RequestLine string  // $request
	RequestURI  string  // $request_uri, raw as received
	RequestID   string  // $kong_request_id
	StartTime   time.Time

	// The mutable client request: ngx.req.set_method/set_uri_args/
	// set_header/set_body_data change it, and kong.request.* read it.
	Method    string
	Args      string // $args, no leading '?'
	ReqHeader *Header
	body      *Body
	bodyRead  bool
	readBody  BodyReader

	// Upstream variables and balancer data.
	UpstreamScheme string
	UpstreamURI    string
	UpstreamHost   string
	Balancer       *Balancer // nil until the router ran (access.before)
	// UpstreamStatus ($upstream_status) and UpstreamRespHeader
	// ($upstream_http_*) are set once the upstream answered.
	UpstreamStatus     int
	UpstreamRespHeader *Header

	// The downstream response (ngx.status, ngx.header) and what Kong has
	// printed itself (exit, error pages).
	Status      int
	RespHeader  *Header
	HeadersSent bool
	// Answered is set once Kong produced the response itself
	// (kong.response.exit/error outside a delayed access): OutBody is it.
	Answered bool
	OutBody  []byte

	// Ctx is ngx.ctx: Kong's own keys (KONG_PHASE, buffered_proxying,
	// route, ...) and whatever plugins set with kong.nginx.set_ctx.
	Ctx map[string]any
	// Shared is kong.ctx.shared.
	Shared map[string]any

	// Delayed is ctx.delayed_response, recorded by exit/error in access.
	Delayed *DelayedResponse

	// Saved is the log timer's saved data; set only on the timer's copy.
	Saved *Saved

	// Calls counts PDK calls of this request: "phase method" → n.
	Calls map[string]int
}

// DelayedResponse is ctx.delayed_response.
type DelayedResponse struct {
	Status   int
	Body     []byte
	Message  string // for kong.response.error (no callback): the message
	Headers  map[string]any
	Callback bool // delayed_response_callback = flush (set by exit and error)
	Content  bool // body given (exit), as opposed to a message (error)
}

// Saved is what plugin.lua keeps for the log timer.
type Saved struct {
	PluginName      string
	SerializeJSON   []byte
	RequestHeaders  map[string]any
	ResponseHeaders map[string]any
	ResponseStatus  int
	ReqStartTime    float64
}

// NewState returns a request state with empty tables.
func NewState(readBody BodyReader) *State {
	return &State{
		lock:       &sync.Mutex{},
		ReqHeader:  &Header{},
		RespHeader: &Header{},
		Ctx:        map[string]any{},
		Shared:     map[string]any{},
		Calls:      map[string]int{},
		readBody:   readBody,
		Status:     200,
	}
}

// Acquire takes the state's lock.
func (s *State) Acquire() { s.lock.Lock() }

// Release releases the state's lock.
func (s *State) Release() { s.lock.Unlock() }

// TimerCopy is the state a log timer runs on (plugin.lua build_phases):
// a shallow clone of ngx.ctx, the same kong.ctx.shared table (and so the
// same lock), and the saved request data. Call it with the lock held.
func (s *State) TimerCopy(saved *Saved) *State {
	cp := *s
	cp.Ctx = make(map[string]any, len(s.Ctx))
	for k, v := range s.Ctx {
		cp.Ctx[k] = v
	}
	cp.Saved = saved
	cp.Calls = s.Calls
	return &cp
}

// ReadBody is ngx.req.read_body: it reads the body once.
func (s *State) ReadBody() (*Body, error) {
	if s.bodyRead {
		return s.body, nil
	}
	s.bodyRead = true
	if s.readBody == nil {
		s.body = &Body{}
		return s.body, nil
	}
	b, err := s.readBody()
	if err != nil {
		return nil, err
	}
	s.body = b
	return b, nil
}

// SetBody is ngx.req.set_body_data: the body moves to memory and the
// Content-Length request header follows it.
func (s *State) SetBody(data []byte) {
	if s.body != nil && s.body.File != "" {
		_ = os.Remove(s.body.File)
	}
	s.bodyRead = true
	s.body = &Body{Data: data, Size: int64(len(data))}
	s.ReqHeader.Set("Content-Length", strconv.Itoa(len(data)))
	s.ReqHeader.Del("Transfer-Encoding")
}

// Body returns the body if it was read (nil otherwise).
func (s *State) Body() *Body { return s.body }

// CleanupBody removes the temp file, as nginx does when the request ends.
func (s *State) CleanupBody() {
	if s.body != nil && s.body.File != "" {
		_ = os.Remove(s.body.File)
	}
}

// Host is $host: the Host header without port, lower-cased, or the server
// address when there is none.
func (s *State) Host() string {
	h, ok := s.ReqHeader.Get("Host")
	if !ok || h == "" {
		return s.ServerAddr
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}

// Phase is ngx.ctx.KONG_PHASE.
func (s *State) Phase() Phase {
	f, _ := s.Ctx["KONG_PHASE"].(float64)
	return Phase(f)
}

// SetPhase sets ngx.ctx.KONG_PHASE.
func (s *State) SetPhase(p Phase) { s.Ctx["KONG_PHASE"] = float64(p) }

// Buffered reports ctx.buffered_proxying (Lua truthiness).
func (s *State) Buffered() bool { return truthy(s.Ctx["buffered_proxying"]) }

// Flag reads a boolean ngx.ctx key.
func (s *State) Flag(k string) bool { return truthy(s.Ctx[k]) }

// CountCall records one PDK call of this request.
func (s *State) CountCall(phase, method string) {
	s.Calls[phase+" "+method]++
}

// SetHeaderNormalized is ngx.header[name] = normalize_multi_header(value)
// for a validated Lua header value (string, number, boolean or list of
// strings); "" becomes " " as nginx cannot send an empty header.
func setRespHeader(h *Header, name string, value any) {
	name = strings.ReplaceAll(name, "_", "-") // ngx.header converts '_'
	switch t := value.(type) {
	case nil:
		h.Del(name)
	case []any:
		h.Set(name, headerList(t)...)
	default:
		h.Set(name, nonEmpty(luaToString(t)))
	}
}

// headerList is a Lua array of header values as nginx gets it: the
// values up to the first nil (ipairs), each as a string through nonEmpty.
func headerList(values []any) []string {
	out := make([]string, 0, len(values))
	for _, e := range values {
		if e == nil {
			break
		}
		out = append(out, nonEmpty(luaToString(e)))
	}
	return out
}

func nonEmpty(s string) string {
	if s == "" {
		return " "
	}
	return s
}

// Send is response.lua send(): Kong produces the response itself.
func (s *State) Send(status int, body []byte, headers map[string]any, warn func(string)) {
	s.Status = status
	hasLen := false
	for _, name := range sortedKeys(headers) {
		lower := strings.ToLower(name)
		if lower == "transfer-encoding" || lower == "transfer_encoding" {
			if warn != nil {
				warn("manually setting Transfer-Encoding. Ignored.")
			}
		} else {
			setRespHeader(s.RespHeader, name, headers[name])
		}
		if lower == "content-length" || lower == "content_length" {
			hasLen = true
		}
	}
	if !hasLen {
		s.RespHeader.Set("Content-Length", strconv.Itoa(len(body)))
	}
	s.Answered = true
	s.OutBody = body
}

// KongError is kong.response.error(status, message, headers) outside a
// delayed access phase: a body from Kong's error template chosen by the
// Accept header (JSON when there is none).
func (s *State) KongError(status int, message string, headers map[string]any) {
	ct := responseType(firstString(s.ReqHeader.Values("Accept")))
	if headers == nil {
		headers = map[string]any{}
	}
	if v, ok := headers["Content-Type"]; ok {
		ct = luaToString(firstValue(v))
	} else {
		headers["Content-Type"] = ct
	}
	if message == "" {
		message = HTTPErrorMessage(status)
	}
	s.Ctx["KONG_EXITED"] = true
	s.Send(status, []byte(fmt.Sprintf(errorTemplate(ct), message, s.RequestID)), headers, nil)
}

// ErrorHandler is kong/error_handlers.lua. Through nginx's error_page (Lua
// errors outside access, upstream failures) Kong.handle_error marks the
// request KONG_UNEXPECTED first (unexpected = true); Kong.response calls it
// directly for a truncated buffered response. The type comes from Accept,
// else the request's Content-Type, else error_default_type.
func (s *State) ErrorHandler(status int, defaultType string, unexpected bool) {
	accept, ok := s.ReqHeader.Get("Accept")
	if !ok {
		accept, ok = s.ReqHeader.Get("Content-Type")
		if !ok {
			accept = defaultType
		}
	}
	message := errorHandlerMessage(status)
	if status == 494 {
		status = 400
	}
	if unexpected {
		s.Ctx["KONG_UNEXPECTED"] = true
	}
	delete(s.Ctx, "buffered_proxying")
	delete(s.Ctx, "delay_response")
	s.Delayed = nil
	ct := responseType(accept)
	s.Ctx["KONG_EXITED"] = true
	s.Send(status, []byte(fmt.Sprintf(errorTemplate(ct), message, s.RequestID)), map[string]any{"Content-Type": ct}, nil)
}

// FlushDelayed is init.lua flush_delayed_response.
func (s *State) FlushDelayed(warn func(string)) {
	delete(s.Ctx, "delay_response")
	delete(s.Ctx, "buffered_proxying")
	d := s.Delayed
	if d == nil {
		return
	}
	if d.Content {
		s.Send(d.Status, d.Body, d.Headers, warn)
		return
	}
	s.KongError(d.Status, d.Message, d.Headers)
}

func firstString(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return strings.Join(v, ",")
}

// The MIME types and error templates of kong/tools/http.lua.
const (
	mimeJSON  = "application/json; charset=utf-8"
	mimeHTML  = "text/html; charset=utf-8"
	mimeXML   = "application/xml; charset=utf-8"
	mimePlain = "text/plain; charset=utf-8"
)

var mimeTypes = map[string]string{
	"application/grpc": "",
	"text/html":        mimeHTML,
	"application/json": mimeJSON,
	"text/plain":       mimePlain,
	"application/xml":  mimeXML,
	"application":      mimeJSON,
	"text":             mimePlain,
	"default":          mimeJSON,
}

var acceptPattern = regexp.MustCompile(`(?i)^((?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*)/(?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*))(?:\s*;\s*q=(1(?:\.0{0,3}|)|0(?:\.\d{0,3}|))|\s*;\s*[a-z0-9][a-z0-9\-!#$&^_+.]+(?:=[^;]*|))*`)

// responseType is get_response_type(accept_header).
func responseType(accept string) string {
	ct := mimeTypes["default"]
	if accept == "" {
		return ct
	}
	maxQ := 0.0
	for _, part := range strings.Split(accept, ",") {
		part = strings.TrimSpace(part)
		m := acceptPattern.FindStringSubmatch(part)
		if m == nil {
			continue
		}
		q := 1.0
		if m[2] != "" {
			if f, err := strconv.ParseFloat(m[2], 64); err == nil {
				q = f
			}
		}
		if q > maxQ {
			maxQ = q
			if mt := mimeType(m[1]); mt != "" {
				ct = mt
			}
		}
	}
	return ct
}

// mimeType is get_mime_type(content_header) with use_default.
func mimeType(media string) string {
	media = strings.TrimSpace(media)
	if i := strings.IndexByte(media, ';'); i >= 0 {
		media = media[:i]
	}
	parts := strings.SplitN(media, "/", 3)
	if len(parts) > 1 {
		if parts[1] == "*" {
			if parts[0] == "*" {
				return mimeTypes["default"]
			}
			if mt, ok := mimeTypes[parts[0]]; ok {
				return mt
			}
		} else if mt, ok := mimeTypes[media]; ok {
			return mt
		}
	}
	return mimeTypes["default"]
}

func errorTemplate(ct string) string {
	switch ct {
	case "text/html", mimeHTML:
		return "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>%s.</p>\n    <p>request_id: %s</p>\n  </body>\n</html>\n"
	case "application/xml", mimeXML:
		return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>%s</message>\n  <requestid>%s</requestid>\n</error>\n"
	case "text/plain", mimePlain:
		return "%s\nrequest_id: %s\n"
	default:
		return "{\n  \"message\":\"%s\",\n  \"request_id\":\"%s\"\n}"
	}
}

var httpErrorMessages = map[int]string{
	400: "Bad request", 401: "Unauthorized", 402: "Payment required", 403: "Forbidden",
	404: "Not found", 405: "Method not allowed", 406: "Not acceptable",
	407: "Proxy authentication required", 408: "Request timeout", 409: "Conflict", 410: "Gone",
	411: "Length required", 412: "Precondition failed", 413: "Payload too large",
	414: "URI too long", 415: "Unsupported media type", 416: "Range not satisfiable",
	417: "Expectation failed", 418: "I'm a teapot", 421: "Misdirected request",
	422: "Unprocessable entity", 423: "Locked", 424: "Failed dependency", 425: "Too early",
	426: "Upgrade required", 428: "Precondition required", 429: "Too many requests",
	431: "Request header fields too large", 451: "Unavailable for legal reasons",
	494: "Request header or cookie too large", 500: "An unexpected error occurred",
	501: "Not implemented", 502: "An invalid response was received from the upstream server",
	503: "The upstream server is currently unavailable", 504: "The upstream server is timing out",
	505: "HTTP version not supported", 506: "Variant also negotiates", 507: "Insufficient storage",
	508: "Loop detected", 510: "Not extended", 511: "Network authentication required",
}

// HTTPErrorMessage is response.lua get_http_error_message.
func HTTPErrorMessage(status int) string {
	if m, ok := httpErrorMessages[status]; ok {
		return m
	}
	return fmt.Sprintf("The upstream server responded with %d", status)
}

// errorHandlerMessage is error_handlers.lua's BODIES table (smaller).
func errorHandlerMessage(status int) string {
	switch status {
	case 400, 404, 405, 408, 411, 412, 413, 414, 417, 494, 500, 502, 503, 504:
		return HTTPErrorMessage(status)
	}
	return fmt.Sprintf("The upstream server responded with %d", status)
}
