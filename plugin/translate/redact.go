package translate

import (
	"net/url"
	"sort"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// minSecret is the shortest value the Redactor removes from free text: a
// shorter one would garble every log line it occurs in, and is no secret
// worth the name. Kong record fields holding a credential (see LogEdits)
// are replaced whatever their length.
const minSecret = 4

// Redactor removes secret values from text bound for the logs (payloads,
// error messages, kong.log lines): the configured auth.header_value and
// auth.param_value, and with WithRequest the credentials the client sent
// (Authorization, Proxy-Authorization, apikey, api-key, x-api-key, the
// configured auth header, credential query parameters). A value "Bearer X"
// is removed as a whole and X alone too. A nil *Redactor removes nothing.
type Redactor struct {
	secrets []string
	r       *strings.Replacer
}

// NewRedactor builds the Redactor of an instance's config secrets, once.
func NewRedactor(cfg *schema.Config) *Redactor {
	r := &Redactor{}
	r.add(cfg.Auth.HeaderValue)
	r.add(cfg.Auth.ParamValue)
	r.build()
	return r
}

// WithRequest returns a Redactor that also removes the credentials this
// request carries in its headers and query.
func (r *Redactor) WithRequest(cfg *schema.Config, in *ClientRequest) *Redactor {
	out := &Redactor{}
	if r != nil {
		out.secrets = append(out.secrets, r.secrets...)
	}
	if in == nil {
		return out.build()
	}
	for _, h := range secretHeaders(cfg) {
		for _, v := range in.Headers[h] {
			out.add(v)
		}
	}
	if in.Headers != nil {
		for _, v := range in.Headers["authorization"] {
			out.add(v)
		}
		for _, v := range in.Headers["proxy-authorization"] {
			out.add(v)
		}
	}
	for _, part := range strings.Split(in.Query, "&") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || !secretParam(cfg, unescapeQuery(k)) {
			continue
		}
		out.add(v)
		out.add(unescapeQuery(v))
	}
	return out.build()
}

// add records a secret value, and the credential after its scheme.
func (r *Redactor) add(v string) {
	v = strings.TrimSpace(v)
	if len(v) < minSecret {
		return
	}
	r.secrets = append(r.secrets, v)
	if i := strings.LastIndexByte(v, ' '); i >= 0 {
		if tok := strings.TrimSpace(v[i+1:]); len(tok) >= minSecret {
			r.secrets = append(r.secrets, tok)
		}
	}
}

// build makes the replacer: longest secrets first, so a value is removed
// whole before a part of it could match.
func (r *Redactor) build() *Redactor {
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	pairs := make([]string, 0, 2*len(r.secrets))
	seen := map[string]bool{}
	for _, s := range r.secrets {
		if !seen[s] {
			seen[s] = true
			pairs = append(pairs, s, Redacted)
		}
	}
	if len(pairs) > 0 {
		r.r = strings.NewReplacer(pairs...)
	}
	return r
}

// String returns s with every secret replaced by REDACTED.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	// Usually nothing matches: a search per secret (a handful) costs no
	// allocation, where the replacer would copy the text.
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			return r.r.Replace(s)
		}
	}
	return s
}

// secretHeaders are the request headers whose values Kong's serializer
// would write as they are (it redacts only authorization and
// proxy-authorization): the client credential headers and the configured
// auth header.
func secretHeaders(cfg *schema.Config) []string {
	out := []string{"apikey", "api-key", "x-api-key", "cookie"}
	if h := strings.ToLower(cfg.Auth.HeaderName); h != "" && h != "authorization" && h != "proxy-authorization" && !contains(out, h) {
		out = append(out, h)
	}
	return out
}

// secretParam reports whether a query parameter carries a credential: a
// client's for Kong, or the configured auth param.
func secretParam(cfg *schema.Config, key string) bool {
	if isCredentialParam(key) {
		return true
	}
	a := cfg.Auth
	return a.ParamName != "" && a.ParamLocation == "query" && key == a.ParamName
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// LogEdit is one kong.log.set_serialize_value edit of Kong's own part of
// the log record.
type LogEdit struct {
	Key   string
	Value string
}

// KongRecordEdits is what keeps credentials out of the fields Kong's
// serializer fills from the request (kong/pdk/log.lua serialize).
type KongRecordEdits struct {
	// Edits are set as they are.
	Edits []LogEdit
	// URI, when not empty, is request.uri with its credentials redacted
	// (already in Edits); request.url must be rewritten too, as
	// scheme://host:port followed by URI, which only Kong can tell.
	URI string
	// UpstreamQuery, when not empty, is the query of a rejected request's
	// upstream_uri with its credentials redacted: Kong built upstream_uri
	// from the route's path and the client's query before the plugin ran,
	// so it must be rewritten as that path (Kong's to tell) + "?" + this.
	UpstreamQuery string
}

// LogEdits lists the edits that keep credentials out of Kong's own part of
// the record: a request header or query parameter holding a credential is
// written as REDACTED. up is the forwarded request, nil for one the plugin
// rejected (then the client's headers and query are logged as sent).
//
//   - request.headers.<name>: the configured auth header (unless it is
//     authorization or proxy-authorization, which Kong redacts itself) and,
//     on a rejected request, the client credential headers (the plugin
//     clears them from a forwarded one, which also takes them off the record)
//   - request.querystring.<name>: credential parameters left in the query
//     (the configured auth param, or a rejected request's)
//   - upstream_uri: when its query holds one
//   - request.uri and request.url: when the client sent one in the query
func LogEdits(cfg *schema.Config, in *ClientRequest, up *UpstreamRequest) KongRecordEdits {
	var out KongRecordEdits
	if in == nil {
		return out
	}
	for _, h := range secretHeaders(cfg) {
		present := len(in.Headers[h]) > 0
		if up != nil {
			_, set := up.SetHeaders[h]
			present = (present && !contains(up.ClearHeaders, h)) || set
		}
		if present {
			out.Edits = append(out.Edits, LogEdit{Key: "request.headers." + serializeKey(h), Value: Redacted})
		}
	}
	query := in.Query
	if up != nil && up.Query != nil {
		query = *up.Query
	}
	redactedQuery, names := redactQuery(cfg, query)
	for _, n := range names {
		out.Edits = append(out.Edits, LogEdit{Key: "request.querystring." + serializeKey(n), Value: Redacted})
	}
	switch {
	case len(names) == 0:
	case up != nil:
		out.Edits = append(out.Edits, LogEdit{Key: "upstream_uri", Value: up.Path + "?" + redactedQuery})
	default:
		out.UpstreamQuery = redactedQuery
	}
	if clientQuery, clientNames := redactQuery(cfg, in.Query); len(clientNames) > 0 {
		out.URI = in.Path + "?" + clientQuery
		out.Edits = append(out.Edits, LogEdit{Key: "request.uri", Value: out.URI})
	}
	return out
}

// redactQuery replaces the values of credential parameters in a raw query,
// keeping everything else byte for byte, and returns the (decoded) names of
// the parameters it redacted, each once.
func redactQuery(cfg *schema.Config, raw string) (string, []string) {
	if raw == "" {
		return raw, nil
	}
	parts := strings.Split(raw, "&")
	var names []string
	for i, part := range parts {
		k, _, ok := strings.Cut(part, "=")
		if !ok {
			continue // a bare flag carries no value
		}
		name := unescapeQuery(k)
		if !secretParam(cfg, name) {
			continue
		}
		parts[i] = k + "=" + Redacted
		if !contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return raw, nil
	}
	return strings.Join(parts, "&"), names
}

// serializeKey escapes the dots of one segment of a serialize key: Kong
// splits keys on unescaped dots to create sub-tables.
func serializeKey(s string) string {
	return strings.ReplaceAll(s, ".", `\.`)
}
