package kongschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The validator works on decoded JSON, the way Kong works on what cjson
// gives it: objects are map[string]any, arrays []any, numbers float64 (Lua
// numbers are doubles, so an integer is just an integral double), strings,
// booleans, and nil for JSON null (cjson.null). "Absent" is a key missing
// from its map; "null" is a key present with a nil value. Kong draws the same
// line (nil vs ngx.null) and so must we: absent optional fields get filled
// with null, null required fields fail, and so on.

// decodeJSON parses one JSON value. A trailing second value is an error.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// isTable reports whether v is what Lua would call a table.
func isTable(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// isSequence mirrors Kong's is_sequence: a JSON array is one, and so is an
// empty object, because cjson decodes both {} and [] into an empty table.
func isSequence(v any) bool {
	switch t := v.(type) {
	case []any:
		return true
	case map[string]any:
		return len(t) == 0
	}
	return false
}

// asList returns the elements of a sequence (nil for a non-sequence).
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return nil
}

// tableLen is Lua's # operator on a table: the length of its array part.
func tableLen(v any) int {
	if l, ok := v.([]any); ok {
		return len(l)
	}
	return 0
}

// luaEqual is Lua's == on decoded JSON values: scalars by value, tables by
// identity (two distinct tables are never equal).
func luaEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// luaNumber formats a number the way Lua's tostring and table.concat do
// (LUAI_NUMFMT "%.14g"), which is what Kong's messages show.
func luaNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e14 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	// Go's 'g' with a precision already trims trailing zeros and prints a
	// two-digit exponent, like C's %.14g.
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// luaInt formats a number the way LuaJIT's string.format("%d") does:
// truncated toward zero.
func luaInt(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return luaNumber(f)
	}
	return strconv.FormatInt(int64(f), 10)
}

// luaToString is Lua's tostring for a decoded JSON value, used where Kong
// formats a value into a message with %s.
func luaToString(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case float64:
		return luaNumber(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	// Lua prints "table: 0x..." here; an address is useless in a test, so
	// the JSON text stands in for it.
	b, _ := json.Marshal(v)
	return string(b)
}

// deepCopy copies a decoded JSON value so that defaults and processed
// entities never share maps with the schema or the caller.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// sortedKeys returns a map's keys in byte order, which is also Lua's string
// order (used by Kong's schema_violation message).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// getPath follows a dotted field name ("auth.header_name") the way Kong's
// get_field does. It reports whether the value is present (a nil value that
// is present is JSON null).
func getPath(v any, name string) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	head, tail, dotted := strings.Cut(name, ".")
	if !dotted {
		val, ok := m[name]
		return val, ok
	}
	next, ok := m[head]
	if !ok || next == nil {
		return nil, false
	}
	return getPath(next, tail)
}

// isNonEmpty is Kong's is_nonempty: not absent, not null, not an empty
// table, not an empty string.
func isNonEmpty(v any, present bool) bool {
	if !present || v == nil {
		return false
	}
	switch x := v.(type) {
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	}
	return true
}

// isReference is Kong's vault is_reference: "{vault://...}".
func isReference(v any) bool {
	s, ok := v.(string)
	return ok && len(s) >= 10 && strings.HasPrefix(s, "{vault://") && s[len(s)-1] == '}'
}

// stripNulls removes null members from objects, recursively: Kong reads
// entities without the nulls option before sending a config to a plugin, so
// every null field is simply absent there.
func stripNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			m[k] = stripNulls(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = stripNulls(e)
		}
		return l
	}
	return v
}

// StripNulls returns doc with every null object member removed, recursively,
// which is how Kong hands a stored config to a plugin. Invalid JSON is
// returned unchanged.
func StripNulls(doc json.RawMessage) json.RawMessage {
	v, err := decodeJSON(doc)
	if err != nil {
		return doc
	}
	out, err := json.Marshal(stripNulls(v))
	if err != nil {
		return doc
	}
	return out
}
