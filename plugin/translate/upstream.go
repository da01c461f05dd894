package translate

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Capability paths, appended to the upstream base by UpstreamPath.
const (
	PathChat        = "/v1/chat/completions"
	PathCompletions = "/v1/completions"
	PathGenerate    = "/generate"
	PathStream      = "/generate_stream"
	// routerModels prefixes the router's hf-inference model paths.
	routerModels = "/hf-inference/models/"
)

// Upstream returns the upstream base URL of a config and whether it is the
// Hugging Face router. schema.Parse derives both once per instance
// (cfg.Derived); a config built without Parse (tests, or a Parse that
// failed before deriving) gets the same answer computed here.
func Upstream(cfg *schema.Config) (*url.URL, bool, error) {
	if cfg.Derived.Upstream != nil {
		return cfg.Derived.Upstream, cfg.Derived.IsRouter, nil
	}
	raw := cfg.Model.Options.UpstreamURL
	isRouter := raw == ""
	if raw == "" {
		raw = schema.DefaultRouterURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, false, fmt.Errorf("model.options.upstream_url: %w", err)
	}
	if !isRouter {
		// The same test as schema's derive: the router's host, no path.
		def, _ := url.Parse(schema.DefaultRouterURL)
		isRouter = strings.EqualFold(u.Host, def.Host) && (u.Path == "" || u.Path == "/")
	}
	return u, isRouter, nil
}

// UpstreamPath is THE rule for where a request goes on its upstream:
//
// model.options.upstream_url is a base. The capability's path (for chat
// /v1/chat/completions) is appended to the base's path, except that trailing
// segments of the base that are already the leading segments of the
// capability path are not repeated. So, for chat:
//
//	https://router.huggingface.co                   → /v1/chat/completions
//	https://x.endpoints.huggingface.cloud           → /v1/chat/completions
//	https://x.endpoints.huggingface.cloud/v1/       → /v1/chat/completions   (OpenAI-style base)
//	http://tgi:8080/v1/chat/completions             → /v1/chat/completions   (full URL: kept as is)
//	http://gw/tgi                                   → /tgi/v1/chat/completions
//
// An upstream_url that already ends with the whole capability path is used
// as given, which is also the way to force any path.
func UpstreamPath(basePath, capPath string) string {
	base := strings.TrimRight(basePath, "/")
	capPath = strings.TrimRight(capPath, "/")
	if capPath == "" {
		if base == "" {
			return "/"
		}
		return base
	}
	// Longest overlap first: the whole capability path, then shorter
	// leading parts of it, each ending on a segment boundary.
	for end := len(capPath); end > 0; {
		head := capPath[:end]
		if strings.HasSuffix(base, head) {
			return base + capPath[end:]
		}
		end = strings.LastIndexByte(head, '/')
	}
	return base + capPath
}

// Target builds the upstream request's scheme, host, port and path for a
// capability path. The query is left alone (ApplyAuth decides it).
func Target(cfg *schema.Config, capPath string) (*UpstreamRequest, error) {
	u, _, err := Upstream(cfg)
	if err != nil {
		return nil, configError(err)
	}
	up := &UpstreamRequest{SetHeaders: map[string]string{}}
	if err := setTarget(up, u); err != nil {
		return nil, configError(err)
	}
	up.Path = UpstreamPath(u.EscapedPath(), capPath)
	return up, nil
}

// setTarget fills scheme, host and port from an absolute http(s) URL.
func setTarget(up *UpstreamRequest, u *url.URL) error {
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf("model.options.upstream_url: scheme %q is not http or https", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("model.options.upstream_url: no host")
	}
	port := 443
	if u.Scheme == "http" {
		port = 80
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("model.options.upstream_url: bad port %q", p)
		}
		port = n
	}
	up.Scheme, up.Host, up.Port = u.Scheme, host, port
	return nil
}

// configError is a config problem found while serving a request: a 500
// naming the field, since no client can fix it.
func configError(err error) *Error {
	return &Error{Status: 500, Message: "ai-proxy-hf is misconfigured: " + err.Error(), Type: "server_error", Err: err}
}
