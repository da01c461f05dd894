package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// This file renders a Schema as the JSON Kong reads from the plugin
// server's query command: the same tables a schema.lua would return, with
// JSON objects for Lua tables. Members come out in a fixed order so that
// the dump is byte-for-byte reproducible (golden tests, diffs in review).

// member is one key of an ordered JSON object.
type member struct {
	key   string
	value any
}

// object is a JSON object whose members keep their order.
type object []member

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", m.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", m.key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// JSON renders the plugin schema under the given plugin name, as Kong
// reads it from the -dump Schema.
func JSON(name string) ([]byte, error) {
	return json.Marshal(Definition(name))
}

// MarshalJSON renders the schema in Kong's DSL.
func (s *Schema) MarshalJSON() ([]byte, error) {
	o := object{{"name", s.Name}, {"fields", fieldList(s.Fields)}}
	if len(s.EntityChecks) > 0 {
		o = append(o, member{"entity_checks", checkList(s.EntityChecks)})
	}
	return json.Marshal(o)
}

// fieldList renders `fields`: an array of one-key objects, one per field.
func fieldList(fields []Field) []object {
	out := make([]object, len(fields))
	for i := range fields {
		out[i] = object{{fields[i].Name, fieldAttrs(&fields[i])}}
	}
	return out
}

// fieldAttrs renders one field's attribute table.
func fieldAttrs(f *Field) object {
	o := object{{"type", string(f.Type)}}
	switch {
	case f.Required:
		o = append(o, member{"required", true})
	case f.Type == Record:
		// Kong makes a record required unless it says otherwise
		// (kong/db/schema/init.lua), so an optional record must say
		// required = false, as Kong's own ai-proxy schema does for auth,
		// model.options and options.huggingface: without it Kong refuses an
		// explicit null and fills an absent record with its defaults, which
		// the Go validator (Required false) would not.
		o = append(o, member{"required", false})
	}
	if f.Default != nil {
		o = append(o, member{"default", f.Default})
	}
	if f.OneOf != nil {
		o = append(o, member{"one_of", f.OneOf})
	}
	if f.Between != nil {
		o = append(o, member{"between", []float64{f.Between.Min, f.Between.Max}})
	}
	if f.Gt != nil {
		o = append(o, member{"gt", *f.Gt})
	}
	if f.LenMin != nil {
		o = append(o, member{"len_min", *f.LenMin})
	}
	if f.Match != "" {
		o = append(o, member{"match", f.Match})
	}
	if f.Referenceable {
		o = append(o, member{"referenceable", true})
	}
	if f.Encrypted {
		o = append(o, member{"encrypted", true})
	}
	if f.Description != "" {
		o = append(o, member{"description", f.Description})
	}
	if f.Elements != nil {
		o = append(o, member{"elements", fieldAttrs(f.Elements)})
	}
	if f.Keys != nil {
		o = append(o, member{"keys", fieldAttrs(f.Keys)})
	}
	if f.Values != nil {
		o = append(o, member{"values", fieldAttrs(f.Values)})
	}
	if f.Type == Record {
		// Kong's metaschema requires `fields` on every record, even an
		// empty one.
		o = append(o, member{"fields", fieldList(f.Fields)})
	}
	if len(f.EntityChecks) > 0 {
		o = append(o, member{"entity_checks", checkList(f.EntityChecks)})
	}
	return o
}

// checkList renders `entity_checks`: one-key objects named after the check.
func checkList(checks []Check) []object {
	out := make([]object, 0, len(checks))
	for _, c := range checks {
		out = append(out, object{checkMember(c)})
	}
	return out
}

func checkMember(c Check) member {
	switch {
	case c.MutuallyRequired != nil:
		return member{"mutually_required", c.MutuallyRequired}
	case c.AtLeastOneOf != nil:
		return member{"at_least_one_of", c.AtLeastOneOf}
	case c.OnlyOneOf != nil:
		return member{"only_one_of", c.OnlyOneOf}
	case c.Conditional != nil:
		k := c.Conditional
		return member{"conditional", object{
			{"if_field", k.IfField}, {"if_match", matchAttrs(k.IfMatch)},
			{"then_field", k.ThenField}, {"then_match", matchAttrs(k.ThenMatch)},
		}}
	case c.ConditionalAtLeastOneOf != nil:
		k := c.ConditionalAtLeastOneOf
		return member{"conditional_at_least_one_of", object{
			{"if_field", k.IfField}, {"if_match", matchAttrs(k.IfMatch)},
			{"then_at_least_one_of", k.ThenAtLeastOneOf},
		}}
	}
	// An empty Check is a declaration bug; checkDeclaration rejects it in
	// tests. Render it visibly rather than dropping it silently.
	return member{"invalid_empty_check", true}
}

func matchAttrs(m Match) object {
	o := object{}
	if m.Eq != nil {
		o = append(o, member{"eq", m.Eq})
	}
	if m.OneOf != nil {
		o = append(o, member{"one_of", m.OneOf})
	}
	if m.Required {
		o = append(o, member{"required", true})
	}
	if m.Between != nil {
		o = append(o, member{"between", []float64{m.Between.Min, m.Between.Max}})
	}
	if m.Gt != nil {
		o = append(o, member{"gt", *m.Gt})
	}
	if m.Match != "" {
		o = append(o, member{"match", m.Match})
	}
	return o
}
