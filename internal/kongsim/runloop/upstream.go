package runloop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
)

// hiddenUpstreamHeaders are the response headers nginx's proxy module does
// not pass (proxy_hide_header defaults and hop-by-hop headers); Kong passes
// Server and Date explicitly.
var hiddenUpstreamHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "transfer-encoding": true, "x-pad": true,
	"x-accel-expires": true, "x-accel-redirect": true, "x-accel-limit-rate": true,
	"x-accel-buffering": true, "x-accel-charset": true, "proxy-connection": true,
}

type timeoutsKey struct{}

type timeouts struct {
	connect time.Duration
	send    time.Duration
	read    time.Duration
}

// transport returns the upstream transport for a TLS server name. Kong
// pools upstream connections per (ip, port, SNI); nginx does not verify
// the upstream certificate unless the service asks for it.
func (k *Runloop) transport(sni string) *http.Transport {
	k.transportsMu.Lock()
	defer k.transportsMu.Unlock()
	if t, ok := k.transports[sni]; ok {
		return t
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		to, _ := ctx.Value(timeoutsKey{}).(timeouts)
		d := net.Dialer{Timeout: to.connect}
		return d.DialContext(ctx, network, addr)
	}
	t := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{ServerName: sni, InsecureSkipVerify: true}, //nolint:gosec // proxy_ssl_verify is off in Kong by default
		MaxIdleConnsPerHost: 512,                                                    // upstream_keepalive_pool_size
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // proxy_http_version 1.1
	}
	k.transports[sni] = t
	return t
}

// watchdog cancels the upstream call when no progress happens within the
// current timeout: nginx's connect/send/read timeouts are per operation.
type watchdog struct {
	mu      sync.Mutex
	timer   *time.Timer
	cancel  context.CancelFunc
	expired atomic.Bool
}

func newWatchdog(cancel context.CancelFunc) *watchdog { return &watchdog{cancel: cancel} }

func (w *watchdog) arm(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(d, func() {
		w.expired.Store(true)
		w.cancel()
	})
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

// upstreamErr is a failed upstream call and the status nginx gives it.
type upstreamErr struct {
	status int
	err    error
}

// upstreamCall is an upstream response whose body reads re-arm the
// watchdog.
type upstreamCall struct {
	res    *http.Response
	wd     *watchdog
	read   time.Duration
	cancel context.CancelFunc
}

func (u *upstreamCall) Read(p []byte) (int, error) {
	u.wd.arm(u.read)
	n, err := u.res.Body.Read(p)
	if err != nil && u.wd.expired.Load() {
		err = fmt.Errorf("upstream timed out (110: Connection timed out) while reading upstream: %w", err)
	}
	return n, err
}

func (u *upstreamCall) Close() error {
	u.wd.stop()
	u.cancel()
	return u.res.Body.Close()
}

// callUpstream sends the request as nginx's proxy module would after
// Kong's access.after: to $upstream_scheme://<balancer target>$upstream_uri
// with Kong's proxy_set_header values, retrying connection failures up to
// the service's retries.
func (k *Runloop) callUpstream(rc *reqCtx) (*upstreamCall, *upstreamErr) {
	st := rc.st
	st.Acquire()
	if _, err := st.ReadBody(); err != nil {
		st.Release()
		return nil, &upstreamErr{status: 400, err: err}
	}
	b := *st.Balancer
	method := st.Method
	uri := st.UpstreamURI
	scheme := st.UpstreamScheme
	hostHeader := st.UpstreamHost
	hdr := k.upstreamHeaders(rc)
	body := st.Body()
	now := time.Now()
	st.Ctx["KONG_BALANCER_START"] = nowMS(now)
	st.Release()

	addr := net.JoinHostPort(strings.Trim(b.Host, "[]"), strconv.Itoa(b.Port))
	to := timeouts{
		connect: time.Duration(b.ConnectTimeout) * time.Millisecond,
		send:    time.Duration(b.SendTimeout) * time.Millisecond,
		read:    time.Duration(b.ReadTimeout) * time.Millisecond,
	}
	rc.upstreamURL = scheme + "://" + addr + uri
	var last *upstreamErr
	for try := 1; try <= b.Retries+1; try++ {
		tryStart := time.Now()
		st.Acquire()
		tryRec := map[string]any{
			"balancer_start": nowMS(tryStart), "balancer_start_ns": float64(tryStart.UnixNano()),
			"ip": strings.Trim(b.Host, "[]"), "port": float64(b.Port),
			"balancer_latency": float64(0), "balancer_latency_ns": float64(0),
		}
		st.Balancer.Tries = append(st.Balancer.Tries, tryRec)
		if try == 1 {
			end := time.Now()
			st.Ctx["KONG_BALANCER_ENDED_AT"] = nowMS(end)
			st.Ctx["KONG_PROXY_LATENCY"] = float64(end.Sub(rc.start).Milliseconds())
		}
		st.Release()
		call, uerr := k.tryUpstream(rc, method, scheme, addr, uri, hostHeader, hdr, body, to)
		if uerr == nil {
			rc.tryStatuses = append(rc.tryStatuses, call.res.StatusCode)
			return call, nil
		}
		rc.tryStatuses = append(rc.tryStatuses, uerr.status)
		last = uerr
		st.Acquire()
		tryRec["state"] = "failed"
		tryRec["code"] = float64(uerr.status)
		st.Release()
		k.errlog.Write(errlog.Err, rc.logReq(false), fmt.Sprintf("%s, upstream: %q", nginxUpstreamError(uerr.err), rc.upstreamURL))
		if !isConnectError(uerr.err) {
			break // the request reached the upstream: nginx does not retry it
		}
	}
	return nil, last
}

// nginxUpstreamError words an upstream failure as nginx's error log does.
func nginxUpstreamError(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect() failed (111: Connection refused) while connecting to upstream"
	case isConnectError(err) && isTimeout(err):
		return "upstream timed out (110: Connection timed out) while connecting to upstream"
	case isTimeout(err) || strings.Contains(err.Error(), "timed out"):
		return "upstream timed out (110: Connection timed out) while reading response header from upstream"
	case errors.Is(err, syscall.ECONNRESET):
		return "recv() failed (104: Connection reset by peer) while reading response header from upstream"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "upstream prematurely closed connection while reading response header from upstream"
	}
	return err.Error() + " while reading response header from upstream"
}

func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (k *Runloop) tryUpstream(rc *reqCtx, method, scheme, addr, uri, hostHeader string, hdr http.Header, body *pdk.Body, to timeouts) (*upstreamCall, *upstreamErr) {
	ctx, cancel := context.WithCancel(context.WithValue(rc.ctx, timeoutsKey{}, to))
	wd := newWatchdog(cancel)
	trace := &httptrace.ClientTrace{
		GotConn:      func(httptrace.GotConnInfo) { wd.arm(to.send) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wd.arm(to.read) },
	}
	ctx = httptrace.WithClientTrace(ctx, trace)
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+addr+"/", nil)
	if err != nil {
		cancel()
		return nil, &upstreamErr{status: 500, err: err}
	}
	// The raw $upstream_uri goes on the request line as is.
	req.URL = &url.URL{Scheme: scheme, Host: addr, Opaque: uri}
	req.Host = hostHeader
	req.Header = hdr.Clone()
	if body != nil && body.Size > 0 {
		req.ContentLength = body.Size
		if body.File != "" {
			f, err := os.Open(body.File)
			if err != nil {
				cancel()
				return nil, &upstreamErr{status: 500, err: fmt.Errorf("opening client body temp file: %w", err)}
			}
			req.Body = f
		} else {
			req.Body = io.NopCloser(strings.NewReader(string(body.Data)))
		}
	}
	sni := hostHeader
	if h, _, err := net.SplitHostPort(sni); err == nil {
		sni = h
	}
	res, err := k.transport(sni).RoundTrip(req)
	if err != nil {
		wd.stop()
		cancel()
		switch {
		case wd.expired.Load():
			return nil, &upstreamErr{status: 504, err: fmt.Errorf("upstream timed out (110: Connection timed out): %w", err)}
		case isTimeout(err):
			return nil, &upstreamErr{status: 504, err: fmt.Errorf("upstream timed out (110: Connection timed out): %w", err)}
		}
		return nil, &upstreamErr{status: 502, err: err}
	}
	return &upstreamCall{res: res, wd: wd, read: to.read, cancel: cancel}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// upstreamHeaders are the client request headers with Kong's
// proxy_set_header values over them. Called with the state locked.
func (k *Runloop) upstreamHeaders(rc *reqCtx) http.Header {
	st := rc.st
	h := http.Header{}
	skip := map[string]bool{"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
		"te": true, "via": true, "upgrade": true, "x-forwarded-for": true, "x-forwarded-proto": true,
		"x-forwarded-host": true, "x-forwarded-port": true, "x-forwarded-path": true, "x-forwarded-prefix": true,
		"x-real-ip": true, "x-kong-request-id": true}
	for _, f := range st.ReqHeader.Fields {
		if skip[strings.ToLower(f.Name)] {
			continue
		}
		h[http.CanonicalHeaderKey(f.Name)] = append(h[http.CanonicalHeaderKey(f.Name)], f.Value)
	}
	trusted := k.pdk.IsTrusted(st.RemoteAddr)
	hostVal, _ := st.Ctx["host"].(string)
	port := st.ServerPort
	proto, fhost, fport := st.Scheme, hostVal, strconv.Itoa(port)
	var fpath, fprefix string
	if trusted {
		if v, ok := st.ReqHeader.Get("X-Forwarded-Proto"); ok {
			proto = v
		}
		if v, ok := st.ReqHeader.Get("X-Forwarded-Host"); ok {
			fhost = v
		}
		if v, ok := st.ReqHeader.Get("X-Forwarded-Port"); ok {
			fport = v
		}
		fpath, _ = st.ReqHeader.Get("X-Forwarded-Path")
		fprefix, _ = st.ReqHeader.Get("X-Forwarded-Prefix")
	}
	if fpath == "" {
		fpath = pdk.StripQuery(st.RequestURI)
	}
	if fprefix == "" && rc.match != nil && rc.match.prefix != "/" {
		fprefix = rc.match.prefix
	}
	if xff, ok := st.ReqHeader.Get("X-Forwarded-For"); ok {
		h.Set("X-Forwarded-For", xff+", "+st.RemoteAddr)
	} else {
		h.Set("X-Forwarded-For", st.RemoteAddr)
	}
	h.Set("X-Forwarded-Proto", proto)
	h.Set("X-Forwarded-Host", fhost)
	h.Set("X-Forwarded-Port", fport)
	h.Set("X-Forwarded-Path", fpath)
	if fprefix != "" {
		h.Set("X-Forwarded-Prefix", fprefix)
	}
	h.Set("X-Real-IP", st.RemoteAddr)
	via := pluginserver.FormatLuaNumber(st.HTTPVersion) + " " + k.serverToken()
	if v, ok := st.ReqHeader.Get("Via"); ok {
		via = v + ", " + via
	}
	h.Set("Via", via)
	h.Set("Connection", "keep-alive")
	if te, ok := st.ReqHeader.Get("TE"); ok && strings.Contains(te, "trailers") {
		h.Set("TE", "trailers")
	}
	if k.set.upstreamHeaders["x-kong-request-id"] {
		h.Set("X-Kong-Request-Id", st.RequestID)
	}
	return h
}

// upstreamHeaderTable is the captured subrequest's res.header: names as
// received, one string or a list per name.
func upstreamHeaderTable(h http.Header) map[string]any {
	out := map[string]any{}
	for name, vals := range h {
		if hiddenUpstreamHeaders[strings.ToLower(name)] {
			continue
		}
		if len(vals) == 1 {
			out[name] = vals[0]
			continue
		}
		l := make([]any, len(vals))
		for i, v := range vals {
			l[i] = v
		}
		out[name] = l
	}
	return out
}

// bufferedProxy is Kong.response: the subrequest reads the whole upstream
// response, then the response handlers run, then the captured body (or
// what a handler sent with exit) goes out.
func (k *Runloop) bufferedProxy(rc *reqCtx) {
	st := rc.st
	rc.subrequest = true
	k.counters.buffered.Add(1)
	call, uerr := k.callUpstream(rc)
	var status int
	var headers http.Header
	var body []byte
	if uerr != nil {
		// The subrequest's own error page: Kong.handle_error runs in it
		// on the shared ctx (KONG_UNEXPECTED, buffered_proxying cleared)
		// and its output is what the capture returns.
		sub := pdk.NewState(nil)
		sub.ReqHeader = st.ReqHeader
		sub.RequestID = st.RequestID
		st.Acquire()
		sub.Ctx = st.Ctx
		sub.ErrorHandler(uerr.status, k.set.errorDefaultType, true)
		st.Release()
		status, headers, body = sub.Status, sub.RespHeader.HTTP(), sub.OutBody
	} else {
		defer call.Close()
		status = call.res.StatusCode
		headers = call.res.Header
		var err error
		body, err = io.ReadAll(call)
		now := time.Now()
		st.Acquire()
		st.UpstreamStatus = status
		st.UpstreamRespHeader = pdk.HeaderFromHTTP(headers)
		st.Ctx["KONG_RESPONSE_START"] = nowMS(now)
		st.Ctx["KONG_WAITING_TIME"] = float64(now.Sub(rc.start).Milliseconds()) - ctxFloat(st, "KONG_PROXY_LATENCY")
		st.Release()
		if err != nil && st.Method != http.MethodHead {
			// res.truncated: ngx.status = res.status or 502, then Kong's
			// error handler.
			k.errlog.Write(errlog.Err, rc.logReq(false), fmt.Sprintf("%v, upstream: %q", err, rc.upstreamURL))
			st.Acquire()
			st.SetPhase(pdk.PhaseError)
			st.Status = status
			st.ErrorHandler(status, k.set.errorDefaultType, false)
			st.Release()
			return
		}
	}
	st.Acquire()
	st.SetPhase(pdk.PhaseResponse)
	st.Ctx["buffered_status"] = float64(status)
	st.Ctx["buffered_headers"] = upstreamHeaderTable(headers)
	st.Ctx["buffered_body"] = string(body)
	if _, ok := st.Ctx["KONG_RESPONSE_START"]; !ok {
		st.Ctx["KONG_RESPONSE_START"] = nowMS(time.Now())
	}
	// kong.response.set_status(status); kong.response.set_headers(headers)
	st.Status = status
	for name, v := range upstreamHeaderTable(headers) {
		setHeaderValue(st.RespHeader, name, v)
	}
	st.Release()
	rc.runEvents(rc.responseFns, "response")
	st.Acquire()
	defer st.Release()
	st.Ctx["KONG_RESPONSE_ENDED_AT"] = nowMS(time.Now())
	if !st.Answered {
		// ngx.print(body); ngx.exit(status)
		st.Answered = true
		st.OutBody = body
		if headers.Get("Content-Length") == "" {
			st.RespHeader.Del("Content-Length")
		}
	}
}

func setHeaderValue(h *pdk.Header, name string, v any) {
	switch t := v.(type) {
	case string:
		h.Set(name, t)
	case []any:
		vals := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				vals = append(vals, s)
			}
		}
		h.Set(name, vals...)
	}
}

func ctxFloat(st *pdk.State, k string) float64 {
	f, _ := st.Ctx[k].(float64)
	return f
}

// streamProxy is nginx's proxy_pass with Kong's plugins done: the status
// and headers go out when the upstream sends them, then the body chunk by
// chunk, flushed after every read.
func (k *Runloop) streamProxy(rc *reqCtx) {
	st := rc.st
	k.counters.streamed.Add(1)
	call, uerr := k.callUpstream(rc)
	if uerr != nil {
		st.Acquire()
		st.ErrorHandler(uerr.status, k.set.errorDefaultType, true)
		st.Release()
		return
	}
	defer call.Close()
	now := time.Now()
	st.Acquire()
	st.UpstreamStatus = call.res.StatusCode
	st.UpstreamRespHeader = pdk.HeaderFromHTTP(call.res.Header)
	st.Ctx["KONG_WAITING_TIME"] = float64(now.Sub(rc.start).Milliseconds()) - ctxFloat(st, "KONG_PROXY_LATENCY")
	st.SetPhase(pdk.PhaseHeaderFilter)
	st.Status = call.res.StatusCode
	for _, name := range sortedHeaderNames(call.res.Header) {
		if hiddenUpstreamHeaders[strings.ToLower(name)] {
			continue
		}
		vals := call.res.Header[name]
		switch strings.ToLower(name) {
		case "content-type", "content-length":
			st.RespHeader.Set(name, vals...)
		default:
			for _, v := range vals {
				st.RespHeader.Add(name, v)
			}
		}
	}
	if call.res.ContentLength < 0 {
		st.RespHeader.Del("Content-Length")
	}
	k.headerFilter(rc)
	status := st.Status
	k.writeHeader(rc)
	st.Release()
	rc.streamed = true
	if rc.r.Method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified {
		return
	}
	flusher, _ := rc.w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := call.Read(buf)
		if n > 0 {
			if rc.bodyStart.IsZero() {
				rc.bodyStart = time.Now()
			}
			w, werr := rc.w.Write(buf[:n])
			rc.bodySent += int64(w)
			if flusher != nil {
				flusher.Flush()
			}
			if werr != nil {
				k.errlog.Write(errlog.Info, rc.logReq(false), fmt.Sprintf("client closed connection while sending to client: %v", werr))
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			k.errlog.Write(errlog.Err, rc.logReq(false), fmt.Sprintf("%v, upstream: %q", err, rc.upstreamURL))
			rc.aborted = true
			break
		}
	}
	rc.bodyEnd = time.Now()
}

// headerFilter is runloop header_filter.before/after: Kong's own response
// headers. Called with the state locked.
func (k *Runloop) headerFilter(rc *reqCtx) {
	st := rc.st
	st.SetPhase(pdk.PhaseHeaderFilter)
	en := k.set.enabledHeaders
	if st.Flag("KONG_PROXIED") {
		if up := st.UpstreamRespHeader; up != nil {
			if conn, ok := up.Get("Connection"); ok && conn != "keep-alive" && conn != "close" && conn != "upgrade" {
				for _, name := range strings.Split(conn, ",") {
					name = strings.TrimSpace(name)
					if name != "" && !strings.EqualFold(name, "close") && !strings.EqualFold(name, "upgrade") && !strings.EqualFold(name, "keep-alive") {
						st.RespHeader.Del(name)
					}
				}
			}
			if _, ok := st.ReqHeader.Get("TE"); !ok {
				st.RespHeader.Del("Trailer")
			}
			st.RespHeader.Del("Upgrade")
		}
		if en["x-kong-upstream-status"] && st.UpstreamStatus != 0 {
			st.RespHeader.Set("X-Kong-Upstream-Status", strconv.Itoa(st.UpstreamStatus))
		}
		if en["x-kong-upstream-latency"] {
			st.RespHeader.Set("X-Kong-Upstream-Latency", pluginserver.FormatLuaNumber(ctxFloat(st, "KONG_WAITING_TIME")))
		}
		if en["x-kong-proxy-latency"] {
			st.RespHeader.Set("X-Kong-Proxy-Latency", pluginserver.FormatLuaNumber(ctxFloat(st, "KONG_PROXY_LATENCY")))
		}
		if en["via"] {
			via := "1.1 " + k.serverToken()
			if up := st.UpstreamRespHeader; up != nil {
				if v, ok := up.Get("Via"); ok {
					via = v + ", " + via
				}
			}
			st.RespHeader.Set("Via", via)
		}
		if !st.RespHeader.Has("Server") && en["server"] {
			st.RespHeader.Set("Server", k.serverToken())
		}
	} else {
		if _, ok := st.Ctx["KONG_RESPONSE_LATENCY"]; !ok {
			st.Ctx["KONG_RESPONSE_LATENCY"] = float64(time.Since(rc.start).Milliseconds())
		}
		if en["x-kong-response-latency"] {
			st.RespHeader.Set("X-Kong-Response-Latency", pluginserver.FormatLuaNumber(ctxFloat(st, "KONG_RESPONSE_LATENCY")))
		}
		via, _ := st.RespHeader.Get("Via")
		if !(en["via"] && via == k.serverToken()) {
			if en["server"] {
				st.RespHeader.Set("Server", k.serverToken())
			} else {
				st.RespHeader.Del("Server")
			}
		}
	}
	if en["x-kong-request-id"] {
		st.RespHeader.Set("X-Kong-Request-Id", st.RequestID)
	}
}

// writeHeader sends the status line and headers. Called with the state
// locked.
func (k *Runloop) writeHeader(rc *reqCtx) {
	st := rc.st
	h := rc.w.Header()
	for name, vals := range st.RespHeader.HTTP() {
		h[name] = vals
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // nginx's default_type '': no sniffing
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	rc.headerSentAt = time.Now()
	st.HeadersSent = true
	rc.bytesSent += int64(len("HTTP/1.1 200 OK\r\n")) + 2
	for name, vals := range h {
		for _, v := range vals {
			rc.bytesSent += int64(len(name) + 2 + len(v) + 2)
		}
	}
	rc.w.WriteHeader(st.Status)
}

// writeResponse sends a response Kong produced or buffered.
func (k *Runloop) writeResponse(rc *reqCtx) {
	st := rc.st
	st.Acquire()
	if !st.Answered {
		// Nothing produced a response (should not happen): Kong's 500.
		st.ErrorHandler(500, k.set.errorDefaultType, true)
	}
	k.headerFilter(rc)
	body := st.OutBody
	status := st.Status
	k.writeHeader(rc)
	st.Release()
	if rc.r.Method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified {
		return
	}
	rc.bodyStart = time.Now()
	n, err := rc.w.Write(body)
	rc.bodySent += int64(n)
	if f, ok := rc.w.(http.Flusher); ok {
		f.Flush()
	}
	rc.bodyEnd = time.Now()
	if err != nil {
		k.errlog.Write(errlog.Info, rc.logReq(false), fmt.Sprintf("client closed connection while sending to client: %v", err))
	}
}

func sortedHeaderNames(h http.Header) []string {
	return pdk.SortedNames(h)
}
