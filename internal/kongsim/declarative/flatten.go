package declarative

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"

	"github.com/tidwall/sjson"
	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
)

// Flatten is errors:declarative_config_flattened (kong/db/errors.lua:1170,
// flatten_errors at :1039): POST /config?flatten_errors=1 answers the
// declarative error with every entity's problems hoisted into one list,
// "flattened_errors", each entry naming the entity (type, id, name, tags,
// the input entity itself) and its errors as {"type":"entity"|"field",
// "field":"config.x", "message":...}. The entity sections are drained
// from "fields" (and so from the message); top-level problems such as an
// unknown key or _format_version stay there.
//
// data is the document that was posted, e is Parse's error for it.
func Flatten(data []byte, e *kongschema.Error) json.RawMessage {
	var doc any
	_ = yaml.Unmarshal(data, &doc)
	input, _ := normalize(doc).(map[string]any)
	var errT map[string]any
	_ = json.Unmarshal(e.Fields, &errT)
	flat := []any{}
	left := map[string]any{}
	for _, kind := range sortedKeys(errT) {
		section, isList := errT[kind].([]any)
		entities, isInput := input[kind].([]any)
		if !isList || !isInput {
			left[kind] = errT[kind]
			continue
		}
		for i, errI := range section {
			if errI == nil {
				continue
			}
			if i < len(entities) {
				if ent, ok := entities[i].(map[string]any); ok {
					addEntityErrors(kind, ent, errI, &flat)
					continue
				}
			}
			// Kong logs "failed to resolve errors" and keeps the error.
			left[kind] = section
		}
	}
	out, _ := json.Marshal(kongschema.DeclarativeError(left))
	out, _ = sjson.SetBytes(out, "flattened_errors", flat)
	return out
}

// children are the one-to-many relationships an entity may nest
// (each_foreign_field's back references), with the foreign key field the
// child gets: routes and plugins under services, plugins under routes and
// consumers.
var children = map[string][]string{
	"services":  {"plugins", "routes"},
	"routes":    {"plugins"},
	"consumers": {"plugins"},
}

// owners are the one-to-one foreign fields of an entity and the kind they
// reference.
var owners = map[string][][2]string{
	"routes":  {{"service", "services"}},
	"plugins": {{"consumer", "consumers"}, {"route", "routes"}, {"service", "services"}},
}

var uuidRe = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func validID(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok && uuidRe.MatchString(s)
}

// pk is make_pk: {"id": ...} when the entity has a valid UUID id.
func pk(entity map[string]any) map[string]any {
	if id, ok := validID(entity["id"]); ok {
		return map[string]any{"id": id}
	}
	return nil
}

func singular(kind string) string {
	if n := len(kind); n > 0 && kind[n-1] == 's' {
		return kind[:n-1]
	}
	return kind
}

// addEntityErrors is errors.lua add_entity_errors: nested entities'
// errors first (they become entries of their own), then this entity's.
func addEntityErrors(kind string, input map[string]any, errV any, flat *[]any) {
	var errT map[string]any
	switch x := errV.(type) {
	case string:
		errT = map[string]any{"@entity": x}
	case map[string]any:
		errT = map[string]any{}
		for k, v := range x {
			errT[k] = v
		}
	default:
		return
	}
	if len(errT) == 0 {
		return
	}
	entity := map[string]any{}
	for k, v := range input {
		entity[k] = v
	}
	for _, o := range owners[kind] {
		field, ref := o[0], o[1]
		v, ok := entity[field].(map[string]any)
		if !ok {
			continue
		}
		if p := pk(v); p != nil {
			entity[field] = p
		} else {
			delete(entity, field)
		}
		fieldErr := errT[field]
		delete(errT, field)
		addEntityErrors(ref, v, fieldErr, flat)
	}
	for _, child := range children[kind] {
		items, ok := entity[child].([]any)
		if !ok {
			continue
		}
		delete(entity, child)
		childErrs, _ := errT[child].([]any)
		delete(errT, child)
		for i, it := range items {
			item, ok := it.(map[string]any)
			if !ok || i >= len(childErrs) || childErrs[i] == nil {
				continue
			}
			fk := singular(kind)
			if _, has := item[fk]; !has {
				if p := pk(entity); p != nil {
					item = copyWith(item, fk, p)
				}
			}
			addEntityErrors(child, item, childErrs[i], flat)
		}
	}
	if len(errT) == 0 {
		return
	}
	errs := categorize(errT, "", nil)
	if len(errs) == 0 {
		return
	}
	entry := map[string]any{
		"entity_type": singular(kind),
		"entity":      entity,
		"errors":      errs,
	}
	if name, ok := entity["name"].(string); ok && name != "" {
		entry["entity_name"] = name
	}
	if id, ok := validID(entity["id"]); ok {
		entry["entity_id"] = id
	}
	if tags, ok := stringTags(entity["tags"]); ok {
		entry["entity_tags"] = tags
	}
	*flat = append(*flat, entry)
}

func copyWith(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

func stringTags(v any) ([]any, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	for _, e := range l {
		if _, isStr := e.(string); !isStr {
			return nil, false
		}
	}
	return l, true
}

// categorize is errors.lua categorize_errors: "@entity" messages are
// entity errors, strings field errors at the dotted path (array elements
// by their 1-based Lua index), tables walked; keys in sorted order.
func categorize(errs any, ns string, out []any) []any {
	join := func(field string) string {
		if ns == "" {
			return field
		}
		return ns + "." + field
	}
	var keys []string
	vals := map[string]any{}
	switch x := errs.(type) {
	case map[string]any:
		for k, v := range x {
			keys = append(keys, k)
			vals[k] = v
		}
		sort.Strings(keys)
	case []any:
		for i, v := range x {
			if v != nil {
				k := strconv.Itoa(i + 1)
				keys = append(keys, k)
				vals[k] = v
			}
		}
	}
	for _, k := range keys {
		v := vals[k]
		switch {
		case k == "@entity":
			for _, m := range messages(v) {
				out = append(out, map[string]any{"type": "entity", "message": m})
			}
		default:
			if s, ok := v.(string); ok {
				out = append(out, map[string]any{"type": "field", "field": join(k), "message": s})
			} else {
				out = categorize(v, join(k), out)
			}
		}
	}
	return out
}

func messages(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, messages(e)...)
		}
		return out
	}
	return nil
}
