package runloop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
)

// reqCtx is one proxied request: the PDK state plus what Kong keeps
// around it (collected plugins, timings, byte counts).
type reqCtx struct {
	k   *Runloop
	ctx context.Context
	it  *iterator
	st  *pdk.State
	w   http.ResponseWriter
	r   *http.Request

	mu        sync.Mutex
	abandoned []io.Closer

	// ctx.plugins: the collected response and log handlers (nil when the
	// access phase never collected, and then the global ones run).
	collected   bool
	responseFns []*configured
	logFns      []*configured

	route   *Route
	service *Service
	match   *match

	start        time.Time
	headerSentAt time.Time
	bodyStart    time.Time
	bodyEnd      time.Time
	bytesSent    int64
	bodySent     int64
	reqLength    int64
	streamed     bool // headers and body already went out while streaming
	aborted      bool // the client connection must be cut (truncated stream)
	upstreamURL  string
	// tryStatuses is $upstream_status, one status per try; subrequest
	// marks a buffered request, whose main request has no such variable.
	tryStatuses []int
	subrequest  bool
}

func nowMS(t time.Time) float64 { return float64(t.UnixMilli()) }

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ServeHTTP is Kong's proxy server: rewrite, access, proxying (buffered or
// streamed), header filter, then the log phase once the client has the
// response.
func (k *Runloop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := k.newReqCtx(w, r)
	k.counters.requests.Add(1)
	defer func() {
		k.timers.Add(1) // before the handler returns, so Close waits for it
		go func() {
			defer k.timers.Done()
			k.logPhase(rc)
		}()
		if rc.aborted {
			// nginx closes the connection on an upstream failure in the
			// middle of a streamed body: the client sees it truncated.
			panic(http.ErrAbortHandler)
		}
	}()
	k.rewritePhase(rc)
	if !rc.st.Answered {
		k.accessPhase(rc)
	}
	if !rc.streamed {
		k.writeResponse(rc)
	}
}

func (k *Runloop) newReqCtx(w http.ResponseWriter, r *http.Request) *reqCtx {
	start := time.Now()
	rc := &reqCtx{k: k, ctx: r.Context(), it: k.currentIterator(), w: w, r: r, start: start}
	st := pdk.NewState(k.bodyReader(r))
	rc.st = st
	host, port, _ := net.SplitHostPort(r.RemoteAddr)
	st.RemoteAddr = host
	st.RemotePort, _ = strconv.Atoi(port)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		h, p, _ := net.SplitHostPort(la.String())
		st.ServerAddr = h
		st.ServerPort, _ = strconv.Atoi(p)
	}
	st.Conn = k.counters.conns.Add(1)
	st.Scheme = "http"
	if r.TLS != nil {
		st.Scheme = "https"
	}
	st.HTTPVersion = float64(r.ProtoMajor) + float64(r.ProtoMinor)/10
	st.RequestURI = r.RequestURI
	st.RequestLine = fmt.Sprintf("%s %s %s", r.Method, r.RequestURI, r.Proto)
	st.RequestID = newRequestID()
	st.StartTime = start
	st.Method = r.Method
	if i := strings.IndexByte(r.RequestURI, '?'); i >= 0 {
		st.Args = r.RequestURI[i+1:]
	}
	st.ReqHeader = pdk.HeaderFromHTTP(r.Header)
	if r.Host != "" {
		st.ReqHeader.Fields = append([]pdk.Field{{Name: "Host", Value: r.Host}}, st.ReqHeader.Fields...)
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		st.ReqHeader.Add("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	for _, te := range r.TransferEncoding {
		st.ReqHeader.Add("Transfer-Encoding", te)
	}
	rc.reqLength = int64(len(st.RequestLine) + 2)
	for _, f := range st.ReqHeader.Fields {
		rc.reqLength += int64(len(f.Name) + 2 + len(f.Value) + 2)
	}
	rc.reqLength += 2
	st.Ctx["KONG_PROCESSING_START"] = nowMS(start)
	st.Ctx["KONG_REWRITE_START"] = nowMS(start)
	st.Ctx["workspace"] = rc.it.snapshot.WorkspaceID
	return rc
}

// logReq is the request context of error log lines.
func (rc *reqCtx) logReq(timer bool) *errlog.Request {
	host, _ := rc.st.ReqHeader.Get("Host")
	return &errlog.Request{
		Conn: rc.st.Conn, Client: rc.st.RemoteAddr, Server: "kong", Line: rc.st.RequestLine,
		Host: host, RequestID: rc.st.RequestID, Timer: timer,
	}
}

// rewritePhase is Kong.rewrite: only global plugins run.
func (k *Runloop) rewritePhase(rc *reqCtx) {
	st := rc.st
	st.Acquire()
	st.SetPhase(pdk.PhaseRewrite)
	st.Ctx["host_port"] = float64(st.ServerPort)
	st.Release()
	rc.runEvents(rc.it.globalsFor("rewrite"), "rewrite")
	st.Acquire()
	st.Ctx["KONG_REWRITE_ENDED_AT"] = nowMS(time.Now())
	st.Release()
}

// accessPhase is Kong.access with runloop access.before/after.
func (k *Runloop) accessPhase(rc *reqCtx) {
	st := rc.st
	st.Acquire()
	st.Ctx["KONG_ACCESS_START"] = nowMS(time.Now())
	st.SetPhase(pdk.PhaseAccess)
	ok := k.accessBefore(rc)
	st.Release()
	if !ok {
		return
	}
	k.collectAndRunAccess(rc)

	st.Acquire()
	defer st.Release()
	delete(st.Ctx, "delay_response")
	if st.Delayed != nil {
		now := time.Now()
		st.Ctx["KONG_ACCESS_ENDED_AT"] = nowMS(now)
		st.Ctx["KONG_RESPONSE_LATENCY"] = float64(now.Sub(rc.start).Milliseconds())
		st.FlushDelayed(func(msg string) { k.errlog.Write(errlog.Warn, rc.logReq(false), "[kong] response.lua:738 "+msg) })
		return
	}
	if rc.service == nil {
		now := time.Now()
		st.Ctx["KONG_ACCESS_ENDED_AT"] = nowMS(now)
		st.Ctx["KONG_RESPONSE_LATENCY"] = float64(now.Sub(rc.start).Milliseconds())
		delete(st.Ctx, "buffered_proxying")
		st.KongError(503, "no Service found with those values", nil)
		return
	}
	if !k.accessAfter(rc) {
		return
	}
	st.Ctx["KONG_ACCESS_ENDED_AT"] = nowMS(time.Now())
	st.Ctx["KONG_PROXIED"] = true
	buffered := st.Buffered()
	st.Release()
	if buffered {
		k.bufferedProxy(rc)
	} else {
		k.streamProxy(rc)
	}
	st.Acquire()
}

// accessBefore routes the request and prepares the upstream variables.
// Called with the state locked; false means Kong already answered.
func (k *Runloop) accessBefore(rc *reqCtx) bool {
	st := rc.st
	st.Ctx["scheme"] = st.Scheme
	st.Ctx["request_uri"] = st.RequestURI
	st.Ctx["host"] = st.Host()
	host, _ := st.ReqHeader.Get("Host")
	m := rc.it.router.exec(st.Method, pdk.Normalize(pdk.StripQuery(st.RequestURI), true), host)
	if m == nil {
		st.KongError(404, "no Route matched with those values", nil)
		return false
	}
	rc.match, rc.route, rc.service = m, m.route, m.service
	protocols := m.route.Protocols
	if len(protocols) > 0 && containsFold(protocols, "https") && !containsFold(protocols, "http") && st.Scheme != "https" {
		st.KongError(426, "Please use HTTPS protocol", map[string]any{"Connection": "Upgrade", "Upgrade": "TLS/1.2, HTTP/1.1"})
		return false
	}
	st.Ctx["route"] = entityTable(m.route.Entity)
	if m.service != nil {
		st.Ctx["service"] = entityTable(m.service.Entity)
	}
	b := &pdk.Balancer{Retries: 5, ConnectTimeout: 60000, SendTimeout: 60000, ReadTimeout: 60000}
	scheme := "http"
	if s := m.service; s != nil {
		scheme = s.Protocol
		b.Host, b.Port = s.Host, s.Port
		if b.Port == 0 {
			b.Port = map[string]int{"https": 443}[scheme]
			if b.Port == 0 {
				b.Port = 80
			}
		}
		b.Retries = s.Retries
		if s.ConnectTimeout > 0 {
			b.ConnectTimeout = s.ConnectTimeout
		}
		if s.WriteTimeout > 0 {
			b.SendTimeout = s.WriteTimeout
		}
		if s.ReadTimeout > 0 {
			b.ReadTimeout = s.ReadTimeout
		}
	}
	b.Scheme = scheme
	st.Balancer = b
	st.Ctx["router_matches"] = map[string]any{"uri": m.prefix}
	st.UpstreamScheme = scheme
	st.UpstreamURI = pdk.Escape(m.upstream)
	if m.host != "" {
		st.UpstreamHost = m.host
	}
	return true
}

// collectAndRunAccess is the collecting iterator: each plugin is collected
// (its response/log handlers registered, buffered_proxying set for a
// response handler) just before its access handler would run.
func (k *Runloop) collectAndRunAccess(rc *reqCtx) {
	st := rc.st
	st.Acquire()
	st.Ctx["delay_response"] = true
	st.Release()
	rc.collected = true
	routeID := rc.route.ID
	serviceID := ""
	if rc.service != nil {
		serviceID = rc.service.ID
	}
	for _, lp := range rc.it.ordered {
		cfg := lookupCfg(rc.it.combos[lp.name], routeID, serviceID)
		if cfg == nil {
			continue
		}
		if lp.has("response") {
			rc.responseFns = append(rc.responseFns, cfg)
			st.Acquire()
			if !st.Buffered() {
				st.Ctx["buffered_proxying"] = true
			}
			st.Release()
		}
		if lp.has("log") {
			rc.logFns = append(rc.logFns, cfg)
		}
		if !lp.has("access") || lp.ext == nil {
			continue
		}
		st.Acquire()
		delayed := st.Delayed != nil
		st.Release()
		if delayed {
			continue
		}
		o, err := rc.runEvent(cfg, "access")
		if o == eventRaised || o == eventReturned {
			rc.handleAccessFailure(o, err)
		}
	}
}

// accessAfter is runloop access.after: query string, balancer, Host
// header, hop-by-hop headers. Called with the state locked.
func (k *Runloop) accessAfter(rc *reqCtx) bool {
	st := rc.st
	if strings.HasSuffix(st.RequestURI, "?") || st.Args != "" {
		st.UpstreamURI += "?" + st.Args
	}
	b := st.Balancer
	b.Scheme = st.UpstreamScheme
	if st.UpstreamHost != "" {
		b.PreserveHost = true
	}
	if net.ParseIP(strings.Trim(b.Host, "[]")) == nil {
		ctx, cancel := context.WithTimeout(rc.ctx, 5*time.Second)
		_, err := net.DefaultResolver.LookupHost(ctx, b.Host)
		cancel()
		if err != nil {
			k.errlog.Write(errlog.Err, rc.logReq(false), fmt.Sprintf("[kong] handler.lua:1165 failed the initial dns/balancer resolve for '%s' with: %v", b.Host, err))
			st.KongError(503, "name resolution failed", nil)
			return false
		}
	}
	if !b.PreserveHost {
		h := b.Host
		if (b.Port != 80 && b.Port != 443) || (b.Port == 80 && b.Scheme != "http") || (b.Port == 443 && b.Scheme != "https") {
			h = net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
		}
		st.UpstreamHost = h
	}
	if conn, ok := st.ReqHeader.Get("Connection"); ok && conn != "keep-alive" && conn != "close" && conn != "upgrade" {
		for _, name := range strings.Split(conn, ",") {
			name = strings.TrimSpace(strings.ToLower(name))
			if name != "" {
				st.ReqHeader.Del(name)
			}
		}
	}
	st.ReqHeader.Del("Proxy")
	st.ReqHeader.Del("Proxy-Connection")
	return true
}

// bodyReader reads the client body the way nginx does: in memory up to
// client_body_buffer_size, else the whole body goes to a temp file under
// <prefix>/client_body_temp.
func (k *Runloop) bodyReader(r *http.Request) pdk.BodyReader {
	return func() (*pdk.Body, error) {
		limit := k.set.clientBodyBufferSize
		data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("reading client body: %w", err)
		}
		if int64(len(data)) <= limit {
			return &pdk.Body{Data: data, Size: int64(len(data))}, nil
		}
		f, err := k.bodyTempFile()
		if err != nil {
			return nil, err
		}
		n1, err := f.Write(data)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("writing client body temp file: %w", err)
		}
		n2, err := io.Copy(f, r.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("writing client body temp file: %w", err)
		}
		k.counters.bodiesSpooled.Add(1)
		return &pdk.Body{File: f.Name(), Size: int64(n1) + n2}, nil
	}
}

var bodyTempSeq atomic.Uint64

// bodyTempFile creates the next nginx-style temp file
// <prefix>/client_body_temp/0000000001.
func (k *Runloop) bodyTempFile() (*os.File, error) {
	dir := filepath.Join(k.set.prefix, "client_body_temp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	for {
		name := filepath.Join(dir, fmt.Sprintf("%010d", bodyTempSeq.Add(1)))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, nil
		}
		if !os.IsExist(err) {
			return nil, fmt.Errorf("creating client body temp file: %w", err)
		}
	}
}
