package kongschema

import (
	"fmt"
)

// field is one compiled field definition of Kong's schema DSL. Attributes
// that may legitimately be null in the DSL (eq, ne, default) carry a has*
// flag, because "eq = null" (no_consumer) differs from "no eq".
type field struct {
	typ string

	required    bool
	requiredSet bool
	nilable     bool // metaschema only: absent stays absent, no null filling
	abstract    bool
	auto        bool
	uuidAuto    bool
	reference   string

	def    any
	hasDef bool
	eq     any
	hasEq  bool
	ne     any
	hasNe  bool

	gt          *float64
	between     *[2]float64
	lenEq       *int
	lenMin      *int
	lenMax      *int
	match       *luaPattern
	notMatch    *luaPattern
	matchAll    []patternErr
	matchNone   []patternErr
	matchAny    *matchAnyArg
	startsWith  *string
	oneOf       []any
	hasOneOf    bool
	notOneOf    []any
	hasNotOneOf bool
	contains    any
	hasContains bool
	isRegex     bool
	timestamp   bool
	uuid        bool
	mutexSubset [][]string
	errMsg      *string

	referenceable bool
	// custom names a Go stand-in for a core typedef's Lua custom_validator
	// (internal attribute "x_custom"; plugin schemas cannot use it, the
	// metaschema rejects unknown attributes).
	custom string

	elements *field
	keys     *field
	values   *field

	fields []namedField // record
	checks []entityCheck

	// raw keeps the decoded definition: conditional entity checks build
	// their match clauses by overlaying a clause on the target field's
	// definition, as Kong does with a metatable __index.
	raw map[string]any
}

type namedField struct {
	name string
	f    *field
}

type patternErr struct {
	pattern *luaPattern
	err     string
}

type matchAnyArg struct {
	patterns []*luaPattern
	err      string
}

// fieldByName finds a record's field (nil if unknown).
func (f *field) fieldByName(name string) *field {
	for _, nf := range f.fields {
		if nf.name == name {
			return nf.f
		}
	}
	return nil
}

// fieldAtPath follows a dotted name through nested records, like Kong's
// get_schema_field.
func (f *field) fieldAtPath(path string) *field {
	cur := f
	for cur != nil {
		head, tail, dotted := cutDot(path)
		next := cur.fieldByName(head)
		if !dotted {
			return next
		}
		cur, path = next, tail
	}
	return nil
}

func cutDot(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// compileField turns a decoded definition into a field. The definition has
// passed the metaschema, so types are known to be right; anything still off
// is reported rather than trusted.
func compileField(raw map[string]any) (*field, error) {
	f := &field{raw: raw}
	var err error
	str := func(k string) string { s, _ := raw[k].(string); return s }
	boolean := func(k string) bool { b, _ := raw[k].(bool); return b }
	num := func(k string) *float64 {
		if n, ok := raw[k].(float64); ok {
			return &n
		}
		return nil
	}
	integer := func(k string) *int {
		if n, ok := raw[k].(float64); ok {
			i := int(n)
			return &i
		}
		return nil
	}
	pattern := func(k string) (*luaPattern, error) {
		s, ok := raw[k].(string)
		if !ok {
			return nil, nil
		}
		return compileLuaPattern(s)
	}
	patternList := func(k string) ([]patternErr, error) {
		var out []patternErr
		for _, e := range asList(raw[k]) {
			m, _ := e.(map[string]any)
			s, _ := m["pattern"].(string)
			p, err := compileLuaPattern(s)
			if err != nil {
				return nil, err
			}
			msg, _ := m["err"].(string)
			out = append(out, patternErr{pattern: p, err: msg})
		}
		return out, nil
	}

	f.typ = str("type")
	if r, ok := raw["required"].(bool); ok {
		f.required, f.requiredSet = r, true
	}
	f.nilable = boolean("nilable")
	f.abstract = boolean("abstract")
	f.auto = boolean("auto")
	f.uuidAuto = boolean("uuid") && f.auto
	f.reference = str("reference")
	f.def, f.hasDef = raw["default"]
	f.eq, f.hasEq = raw["eq"]
	f.ne, f.hasNe = raw["ne"]
	f.gt = num("gt")
	if b := asList(raw["between"]); len(b) == 2 {
		lo, _ := b[0].(float64)
		hi, _ := b[1].(float64)
		f.between = &[2]float64{lo, hi}
	}
	f.lenEq, f.lenMin, f.lenMax = integer("len_eq"), integer("len_min"), integer("len_max")
	if f.match, err = pattern("match"); err != nil {
		return nil, err
	}
	if f.notMatch, err = pattern("not_match"); err != nil {
		return nil, err
	}
	if f.matchAll, err = patternList("match_all"); err != nil {
		return nil, err
	}
	if f.matchNone, err = patternList("match_none"); err != nil {
		return nil, err
	}
	if m, ok := raw["match_any"].(map[string]any); ok {
		arg := &matchAnyArg{}
		arg.err, _ = m["err"].(string)
		for _, e := range asList(m["patterns"]) {
			s, _ := e.(string)
			p, err := compileLuaPattern(s)
			if err != nil {
				return nil, err
			}
			arg.patterns = append(arg.patterns, p)
		}
		f.matchAny = arg
	}
	if s, ok := raw["starts_with"].(string); ok {
		f.startsWith = &s
	}
	if v, ok := raw["one_of"]; ok && v != nil {
		f.oneOf, f.hasOneOf = asList(v), true
	}
	if v, ok := raw["not_one_of"]; ok && v != nil {
		f.notOneOf, f.hasNotOneOf = asList(v), true
	}
	f.contains, f.hasContains = raw["contains"]
	f.isRegex = boolean("is_regex")
	f.timestamp = boolean("timestamp")
	f.uuid = boolean("uuid")
	for _, s := range asList(raw["mutually_exclusive_subsets"]) {
		var set []string
		for _, e := range asList(s) {
			if str, ok := e.(string); ok {
				set = append(set, str)
			}
		}
		f.mutexSubset = append(f.mutexSubset, set)
	}
	if s, ok := raw["err"].(string); ok {
		f.errMsg = &s
	}
	f.referenceable = boolean("referenceable")
	f.custom = str("x_custom")

	for _, sub := range []struct {
		key string
		dst **field
	}{{"elements", &f.elements}, {"keys", &f.keys}, {"values", &f.values}} {
		m, ok := raw[sub.key].(map[string]any)
		if !ok {
			continue
		}
		if *sub.dst, err = compileField(m); err != nil {
			return nil, err
		}
		// Kong marks elements, keys and values required the first time it
		// validates them (validate_elements, the map branch), so a null
		// element is never acceptable.
		(*sub.dst).required = true
	}
	if f.fields, err = compileFields(raw["fields"]); err != nil {
		return nil, err
	}
	if f.typ == "json" {
		return nil, fmt.Errorf("field type 'json' (JSON-schema validated fields) is not supported by kongsim")
	}
	return f, nil
}

// compileFields compiles a DSL "fields" array: a list of one-key objects.
func compileFields(v any) ([]namedField, error) {
	var out []namedField
	for _, item := range asList(v) {
		m, _ := item.(map[string]any)
		for _, name := range sortedKeys(m) {
			def, _ := m[name].(map[string]any)
			f, err := compileField(def)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, namedField{name: name, f: f})
		}
	}
	return out, nil
}

// resolveChecks compiles the entity checks of f and of every record below
// it. It runs once the whole tree exists, because match clauses inherit
// from fields (including the required-ness makeRecordsRequired adjusted).
func resolveChecks(f *field) error {
	if f == nil {
		return nil
	}
	if raw, ok := f.raw["entity_checks"]; ok && f.checks == nil {
		checks, err := compileChecks(raw, f)
		if err != nil {
			return err
		}
		f.checks = checks
	}
	for _, nf := range f.fields {
		if err := resolveChecks(nf.f); err != nil {
			return fmt.Errorf("%s: %w", nf.name, err)
		}
	}
	for _, sub := range []*field{f.elements, f.keys, f.values} {
		if err := resolveChecks(sub); err != nil {
			return err
		}
	}
	return nil
}

// makeRecordsRequired is Kong's Entity make_records_required: records in an
// entity are required unless they say otherwise, so that they always come
// back with their full structure (and their nested defaults).
func makeRecordsRequired(f *field) {
	if !f.requiredSet {
		f.required = true
	}
	for _, nf := range f.fields {
		if nf.f.typ == "record" {
			makeRecordsRequired(nf.f)
		}
	}
}

// withOverlay builds the field a conditional's match clause stands for: the
// clause's own attributes over the target field's definition.
func withOverlay(base *field, clause map[string]any) (*field, error) {
	merged := map[string]any{}
	if base != nil {
		for k, v := range base.raw {
			merged[k] = v
		}
		// Kong's validate_field mutates string fields (len_min = 1) the
		// first time it sees them, and the metatable makes the clause see
		// that; copying the effective value keeps the same outcome.
	}
	for k, v := range clause {
		merged[k] = v
	}
	f, err := compileField(merged)
	if err != nil {
		return nil, err
	}
	if _, own := clause["required"]; !own && base != nil {
		// base.required may differ from its raw definition (records made
		// required by makeRecordsRequired).
		f.required = base.required
	}
	if err := resolveChecks(f); err != nil {
		return nil, err
	}
	return f, nil
}
