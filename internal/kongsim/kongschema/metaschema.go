package kongschema

import (
	"encoding/json"
	"fmt"
	"sync"
)

// Kong checks every plugin schema with MetaSchema.MetaSubSchema
// (kong/db/schema/metaschema.lua) before using it. The metaschema is itself
// written in the schema DSL, so the stand-in does the same: the JSON below
// transcribes metaschema.lua's tables, and the ordinary validator runs it
// over the plugin's schema. Only the recursive parts (a field's elements,
// keys, values and fields are field definitions again) are wired up in Go,
// since JSON cannot express the cycle.

// validTypes is keys(Schema.valid_types) in declaration order (Lua's pairs
// order is unspecified, so Kong's "expected one of" list order varies).
var validTypes = []any{"array", "set", "string", "number", "boolean", "integer", "foreign", "map", "record", "function", "json"}

const matchListJSON = `{"type":"array","elements":{"type":"record","fields":[
	{"pattern":{"type":"string","required":true}},
	{"err":{"type":"string"}}]}}`

// fieldAttributesJSON is metaschema.lua's field_schema (without the
// recursive attributes) followed by its validators list.
var fieldAttributesJSON = `[
	{"type":{"type":"string","one_of":` + mustJSON(validTypes) + `,"required":true}},
	{"required":{"type":"boolean"}},
	{"reference":{"type":"string"}},
	{"description":{"type":"string","len_min":10,"len_max":500}},
	{"examples":{"type":"array","elements":{"type":"any"}}},
	{"auto":{"type":"boolean"}},
	{"unique":{"type":"boolean"}},
	{"unique_across_ws":{"type":"boolean"}},
	{"on_delete":{"type":"string","one_of":["restrict","cascade","null"]}},
	{"default":{"type":"self"}},
	{"abstract":{"type":"boolean"}},
	{"generate_admin_api":{"type":"boolean"}},
	{"immutable":{"type":"boolean"}},
	{"err":{"type":"string"}},
	{"encrypted":{"type":"boolean"}},
	{"referenceable":{"type":"boolean"}},
	{"json_schema":{"type":"record","fields":[
		{"namespace":{"type":"string"}},
		{"parent_subschema_key":{"type":"string"}},
		{"optional":{"type":"boolean"}},
		{"inline":{"type":"any"}},
		{"default":{"type":"any"}}]}},
	{"transient":{"type":"boolean"}},
	{"deprecation":{"type":"record","fields":[
		{"message":{"type":"string","required":true}},
		{"removal_in_version":{"type":"string","required":true}},
		{"old_default":{"type":"any","required":false}},
		{"replaced_with":{"type":"array","required":false,"elements":{"type":"record","required":false,"fields":[
			{"path":{"type":"array","len_min":1,"required":true,"elements":{"type":"string"}}},
			{"reverse_mapping_function":{"type":"function","required":false}}]}}}]}}
` + validatorsJSON + `]`

// validatorsJSON is metaschema.lua's validators list (attributes that are
// validator functions), also allowed in conditional match clauses.
const validatorsJSON = `,
	{"between":{"type":"array","elements":{"type":"number"},"len_eq":2}},
	{"eq":{"type":"any"}},
	{"ne":{"type":"any"}},
	{"gt":{"type":"number"}},
	{"len_eq":{"type":"integer"}},
	{"len_min":{"type":"integer"}},
	{"len_max":{"type":"integer"}},
	{"match":{"type":"string"}},
	{"not_match":{"type":"string"}},
	{"match_all":` + matchListJSON + `},
	{"match_none":` + matchListJSON + `},
	{"match_any":{"type":"record","fields":[
		{"patterns":{"type":"array","elements":{"type":"string"},"required":true}},
		{"err":{"type":"string"}}]}},
	{"starts_with":{"type":"string"}},
	{"one_of":{"type":"array","elements":{"type":"any"}}},
	{"not_one_of":{"type":"array","elements":{"type":"any"}}},
	{"contains":{"type":"any"}},
	{"is_regex":{"type":"boolean"}},
	{"timestamp":{"type":"boolean"}},
	{"uuid":{"type":"boolean"}},
	{"custom_validator":{"type":"function"}},
	{"mutually_exclusive_subsets":{"type":"array","elements":{"type":"array","elements":{"type":"string"}}}}`

// Kong's meta_errors, verbatim.
const (
	metaAttribute   = "field of type '%s' cannot have attribute '%s'"
	metaRequired    = "field of type '%s' must declare '%s'"
	metaTable       = "'%s' must be a table"
	metaType        = "missing type declaration"
	metaFieldEmpty  = "field entry table is empty"
	metaFieldsArray = "each entry in fields must be a sub-table"
	metaJSONKey     = "value must be a field name of the parent schema"
	metaJSONKeyType = "value must be a string field of the parent schema"
)

var requiredAttributes = map[string][]string{
	"array":  {"elements"},
	"set":    {"elements"},
	"map":    {"keys", "values"},
	"record": {"fields"},
	"json":   {"json_schema"},
}

func typeSet(types ...string) map[string]bool {
	m := map[string]bool{}
	for _, t := range types {
		m[t] = true
	}
	return m
}

var attributeTypes = map[string]map[string]bool{
	"between":          typeSet("integer", "number"),
	"len_eq":           typeSet("array", "set", "string", "map"),
	"match":            typeSet("string"),
	"one_of":           typeSet("string", "number", "integer"),
	"contains":         typeSet("array", "set"),
	"is_regex":         typeSet("string"),
	"timestamp":        typeSet("number", "integer"),
	"uuid":             typeSet("string"),
	"unique":           typeSet("string", "number", "integer", "foreign"),
	"unique_across_ws": typeSet("string", "number", "integer", "foreign"),
	"abstract":         typeSet("string", "number", "integer", "record", "array", "set", "map"),
	"json_schema":      typeSet("json"),
	"transient":        typeSet("string", "number", "integer", "array", "set", "boolean"),
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static data only
	}
	return string(b)
}

// metaSubSchema is the compiled MetaSubSchema record, built once.
var metaSubSchema = sync.OnceValues(buildMetaSubSchema)

func decodeFields(js string) ([]namedField, error) {
	v, err := decodeJSON([]byte(js))
	if err != nil {
		return nil, fmt.Errorf("metaschema JSON: %w", err)
	}
	return compileFields(v)
}

func buildMetaSubSchema() (*field, error) {
	attrs, err := decodeFields(fieldAttributesJSON)
	if err != nil {
		return nil, err
	}
	// "Most of the above are optional": nilable unless required.
	for _, nf := range attrs {
		nf.f.nilable = !nf.f.required
	}
	// The definition record of one field (the values of a fields-array
	// entry), and the recursive elements/keys/values attributes.
	fieldRecord := &field{typ: "record", required: true}
	elements, keys, values := &field{typ: "record"}, &field{typ: "record"}, &field{typ: "record"}

	fieldsArray := &field{
		typ: "array",
		elements: &field{
			typ: "map", required: true, lenEq: intPtr(1),
			keys:   &field{typ: "string", required: true},
			values: fieldRecord,
		},
	}

	checkerDefs, err := decodeFields(`[
		{"at_least_one_of":{"type":"array","elements":{"type":"string"}}},
		{"conditional_at_least_one_of":{"type":"record","fields":[
			{"if_field":{"type":"string"}},
			{"if_match":{"type":"record","fields":[]}},
			{"then_at_least_one_of":{"type":"array","elements":{"type":"string"}}},
			{"then_err":{"type":"string"}},
			{"else_match":{"type":"record","fields":[]}},
			{"else_then_at_least_one_of":{"type":"array","elements":{"type":"string"}}},
			{"else_then_err":{"type":"string"}}]}},
		{"only_one_of":{"type":"array","elements":{"type":"string"}}},
		{"distinct":{"type":"array","elements":{"type":"string"}}},
		{"conditional":{"type":"record","fields":[
			{"if_field":{"type":"string"}},
			{"if_match":{"type":"record","fields":[]}},
			{"then_field":{"type":"string"}},
			{"then_match":{"type":"record","fields":[]}},
			{"then_err":{"type":"string"}}]}},
		{"custom_entity_check":{"type":"record","fields":[
			{"field_sources":{"type":"array","elements":{"type":"string"}}},
			{"fn":{"type":"function"}},
			{"run_with_missing_fields":{"type":"boolean"}},
			{"run_with_invalid_fields":{"type":"boolean"}}]}},
		{"mutually_required":{"type":"array","elements":{"type":"string"}}},
		{"mutually_exclusive":{"type":"array","elements":{"type":"string"}}},
		{"mutually_exclusive_sets":{"type":"record","fields":[
			{"set1":{"type":"array","elements":{"type":"string"}}},
			{"set2":{"type":"array","elements":{"type":"string"}}}]}}]`)
	if err != nil {
		return nil, err
	}
	// Entity-checker records are not entity fields: their sub-records are
	// not made required, so absent ones stay null.
	names := make([]any, len(checkerNames))
	for i, n := range checkerNames {
		names[i] = n
	}
	entityChecksSchema := &field{
		typ:     "array",
		nilable: true,
		elements: &field{
			typ: "record", required: true, fields: checkerDefs,
			checks: []entityCheck{{name: "only_one_of", list: checkerNames}},
		},
	}

	// conditional_validators: required, elements, keys, values, validators.
	condValidators, err := decodeFields(`[{"required":{"type":"boolean"}}` + validatorsJSON + `]`)
	if err != nil {
		return nil, err
	}
	condFields := append([]namedField{condValidators[0],
		{"elements", &field{typ: "record"}},
		{"keys", &field{typ: "record"}},
		{"values", &field{typ: "record"}},
	}, condValidators[1:]...)
	for _, nf := range checkerDefs {
		for _, clause := range []string{"if_match", "then_match", "else_match"} {
			if c := nf.f.fieldByName(clause); c != nil {
				c.fields = condFields
			}
		}
	}

	shorthandFields := &field{
		typ:     "array",
		nilable: true,
		elements: &field{
			typ: "map", required: true, lenEq: intPtr(1),
			keys:   &field{typ: "string", required: true},
			values: &field{typ: "record", required: true},
		},
	}

	all := append([]namedField{}, attrs...)
	all = append(all,
		namedField{"elements", elements},
		namedField{"keys", keys},
		namedField{"values", values},
		namedField{"fields", fieldsArray},
		namedField{"entity_checks", entityChecksSchema},
		namedField{"shorthand_fields", shorthandFields},
	)
	fieldRecord.fields = all
	fieldRecord.checks = []entityCheck{uniqueAcrossWS(all)}
	for _, f := range []*field{elements, keys, values} {
		f.fields = all
	}
	for _, nf := range condFields[1:4] {
		nf.f.fields = all
	}
	// Shorthand fields need a Lua function ("func", required), which JSON
	// cannot carry, so every shorthand entry fails on it, as in Kong.
	shorthandType := &field{typ: "string", required: true, hasOneOf: true,
		oneOf: []any{"array", "set", "string", "number", "boolean", "integer", "map", "json"}}
	shorthand := append([]namedField{{"type", shorthandType}}, all[1:]...)
	shorthandFields.elements.values.fields = append(shorthand,
		namedField{"func", &field{typ: "function", required: true}},
		namedField{"translate_backwards", &field{typ: "array", elements: &field{typ: "string", required: true}}},
	)
	shorthandFields.elements.values.checks = fieldRecord.checks

	transformations := &field{
		typ:     "array",
		nilable: true,
		elements: &field{typ: "record", required: true, fields: []namedField{
			{"input", &field{typ: "array", elements: &field{typ: "string", required: true}}},
			{"needs", &field{typ: "array", elements: &field{typ: "string", required: true}}},
			{"on_write", &field{typ: "function"}},
			{"on_read", &field{typ: "function"}},
		}, checks: []entityCheck{{name: "at_least_one_of", list: []string{"on_write", "on_read"}}}},
	}

	return &field{typ: "record", fields: []namedField{
		{"name", &field{typ: "string", required: true, requiredSet: true}},
		{"fields", fieldsArray},
		{"entity_checks", entityChecksSchema},
		{"shorthand_fields", shorthandFields},
		{"transformations", transformations},
		{"check", &field{typ: "function", nilable: true}},
	}}, nil
}

// uniqueAcrossWS is metaschema.lua's field_entity_checks: a field with
// unique_across_ws = true must also be unique.
func uniqueAcrossWS(fields []namedField) entityCheck {
	owner := &field{typ: "record", fields: fields}
	ifMatch, _ := withOverlay(owner.fieldByName("unique_across_ws"), map[string]any{"eq": true})
	thenMatch, _ := withOverlay(owner.fieldByName("unique"), map[string]any{"eq": true, "required": true})
	return entityCheck{
		name: "conditional", ifField: "unique_across_ws", thenField: "unique",
		ifMatch: ifMatch, thenMatch: thenMatch, thenRequired: true,
	}
}

func intPtr(i int) *int { return &i }

// metaValidate is MetaSubSchema:validate(schema): attribute-level checks by
// the DSL, then the schema's self-check (check_fields) when the entity has
// what it needs. It returns nil when the definition is acceptable.
func metaValidate(def map[string]any) (*errTable, error) {
	meta, err := metaSubSchema()
	if err != nil {
		return nil, err
	}
	v := &validator{}
	errs := v.validateFields(meta, def)
	for _, nf := range meta.fields {
		if !nf.f.required {
			continue
		}
		if val, present := def[nf.name]; !present || val == nil {
			errs.fields[nf.name] = errRequired
		}
	}
	// run_self_check: every non-nilable field must be there first.
	complete := true
	for _, nf := range meta.fields {
		if _, present := def[nf.name]; !present && !nf.f.nilable {
			errs.fields[nf.name] = errRequiredForEC
			complete = false
		}
	}
	if complete {
		checkFields(def, errs)
	}
	if errs.empty() {
		return nil, nil
	}
	return errs, nil
}

// checkFields is metaschema.lua's check_fields: structural rules the DSL
// cannot state, reported in one flat table keyed by field name.
func checkFields(schema map[string]any, errs *errTable) {
	fields, isList := schema["fields"].([]any)
	if !isList {
		if s, ok := schema["fields"].(string); ok && len(s) > 0 {
			errs.fields["fields"] = metaFieldsArray
		}
		return
	}
	for _, item := range fields {
		m, ok := item.(map[string]any)
		if !ok {
			errs.fields["fields"] = metaFieldsArray
			break
		}
		if len(m) == 0 {
			errs.fields["fields"] = metaFieldEmpty
			break
		}
		// Kong takes next(item): with several keys, any one of them.
		k := sortedKeys(m)[0]
		def, ok := m[k].(map[string]any)
		if !ok {
			errs.fields[k] = fmt.Sprintf(metaTable, k)
			continue
		}
		checkField(k, def, errs, schema)
	}
}

func checkField(k string, def map[string]any, errs *errTable, parent map[string]any) {
	typ, ok := def["type"].(string)
	if !ok {
		errs.fields[k] = metaType
		return
	}
	if req, ok := requiredAttributes[typ]; ok {
		if abstract, _ := def["abstract"].(bool); abstract && typ == "record" {
			req = nil
		}
		for _, attr := range req {
			if v, present := def[attr]; !present || v == nil {
				errs.fields[k] = fmt.Sprintf(metaRequired, typ, attr)
			}
		}
	}
	for _, attr := range sortedKeys(def) {
		if allowed, ok := attributeTypes[attr]; ok && !allowed[typ] {
			errs.fields[k] = fmt.Sprintf(metaAttribute, typ, attr)
		}
	}
	for _, name := range []string{"elements", "keys", "values"} {
		v, present := def[name]
		if !present || v == nil {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			checkField(k, sub, errs, def)
		} else {
			errs.fields[k] = fmt.Sprintf(metaTable, name)
		}
	}
	if typ == "json" {
		if js, ok := def["json_schema"].(map[string]any); ok {
			if key, ok := js["parent_subschema_key"].(string); ok {
				checkJSONParentKey(k, key, errs, parent)
			}
		}
	}
	if _, present := def["fields"]; present {
		checkFields(def, errs)
	}
}

func checkJSONParentKey(k, key string, errs *errTable, parent map[string]any) {
	for _, item := range asList(parent["fields"]) {
		m, _ := item.(map[string]any)
		def, ok := m[key].(map[string]any)
		if !ok {
			continue
		}
		if def["type"] != "string" {
			errs.fields[k] = &errTable{fields: map[string]any{"json_schema": &errTable{fields: map[string]any{"parent_subschema_key": metaJSONKeyType}}}}
		}
		return
	}
	errs.fields[k] = &errTable{fields: map[string]any{"json_schema": &errTable{fields: map[string]any{"parent_subschema_key": metaJSONKey}}}}
}
