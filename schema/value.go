package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Config values are interpreted the way Kong sees them after cjson.decode:
// JSON objects and arrays are both Lua tables, null is a value distinct
// from an absent key, and every number is a double. This file holds that
// representation: map[string]any, []any, string, bool, json.Number and
// jsonNull.

// jsonNull is JSON null (Lua's cjson.null): present but null, unlike an
// absent key (Lua nil). Kong treats the two differently (defaults fill
// only absent keys; an explicit null disables a field's default).
type jsonNull struct{}

// MarshalJSON writes null.
func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

var null = jsonNull{}

// decodeValue parses one JSON document into the Lua-like representation.
func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return withNulls(v), nil
}

// withNulls replaces encoding/json's nil (JSON null) by the null sentinel.
func withNulls(v any) any {
	switch t := v.(type) {
	case nil:
		return null
	case map[string]any:
		for k, e := range t {
			t[k] = withNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = withNulls(e)
		}
	}
	return v
}

// asNumber returns a JSON number as a Lua number (a double). Numbers too
// large for a double become ±Inf, as with cjson's strtod.
func asNumber(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// asTable returns a Lua table seen as a record: a JSON object, or a JSON
// array whose elements sit at keys "1".."n" (cjson decodes both to tables,
// so `[]` is a valid empty record for Kong).
func asTable(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case []any:
		m := make(map[string]any, len(t))
		for i, e := range t {
			m[strconv.Itoa(i+1)] = e
		}
		return m, true
	}
	return nil, false
}

// asSequence returns a Lua table that is a sequence: a JSON array, or an
// empty JSON object (an empty table is a sequence for Kong).
func asSequence(v any) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, true
	case map[string]any:
		if len(t) == 0 {
			return []any{}, true
		}
	}
	return nil, false
}

// isNonEmpty is Kong's is_nonempty: not nil, not null, not an empty table,
// not an empty string.
func isNonEmpty(v any, present bool) bool {
	if !present {
		return false
	}
	switch t := v.(type) {
	case jsonNull:
		return false
	case string:
		return t != ""
	case map[string]any:
		return len(t) > 0
	case []any:
		return len(t) > 0
	}
	return true
}

// isReference is Kong's vault reference test (kong/pdk/vault.lua):
// "{vault://...}".
func isReference(s string) bool {
	return len(s) >= 10 && strings.HasPrefix(s, "{vault://") && s[len(s)-1] == '}'
}

// getField is Kong's get_field: a dotted path into nested tables. present
// is false where Lua would yield nil.
func getField(rec map[string]any, path string) (any, bool) {
	head, tail, dotted := cutDot(path)
	v, ok := rec[head]
	if !ok || !dotted {
		return v, ok
	}
	sub, isTable := v.(map[string]any)
	if !isTable {
		return nil, false
	}
	return getField(sub, tail)
}

// luaString is Lua's tostring for the scalar values a schema carries.
func luaString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case float64:
		return luaNumber(t)
	case json.Number:
		if f, ok := asNumber(t); ok {
			return luaNumber(f)
		}
		return string(t)
	case jsonNull:
		return "null"
	}
	return fmt.Sprint(v)
}

// luaNumber formats a double the way Lua 5.1's tostring does ("%.14g").
func luaNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// luaEqual is Lua's == between a config value and a schema constant.
func luaEqual(v, want any) bool {
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == w
	case bool:
		b, ok := v.(bool)
		return ok && b == w
	case int:
		f, ok := asNumber(v)
		return ok && f == float64(w)
	case float64:
		f, ok := asNumber(v)
		return ok && f == w
	}
	return false
}

// schemaValue converts a declared default to the value representation.
func schemaValue(v any) any {
	switch t := v.(type) {
	case int:
		return json.Number(strconv.Itoa(t))
	case float64:
		return json.Number(strconv.FormatFloat(t, 'g', -1, 64))
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = schemaValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = schemaValue(e)
		}
		return out
	case nil:
		return null
	}
	return v
}
