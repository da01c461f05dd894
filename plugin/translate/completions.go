package translate

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// Completions serves route_type llm/v1/completions (OpenAI completions in,
// OpenAI text_completion out).
//
// On a dedicated upstream (model.options.upstream_url: TGI, vLLM, an
// Inference Endpoint) the upstream speaks OpenAI /v1/completions itself: the
// request and the response pass through like chat, streams included.
//
// On the router there is no OpenAI completions endpoint; the request is
// translated to hf-inference text-generation, POST
// /hf-inference/models/{model} {"inputs","parameters"}, and its
// [{"generated_text"}] answer back to a text_completion. A stream is asked
// as text-generation with "stream": true and details (for finish_reason and
// the token count), and its token events are translated to text_completion
// chunks by the plugin's streaming relay (textgenStream). That cannot be
// done inside Kong (a Go plugin sees no body of an unbuffered response), so
// without the relay (ClientRequest.StreamRelay unset) a streamed
// completions request on the router is refused with a 400 that names the
// setting that makes it work.
type Completions struct{}

var _ Capability = Completions{}

// msgRouterCompletionsStream explains the one stream this route cannot serve.
const msgRouterCompletionsStream = "streaming llm/v1/completions through the Hugging Face router would need each event translated from text-generation to OpenAI, which a Kong Go plugin cannot do; " +
	"set model.options.upstream_url to a TGI or vLLM server (it serves OpenAI /v1/completions, streamed as is), or use route_type llm/v1/chat, or send \"stream\": false"

// codeStreamNotSupported is the error code of that refusal.
const codeStreamNotSupported = "stream_not_supported"

// Request implements [Capability.Request].
func (Completions) Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error) {
	_, isRouter, err := Upstream(cfg)
	if err != nil {
		return nil, configError(err)
	}
	b, err := parseOpenAI(cfg, in, RouteCompletions)
	if err != nil {
		return nil, err
	}
	if !isRouter {
		return openAIUpstream(cfg, in, b, PathCompletions)
	}
	if b.stream && !in.StreamRelay {
		return nil, &Error{Status: http.StatusBadRequest, Message: msgRouterCompletionsStream, Code: codeStreamNotSupported}
	}
	return textGenerationRequest(cfg, in, b)
}

// tgParameters are the hf-inference text-generation parameters an OpenAI
// completions request maps to. Values are the client's raw JSON, so numbers
// keep their exact text.
type tgParameters struct {
	MaxNewTokens     json.RawMessage `json:"max_new_tokens,omitempty"`
	Temperature      json.RawMessage `json:"temperature,omitempty"`
	TopP             json.RawMessage `json:"top_p,omitempty"`
	TopK             json.RawMessage `json:"top_k,omitempty"`
	Seed             json.RawMessage `json:"seed,omitempty"`
	FrequencyPenalty json.RawMessage `json:"frequency_penalty,omitempty"`
	Stop             []string        `json:"stop,omitempty"`
	ReturnFullText   bool            `json:"return_full_text"`
	// Details asks a stream's last event for finish_reason and
	// generated_tokens (TGI sends none by default).
	Details bool `json:"details,omitempty"`
}

type tgRequest struct {
	Inputs     string       `json:"inputs"`
	Parameters tgParameters `json:"parameters"`
	Stream     bool         `json:"stream,omitempty"`
}

// textGenerationRequest builds the router's hf-inference text-generation
// request from a validated OpenAI completions body.
func textGenerationRequest(cfg *schema.Config, in *ClientRequest, b *openAIBody) (*UpstreamRequest, error) {
	repo, err := RouterModelPath(b.model)
	if err != nil {
		return nil, err
	}
	tg, err := toTextGeneration(b.body)
	if err != nil {
		return nil, err
	}
	if b.stream {
		tg.Stream, tg.Parameters.Details = true, true
	}
	body, err := json.Marshal(tg)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "ai-proxy-hf could not build the upstream request", Type: "server_error", Err: err}
	}
	up, err := Target(cfg, routerModels+repo)
	if err != nil {
		return nil, err
	}
	// Identity encoding for a stream too: the relay reads its events.
	jsonRequestHeaders(cfg, up, false)
	if body, _, err = ApplyAuth(cfg, in, up, body); err != nil {
		return nil, err
	}
	up.Body = body
	if b.stream {
		// Usage comes from the stream's last event, not from headers.
		up.Stream = true
		up.State = State{Model: b.model, Stream: true,
			IncludeUsage: gjson.GetBytes(b.body, "stream_options.include_usage").Type == gjson.True}
	} else {
		// The token headers of the answer (x-prompt-tokens,
		// x-generated-tokens) are worth their PDK call only when
		// statistics are logged.
		up.State = State{Model: b.model, Headers: cfg.Logging.LogStatistics}
	}
	if cfg.Logging.LogStatistics {
		up.State.PromptTokens = EstimatePrompt(b.body, b.stream)
	}
	return up, nil
}

// toTextGeneration maps an OpenAI completions body (model, options already
// merged in) to {"inputs","parameters"}. OpenAI fields with no
// text-generation equivalent (logprobs, suffix, user, logit_bias,
// presence_penalty) are dropped; n > 1 and several prompts are refused
// rather than answered with one choice.
func toTextGeneration(body []byte) (*tgRequest, error) {
	root := gjson.ParseBytes(body)
	if err := checkTextGenerationFields(root); err != nil {
		return nil, err
	}
	prompt := root.Get("prompt")
	if prompt.IsArray() {
		items := prompt.Array()
		if len(items) != 1 || items[0].Type != gjson.String {
			return nil, Errorf(http.StatusBadRequest, "the router's text-generation takes one prompt string; send \"prompt\" as a string (or use an upstream_url serving /v1/completions for batches and token prompts)")
		}
		prompt = items[0]
	}
	if n := root.Get("n"); n.Exists() && n.Type != gjson.Null && n.Int() != 1 {
		return nil, Errorf(http.StatusBadRequest, "the router's text-generation returns one completion per request; \"n\" must be 1")
	}
	p := tgParameters{
		MaxNewTokens:     rawNumber(root.Get("max_tokens")),
		Temperature:      rawNumber(root.Get("temperature")),
		TopP:             rawNumber(root.Get("top_p")),
		TopK:             rawNumber(root.Get("top_k")),
		Seed:             rawNumber(root.Get("seed")),
		FrequencyPenalty: rawNumber(root.Get("frequency_penalty")),
		ReturnFullText:   root.Get("echo").Type == gjson.True,
	}
	if p.MaxNewTokens == nil {
		p.MaxNewTokens = rawNumber(root.Get("max_completion_tokens"))
	}
	switch stop := root.Get("stop"); {
	case stop.Type == gjson.String:
		p.Stop = []string{stop.Str}
	case stop.IsArray():
		for _, s := range stop.Array() {
			if s.Type != gjson.String {
				return nil, Errorf(http.StatusBadRequest, "\"stop\" must be a string or an array of strings")
			}
			p.Stop = append(p.Stop, s.Str)
		}
	}
	return &tgRequest{Inputs: prompt.Str, Parameters: p}, nil
}

// rawNumber is a JSON number's exact text, or nil for anything else.
func rawNumber(r gjson.Result) json.RawMessage {
	if r.Type != gjson.Number {
		return nil
	}
	return json.RawMessage(r.Raw)
}

// NewStream implements [Streamer]: on the router the text-generation token
// events are translated to text_completion chunks (textgenStream); on an
// upstream_url the OpenAI chunks pass through as for chat.
func (Completions) NewStream(cfg *schema.Config, st *State) Stream {
	if _, isRouter, err := Upstream(cfg); err == nil && isRouter {
		return newTextgenStream(st)
	}
	return newOpenAIStream(st)
}

// Response implements [Capability.Response].
func (Completions) Response(cfg *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error) {
	_, isRouter, err := Upstream(cfg)
	if err != nil {
		return nil, configError(err)
	}
	if !isRouter {
		return openAIResponse(st, in, objectTextCompletion)
	}
	if in.Status < 200 || in.Status > 299 {
		return errorResponse(in), nil
	}
	body := bytes.TrimSpace(in.Body)
	if !gjson.ValidBytes(body) {
		return nil, badGateway("the router's text-generation answered %d with a body that is not JSON; expected [{\"generated_text\": ...}]", in.Status)
	}
	if e := gjson.GetBytes(body, "error"); len(body) > 0 && body[0] == '{' && e.Exists() && e.Type != gjson.Null {
		return nil, badGateway("the upstream answered %d with an error: %s", in.Status, UpstreamError(in.Status, body).Message)
	}
	resp, err := legacyToOpenAI(st, in.Status, body, objectTextCompletion)
	if err != nil {
		return nil, err
	}
	if u, ok := UsageFromHeaders(in.Headers); ok {
		resp.Usage = u
		return withUsage(resp)
	}
	return resp, nil
}

// withUsage rewrites the usage object of a built response after better
// figures (the upstream's token headers) replaced the estimate.
func withUsage(resp *ClientResponse) (*ClientResponse, error) {
	u := resp.Usage
	raw, err := json.Marshal(openAIUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens})
	if err != nil {
		return nil, editError(err)
	}
	body, err := setRaw(resp.Body, "usage", string(raw))
	if err != nil {
		return nil, err
	}
	resp.Body = body
	return resp, nil
}
