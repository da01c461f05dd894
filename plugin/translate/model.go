package translate

import (
	"net/http"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// Kong's own messages for model selection (normalize-request), kept verbatim
// so that clients and docs written for Kong's ai-proxy still match.
const (
	msgNoModel       = "model parameter not found in request, nor in gateway configuration"
	msgOwnModelStart = "cannot use own model - must be: "
)

// maxModelIDLen bounds a model id: Hub ids are at most 96 characters per
// part; the suffix is short. Anything longer is not a Hub id.
const maxModelIDLen = 256

// ResolveModel picks the model of a request the way Kong does: model.name
// from the config, else the body's "model"; a body model that differs from a
// configured one is refused, and so is no model at all. The result is a
// validated Hugging Face id (ValidateModelID). body must be a JSON object
// already checked by ParseObject.
func ResolveModel(cfg *schema.Config, body []byte) (string, error) {
	return resolveModelValue(cfg, gjson.GetBytes(body, "model"))
}

// resolveModelValue is ResolveModel for a "model" value already read.
func resolveModelValue(cfg *schema.Config, m gjson.Result) (string, error) {
	name, err := modelFrom(cfg, m)
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", Errorf(http.StatusBadRequest, msgNoModel)
	}
	if err := ValidateModelID(name); err != nil {
		return "", err
	}
	return name, nil
}

// modelCandidate is the model before validation; "" when there is none.
func modelCandidate(cfg *schema.Config, body []byte) (string, error) {
	return modelFrom(cfg, gjson.GetBytes(body, "model"))
}

// msgModelIsURL completes msgNoModel when the request's model was a URL.
const msgModelIsURL = "; the request's \"model\" is a URL, which @huggingface/inference sends (its endpointUrl) when it is given no model: set model.name in the plugin's config, or pass a Hugging Face model id as \"model\""

// modelFrom picks config name or the body's model value (not validated).
//
// A body model that is an http(s) URL counts as no model: it is never a Hub
// id, and it is what @huggingface/inference puts in "model" (its
// endpointUrl, here the Kong route) for chatCompletion, and from 4.13.17 on
// for textGeneration, when the caller gave none. The config's model serves
// it; with none configured the error says so.
func modelFrom(cfg *schema.Config, m gjson.Result) (string, error) {
	var fromBody string
	isURL := false
	switch m.Type {
	case gjson.Null: // absent or null: no model asked for
	case gjson.String:
		if isURL = hasURLScheme(m.Str); !isURL {
			fromBody = m.Str
		}
	default:
		return "", Errorf(http.StatusBadRequest, "the request's \"model\" must be a string")
	}
	configured := cfg.Model.Name
	if configured == "" {
		if isURL {
			return "", Errorf(http.StatusBadRequest, "%s%s", msgNoModel, msgModelIsURL)
		}
		return fromBody, nil
	}
	if fromBody != "" && fromBody != configured {
		return "", Errorf(http.StatusBadRequest, "%s%s", msgOwnModelStart, configured)
	}
	return configured, nil
}

// hasURLScheme reports whether s starts with http:// or https:// (scheme
// case-insensitive).
func hasURLScheme(s string) bool {
	for _, p := range []string{"http://", "https://"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// ValidateModelID accepts a Hugging Face model id: "org/name", optionally
// followed by ":policy" (":fastest", ":cheapest", ":preferred") or
// ":provider" (for example ":groq"). The id ends up in upstream paths and
// headers while the gateway's token is attached, so everything else is
// refused: more slashes, "..", '?', '#', '%', spaces, control characters.
func ValidateModelID(id string) error {
	if len(id) > maxModelIDLen {
		return invalidModel(id, "it is longer than 256 characters")
	}
	repo, suffix, hasSuffix := strings.Cut(id, ":")
	org, name, ok := strings.Cut(repo, "/")
	if !ok {
		return invalidModel(id, "expected <org>/<name>")
	}
	if strings.Contains(name, "/") {
		return invalidModel(id, "it has more than one '/'")
	}
	if !hubPart(org) || !hubPart(name) {
		return invalidModel(id, "<org> and <name> take letters, digits, '-', '_' and '.', and may not start with '.' or contain '..'")
	}
	if hasSuffix && !providerPart(suffix) {
		return invalidModel(id, "the part after ':' must be a provider or policy such as fastest, cheapest or groq")
	}
	return nil
}

func invalidModel(id, why string) *Error {
	return &Error{
		Status:  http.StatusBadRequest,
		Message: "model " + quoteForMessage(id) + " is not a valid Hugging Face model id: " + why,
		Code:    "invalid_model",
	}
}

// hubPart reports whether s is one part of a Hub repo id.
func hubPart(s string) bool {
	if s == "" || s[0] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// providerPart reports whether s is a router provider or policy name.
func providerPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// quoteForMessage quotes a client-supplied value for an error message,
// escaping control characters and cutting it short, so a message never
// carries a huge or unprintable echo of the input.
func quoteForMessage(s string) string {
	const max = 80
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		if i >= max {
			b.WriteString("…")
			break
		}
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == 0xfffd:
			b.WriteString("?")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// RouterModelPath is the model as the router's hf-inference paths take it
// (/hf-inference/models/{model}/...): those paths have no provider suffix,
// so the hf-inference provider and the routing policies are dropped, and any
// other provider is refused because hf-inference is the only provider that
// serves them.
func RouterModelPath(model string) (string, error) {
	repo, suffix, ok := strings.Cut(model, ":")
	if !ok {
		return repo, nil
	}
	switch suffix {
	case "hf-inference", "fastest", "cheapest", "preferred":
		return repo, nil
	}
	return "", Errorf(http.StatusBadRequest,
		"model %s asks for provider %q, but this route uses the router's hf-inference API, which only the hf-inference provider serves; drop the \":%s\" suffix",
		quoteForMessage(model), suffix, suffix)
}
