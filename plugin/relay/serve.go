package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// modelHeader is Kong's response header naming the model.
const modelHeader = "X-Kong-LLM-Model"

// modelHeaderKey is modelHeader as Header.Set would store it.
var modelHeaderKey = textproto.CanonicalMIMEHeaderKey(modelHeader)

// modelValues holds the model header's value per model, shared by the
// answers: net/http only reads a header's values, and a later Set or Add
// replaces or reallocates the one-element slice.
var modelValues = cowCache[string, []string]{max: 1024}

// modelHeaderValue is the model header's values for model.
func modelHeaderValue(model string) []string {
	if v, ok := modelValues.load(model); ok {
		return v
	}
	return modelValues.store(model, []string{"huggingface/" + model})
}

// setModelHeader names the model on a 2xx answer (model_name_header).
func setModelHeader(h http.Header, cfg *schema.Config, model string, status int) {
	if cfg.ModelNameHeader && model != "" && status >= 200 && status <= 299 {
		h[modelHeaderKey] = modelHeaderValue(model)
	}
}

// hopHeaders are not forwarded in either direction (RFC 9110 §7.6.1), as
// Kong's proxy does not forward them.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// exchange is one relayed request, for the metrics and the summary line.
type exchange struct {
	t         *Ticket
	requestID string
	model     string
	stream    bool
	status    int
	ttft      time.Duration // 0: no token seen
	usage     translate.Usage
	bytes     int64
	err       *translate.Error
}

// fail answers the exchange with e, recorded for the metrics and the
// summary line.
func (x *exchange) fail(w http.ResponseWriter, e *translate.Error) {
	x.err, x.status = e, e.Status
	writeError(w, e)
}

// serve relays one ticketed request.
func (r *Relay) serve(w http.ResponseWriter, req *http.Request, t *Ticket) {
	cfg := t.Config
	in := *t.In
	in.Method = req.Method
	up := t.Upstream
	if up == nil {
		body, err := readClientBody(cfg, req)
		if err != nil {
			r.reject(w, t, err)
			return
		}
		in.Body = body
		if up, err = t.Capability.Request(cfg, &in); err != nil {
			r.reject(w, t, err)
			return
		}
	}
	x := &exchange{t: t, requestID: req.Header.Get("X-Kong-Request-Id"), model: up.State.Model, stream: up.Stream}
	defer r.finish(x)

	ctx, cancel := context.WithTimeout(req.Context(), r.opts.MaxStream)
	defer cancel()
	upReq, err := upstreamRequest(ctx, req, &in, up)
	if err != nil {
		x.err = translate.AsError(err)
		writeError(w, x.err)
		return
	}
	if up.Stream && cfg.RouteType != schema.RoutePreserve {
		// The relay reads the events (to translate or count them): they
		// must come uncompressed, whatever the client accepts.
		upReq.Header.Set("Accept-Encoding", "identity")
	}
	res, err := r.roundTrip(upReq)
	if err != nil {
		if req.Context().Err() != nil {
			return // the client (Kong) went away: nothing to answer
		}
		x.fail(w, upstreamFailure(err))
		return
	}
	defer res.Body.Close()
	st := up.State
	if st.StartedAt == 0 {
		// As the response phase does (loadState): created of rebuilt answers.
		st.StartedAt = t.Start.UnixMilli()
	}
	success := res.StatusCode >= 200 && res.StatusCode <= 299
	switch {
	case !up.Stream:
		r.buffered(w, x, &st, res, cancel)
	case cfg.RouteType == schema.RoutePreserve || (success && !isEventStream(res.Header)) || encoded(res.Header):
		// preserve passes everything through untouched, as does a 2xx
		// answer to a stream request that is not a stream.
		r.stream(w, req.Context(), ctx, cancel, x, &st, res, nil)
	case success:
		r.stream(w, req.Context(), ctx, cancel, x, &st, res, newStream(t, &st, r.opts.MaxEvent))
	default:
		// An error before the first byte: the same answer as the buffered
		// path (OpenAI shape, Retry-After on 503 loading).
		r.buffered(w, x, &st, res, cancel)
	}
}

// reject answers a request the relay's translation refused: nothing went
// upstream.
func (r *Relay) reject(w http.ResponseWriter, t *Ticket, err error) {
	e := translate.AsError(err)
	writeError(w, e)
	r.count("rejected", e.Status)
	if !e.IsClientError() {
		r.logLine(map[string]any{"ai_proxy_hf": "error", "status": e.Status, "message": t.Redact.String(e.Error())})
	}
}

// readClientBody reads the body Kong forwarded, refusing one over
// max_request_body_size (413) before reading it when its length is known.
// max_request_body_size 0 is no limit, as on the PDK path.
func readClientBody(cfg *schema.Config, req *http.Request) ([]byte, error) {
	var body []byte
	var err error
	if req.ContentLength > 0 {
		if err := translate.CheckBodySize(cfg, req.ContentLength); err != nil {
			return nil, err
		}
		// One allocation of the announced size (Kong sends the length of
		// a body it buffered): no growing copies of a large upload.
		body = make([]byte, req.ContentLength)
		_, err = io.ReadFull(req.Body, body)
	} else {
		var rd io.Reader = req.Body
		if n := int64(cfg.MaxRequestBodySize); n > 0 {
			rd = io.LimitReader(req.Body, n+1)
		}
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		return nil, &translate.Error{Status: http.StatusBadRequest, Message: "the request body could not be read", Err: err}
	}
	if err := translate.CheckBodySize(cfg, int64(len(body))); err != nil {
		return nil, err
	}
	return body, nil
}

// upstreamRequest builds the request to Hugging Face: the headers Kong
// forwarded (the client's, as Kong would have sent them upstream) minus
// hop-by-hop ones and the cleared credentials, plus the capability's
// headers with the real credential.
func upstreamRequest(ctx context.Context, req *http.Request, in *translate.ClientRequest, up *translate.UpstreamRequest) (*http.Request, error) {
	query := in.Query
	if up.Query != nil {
		query = *up.Query
	}
	body := up.Body
	if body == nil {
		body = in.Body
	}
	var out *http.Request
	var err error
	if base := baseURL(up); base != nil && plainQuery(query) {
		// The parse of scheme://host/path is the config's, cached; the
		// request is the one NewRequestWithContext builds from the whole
		// URL ("" parses to an empty URL, replaced).
		if out, err = http.NewRequestWithContext(ctx, in.Method, "", bytes.NewReader(body)); err == nil {
			u := base.u
			u.RawQuery = query
			out.URL, out.Host = &u, base.host
		}
	} else {
		out, err = http.NewRequestWithContext(ctx, in.Method, targetURL(up, query), bytes.NewReader(body))
	}
	if err != nil {
		return nil, &translate.Error{Status: http.StatusInternalServerError, Type: "server_error", Message: "ai-proxy-hf relay: could not build the upstream request", Err: err}
	}
	if len(body) == 0 && (in.Method == http.MethodGet || in.Method == http.MethodHead) {
		out.Body, out.ContentLength = http.NoBody, 0
	}
	out.Header = upstreamHeader(req.Header, up)
	return out, nil
}

// targetURL is the upstream URL as a string.
func targetURL(up *translate.UpstreamRequest, query string) string {
	host := up.Host
	if up.Port != 0 {
		host = net.JoinHostPort(up.Host, strconv.Itoa(up.Port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	target := up.Scheme + "://" + host + up.Path
	if query != "" {
		target += "?" + query
	}
	return target
}

// baseKey names an upstream URL without its query: a config's upstream and
// the capability's path, the same for every request of a model.
type baseKey struct {
	scheme, host, path string
	port               int
}

// base is a parsed upstream URL without query, and the request's Host.
type base struct {
	u    url.URL
	host string
}

var baseURLs = cowCache[baseKey, *base]{max: 1024}

// baseURL is the parsed upstream URL of up without its query, nil when
// it does not parse or is not a plain scheme://host/path (the caller then
// parses the whole URL, with its errors).
func baseURL(up *translate.UpstreamRequest) *base {
	k := baseKey{up.Scheme, up.Host, up.Path, up.Port}
	if b, ok := baseURLs.load(k); ok {
		return b
	}
	u, err := url.Parse(targetURL(up, ""))
	if err != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil
	}
	host := u.Host
	if strings.LastIndex(host, ":") > strings.LastIndex(host, "]") {
		host = strings.TrimSuffix(host, ":") // as NewRequest's removeEmptyPort
	}
	u.Host = host
	return baseURLs.store(k, &base{u: *u, host: host})
}

// plainQuery reports a query that url.Parse would take verbatim as
// RawQuery: no fragment, no control character (which it refuses).
func plainQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c < 0x20 || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// buffered reads a whole answer (capped), translates it with
// Capability.Response and writes it. Bodies the capability does not read
// (video bytes) are copied through, never held whole.
func (r *Relay) buffered(w http.ResponseWriter, x *exchange, st *translate.State, res *http.Response, cancel context.CancelFunc) {
	t := x.t
	headers := lowerHeaders(res.Header)
	defer releaseHeaders(headers) // the capabilities only read it, during Response
	in := &translate.UpstreamResponse{Status: res.StatusCode, Headers: headers}
	reads := true
	if br, ok := t.Capability.(translate.ResponseBodyReader); ok && !br.ReadsResponseBody(res.StatusCode, headers) {
		reads = false
	}
	if reads {
		// A body that never ends (bytes trickling in, so no read times
		// out) gets the relay's timeout as a whole.
		var late atomic.Bool
		timer := time.AfterFunc(r.opts.HeaderTimeout, func() { late.Store(true); cancel() })
		body, err := readCapped(res.Body, res.ContentLength, r.opts.MaxBody)
		timer.Stop()
		if err != nil && late.Load() {
			err = &translate.Error{Status: http.StatusGatewayTimeout, Type: "server_error", Code: "upstream_timeout",
				Message: "the upstream did not send its whole answer within the relay's timeout"}
		}
		if err != nil {
			x.fail(w, err)
			return
		}
		in.Body = body
	}
	out, err := t.Capability.Response(t.Config, st, in)
	if err != nil {
		x.fail(w, translate.AsError(err))
		return
	}
	x.status, x.usage, x.err = out.Status, out.Usage, out.Error
	copyHeaders(w.Header(), res.Header)
	success := out.Status >= 200 && out.Status <= 299
	setModelHeader(w.Header(), t.Config, st.Model, out.Status)
	switch {
	case out.Body != nil:
		for k, v := range out.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(out.Body)))
		w.WriteHeader(out.Status)
		n, _ := w.Write(out.Body)
		x.bytes = int64(n)
	case reads:
		w.Header().Set("Content-Length", strconv.Itoa(len(in.Body)))
		w.WriteHeader(out.Status)
		n, _ := w.Write(in.Body)
		x.bytes = int64(n)
	default:
		if res.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
		}
		w.WriteHeader(out.Status)
		x.bytes, _ = io.Copy(w, res.Body)
	}
	if success && x.usage.CompletionTokens > 0 {
		// A buffered answer's first token reaches the gateway with the
		// last (the record's rule).
		x.ttft = time.Since(t.Start)
	}
}

// readCapped reads a body of at most max bytes; one whose Content-Length
// says more is refused unread.
func readCapped(body io.Reader, length, max int64) ([]byte, *translate.Error) {
	if length > max {
		return nil, errUpstreamTooLarge(max)
	}
	b, err := readAll(body, length, max+1)
	if err != nil {
		if e := upstreamFailure(err); e.Status == http.StatusGatewayTimeout {
			return nil, e
		}
		return nil, &translate.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_incomplete",
			Message: "the upstream closed the connection before the end of its answer"}
	}
	if int64(len(b)) > max {
		return nil, errUpstreamTooLarge(max)
	}
	return b, nil
}

// readAll reads at most limit bytes of r, as io.ReadAll(io.LimitReader(r,
// limit)) does, into one buffer sized from the announced length (-1:
// unknown), so a buffered answer is not grown and copied as it arrives.
func readAll(r io.Reader, length, limit int64) ([]byte, error) {
	size := int64(512)
	if length >= 0 {
		size = min(length+1, limit) // +1: the read that sees EOF
	}
	b := make([]byte, 0, size)
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := min(int64(cap(b)-len(b)), limit-int64(len(b)))
		n, err := r.Read(b[len(b) : int64(len(b))+room])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
	return b, nil
}

// copyHeaders copies the upstream's response headers but the hop-by-hop
// ones and Content-Length (the relay sets its own). The value slices are
// shared: neither side changes them.
func copyHeaders(dst, src http.Header) {
	pre := len(dst) > 0
	for k, v := range src {
		if !isHop(k) {
			dst[k] = v
		}
	}
	if pre {
		for _, k := range hopHeaders {
			dst.Del(k)
		}
		dst.Del("Content-Length")
	}
}

// headerMaps holds the maps of lowerHeaders for the next answers.
var headerMaps = sync.Pool{New: func() any { return make(map[string][]string, 16) }}

// lowerHeaders is src with lower-case names, as Kong's PDK returns headers;
// releaseHeaders gives the map back when nothing reads it any more.
func lowerHeaders(src http.Header) map[string][]string {
	out := headerMaps.Get().(map[string][]string)
	for k, v := range src {
		out[lowerKey(k)] = v
	}
	return out
}

func releaseHeaders(h map[string][]string) {
	if len(h) > 64 {
		return // an answer with unusually many headers: not kept
	}
	clear(h)
	headerMaps.Put(h)
}

// encoded reports a body in a content coding (gzip, ...): passed through
// as it is, never parsed.
func encoded(h http.Header) bool {
	ce := h.Get("Content-Encoding")
	return ce != "" && !strings.EqualFold(ce, "identity")
}

// isEventStream reports a text/event-stream answer.
func isEventStream(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "text/event-stream"
}

// errStreamIdle and errStreamTooLong end a stream the upstream let stall
// or never ended.
// Both are timeouts (context.DeadlineExceeded) for the client's error event.
var (
	errStreamIdle    = fmt.Errorf("the upstream sent nothing within the relay's idle timeout: %w", context.DeadlineExceeded)
	errStreamTooLong = fmt.Errorf("the stream passed the relay's maximum duration: %w", context.DeadlineExceeded)
)

// finish records a relayed request: metrics, and for a stream or an error
// one JSON line (Kong writes the plugin server's output to its error log),
// carrying Kong's request id. Never a credential: messages go through the
// ticket's Redactor.
func (r *Relay) finish(x *exchange) {
	latency := time.Since(x.t.Start)
	if r.opts.Metrics != nil {
		r.opts.Metrics.observe(x, latency)
	}
	if !x.stream && x.err == nil {
		return
	}
	r.logLine(x.summary(latency))
}

// summary is the JSON line of a relayed request. A struct, not a map:
// encoding/json writes it without sorting or reflecting on map entries,
// and its fields are in the order json.Marshal sorts a map's keys, so the
// line is the same bytes (summary_test.go).
type summary struct {
	AIProxyHF        string  `json:"ai_proxy_hf"`
	Bytes            int64   `json:"bytes"`
	CompletionTokens int     `json:"completion_tokens"`
	Cost             float64 `json:"cost"`
	Error            *string `json:"error,omitempty"`
	Estimated        bool    `json:"estimated,omitempty"`
	LatencyMS        int64   `json:"latency_ms"`
	Mode             string  `json:"mode"`
	Model            string  `json:"model"`
	PromptTokens     int     `json:"prompt_tokens"`
	RequestID        string  `json:"request_id"`
	Status           int     `json:"status"`
	TTFTMS           *int64  `json:"time_to_first_token_ms,omitempty"`
	TotalTokens      int     `json:"total_tokens"`
}

func (x *exchange) summary(latency time.Duration) *summary {
	u := x.usage
	s := &summary{
		AIProxyHF: "relay", RequestID: x.requestID, Mode: translate.RequestMode(x.stream), Model: x.model,
		Status: x.status, LatencyMS: latency.Milliseconds(), Bytes: x.bytes,
		PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		TotalTokens: max(u.TotalTokens, u.PromptTokens+u.CompletionTokens),
		Cost:        translate.Cost(x.t.Config, u.PromptTokens, u.CompletionTokens),
		Estimated:   u.Estimated,
	}
	if x.ttft > 0 {
		ms := x.ttft.Milliseconds()
		s.TTFTMS = &ms
	}
	if x.err != nil {
		e := x.t.Redact.String(x.err.Error())
		s.Error = &e
	}
	return s
}
