// Package schema holds the plugin's configuration schema: one declaration in
// Kong's schema DSL from which the -dump output, the defaults and the Go-side
// validation are all derived, and the typed Config the handlers read.
package schema

import "net/url"

// DefaultRouterURL is Hugging Face's serverless router, the default upstream.
const DefaultRouterURL = "https://router.huggingface.co"

// Config is one plugin instance's configuration after defaults and
// validation. It is shared by every concurrent request of the instance and
// must be treated as read-only after Parse returns.
type Config struct {
	RouteType          string  `json:"route_type"`
	GenAICategory      string  `json:"genai_category"`
	LLMFormat          string  `json:"llm_format"`
	ResponseStreaming  string  `json:"response_streaming"`
	MaxRequestBodySize int     `json:"max_request_body_size"`
	ModelNameHeader    bool    `json:"model_name_header"`
	Auth               Auth    `json:"auth"`
	Model              Model   `json:"model"`
	Logging            Logging `json:"logging"`

	// Kong's bookkeeping keys, sent with every config (see
	// kong/runloop/plugins_iterator.lua); PluginID feeds ai.proxy.meta.plugin_id.
	PluginID string `json:"__plugin_id"`

	// Derived once per instance by Parse, never per request.
	Derived Derived `json:"-"`
}

// Auth is config.auth. Only the header and param fields matter for Hugging
// Face; the other providers' fields are accepted by the schema and ignored.
type Auth struct {
	HeaderName    string `json:"header_name"`
	HeaderValue   string `json:"header_value"`
	ParamName     string `json:"param_name"`
	ParamValue    string `json:"param_value"`
	ParamLocation string `json:"param_location"`
	AllowOverride bool   `json:"allow_override"`
}

// Model is config.model.
type Model struct {
	Provider string       `json:"provider"`
	Name     string       `json:"name"`
	Options  ModelOptions `json:"options"`
}

// ModelOptions is config.model.options. Pointers distinguish "not set" from
// zero, because set options fill in only what a request leaves out.
type ModelOptions struct {
	MaxTokens    *int               `json:"max_tokens"`
	InputCost    *float64           `json:"input_cost"`
	OutputCost   *float64           `json:"output_cost"`
	Temperature  *float64           `json:"temperature"`
	TopP         *float64           `json:"top_p"`
	TopK         *int               `json:"top_k"`
	UpstreamURL  string             `json:"upstream_url"`
	UpstreamPath string             `json:"upstream_path"`
	HuggingFace  HuggingFaceOptions `json:"huggingface"`
}

// HuggingFaceOptions is config.model.options.huggingface.
type HuggingFaceOptions struct {
	UseCache     *bool `json:"use_cache"`
	WaitForModel *bool `json:"wait_for_model"`
}

// Logging is config.logging.
type Logging struct {
	LogStatistics bool `json:"log_statistics"`
	LogPayloads   bool `json:"log_payloads"`
}

// Derived holds values computed from the config once, at instance start.
type Derived struct {
	// Upstream is model.options.upstream_url parsed, or the router
	// (DefaultRouterURL, or the process-wide override RouterURL) when unset.
	Upstream *url.URL
	// IsRouter is true when Upstream is the Hugging Face router (its paths
	// follow the router's conventions: /hf-inference/models/{model}/...),
	// false for a dedicated Inference Endpoint or a self-hosted TGI/TEI.
	IsRouter bool
}
