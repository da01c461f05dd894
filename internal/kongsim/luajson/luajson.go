// Package luajson models the Lua values Kong moves between JSON and its
// PDK (tables, strings, numbers, booleans, cjson.null) and encodes them the
// way lua-cjson does: forward slashes escaped as "\/", numbers with
// "%.14g", empty tables as objects unless they are arrays.
//
// Go representation: nil = Lua nil (absent), Null = cjson.null/ngx.null,
// bool, float64, string, map[string]any (a hash table), []any (a sequence).
package luajson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Null is cjson.null (== ngx.null): a JSON null kept as a value.
type Null struct{}

// Decode parses one JSON document like cjson.decode: objects become maps,
// arrays slices, numbers float64, null the Null value.
func Decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding JSON: trailing data after the document")
	}
	return fromStd(v)
}

func fromStd(v any) (any, error) {
	switch t := v.(type) {
	case nil:
		return Null{}, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("decoding JSON number %q: %w", t, err)
		}
		return f, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := fromStd(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := fromStd(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return t, nil
	}
}

// StripNulls removes Null values from maps, recursively: what Kong's DAO
// does when it reads an entity without the `nulls` option.
func StripNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if _, isNull := e.(Null); isNull {
				delete(t, k)
				continue
			}
			t[k] = StripNulls(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = StripNulls(e)
		}
		return t
	default:
		return v
	}
}

// Encode is cjson.encode. Map keys are written in sorted order (Lua's own
// order is unspecified). Unsupported Go types are an error, as cjson
// refuses functions and userdata.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encode(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// maxDepth is cjson's encode_max_depth default.
const maxDepth = 1000

func encode(b *bytes.Buffer, v any, depth int) error {
	if depth > maxDepth {
		return errors.New("Cannot serialise, excessive nesting (1001)") //nolint:staticcheck // cjson's message
	}
	switch t := v.(type) {
	case nil, Null:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("Cannot serialise number: must not be NaN or Infinity") //nolint:staticcheck // cjson's message
		}
		b.WriteString(FormatNumber(t))
	case int:
		b.WriteString(strconv.Itoa(t))
	case int64:
		b.WriteString(FormatNumber(float64(t)))
	case string:
		writeString(b, t)
	case []byte:
		writeString(b, string(t))
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encode(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k, e := range t {
			if e == nil {
				continue // a nil value is no key at all in Lua
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := encode(b, t[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case json.RawMessage:
		// Already JSON from Kong's side (e.g. an entity): re-encode it
		// through the Lua model so the escaping matches.
		d, err := Decode(t)
		if err != nil {
			return err
		}
		return encode(b, d, depth)
	default:
		return fmt.Errorf("Cannot serialise %T: type not supported", v) //nolint:staticcheck // cjson's message
	}
	return nil
}

// FormatNumber is cjson's number format: "%.14g".
func FormatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e14 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// writeString escapes like cjson's char2escape table: the control
// characters, '"', '\\' and '/'; everything else, including invalid UTF-8
// and non-ASCII, is copied through byte for byte.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
