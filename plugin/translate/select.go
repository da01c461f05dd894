package translate

import (
	"fmt"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Route types and client formats this package knows (config values).
const (
	RouteChat        = "llm/v1/chat"
	RouteCompletions = "llm/v1/completions"
	RoutePreserve    = "preserve"
	RouteEmbeddings  = "llm/v1/embeddings"
	RouteVideo       = "video/v1/videos/generations"

	FormatOpenAI      = "openai"
	FormatHuggingFace = "huggingface"
)

// routeCapabilities holds the capabilities that live in files written
// alongside this one (embeddings*.go, video*.go). Each registers its route
// type from an init function with registerRoute, so that the selector below
// does not have to change when one is added. Written only during package
// initialisation, read-only afterwards.
var routeCapabilities = map[string]func(cfg *schema.Config) (Capability, error){}

// registerRoute adds the constructor of a capability for a route type. It
// is for init functions only; registering a route twice is a programming
// error caught by the tests of For.
func registerRoute(routeType string, build func(cfg *schema.Config) (Capability, error)) {
	routeCapabilities[routeType] = build
}

// For selects the capability that serves a config, by route_type and
// llm_format. It is called once per plugin instance, never per request. An
// unsupported combination is an error naming both fields.
func For(cfg *schema.Config) (Capability, error) {
	format := cfg.LLMFormat
	if format == "" {
		format = FormatOpenAI
	}
	switch {
	case cfg.RouteType == RoutePreserve:
		return Preserve{}, nil
	case cfg.RouteType == RouteChat && format == FormatOpenAI:
		return Chat{}, nil
	case cfg.RouteType == RouteChat && format == FormatHuggingFace:
		return Native{}, nil
	case cfg.RouteType == RouteCompletions && format == FormatOpenAI:
		return Completions{}, nil
	case format == FormatOpenAI && routeCapabilities[cfg.RouteType] != nil:
		return routeCapabilities[cfg.RouteType](cfg)
	default:
		return nil, fmt.Errorf("route_type %q with llm_format %q is not supported by the huggingface provider of ai-proxy-hf", cfg.RouteType, format)
	}
}
