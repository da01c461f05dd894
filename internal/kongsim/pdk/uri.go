package pdk

import (
	"fmt"
	"net/url"
	"strings"
)

// reservedChars are RFC 3986's reserved characters plus '%', which
// kong/tools/uri.lua never decodes.
const reservedChars = "!*'();:@&=+$,/?%#[]"

// Normalize is kong/tools/uri.lua normalize(uri, merge_slashes):
// percent-decoding of everything but reserved characters (the rest of the
// triplets upper-cased), dot-segment removal and, with mergeSlashes, "//"
// to "/".
func Normalize(uri string, mergeSlashes bool) string {
	if uri == "" || uri == "/" {
		return uri
	}
	if strings.Contains(uri, "%") {
		uri = normalizeDecode(uri)
	}
	if !strings.Contains(uri, ".") {
		if !mergeSlashes || !strings.Contains(uri, "//") {
			return uri
		}
	}
	var out []string
	for len(uri) > 0 {
		switch {
		case uri == "/.":
			uri = "/"
		case uri == "/..":
			uri = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case uri == "." || uri == "..":
			uri = ""
		case strings.HasPrefix(uri, "../"):
			uri = uri[3:]
		case strings.HasPrefix(uri, "./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/../"):
			uri = uri[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case mergeSlashes && strings.HasPrefix(uri, "//"):
			uri = uri[1:]
		default:
			i := strings.IndexByte(uri[1:], '/')
			if i >= 0 {
				out = append(out, uri[:i+1])
				uri = uri[i+1:]
			} else {
				out = append(out, uri)
				uri = ""
			}
		}
	}
	return strings.Join(out, "")
}

func normalizeDecode(uri string) string {
	var b strings.Builder
	for i := 0; i < len(uri); i++ {
		if uri[i] == '%' && i+2 < len(uri) && isHex(uri[i+1]) && isHex(uri[i+2]) {
			c := unhex(uri[i+1])<<4 | unhex(uri[i+2])
			if strings.IndexByte(reservedChars, c) < 0 {
				b.WriteByte(c)
			} else {
				b.WriteString(strings.ToUpper(uri[i : i+3]))
			}
			i += 2
			continue
		}
		b.WriteByte(uri[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// Escape is kong/tools/uri.lua escape: percent-encode every byte outside
// [!#$&'()*+,/:;=?@[]A-Za-z0-9-_.~%]; in particular '?' and '%' are kept.
func Escape(uri string) string {
	var b strings.Builder
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if keepInEscape(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func keepInEscape(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&'()*+,/:;=?@[]-_.~%", c) >= 0
}

// DecodeArgs is ngx.decode_args / ngx.req.get_uri_args: "a=1&b&c=" gives
// a="1", b=true, c=""; repeated keys give a list; '+' is a space; at most
// max arguments are read (0 = 100, nginx's default).
func DecodeArgs(query string, max int) map[string]any {
	if max <= 0 {
		max = 100
	}
	out := map[string]any{}
	n := 0
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		if n >= max {
			break
		}
		n++
		var key string
		var val any
		if i := strings.IndexByte(part, '='); i >= 0 {
			key = unescapeArg(part[:i])
			val = unescapeArg(part[i+1:])
		} else {
			key = unescapeArg(part)
			val = true
		}
		if key == "" {
			continue
		}
		switch prev := out[key].(type) {
		case nil:
			out[key] = val
		case []any:
			out[key] = append(prev, val)
		default:
			out[key] = []any{prev, val}
		}
	}
	return out
}

func unescapeArg(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	// nginx leaves malformed escapes as they are.
	return s
}

// EscapeURIComponent is ngx.escape_uri (component mode), used by
// ngx.encode_args: everything but unreserved characters is escaped.
func EscapeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// encodeArg is ngx.encode_args({[k] = v}) for one key: a list gives
// repeated k=v, true gives a bare key, false nothing.
func encodeArg(k string, v any) (string, error) {
	ek := EscapeURIComponent(k)
	one := func(e any) (string, bool, error) {
		switch t := e.(type) {
		case string:
			return ek + "=" + EscapeURIComponent(t), true, nil
		case float64:
			return ek + "=" + EscapeURIComponent(luaToString(t)), true, nil
		case bool:
			if t {
				return ek, true, nil
			}
			return "", false, nil
		}
		return "", false, fmt.Errorf("attempt to use %s as query arg value", luaType(e))
	}
	if l, ok := v.([]any); ok {
		var parts []string
		for _, e := range l {
			if e == nil {
				break
			}
			s, ok, err := one(e)
			if err != nil {
				return "", err
			}
			if ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "&"), nil
	}
	s, _, err := one(v)
	return s, err
}
