package translate

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// Native serves llm_format huggingface (route_type llm/v1/chat): the client
// speaks TGI's native API, as huggingface_hub's and @huggingface/inference's
// text-generation clients do against an endpoint URL.
//
// The client path picks the endpoint by its last segment:
//
//	…/generate          {"inputs","parameters"} → {"generated_text","details"}
//	…/generate_stream   the same, answered as TGI token events (SSE)
//	…/v1/completions    OpenAI completions, served as route_type
//	                    llm/v1/completions serves them (passed through to a
//	                    dedicated upstream, translated on the router)
//	…/v1/chat/completions
//	                    OpenAI chat, served as route_type llm/v1/chat
//	                    (llm_format openai) serves it
//	anything else       TGI's compat route "/" (what @huggingface/inference
//	                    4.13.16 calls with endpointUrl): "stream": true in
//	                    the body streams, otherwise the answer is
//	                    [{"generated_text"}]
//
// The two OpenAI paths are what a client pointed at a TGI endpoint also
// calls there: @huggingface/inference with endpointUrl sends chatCompletion
// to <endpointUrl>/v1/chat/completions, and from 4.13.17 on textGeneration
// and textGenerationStream to <endpointUrl>/v1/completions. TGI serves both
// itself, so a route in front of TGI (or of the router) serves them too
// instead of refusing every newer client's text generation.
//
// On a dedicated upstream the request goes to that endpoint (UpstreamPath
// rule). On the router, which has no /generate, it goes to hf-inference
// text-generation, POST /hf-inference/models/{model}, with "stream": true
// added for a stream; its [{"generated_text"}] answer is unwrapped to the
// object /generate returns. Bodies pass through with model.options filled
// into "parameters" (request values win).
type Native struct{}

var _ Capability = Native{}

// Native modes, carried in State.Mode: what shape the client expects.
const (
	// modeCompat ("", the implied mode): the compat route; pass through.
	modeCompat = ""
	// ModeGenerate: /generate, one {"generated_text"} object.
	ModeGenerate = "generate"
	// ModeCompletions: OpenAI completions, answered by [Completions].
	ModeCompletions = "completions"
	// ModeChat: OpenAI chat, answered by [Chat].
	ModeChat = "chat"
)

// msgNativeRouterCompletionsStream replaces msgRouterCompletionsStream on a
// native route, where route_type llm/v1/chat is already set and the client
// is most likely @huggingface/inference's textGenerationStream.
const msgNativeRouterCompletionsStream = "a streamed OpenAI completions request (what @huggingface/inference 4.13.17 and later send for textGenerationStream, to <endpointUrl>/v1/completions) " +
	"cannot be served through the Hugging Face router without the plugin's streaming relay: each text-generation event needs translating to OpenAI; " +
	"set model.options.upstream_url to the TGI server or Inference Endpoint (it serves /v1/completions, streamed as is), or use chatCompletionStream, or send \"stream\": false"

// nativeOpenAIMode is ModeCompletions or ModeChat when the client path is
// one of TGI's OpenAI endpoints, else "".
func nativeOpenAIMode(path string) string {
	p := strings.TrimRight(path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return ModeChat
	case lastSegment(p) == "completions":
		return ModeCompletions
	}
	return ""
}

// openAIServer is a capability that serves the native route's OpenAI
// requests: their request, answer and stream.
type openAIServer interface {
	Capability
	Streamer
}

// nativeOpenAIServer is the capability of an OpenAI mode (ModeCompletions,
// ModeChat), nil for TGI's own modes.
func nativeOpenAIServer(mode string) openAIServer {
	switch mode {
	case ModeCompletions:
		return Completions{}
	case ModeChat:
		return Chat{}
	}
	return nil
}

// nativeOpenAI serves an OpenAI request sent to the native route with the
// capability of its route type; State.Mode tells Response which one.
func nativeOpenAI(cfg *schema.Config, in *ClientRequest, mode string) (*UpstreamRequest, error) {
	up, err := nativeOpenAIServer(mode).Request(cfg, in)
	if err != nil {
		if e := AsError(err); e.Code == codeStreamNotSupported {
			return nil, &Error{Status: e.Status, Message: msgNativeRouterCompletionsStream, Code: e.Code}
		}
		return nil, err
	}
	up.State.Mode = mode
	return up, nil
}

// Request implements [Capability.Request].
func (Native) Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error) {
	if err := CheckBodySize(cfg, int64(len(in.Body))); err != nil {
		return nil, err
	}
	if mode := nativeOpenAIMode(in.Path); mode != "" {
		return nativeOpenAI(cfg, in, mode)
	}
	if err := ParseObject(in.Body); err != nil {
		return nil, err
	}
	body := in.Body
	if gjson.GetBytes(body, "inputs").Type != gjson.String {
		return nil, Errorf(http.StatusBadRequest, msgNativeBody)
	}
	if p := gjson.GetBytes(body, "parameters"); p.Exists() && p.Type != gjson.Null && !p.IsObject() {
		return nil, Errorf(http.StatusBadRequest, "\"parameters\" must be an object")
	}
	model, err := ResolveModel(cfg, body)
	if err != nil {
		return nil, err
	}

	endpoint := lastSegment(in.Path)
	asked := hasTrue(body, "stream") || endpoint == "generate_stream"
	stream, err := StreamRequested(cfg, asked)
	if err != nil {
		return nil, err
	}
	if stream && !asked {
		return nil, Errorf(http.StatusBadRequest, "this route streams every response (response_streaming: always); call /generate_stream or send \"stream\": true")
	}
	mode := modeCompat
	if endpoint == "generate" || endpoint == "generate_stream" {
		mode = ModeGenerate
	}

	body, changed, err := FillOptions(cfg, body, TGIOptions)
	if err != nil {
		return nil, err
	}
	up, err := nativeTarget(cfg, model, mode, stream)
	if err != nil {
		return nil, err
	}
	if stream && !strings.HasSuffix(up.Path, PathStream) && !hasTrue(body, "stream") {
		// The router and TGI's compat route stream only when asked in the body.
		if body, err = setRaw(body, "stream", "true"); err != nil {
			return nil, err
		}
		changed = true
	}
	jsonRequestHeaders(cfg, up, stream)
	body, authChanged, err := ApplyAuth(cfg, in, up, body)
	if err != nil {
		return nil, err
	}
	if changed || authChanged {
		up.Body = body
	}
	up.Stream = stream
	up.State = State{Model: model, Mode: mode, Stream: stream, Headers: cfg.Logging.LogStatistics}
	if cfg.Logging.LogStatistics {
		up.State.PromptTokens = EstimatePrompt(body, stream)
	}
	return up, nil
}

// NewStream implements [Streamer]: TGI token events pass through
// untouched (see nativeStream for usage and failures); an OpenAI request
// (State.Mode) streams as its own route type's does.
func (Native) NewStream(cfg *schema.Config, st *State) Stream {
	if c := nativeOpenAIServer(st.Mode); c != nil {
		return c.NewStream(cfg, st)
	}
	return &nativeStream{tally: tally{st: st}}
}

// msgNativeBody is the error for a body that is not TGI's on a TGI path; it
// names the paths that take OpenAI bodies, since those are what a client
// sending one most likely meant.
const msgNativeBody = "llm_format huggingface takes TGI requests: {\"inputs\": \"<prompt>\", \"parameters\": {...}}; \"inputs\" must be a string. " +
	"OpenAI requests go to <route>/v1/completions (completions) or <route>/v1/chat/completions (chat)"

// nativeTarget is the upstream of a native request: on the router the
// model's hf-inference text-generation path; elsewhere /generate,
// /generate_stream or the compat root.
func nativeTarget(cfg *schema.Config, model, mode string, stream bool) (*UpstreamRequest, error) {
	_, isRouter, err := Upstream(cfg)
	if err != nil {
		return nil, configError(err)
	}
	if isRouter {
		repo, err := RouterModelPath(model)
		if err != nil {
			return nil, err
		}
		return Target(cfg, routerModels+repo)
	}
	switch {
	case mode == ModeGenerate && stream:
		return Target(cfg, PathStream)
	case mode == ModeGenerate:
		return Target(cfg, PathGenerate)
	default:
		return Target(cfg, "")
	}
}

// lastSegment is the last non-empty segment of a path.
func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// Response implements [Capability.Response].
func (Native) Response(cfg *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error) {
	if c := nativeOpenAIServer(st.Mode); c != nil {
		return c.Response(cfg, st, in)
	}
	if in.Status < 200 || in.Status > 299 {
		return errorResponse(in), nil
	}
	body := bytes.TrimSpace(in.Body)
	if looksLikeSSE(body) {
		return &ClientResponse{Status: in.Status, Usage: Usage{PromptTokens: st.PromptTokens, TotalTokens: st.PromptTokens, Estimated: true}}, nil
	}
	if !gjson.ValidBytes(body) {
		return nil, badGateway("the upstream answered %d with a body that is not JSON; expected TGI's {\"generated_text\": ...}", in.Status)
	}
	if body[0] == '{' {
		if e := gjson.GetBytes(body, "error"); e.Exists() && e.Type != gjson.Null {
			return nil, badGateway("the upstream answered %d with an error: %s", in.Status, UpstreamError(in.Status, body).Message)
		}
	}
	gens, ok := legacyGenerated(body)
	if !ok {
		return nil, badGateway("the upstream answered %d with JSON that is not TGI's {\"generated_text\": ...}", in.Status)
	}
	out := &ClientResponse{Status: in.Status, Usage: nativeUsage(st, in.Headers, gens)}
	if st.Mode == ModeGenerate && body[0] == '[' {
		// /generate answers one object; the router's hf-inference a list.
		out.Body = []byte(gjson.GetBytes(body, "0").Raw)
		out.Headers = jsonHeaders(nil)
	}
	return out, nil
}

// nativeUsage takes token counts from TGI's headers, else from
// details.generated_tokens (prompt estimated), else estimates both.
func nativeUsage(st *State, h map[string][]string, gens []generated) Usage {
	if u, ok := UsageFromHeaders(h); ok {
		return u
	}
	tokens, text := 0, ""
	for _, g := range gens {
		tokens += g.Tokens
		text += g.Text
	}
	if tokens > 0 {
		return Usage{PromptTokens: st.PromptTokens, CompletionTokens: tokens, TotalTokens: st.PromptTokens + tokens, Estimated: true}
	}
	return estimatedUsage(st, text)
}
