package schema

// The types in this file are a small Go model of Kong's schema DSL
// (kong/db/schema/metaschema.lua): the subset this plugin declares its
// configuration with. The -dump output, the defaults and the Go validation
// are all derived from one value of these types (see declaration.go), so a
// rule cannot exist on one side only.
//
// The subset is deliberately narrow, because two independent validators
// interpret it: Kong (or the Kong stand-in) from the dumped JSON, and this
// package in Go.
//   - types: string, boolean, integer, number, record, array, set, map
//   - field attributes: required, default, one_of, between, gt, len_min,
//     match (a Lua pattern), description, referenceable, encrypted,
//     elements, keys, values, fields, entity_checks
//   - entity checks: mutually_required, conditional, at_least_one_of,
//     only_one_of, conditional_at_least_one_of

// Type is a Kong schema field type.
type Type string

// The field types of the subset.
const (
	String  Type = "string"
	Boolean Type = "boolean"
	Integer Type = "integer"
	Number  Type = "number"
	Record  Type = "record"
	Array   Type = "array"
	Set     Type = "set"
	Map     Type = "map"
)

// Range is the argument of Kong's `between` validator: inclusive bounds.
type Range struct{ Min, Max float64 }

// Field is one field declaration: `{ <Name> = { type = ..., ... } }`.
// Elements, Keys and Values are unnamed field declarations.
type Field struct {
	Name        string
	Type        Type
	Description string
	Required    bool
	// Default is a JSON-shaped value (string, bool, int, float64, []any)
	// that Kong inserts when the field is absent.
	Default any
	OneOf   []string
	Between *Range
	Gt      *float64
	LenMin  *int
	// Match is a Lua pattern (not a regular expression): Kong runs
	// value:match(pattern).
	Match         string
	Referenceable bool
	Encrypted     bool
	Elements      *Field
	Keys          *Field
	Values        *Field
	Fields        []Field
	EntityChecks  []Check
}

// Match is the argument of a conditional check's if_match/then_match: a set
// of validators applied on top of the named field's own declaration (Kong
// looks missing attributes up in the field, via a metatable).
type Match struct {
	// Eq is compared with ==; nil means unset.
	Eq       any
	OneOf    []string
	Required bool
	Between  *Range
	Gt       *float64
	Match    string
}

// Check is one entry of an entity_checks array. Exactly one member is set.
// Field names are dotted paths relative to the record that declares the
// check.
type Check struct {
	MutuallyRequired        []string
	AtLeastOneOf            []string
	OnlyOneOf               []string
	Conditional             *Conditional
	ConditionalAtLeastOneOf *ConditionalAtLeastOneOf
}

// Conditional is Kong's `conditional` check: when IfField passes IfMatch,
// ThenField must pass ThenMatch.
type Conditional struct {
	IfField   string
	IfMatch   Match
	ThenField string
	ThenMatch Match
}

// ConditionalAtLeastOneOf is Kong's `conditional_at_least_one_of` check:
// when IfField passes IfMatch, one of ThenAtLeastOneOf must be non-empty.
type ConditionalAtLeastOneOf struct {
	IfField          string
	IfMatch          Match
	ThenAtLeastOneOf []string
}

// Schema is a plugin schema as a Lua plugin's schema.lua returns it:
// `{ name = ..., fields = { {protocols=...}, {config=...} }, entity_checks = ... }`.
type Schema struct {
	Name         string
	Fields       []Field
	EntityChecks []Check
}

// Field returns the top-level field called name, or nil.
func (s *Schema) Field(name string) *Field {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// Config returns the `config` record.
func (s *Schema) Config() *Field { return s.Field("config") }

// Sub returns the field of a record called name, or nil.
func (f *Field) Sub(name string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return &f.Fields[i]
		}
	}
	return nil
}

// lookup resolves a dotted path ("auth.header_name") among fields, the way
// Kong's get_schema_field does.
func lookup(fields []Field, path string) *Field {
	head, tail, dotted := cutDot(path)
	for i := range fields {
		if fields[i].Name != head {
			continue
		}
		if !dotted {
			return &fields[i]
		}
		return lookup(fields[i].Fields, tail)
	}
	return nil
}

func cutDot(path string) (head, tail string, dotted bool) {
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			return path[:i], path[i+1:], true
		}
	}
	return path, "", false
}

func ptr[T any](v T) *T { return &v }
