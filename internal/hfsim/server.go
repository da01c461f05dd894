// Package hfsim is a fake Hugging Face upstream for tests: it speaks the
// wire formats of the Inference Providers router (OpenAI-compatible chat and
// completions, hf-inference text generation and feature extraction, videos),
// of a self-hosted TGI (/generate, /generate_stream, /) and of TEI (/embed),
// answers deterministically from the request, records every request, and
// injects faults chosen per request.
//
// Nothing here is a real model: generated text is [Reply] of the prompt,
// embeddings are [Vector] of the text. See README.md for the full contract.
package hfsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults applied by New for zero Options fields.
const (
	DefaultEmbeddingDim   = 384
	DefaultCreated        = 1722866733 // created of Kong's TGI fixture
	DefaultHugeSize       = 16 << 20
	DefaultVideoSize      = 1 << 20
	DefaultFirstByteDelay = 2 * time.Second
	DefaultEstimatedTime  = 305.6863708496094 // Kong fixture bad_response_model_load.json
	DefaultMaxTotalTokens = 4096
	DefaultMaxBody        = 64 << 20
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Token, when set, is the only bearer token accepted. Empty: every
	// request is accepted, with or without Authorization (a self-hosted TGI
	// or TEI checks nothing).
	Token string
	// EventDelay is slept between two SSE events (default 0). The
	// X-Hfsim-Delay request header overrides it.
	EventDelay time.Duration
	// FirstByteDelay is slept before the headers by fault slow_first_byte
	// (default DefaultFirstByteDelay).
	FirstByteDelay time.Duration
	// EmbeddingDim is the hidden size of every embedding (default 384).
	EmbeddingDim int
	// HugeSize is the body size of fault huge (default 16 MiB).
	HugeSize int64
	// VideoSize is the size of binary video/mp4 answers (default 1 MiB).
	VideoSize int64
	// Created is the "created"/"created_at" of every answer (default
	// DefaultCreated), fixed so answers are byte-for-byte predictable.
	Created int64
	// EstimatedTime is the estimated_time of fault loading.
	EstimatedTime float64
	// MaxTotalTokens bounds prompt + max_new_tokens on TGI routes (422 above).
	MaxTotalTokens int
	// MaxBody is the largest request body accepted (413 above, default 64 MiB).
	MaxBody int64
	// DefaultStyle is the SSE style when neither header nor model choose one
	// (default StyleTGI).
	DefaultStyle Style
	// NoKeepAlive stops the ":" comment lines TGI-style streams carry
	// between events.
	NoKeepAlive bool
	// ModelFaults maps a model id (as in the body or the URL) to a fault.
	ModelFaults map[string]string
	// FaultFor, when set, picks a fault for requests no header, query
	// parameter or path prefix chose one for; it may read r.Body. Return ""
	// for none.
	FaultFor func(*http.Request) string
	// BeforeEvent, when set, is called before each SSE event is written
	// (index from 0; final is true for the event that ends the stream), so a
	// test can hold the stream and prove events are flushed one by one.
	BeforeEvent func(r *http.Request, index int, final bool)
	// Logf, when set, receives one line per request.
	Logf func(format string, args ...any)
}

// Server is the fake upstream. It is an http.Handler; Start serves it on a
// loopback address, or wrap it with httptest.NewServer.
type Server struct {
	opts Options

	mu       sync.Mutex
	requests []Request

	srv *http.Server
	ln  net.Listener
	// remote is the base URL of the hfsim a Remote server stands for.
	remote string
}

// Request is one recorded request.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	// Model is the model id found in the body or URL ("" if none).
	Model string
	// Fault is the fault mode applied ("" if none).
	Fault string
}

// New returns a Server with defaults filled in.
func New(opts Options) *Server {
	if opts.EmbeddingDim <= 0 {
		opts.EmbeddingDim = DefaultEmbeddingDim
	}
	if opts.Created == 0 {
		opts.Created = DefaultCreated
	}
	if opts.HugeSize <= 0 {
		opts.HugeSize = DefaultHugeSize
	}
	if opts.VideoSize <= 0 {
		opts.VideoSize = DefaultVideoSize
	}
	if opts.FirstByteDelay <= 0 {
		opts.FirstByteDelay = DefaultFirstByteDelay
	}
	if opts.EstimatedTime == 0 {
		opts.EstimatedTime = DefaultEstimatedTime
	}
	if opts.MaxTotalTokens <= 0 {
		opts.MaxTotalTokens = DefaultMaxTotalTokens
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.DefaultStyle == "" {
		opts.DefaultStyle = StyleTGI
	}
	return &Server{opts: opts}
}

// Requests returns a copy of every request recorded since the last Reset.
func (s *Server) Requests() []Request {
	if s.remote != "" {
		return s.fetch(nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// LastRequest returns the most recent request, or false if none.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

// Start serves on addr, which must be a loopback address ("127.0.0.1:0"
// picks a free port), and returns the base URL.
func (s *Server) Start(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("hfsim: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("hfsim: listen address %q is not loopback", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("hfsim: listen: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s.URL(), nil
}

// URL is the base URL of a started server ("" before Start).
func (s *Server) URL() string {
	if s.remote != "" {
		return s.remote
	}
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops a started server, waiting up to ctx for open requests.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("hfsim: shutdown: %w", err)
	}
	return nil
}

// call is one request being served.
type call struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	body  []byte
	path  string // path with any /fault/<mode> prefix removed
	model string
	fault string
	style Style
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveRecorder(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBody+1))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("reading body: %v", err))
		return
	}
	// FaultFor may read the body too.
	r.Body = io.NopCloser(bytes.NewReader(body))
	c := &call{s: s, w: w, r: r, body: body, path: r.URL.Path}
	pathFault := c.stripFaultPrefix()
	c.model = c.findModel()
	c.fault = c.chooseFault(pathFault)
	c.style = c.chooseStyle()
	s.record(c)
	if s.opts.Logf != nil {
		s.opts.Logf("hfsim: %s %s model=%q fault=%q", r.Method, r.URL.RequestURI(), c.model, c.fault)
	}
	if int64(len(body)) > s.opts.MaxBody {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "Payload Too Large")
		return
	}
	if !c.authorized() || !c.checkTestHeaders() {
		return
	}
	if c.fault != "" && c.applyFault() {
		return
	}
	c.route()
}

func (s *Server) record(c *call) {
	rec := Request{
		Method:   c.r.Method,
		Path:     c.r.URL.Path,
		RawQuery: c.r.URL.RawQuery,
		Header:   c.r.Header.Clone(),
		Body:     c.body,
		Model:    c.model,
		Fault:    c.fault,
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// Unauthorized bodies: the first is Kong's fixture (token present but
// wrong), the second what the router answers without credentials.
const (
	BodyBadToken  = `{"error":"Authorization header is correct, but the token seems invalid"}`
	BodyNoToken   = `{"error":"Invalid credentials in Authorization header"}`
	bearerPrefix  = "Bearer "
	headerFault   = "X-Hfsim-Fault"
	queryFault    = "hfsim_fault"
	headerStyle   = "X-Hfsim-Style"
	headerDelay   = "X-Hfsim-Delay"
	headerReply   = "X-Hfsim-Reply"
	headerShape   = "X-Hfsim-Shape"
	headerDim     = "X-Hfsim-Dim"
	headerVideo   = "X-Hfsim-Video"
	headerSize    = "X-Hfsim-Size"
	headerFBDelay = "X-Hfsim-First-Byte-Delay"
)

func (c *call) authorized() bool {
	if c.s.opts.Token == "" {
		return true
	}
	auth := c.r.Header.Get("Authorization")
	if auth == "" {
		writeRaw(c.w, http.StatusUnauthorized, "application/json", BodyNoToken)
		return false
	}
	if len(auth) < len(bearerPrefix) || !strings.EqualFold(auth[:len(bearerPrefix)], bearerPrefix) ||
		auth[len(bearerPrefix):] != c.s.opts.Token {
		writeRaw(c.w, http.StatusUnauthorized, "application/json", BodyBadToken)
		return false
	}
	return true
}

// route dispatches on the path. Suffix matches let the same handlers serve
// the router form (/v1/chat/completions), the legacy Inference API form
// (/models/{org}/{name}/v1/chat/completions, what Kong 3.9 builds from
// upstream_url) and a dedicated endpoint mounted under any prefix.
func (c *call) route() {
	p := strings.TrimSuffix(c.path, "/")
	if c.r.Method != http.MethodPost {
		if c.r.Method == http.MethodGet && (p == "/health" || p == "/info") {
			c.info(p)
			return
		}
		writeRaw(c.w, http.StatusMethodNotAllowed, "text/plain", "Method Not Allowed")
		return
	}
	switch {
	case strings.HasSuffix(p, "/v1/chat/completions"):
		c.chat()
	case strings.HasSuffix(p, "/v1/completions"):
		c.completions()
	case strings.HasSuffix(p, "/v1/videos"), strings.HasSuffix(p, "/v1/videos/generations"):
		c.video()
	case strings.HasSuffix(p, "/v1/embeddings"):
		c.openAIEmbeddings()
	case strings.HasSuffix(p, "/pipeline/feature-extraction"),
		strings.HasPrefix(p, "/hf-inference/pipeline/feature-extraction/"),
		strings.HasPrefix(p, "/pipeline/feature-extraction/"):
		c.featureExtraction()
	case strings.HasSuffix(p, "/embed"):
		c.teiEmbed(false)
	case strings.HasSuffix(p, "/embed_all"):
		c.teiEmbed(true)
	case strings.HasSuffix(p, "/generate_stream"):
		c.generate(true)
	case strings.HasSuffix(p, "/generate"):
		c.generate(false)
	case p == "" || p == "/":
		c.compatGenerate()
	case modelFromPath(p) != "":
		if EmbeddingKindFor(modelFromPath(p)) != "" {
			c.featureExtraction()
		} else {
			c.textGeneration()
		}
	default:
		writeRaw(c.w, http.StatusNotFound, "application/json", `{"error":"Not Found"}`)
	}
}

func (c *call) info(p string) {
	if p == "/health" {
		c.w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"model_id": "hfsim/fake", "router": "hfsim", "version": "hfsim"})
}

// modelFromPath finds {org}/{name} after a "models/" segment
// (/hf-inference/models/org/name/..., /models/org/name) or after a
// "feature-extraction/" segment (/pipeline/feature-extraction/org/name).
func modelFromPath(p string) string {
	for _, marker := range []string{"/models/", "/feature-extraction/"} {
		i := strings.Index(p, marker)
		if i < 0 {
			continue
		}
		rest := strings.Split(strings.Trim(p[i+len(marker):], "/"), "/")
		switch {
		case len(rest) >= 2 && rest[0] != "" && rest[1] != "" && !isEndpointSegment(rest[1]):
			return rest[0] + "/" + rest[1]
		case len(rest) >= 1 && rest[0] != "":
			return rest[0]
		}
	}
	return ""
}

// isEndpointSegment tells a single-segment model id ("gpt2") from the
// endpoint path that follows it.
func isEndpointSegment(s string) bool {
	switch s {
	case "pipeline", "v1", "generate", "generate_stream", "embed", "embed_all":
		return true
	}
	return false
}

func isClientGone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed)
}
