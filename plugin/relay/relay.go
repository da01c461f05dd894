// Package relay is the plugin server's own HTTP data path: a loopback HTTP
// server that Kong proxies to, which calls Hugging Face itself and writes
// the answer back, streamed event by event or buffered.
//
// Why: a Go plugin has no header_filter/body_filter phase, so through Kong
// alone it never sees a streamed answer (no OpenAI error shape, no
// translated events, no usage) and every buffered answer costs PDK round
// trips. The access handler instead registers a Ticket (single use, short
// TTL) and points Kong's upstream at http://127.0.0.1:<port>/<prefix><id>;
// the relay takes the ticket, translates with the same
// translate.Capability functions as the PDK path, and answers.
//
// Only loopback addresses are accepted: the relay holds the real
// credentials, and a request without a valid ticket gets 403 with nothing
// sent upstream.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
)

// PathPrefix starts every relay path; the ticket id follows it.
const PathPrefix = "/ai-proxy-hf/relay/"

// Defaults for zero Options fields.
const (
	DefaultTicketTTL     = 30 * time.Second
	DefaultMaxTickets    = 65536
	DefaultHeaderTimeout = 60 * time.Second // Kong's default read_timeout
	DefaultIdleTimeout   = 60 * time.Second
	DefaultMaxStream     = 30 * time.Minute
	DefaultMaxBody       = 64 << 20
	DefaultMaxEvent      = 1 << 20
	DefaultDialTimeout   = 60 * time.Second // Kong's default connect_timeout
)

// Options configure a relay. The zero value is usable.
type Options struct {
	// TicketTTL is how long a registered ticket stays valid.
	TicketTTL time.Duration
	// MaxTickets bounds the live tickets (requests between access and the
	// relay); a registration past it fails.
	MaxTickets int
	// HeaderTimeout bounds the wait for the upstream's status line, and
	// then the read of a buffered answer's whole body.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the silence between two reads of a streamed
	// answer; MaxStream bounds a whole stream.
	IdleTimeout time.Duration
	MaxStream   time.Duration
	// MaxBody bounds an upstream body the relay reads whole (buffered
	// answers); past it the client gets 502 "upstream response too large".
	MaxBody int64
	// MaxEvent bounds one SSE event of a translated stream.
	MaxEvent int
	// Transport, when set, replaces the relay's keep-alive transport (tests).
	Transport http.RoundTripper
	// Log receives the relay's one-line JSON summaries and error lines
	// (default os.Stderr: Kong writes a plugin server's output to its
	// error log). Never a credential.
	Log io.Writer
	// Metrics, when set, receives the figures of every relayed request.
	Metrics *Metrics
}

// Relay is the loopback server. It is safe for concurrent use.
type Relay struct {
	opts    Options
	tickets *tickets
	// rt sends the upstream requests. Called directly, not through an
	// http.Client: the relay follows no redirect (one goes back to the
	// client as it came, as through Kong) and sets no client timeout, so
	// the Client would only copy the headers for redirects it never makes.
	rt    http.RoundTripper
	ln    net.Listener
	srv   *http.Server
	done  chan struct{}
	logMu sync.Mutex
}

// New builds a relay; Listen starts it.
func New(opts Options) *Relay {
	if opts.TicketTTL <= 0 {
		opts.TicketTTL = DefaultTicketTTL
	}
	if opts.MaxTickets <= 0 {
		opts.MaxTickets = DefaultMaxTickets
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = DefaultHeaderTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxStream <= 0 {
		opts.MaxStream = DefaultMaxStream
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxEvent <= 0 {
		opts.MaxEvent = DefaultMaxEvent
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 nil, // the upstream is the configured one, never an environment proxy
			DialContext:           (&net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          512,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: opts.HeaderTimeout,
			// The capability sets accept-encoding itself; the body must
			// reach it as the upstream sent it.
			DisableCompression: true,
		}
	}
	return &Relay{
		opts:    opts,
		tickets: newTickets(opts.TicketTTL, opts.MaxTickets),
		rt:      rt,
		done:    make(chan struct{}),
	}
}

// roundTrip sends req upstream, as an http.Client whose CheckRedirect
// returns http.ErrUseLastResponse would.
func (r *Relay) roundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.rt.RoundTrip(req)
	if err != nil {
		if res != nil && res.Body != nil {
			_ = res.Body.Close()
		}
		return nil, err
	}
	if res == nil {
		return nil, errors.New("relay: the transport returned neither a response nor an error")
	}
	if res.Body == nil {
		res.Body = http.NoBody
	}
	return res, nil
}

// CheckLoopback refuses an address whose host is not a loopback IP (or
// "localhost"): the relay accepts requests carrying only a ticket and sends
// them upstream with the real credentials.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("relay address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("relay address %q is not a loopback address (127.0.0.0/8 or ::1): the relay must not be reachable from the network", addr)
	}
	return nil
}

// Listen binds addr (loopback only; port 0 picks a free one) and serves
// in the background until Close.
func (r *Relay) Listen(addr string) error {
	if err := CheckLoopback(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("relay: listen on %s: %w", addr, err)
	}
	r.ln = ln
	r.srv = &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          nil,
	}
	go func() { _ = r.srv.Serve(ln) }()
	go r.sweep()
	return nil
}

// sweep drops expired tickets every TTL until Close.
func (r *Relay) sweep() {
	t := time.NewTicker(r.opts.TicketTTL)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			r.tickets.sweep()
		}
	}
}

// Close stops the server.
func (r *Relay) Close() error {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	if r.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		return r.srv.Close()
	}
	return nil
}

// Host and Port are the relay's bound address, for kong.service.set_target.
func (r *Relay) Host() string {
	return r.ln.Addr().(*net.TCPAddr).IP.String()
}

func (r *Relay) Port() int {
	return r.ln.Addr().(*net.TCPAddr).Port
}

// Addr is host:port.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Register stores t and returns the path Kong must proxy to.
func (r *Relay) Register(t *Ticket) (string, error) {
	return r.tickets.addWith(t, PathPrefix)
}

// ServeHTTP answers one request Kong proxied to the relay.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id, ok := strings.CutPrefix(req.URL.Path, PathPrefix)
	var t *Ticket
	if ok {
		t = r.tickets.take(id)
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			r.logLine(map[string]any{"ai_proxy_hf": "error", "message": fmt.Sprintf("panic in the relay: %v", p)})
			writeError(w, &translate.Error{Status: http.StatusInternalServerError, Type: "server_error", Message: "internal error in the ai-proxy-hf relay"})
		}
	}()
	if t == nil {
		// Nothing is read and nothing goes upstream.
		r.count("no_ticket", http.StatusForbidden)
		writeError(w, &translate.Error{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "invalid_relay_ticket",
			Message: "ai-proxy-hf relay: this address only serves requests Kong forwards for the ai-proxy-hf plugin (missing, unknown, used or expired ticket)"})
		return
	}
	r.serve(w, req, t)
}

// writeError answers with e in the OpenAI shape.
func writeError(w http.ResponseWriter, e *translate.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	for k, v := range e.Headers {
		h.Set(k, v)
	}
	body := e.Body()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// count adds an answer that reached no upstream to the relay's counter.
func (r *Relay) count(mode string, status int) {
	if r.opts.Metrics != nil {
		r.opts.Metrics.relayedCounter(mode, statusClass(status)).Inc()
	}
}

// logLine writes one JSON object as a line to the relay's log.
func (r *Relay) logLine(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	b = append(b, '\n')
	r.logMu.Lock()
	_, _ = r.opts.Log.Write(b)
	r.logMu.Unlock()
}

// errUpstreamTooLarge is the 502 for a buffered answer past MaxBody.
func errUpstreamTooLarge(max int64) *translate.Error {
	return &translate.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_response_too_large",
		Message: fmt.Sprintf("upstream response too large: the relay reads at most %d bytes of a buffered answer", max)}
}

// upstreamFailure maps a transport error before any answer to the error
// Kong's buffered path gives for the same cause.
func upstreamFailure(err error) *translate.Error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &translate.Error{Status: http.StatusGatewayTimeout, Type: "server_error", Code: "upstream_timeout",
			Message: "the upstream did not answer within the relay's timeouts"}
	}
	return &translate.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_unreachable",
		Message: "the upstream could not be reached or closed the connection without an answer"}
}
