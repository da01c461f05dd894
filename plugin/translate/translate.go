// Package translate holds the per-capability translation of requests and
// responses between the client's format (OpenAI, or TGI's native API) and
// Hugging Face's. Everything here is a pure function of bytes and the
// read-only config: no PDK, no I/O. The phase handlers in package plugin do
// the talking to Kong and call in here.
package translate

import (
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Capability translates one route_type (and llm_format) of the plugin.
// A Capability is stateless and shared by concurrent requests; what a request
// needs to carry from access to response travels in State.
type Capability interface {
	// Request validates the client request and builds the upstream request.
	// Errors are *Error values (or wrap one) carrying the client status.
	Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error)
	// Response turns a buffered upstream response into the client response.
	// It is called for every status; non-2xx bodies are normalised to the
	// OpenAI error shape.
	Response(cfg *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error)
}

// ClientRequest is what the access phase read from Kong.
type ClientRequest struct {
	Method string
	// Path is the client's request path as Kong normalised it (no query).
	Path string
	// Query is the client's raw query string, without '?'.
	Query string
	// Headers has lower-case names, as kong.request.get_headers returns them.
	Headers map[string][]string
	Body    []byte
}

// UpstreamRequest is what the access phase applies to Kong's service request.
type UpstreamRequest struct {
	Scheme string // "http" or "https"
	Host   string
	Port   int
	// Path is the full upstream path (base path of the upstream URL plus the
	// capability's path), starting with '/'.
	Path string
	// Query, when not nil, replaces the upstream query string (auth param).
	Query *string
	// Body, when not nil, replaces the request body.
	Body []byte
	// SetHeaders are set on the upstream request (replacing client values).
	SetHeaders map[string]string
	// ClearHeaders are removed from the upstream request.
	ClearHeaders []string
	// Stream is true when the response is streamed: Kong's buffering is
	// switched off and the response phase will not run.
	Stream bool
	// State is carried to the response phase (and the analytics).
	State State
}

// State is the per-request state carried from access to response through
// kong.ctx.shared. Keep it small: it crosses the socket twice.
type State struct {
	Model string `json:"m"`
	// Mode selects the response conversion within the capability
	// (for example "textgen" for router text-generation completions).
	Mode   string `json:"x,omitempty"`
	Stream bool   `json:"s,omitempty"`
	// StartedAt is the access-phase time in Unix milliseconds.
	StartedAt int64 `json:"t"`
	// PromptTokens is an estimate of the prompt's tokens, for analytics.
	PromptTokens int `json:"p,omitempty"`
	// Inputs is the number of inputs sent (embeddings), to check the answer.
	Inputs int `json:"n,omitempty"`
}

// UpstreamResponse is what the response phase read from Kong.
type UpstreamResponse struct {
	Status int
	// Headers has lower-case names.
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
