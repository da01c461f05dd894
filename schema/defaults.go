package schema

// Defaults are applied the way Kong's Schema:process_auto_fields does in
// the "insert" context (kong/db/schema/init.lua), before validation:
//   - an absent field with a default gets a copy of it;
//   - an absent field without one becomes null unless it is required;
//   - an absent required record is expanded to its own defaults;
//   - a present record (a JSON object, or an array: both are Lua tables) is
//     processed recursively; an explicit null is left alone, so it
//     disables the default;
//   - set elements are de-duplicated.
// Keys the schema does not declare are kept, for validation to report.

// processRecord returns a copy of rec with defaults applied per fields.
func processRecord(fields []Field, rec map[string]any) map[string]any {
	out := make(map[string]any, len(rec)+len(fields))
	for k, v := range rec {
		out[k] = v
	}
	for i := range fields {
		f := &fields[i]
		v, present := rec[f.Name]
		if nv, ok := adjustField(f, v, present); ok {
			out[f.Name] = nv
		} else {
			delete(out, f.Name)
		}
	}
	return out
}

// adjustField is adjust_field_for_context for "insert". ok is false when
// the field stays absent (a required field without a default).
func adjustField(f *Field, v any, present bool) (any, bool) {
	if f.Type == Record {
		if v != any(null) && (present || f.Required) {
			if !present {
				v, present = missingValue(f)
			}
			if rec, isTable := asTable(v); isTable {
				return processRecord(f.Fields, rec), true
			}
		}
	} else if present {
		v = adjustAggregate(f, v)
	}
	if !present {
		return missingValue(f)
	}
	return v, true
}

// adjustAggregate applies defaults inside arrays, sets and maps.
func adjustAggregate(f *Field, v any) any {
	switch f.Type {
	case Array, Set:
		seq, ok := asSequence(v)
		if !ok || f.Elements == nil {
			return v
		}
		out := make([]any, 0, len(seq))
		seen := map[any]bool{}
		for _, e := range seq {
			ne, _ := adjustField(f.Elements, e, true)
			if f.Type == Set && isComparable(ne) {
				if seen[ne] {
					continue
				}
				seen[ne] = true
			}
			out = append(out, ne)
		}
		return out
	case Map:
		m, ok := v.(map[string]any)
		if !ok || f.Values == nil {
			return v
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k], _ = adjustField(f.Values, e, true)
		}
		return out
	}
	return v
}

// isComparable reports whether v can be a Go map key, i.e. whether Lua
// would de-duplicate it by value (tables are compared by identity there, so
// they are never duplicates of each other).
func isComparable(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// missingValue is handle_missing_field.
func missingValue(f *Field) (any, bool) {
	if f.Default != nil {
		return schemaValue(f.Default), true
	}
	if !f.Required {
		return null, true
	}
	if f.Type == Record {
		return processRecord(f.Fields, map[string]any{}), true
	}
	return nil, false
}
