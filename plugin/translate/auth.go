package translate

import (
	"net/url"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// credentialHeaders are request headers that carry a client's credential
// for Kong (key-auth, basic-auth, jwt, oauth2, session, or an OpenAI SDK's
// api key). None of them may reach Hugging Face, except the configured auth
// header when allow_override lets the client's value through.
var credentialHeaders = []string{"authorization", "proxy-authorization", "apikey", "api-key", "x-api-key", "cookie"}

// credentialParams are query parameters that carry a client's credential
// for Kong (key-auth's default key name, jwt, oauth2 access tokens).
var credentialParams = []string{"apikey", "api-key", "api_key", "x-api-key", "jwt", "access_token"}

// ApplyAuth puts the configured credential on the upstream request and takes
// the client's credentials for Kong off it.
//
//   - auth.header_name/header_value: set on the request; with
//     allow_override a non-empty client value of that header is kept.
//   - auth.param_name/param_value with param_location "query" or "body":
//     likewise, in the query string or in the JSON body (body must then be a
//     JSON object checked by ParseObject; other bodies get the query rule).
//   - every other credential header present is cleared, and credential
//     query parameters are dropped from the upstream query.
//
// It returns the body (changed when the body param was added) and whether
// it changed.
func ApplyAuth(cfg *schema.Config, in *ClientRequest, up *UpstreamRequest, body []byte) ([]byte, bool, error) {
	a := cfg.Auth
	header := strings.ToLower(a.HeaderName)
	if header != "" && a.HeaderValue != "" {
		if !(a.AllowOverride && firstHeader(in.Headers, header) != "") {
			up.SetHeaders[header] = a.HeaderValue
		}
	}
	up.ClearHeaders = append(up.ClearHeaders, ClearedHeaders(cfg, in.Headers)...)

	changed := false
	param := a.ParamName != "" && a.ParamValue != ""
	if param && a.ParamLocation == "body" {
		if !(a.AllowOverride && present(body, escapeKey(a.ParamName))) {
			var err error
			var c bool
			body, c, err = setString(body, a.ParamName, a.ParamValue)
			if err != nil {
				return nil, false, err
			}
			changed = c
		}
	}
	queryParam := ""
	if param && a.ParamLocation == "query" {
		queryParam = a.ParamName
	}
	if q, ok := upstreamQuery(in.Query, queryParam, a.ParamValue, a.AllowOverride); ok {
		up.Query = &q
	}
	return body, changed, nil
}

// ClearedHeaders lists the client credential headers present in h (lower-case
// names) that must not reach the upstream: every one but the configured auth
// header. The relay's access step clears them from Kong's request with the
// same rule ApplyAuth uses, which also keeps them off Kong's log record.
func ClearedHeaders(cfg *schema.Config, h map[string][]string) []string {
	header := strings.ToLower(cfg.Auth.HeaderName)
	var out []string
	for _, name := range credentialHeaders {
		if name != header && len(h[name]) > 0 {
			out = append(out, name)
		}
	}
	return out
}

// upstreamQuery rebuilds the client's query without credential parameters
// and with the configured auth param (name "" = none), keeping the order and
// encoding of everything else. ok is false when the query is unchanged.
func upstreamQuery(raw, name, value string, allowOverride bool) (string, bool) {
	if raw == "" && name == "" {
		return "", false
	}
	var b strings.Builder
	changed := false
	clientHasParam := false
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		if name != "" && key == name {
			if allowOverride {
				clientHasParam = true
				appendQuery(&b, part)
				continue
			}
			changed = true
			continue
		}
		if isCredentialParam(key) {
			changed = true
			continue
		}
		appendQuery(&b, part)
	}
	if name != "" && !clientHasParam {
		appendQuery(&b, url.QueryEscape(name)+"="+url.QueryEscape(value))
		changed = true
	}
	if !changed {
		return "", false
	}
	return b.String(), true
}

func appendQuery(b *strings.Builder, part string) {
	if b.Len() > 0 {
		b.WriteByte('&')
	}
	b.WriteString(part)
}

func isCredentialParam(key string) bool {
	for _, p := range credentialParams {
		if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// firstHeader is the first value of a lower-case header name, or "".
func firstHeader(h map[string][]string, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// headerValue reads a header from a response header map (lower-case names).
func headerValue(h map[string][]string, name string) string {
	return firstHeader(h, name)
}

// hasTrue reports whether a top-level body field is JSON true.
func hasTrue(body []byte, key string) bool {
	return gjson.GetBytes(body, key).Type == gjson.True
}
