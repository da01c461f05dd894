// Package translate holds the per-capability translation of requests and
// responses between the client's format (OpenAI, or TGI's native API) and
// Hugging Face's. Everything here is a pure function of bytes and the
// read-only config: no PDK, no I/O. The phase handlers in package plugin do
// the talking to Kong and call in here.
//
// A capability (chat.go, completions.go, native.go, preserve.go, and the
// embeddings and video files) is one small type implementing Capability,
// built from the shared helpers of this package:
//
//	CheckBodySize, ParseObject        body size (413) and JSON object (400)
//	ResolveModel, ValidateModelID     model selection and id validation (400)
//	Target                            upstream URL: the upstream_url rule
//	ApplyAuth                         auth header / query / body param, client credentials cleared
//	FillOptions, HFOptionHeaders      model.options merged (request wins), x-use-cache / x-wait-for-model
//	StreamRequested                   response_streaming allow / deny / always
//	UpstreamError                     HF error bodies → OpenAI error shape, Retry-After
//	UsageFrom*, EstimatePrompt        token counts for analytics
//	AccessRecord, ResponseRecord      the ai.proxy log record (analytics.go)
//	Redactor, LogEdits                secrets kept out of every log (redact.go)
//
// Streams: the plugin's streaming relay parses an upstream text/event-stream
// with package sse (a push parser: bytes in, events out) and hands each event
// to the Stream of the capability (chat, completions, native and preserve
// implement Streamer; stream*.go):
//
//	Streamer, Stream                  one Stream per streamed response
//	openAIStream                      chat; completions on an upstream_url: passed through
//	textgenStream                     completions on the router: TGI token events → text_completion chunks
//	nativeStream, preserveStream      TGI streams and preserve routes: passed through
//	tally                             usage from the stream (usage chunk, TGI details, else estimated), Started
//	eventError, appendOpenAIError     upstream error events; the error event that ends a failed stream
package translate

import (
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Capability translates one route_type (and llm_format) of the plugin.
// A Capability is stateless and shared by concurrent requests; what a request
// needs to carry from access to response travels in State.
type Capability interface {
	// Request validates the client request and builds the upstream request.
	// Errors are *Error values (or wrap one) carrying the client status; a
	// request that fails is never forwarded.
	Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error)
	// Response turns a buffered upstream response into the client response.
	// It is called for every status. A non-2xx upstream answer comes back as
	// a ClientResponse in the OpenAI error shape (ClientResponse.Error set);
	// an error return is a failure the plugin found itself (for example a
	// 200 body of the wrong shape → 502) and is, or wraps, an *Error.
	Response(cfg *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error)
}

// ClientRequest is what the access phase read from Kong.
type ClientRequest struct {
	// Method is the client's method when the handler read it; it may be
	// empty (reading it costs a PDK call and Kong forwards it anyway).
	Method string
	// Path is the client's request path as sent (no query).
	Path string
	// Query is the client's raw query string, without '?'.
	Query string
	// Headers has lower-case names, as kong.request.get_headers returns them.
	Headers map[string][]string
	Body    []byte
	// StreamRelay is set by the handler when a streamed answer goes through
	// the plugin's streaming relay, which translates events (Streamer).
	// Without it a stream that needs its events translated (completions
	// on the router) is refused, since Kong alone passes stream bytes
	// through unseen.
	StreamRelay bool
}

// UpstreamRequest is what the access phase applies to Kong's service request.
type UpstreamRequest struct {
	Scheme string // "http" or "https"
	Host   string
	Port   int
	// Path is the full upstream path (base path of the upstream URL plus the
	// capability's path, see UpstreamPath), starting with '/'.
	Path string
	// Query, when not nil, replaces the upstream query string (auth param,
	// client credentials removed).
	Query *string
	// Body, when not nil, replaces the request body. It is nil when the
	// client body goes upstream unchanged (one PDK call saved).
	Body []byte
	// SetHeaders are set on the upstream request (replacing client values).
	// Never "host": set_target already sets it, and Kong breaks on a Host list.
	SetHeaders map[string]string
	// ClearHeaders are removed from the upstream request (client credentials
	// for Kong that must not reach Hugging Face).
	ClearHeaders []string
	// Stream is true when the response is passed through unbuffered: Kong's
	// buffering is switched off and the response phase will not run.
	Stream bool
	// State is carried to the response phase (and the analytics).
	State State
}

// State is the per-request state carried from access to response through
// kong.ctx.shared. Keep it small: it crosses the socket twice. The handler
// skips carrying it when it equals ImpliedState(cfg), which the response
// phase can rebuild from the config alone.
type State struct {
	// Model is the resolved model name (config, else request body).
	Model string `json:"m"`
	// Mode selects the response conversion within the capability
	// (for example ModeGenerate for native /generate).
	Mode   string `json:"x,omitempty"`
	Stream bool   `json:"s,omitempty"`
	// Headers asks the response phase to read the response headers (one
	// more PDK call), for capabilities that take token counts from them.
	Headers bool `json:"h,omitempty"`
	// StartedAt is the access-phase time in Unix milliseconds, set by the
	// handler (this package never reads the clock).
	StartedAt int64 `json:"t,omitempty"`
	// PromptTokens is an estimate of the prompt's tokens, for analytics
	// (computed only when logging.log_statistics is on).
	PromptTokens int `json:"p,omitempty"`
	// Inputs is the number of inputs sent (embeddings), to check the answer.
	Inputs int `json:"n,omitempty"`
	// IncludeUsage is the client's stream_options.include_usage, for a
	// stream the plugin translates (completions on the router): its last
	// chunk then carries the usage, as OpenAI's does.
	IncludeUsage bool `json:"u,omitempty"`
	// Payload is ai.proxy.payload.request (logging.log_payloads): the
	// client body as logged (secrets removed, capped at PayloadLimit), set
	// by the handler. The response phase writes the whole record at once.
	Payload string `json:"q,omitempty"`
}

// ImpliedState is the State the response phase assumes when access carried
// none: the configured model and no mode. A capability whose State differs
// (model from the body, a mode, headers wanted) makes the handler carry it.
func ImpliedState(cfg *schema.Config) State {
	return State{Model: cfg.Model.Name}
}

// UpstreamResponse is what the response phase read from Kong.
type UpstreamResponse struct {
	Status int
	// Headers has lower-case names. It is nil unless State.Headers was set.
	Headers map[string][]string
	Body    []byte
}

// ClientResponse is what the client gets. A nil Body means "send the
// upstream body as it is" (no kong.response.exit needed).
type ClientResponse struct {
	Status  int
	Headers map[string]string
	Body    []byte
	Usage   Usage
	// Error is set when the response is an (upstream) error, for the logs.
	Error *Error
}

// Usage is what the response told about tokens, for ai.proxy.usage.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
	// Estimated is true when the figures are estimates, not the upstream's.
	Estimated bool
	// ResponseModel is the model the upstream said it used, if it said.
	ResponseModel string
}
