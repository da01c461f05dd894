package relay

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
)

// Header names are canonicalised and lower-cased on every request (the
// capability's lower-case names going upstream, the upstream's canonical
// ones going to the capability); the results are cached, the names being
// few.
var (
	canonicalKeys = cowCache[string, string]{max: 512}
	lowerKeys     = cowCache[string, string]{max: 512}
)

// canonicalKey is textproto.CanonicalMIMEHeaderKey(k), as Header.Set uses.
func canonicalKey(k string) string {
	if v, ok := canonicalKeys.load(k); ok {
		return v
	}
	return canonicalKeys.store(k, textproto.CanonicalMIMEHeaderKey(k))
}

// lowerKey is strings.ToLower(k).
func lowerKey(k string) string {
	if v, ok := lowerKeys.load(k); ok {
		return v
	}
	return lowerKeys.store(k, strings.ToLower(k))
}

// isHop reports a hop-by-hop header (hopHeaders) or Content-Length, which
// the relay never forwards as received. k is a map key, compared as
// Header.Del compares: with the canonical name.
func isHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length":
		return true
	}
	return false
}

// upstreamHeader is the header of the upstream request: src (what Kong
// forwarded) without hop-by-hop headers, Content-Length and up's cleared
// credentials, plus up's headers. The result is what Clone, Del and Set
// would give, built in one map with one backing array for the values.
func upstreamHeader(src http.Header, up *translate.UpstreamRequest) http.Header {
	n := len(up.SetHeaders)
	for _, v := range src {
		n += len(v)
	}
	vals := make([]string, 0, n)
	h := make(http.Header, len(src)+len(up.SetHeaders))
next:
	for k, v := range src {
		if isHop(k) {
			continue
		}
		for _, c := range up.ClearHeaders {
			if k == canonicalKey(c) {
				continue next
			}
		}
		if v == nil {
			h[k] = nil // as Clone keeps it
			continue
		}
		vals = append(vals, v...)
		h[k] = vals[len(vals)-len(v) : len(vals) : len(vals)]
	}
	for k, v := range up.SetHeaders {
		vals = append(vals, v)
		h[canonicalKey(k)] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if ua := h["User-Agent"]; len(ua) == 0 || ua[0] == "" {
		h["User-Agent"] = nil // Go's default would be added otherwise; Kong forwards none either
	}
	return h
}
