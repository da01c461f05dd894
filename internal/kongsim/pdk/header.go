package pdk

import (
	"net/http"
	"sort"
	"strings"
)

// Field is one header line.
type Field struct {
	Name  string
	Value string
}

// Header is an ordered header list, as nginx keeps headers_in/headers_out:
// names keep their case, repeated names are separate lines.
type Header struct {
	Fields []Field
}

// HeaderFromHTTP copies a net/http header. Go has already merged lines by
// canonical name and lost the wire case; the Host header comes from the
// request separately.
func HeaderFromHTTP(h http.Header) *Header {
	out := &Header{}
	for _, name := range SortedNames(h) {
		for _, v := range h[name] {
			out.Fields = append(out.Fields, Field{Name: name, Value: v})
		}
	}
	return out
}

// SortedNames returns h's names in order.
func SortedNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	// Deterministic order; Go does not keep the wire order.
	sort.Strings(names)
	return names
}

// Clone returns an independent copy.
func (h *Header) Clone() *Header {
	return &Header{Fields: append([]Field(nil), h.Fields...)}
}

// varName is how nginx matches $http_<name>: lower case, '-' as '_'.
func varName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "-", "_")
}

// Get is nginx's $http_<name> followed by Kong's "first value" rule: the
// first line whose name matches case- and '-'/'_'-insensitively.
func (h *Header) Get(name string) (string, bool) {
	want := varName(name)
	for _, f := range h.Fields {
		if varName(f.Name) == want {
			return f.Value, true
		}
	}
	return "", false
}

// Values returns every value of name, matched like Get.
func (h *Header) Values(name string) []string {
	want := varName(name)
	var out []string
	for _, f := range h.Fields {
		if varName(f.Name) == want {
			out = append(out, f.Value)
		}
	}
	return out
}

// Set replaces all lines of name (case-insensitive) by values, at the
// position of the first one (ngx.req.set_header / ngx.header[name] = v).
func (h *Header) Set(name string, values ...string) {
	pos := -1
	kept := h.Fields[:0]
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			if pos < 0 {
				pos = len(kept)
			}
			continue
		}
		kept = append(kept, f)
	}
	h.Fields = kept
	if len(values) == 0 {
		return
	}
	add := make([]Field, len(values))
	for i, v := range values {
		add[i] = Field{Name: name, Value: v}
	}
	if pos < 0 {
		h.Fields = append(h.Fields, add...)
		return
	}
	rest := append([]Field(nil), h.Fields[pos:]...)
	h.Fields = append(append(h.Fields[:pos], add...), rest...)
}

// Add appends one line.
func (h *Header) Add(name, value string) {
	h.Fields = append(h.Fields, Field{Name: name, Value: value})
}

// Del removes every line of name (case-insensitive).
func (h *Header) Del(name string) { h.Set(name) }

// Has reports whether a line of name exists (case-insensitive).
func (h *Header) Has(name string) bool {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Lua returns what ngx.req.get_headers(max) / ngx.resp.get_headers(max)
// return: lower-cased names, a string for one line, a list for several;
// at most max lines are read (0 = no limit).
func (h *Header) Lua(max int) map[string]any {
	out := map[string]any{}
	for i, f := range h.Fields {
		if max > 0 && i >= max {
			break
		}
		k := strings.ToLower(f.Name)
		switch prev := out[k].(type) {
		case nil:
			out[k] = f.Value
		case string:
			out[k] = []any{prev, f.Value}
		case []any:
			out[k] = append(prev, f.Value)
		}
	}
	return out
}

// HTTP converts to a net/http header for writing.
func (h *Header) HTTP() http.Header {
	out := http.Header{}
	for _, f := range h.Fields {
		out[http.CanonicalHeaderKey(f.Name)] = append(out[http.CanonicalHeaderKey(f.Name)], f.Value)
	}
	return out
}

// luaHeaderLookup is the normalising __index of the header tables nginx
// returns: exact key, then lower case with '_' as '-'.
func luaHeaderLookup(t map[string]any, name string) any {
	if v, ok := t[name]; ok {
		return v
	}
	return t[strings.ReplaceAll(strings.ToLower(name), "_", "-")]
}

// firstValue is Kong's "if type(v) == 'table' then v = v[1]".
func firstValue(v any) any {
	if l, ok := v.([]any); ok {
		if len(l) == 0 {
			return nil
		}
		return l[0]
	}
	return v
}
