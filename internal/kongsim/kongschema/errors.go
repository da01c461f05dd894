package kongschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Kong's error codes (kong/db/errors.lua) used by the stand-in.
const (
	CodeSchemaViolation       = 2
	CodePrimaryKeyViolation   = 3
	CodeForeignKeyViolation   = 4
	CodeUniqueViolation       = 5
	CodeNotFound              = 6
	CodeInvalidOptions        = 11
	CodeDeclarativeConfig     = 14
	CodeInvalidUniqueGlobal   = 18
	codeNameSchemaViolation   = "schema violation"
	codeNameDeclarativeConfig = "invalid declarative configuration"
)

// Error is a Kong DAO error as the Admin API renders it with a 400:
//
//	{"code":2,"name":"schema violation","message":"schema violation (...)","fields":{...}}
//
// Fields holds the error tree exactly as Kong's validator builds it: one key
// per field, nested objects for records, arrays (null where an element is
// fine) for array/set elements, and "@entity" lists for entity checks.
type Error struct {
	Code    int             `json:"code"`
	Name    string          `json:"name"`
	Message string          `json:"message"`
	Fields  json.RawMessage `json:"fields,omitempty"`

	tree *errTable
}

func (e *Error) Error() string { return e.Message }

// FieldErrors flattens Fields into dotted paths ("config.model.provider",
// "config.tags.2", "config.@entity") and their messages; an "@entity" path
// with several messages yields them joined by "; ".
func (e *Error) FieldErrors() map[string]string {
	out := map[string]string{}
	if e == nil || e.tree == nil {
		return out
	}
	e.tree.flatten("", out)
	return out
}

// errTable is a Lua error table: field errors by name plus "@entity" errors.
type errTable struct {
	fields map[string]any // string | *errTable | errList
	entity []string
}

// errList is an array-like error table: element errors by 1-based index.
type errList map[int]any

func newErrTable() *errTable { return &errTable{fields: map[string]any{}} }

func (t *errTable) empty() bool { return t == nil || (len(t.fields) == 0 && len(t.entity) == 0) }

func (t *errTable) addEntity(msg string) { t.entity = append(t.entity, msg) }

// setPath is Kong's set_field on an error table: "a.b" creates t.a = {} as
// needed. Kong would raise a Lua error when an intermediate value is already
// a message string; here the existing message is kept.
func (t *errTable) setPath(path string, msg any) {
	head, tail, dotted := cutDot(path)
	if !dotted {
		t.fields[head] = msg
		return
	}
	switch sub := t.fields[head].(type) {
	case nil:
		n := newErrTable()
		t.fields[head] = n
		n.setPath(tail, msg)
	case *errTable:
		sub.setPath(tail, msg)
	}
}

func (t *errTable) flatten(prefix string, out map[string]string) {
	if len(t.entity) > 0 {
		out[prefix+"@entity"] = strings.Join(t.entity, "; ")
	}
	for k, v := range t.fields {
		flattenValue(prefix+k, v, out)
	}
}

func flattenValue(path string, v any, out map[string]string) {
	switch x := v.(type) {
	case string:
		out[path] = x
	case *errTable:
		x.flatten(path+".", out)
	case errList:
		for i, e := range x {
			flattenValue(path+"."+strconv.Itoa(i), e, out)
		}
	}
}

// MarshalJSON renders the table the way cjson renders Kong's: objects with
// the keys, "@entity" as an array.
func (t *errTable) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(t.fields)+1)
	for k, v := range t.fields {
		m[k] = v
	}
	if len(t.entity) > 0 {
		m["@entity"] = t.entity
	}
	return json.Marshal(m)
}

// MarshalJSON renders element errors as cjson does a sparse Lua array: a
// JSON array with null where an element had no error.
func (l errList) MarshalJSON() ([]byte, error) {
	n := 0
	for i := range l {
		n = max(n, i)
	}
	arr := make([]any, n)
	for i, v := range l {
		arr[i-1] = v
	}
	return json.Marshal(arr)
}

// schemaViolation builds Kong's schema violation error (errors:schema_violation):
// "@entity" messages first, then "field: msg" or "field.sub: msg" for each
// field in sorted order; anything nested deeper is printed with Penlight's
// pretty.write, exactly as Kong does.
func schemaViolation(t *errTable) *Error {
	var buf []string
	buf = append(buf, t.entity...)
	for _, name := range sortedKeys(t.fields) {
		switch v := t.fields[name].(type) {
		case string:
			buf = append(buf, fmt.Sprintf("%s: %s", name, v))
		case *errTable:
			for _, sub := range v.luaSortedKeys() {
				buf = append(buf, fmt.Sprintf("%s.%s: %s", name, sub.name, prettyScalar(sub.value)))
			}
		case errList:
			for _, i := range v.sortedIndexes() {
				buf = append(buf, fmt.Sprintf("%s.%d: %s", name, i, prettyScalar(v[i])))
			}
		}
	}
	msg := ""
	if len(buf) == 1 {
		msg = fmt.Sprintf("schema violation (%s)", buf[0])
	} else {
		msg = fmt.Sprintf("%d schema violations (%s)", len(buf), strings.Join(buf, "; "))
	}
	fields, _ := json.Marshal(t)
	return &Error{Code: CodeSchemaViolation, Name: codeNameSchemaViolation, Message: msg, Fields: fields, tree: t}
}

type keyedValue struct {
	name  string
	value any
}

// luaSortedKeys lists a table's entries in sorted key order, with
// "@entity" as the list it is in Lua.
func (t *errTable) luaSortedKeys() []keyedValue {
	var out []keyedValue
	for _, k := range sortedKeys(t.fields) {
		out = append(out, keyedValue{k, t.fields[k]})
	}
	if len(t.entity) > 0 {
		out = append(out, keyedValue{"@entity", t.entity})
		sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	}
	return out
}

func (l errList) sortedIndexes() []int {
	idx := make([]int, 0, len(l))
	for i := range l {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

// prettyScalar prints a message as is and a table with pretty.write.
func prettyScalar(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return prettyWrite(v)
}

var luaIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var luaKeywords = map[string]bool{
	"and": true, "break": true, "do": true, "else": true, "elseif": true, "end": true,
	"false": true, "for": true, "function": true, "goto": true, "if": true, "in": true,
	"local": true, "nil": true, "not": true, "or": true, "repeat": true, "return": true,
	"then": true, "true": true, "until": true, "while": true,
}

// prettyWrite reproduces Penlight's pretty.write(t) with its default
// two-space indent, for the value shapes an error table can hold.
func prettyWrite(v any) string {
	var lines []string
	line := ""
	put := func(s string) { line += s }
	putln := func(s string) {
		if line != "" {
			lines = append(lines, line+s)
			line = ""
		} else {
			lines = append(lines, s)
		}
	}
	eatLastComma := func() {
		if n := len(lines); n > 0 && strings.HasSuffix(lines[n-1], ",") {
			lines[n-1] = lines[n-1][:len(lines[n-1])-1]
		}
	}
	var write func(v any, oldIndent, indent string)
	write = func(v any, oldIndent, indent string) {
		newIndent := indent + "  "
		entries := func(keyed []keyedValue, seq []any, numeric []int, numVal func(int) any) {
			putln("{")
			for _, e := range seq {
				put(indent)
				write(e, indent, newIndent)
			}
			for _, kv := range keyed {
				key := kv.name
				if !luaIdentifier.MatchString(key) || luaKeywords[key] {
					key = "[" + luaQuote(key) + "]"
				}
				put(indent + key + " = ")
				write(kv.value, indent, newIndent)
			}
			for _, i := range numeric {
				put(indent + "[" + strconv.Itoa(i) + "] = ")
				write(numVal(i), indent, newIndent)
			}
			eatLastComma()
			putln(oldIndent + "},")
		}
		switch x := v.(type) {
		case string:
			putln(luaQuote(x) + ",")
		case []string:
			seq := make([]any, len(x))
			for i, s := range x {
				seq[i] = s
			}
			entries(nil, seq, nil, nil)
		case *errTable:
			entries(x.luaSortedKeys(), nil, nil, nil)
		case errList:
			// ipairs covers 1..n while contiguous; the rest are [i] = v.
			var seq []any
			i := 1
			for ; x[i] != nil; i++ {
				seq = append(seq, x[i])
			}
			var rest []int
			for _, k := range x.sortedIndexes() {
				if k >= i {
					rest = append(rest, k)
				}
			}
			entries(nil, seq, rest, func(k int) any { return x[k] })
		default:
			putln(luaToString(x) + ",")
		}
	}
	write(v, "", "  ")
	eatLastComma()
	return strings.Join(lines, "\n")
}

// luaQuote is Penlight's quote_string for the strings found in error
// messages: ("%q"):format(s), or a long bracket when s has a newline.
func luaQuote(s string) string {
	if strings.Contains(s, "\n") && !strings.Contains(s, "\r") {
		eq := ""
		for strings.Contains(s+"]", "]"+eq+"]") {
			eq += "="
		}
		if strings.HasPrefix(s, "\n") {
			s = "\n" + s
		}
		return "[" + eq + "[" + s + "]" + eq + "]"
	}
	var b bytes.Buffer
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			b.WriteString(`\r`)
		case c == 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// DeclarativeError is Kong's errors:declarative_config (HTTP 400): the
// error tree says where each problem is, e.g.
// {"services": [{"routes": [{"plugins": [<*Error of a plugin>]}]}]}.
// Tree values may be strings, maps, slices (nil elements are fine) and
// *Error values, whose own field tree is embedded.
func DeclarativeError(tree map[string]any) *Error {
	t := toErrTable(tree)
	fields, _ := json.Marshal(t)
	return &Error{
		Code:    CodeDeclarativeConfig,
		Name:    codeNameDeclarativeConfig,
		Message: "declarative config is invalid: " + prettyWriteCompact(t),
		Fields:  fields,
		tree:    t,
	}
}

func toErrTable(m map[string]any) *errTable {
	t := newErrTable()
	for k, v := range m {
		if k == "@entity" {
			for _, e := range asAnyList(v) {
				if s, ok := e.(string); ok {
					t.entity = append(t.entity, s)
				}
			}
			continue
		}
		if c := toErrValue(v); c != nil {
			t.fields[k] = c
		}
	}
	return t
}

func asAnyList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return nil
}

func toErrValue(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case *Error:
		if x == nil {
			return nil
		}
		if x.tree != nil {
			return x.tree
		}
		return x.Message
	case map[string]any:
		return toErrTable(x)
	case []any:
		l := errList{}
		for i, e := range x {
			if c := toErrValue(e); c != nil {
				l[i+1] = c
			}
		}
		return l
	}
	return nil
}

// prettyWriteCompact is pretty.write(t, "") — everything on one line.
func prettyWriteCompact(v any) string {
	var b strings.Builder
	var write func(v any)
	write = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(luaQuote(x))
		case []string:
			b.WriteString("{")
			for i, s := range x {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(luaQuote(s))
			}
			b.WriteString("}")
		case *errTable:
			b.WriteString("{")
			for i, kv := range x.luaSortedKeys() {
				if i > 0 {
					b.WriteString(",")
				}
				key := kv.name
				if !luaIdentifier.MatchString(key) || luaKeywords[key] {
					key = "[" + luaQuote(key) + "]"
				}
				b.WriteString(key + "=")
				write(kv.value)
			}
			b.WriteString("}")
		case errList:
			b.WriteString("{")
			first := true
			i := 1
			for ; x[i] != nil; i++ {
				if !first {
					b.WriteString(",")
				}
				first = false
				write(x[i])
			}
			for _, k := range x.sortedIndexes() {
				if k < i {
					continue
				}
				if !first {
					b.WriteString(",")
				}
				first = false
				b.WriteString("[" + strconv.Itoa(k) + "]=")
				write(x[k])
			}
			b.WriteString("}")
		default:
			b.WriteString(luaToString(x))
		}
	}
	write(v)
	return b.String()
}

// prettyCompactValue is pretty.write(v, "") for plain decoded values, with
// cjson's null printed as "null" (Kong's unique_violation gsubs it so).
func prettyCompactValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		var b strings.Builder
		b.WriteString("{")
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(",")
			}
			key := k
			if !luaIdentifier.MatchString(key) || luaKeywords[key] {
				key = "[" + luaQuote(key) + "]"
			}
			b.WriteString(key + "=" + prettyCompactValue(x[k]))
		}
		b.WriteString("}")
		return b.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = prettyCompactValue(e)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case string:
		return luaQuote(x)
	case nil:
		return "null"
	}
	return luaToString(v)
}

func newKeyedError(code int, name, message string, fields map[string]any) *Error {
	raw, _ := json.Marshal(fields)
	tree := newErrTable()
	for k, v := range fields {
		if s, ok := v.(string); ok {
			tree.fields[k] = s
		}
	}
	return &Error{Code: code, Name: name, Message: message, Fields: raw, tree: tree}
}

// UniqueViolation is Kong's unique_violation error (HTTP 409), e.g. for
// {"name": "svc"}: "UNIQUE violation detected on '{name="svc"}'".
func UniqueViolation(key map[string]any) *Error {
	return newKeyedError(CodeUniqueViolation, "unique constraint violation",
		"UNIQUE violation detected on '"+prettyCompactValue(key)+"'", key)
}

// PrimaryKeyViolation is Kong's primary_key_violation (HTTP 400).
func PrimaryKeyViolation(pk map[string]any) *Error {
	return newKeyedError(CodePrimaryKeyViolation, "primary key violation",
		"primary key violation on key '"+prettyCompactValue(pk)+"'", pk)
}

// ForeignKeyViolation is Kong's foreign_key_violation_invalid_reference
// (HTTP 400): field "service", key {"id": ...}, parent "services".
func ForeignKeyViolation(field string, key map[string]any, parent string) *Error {
	return newKeyedError(CodeForeignKeyViolation, "foreign key violation",
		fmt.Sprintf("the foreign key '%s' does not reference an existing '%s' entity.", prettyCompactValue(key), parent),
		map[string]any{field: key})
}

// NotFound is Kong's not_found DAO error (the Admin API answers a plain
// {"message":"Not found"} 404 for a missing entity instead).
func NotFound(pk map[string]any) *Error {
	return newKeyedError(CodeNotFound, "not found",
		"could not find the entity with primary key '"+prettyCompactValue(pk)+"'", pk)
}

// SchemaViolation builds a schema violation from flat field messages
// ("protocols" → "must match the associated route's protocols"), for
// checks made outside a schema (the plugins DAO's protocol check).
func SchemaViolation(fieldMessages map[string]string) *Error {
	t := newErrTable()
	for k, v := range fieldMessages {
		t.fields[k] = v
	}
	return schemaViolation(t)
}

// HTTPStatus is the Admin API status Kong gives an error code
// (kong/api/endpoints.lua ERRORS_HTTP_CODES).
func (e *Error) HTTPStatus() int {
	switch e.Code {
	case CodeUniqueViolation:
		return 409
	case CodeNotFound:
		return 404
	case 8:
		return 500
	case 12:
		return 405
	}
	return 400
}

// FieldErrorList lists every error as "path: message", sorted: field
// errors under their dotted path ("config.model.provider: required field
// missing"), entity-check errors under the record they belong to
// ("config: all or none of these fields must be set: ...") or "@entity"
// for the schema's own checks.
func (e *Error) FieldErrorList() []string {
	if e == nil || e.tree == nil {
		return nil
	}
	var out []string
	var walk func(prefix string, t *errTable)
	var walkValue func(path string, v any)
	walk = func(prefix string, t *errTable) {
		for _, msg := range t.entity {
			p := strings.TrimSuffix(prefix, ".")
			if p == "" {
				p = "@entity"
			}
			out = append(out, p+": "+msg)
		}
		for k, v := range t.fields {
			walkValue(prefix+k, v)
		}
	}
	walkValue = func(path string, v any) {
		switch x := v.(type) {
		case string:
			out = append(out, path+": "+x)
		case *errTable:
			walk(path+".", x)
		case errList:
			for i, el := range x {
				walkValue(path+"."+strconv.Itoa(i), el)
			}
		}
	}
	walk("", e.tree)
	sort.Strings(out)
	return out
}
