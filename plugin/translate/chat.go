package translate

import (
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Chat serves route_type llm/v1/chat with llm_format openai: OpenAI chat
// completions in and out. The router and TGI/vLLM all speak OpenAI chat at
// /v1/chat/completions, so the body goes through with only "model" set and
// model.options filled in; the response goes back with only "model" set.
type Chat struct{}

var _ Capability = Chat{}

// Request implements [Capability.Request].
func (Chat) Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error) {
	b, err := parseOpenAI(cfg, in, RouteChat)
	if err != nil {
		return nil, err
	}
	return openAIUpstream(cfg, in, b, PathChat)
}

// NewStream implements [Streamer]: OpenAI chunks pass through; usage comes
// from the usage chunk, else it is estimated.
func (Chat) NewStream(_ *schema.Config, st *State) Stream { return newOpenAIStream(st) }

// Response implements [Capability.Response].
func (Chat) Response(_ *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error) {
	return openAIResponse(st, in, objectChat)
}
