package kongschema

import (
	"strconv"
	"strings"
)

// Infer types the string values of a form-encoded Admin API body the way
// Kong's kong/api/arguments.lua infer_value does: "" becomes null, numbers
// and integers are parsed (left as strings if they do not parse, for the
// validator to reject), "true"/"false" become booleans, a single value for
// an array or set becomes a one-element list, and records, maps and foreign
// keys are walked. obj is modified in place and returned.
func (s *Schema) Infer(obj map[string]any) map[string]any {
	return inferRecord(s.entity, obj)
}

// Infer is Schema.Infer for a core entity.
func (e *Entity) Infer(obj map[string]any) map[string]any {
	return inferRecord(e.recordFor(obj), obj)
}

func inferRecord(rec *field, obj map[string]any) map[string]any {
	for k, v := range obj {
		if f := rec.fieldByName(k); f != nil {
			obj[k] = inferValue(v, f)
		}
	}
	return obj
}

func inferValue(v any, f *field) any {
	if v == nil || f == nil {
		return v
	}
	if s, ok := v.(string); ok && s == "" {
		return nil
	}
	switch f.typ {
	case "number", "integer":
		if s, ok := v.(string); ok {
			if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				return n
			}
		}
	case "boolean":
		switch v {
		case "true":
			return true
		case "false":
			return false
		}
	case "array", "set":
		l, ok := v.([]any)
		if !ok {
			if m, isMap := v.(map[string]any); isMap {
				l = indexedList(m)
			} else {
				l = []any{v}
			}
		}
		for i, e := range l {
			l[i] = inferValue(e, f.elements)
		}
		return l
	case "map":
		if m, ok := v.(map[string]any); ok {
			for k, e := range m {
				m[k] = inferValue(e, f.values)
			}
		}
	case "record":
		if m, ok := v.(map[string]any); ok && !f.abstract {
			return inferRecord(f, m)
		}
	}
	return v
}

// indexedList turns {"1": a, "2": b} (from form keys like tags[1]=a) into
// a list in index order; non-numeric keys go last in key order.
func indexedList(m map[string]any) []any {
	type kv struct {
		idx int
		key string
		v   any
	}
	var items []kv
	for k, v := range m {
		n, err := strconv.Atoi(k)
		if err != nil {
			n = 1 << 30
		}
		items = append(items, kv{n, k, v})
	}
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && (items[j].idx < items[j-1].idx || items[j].idx == items[j-1].idx && items[j].key < items[j-1].key); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}
