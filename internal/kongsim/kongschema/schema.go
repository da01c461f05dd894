package kongschema

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Schema is a plugin's schema once Kong would accept it: checked against
// the metaschema, grafted onto the plugins entity (the subschema's fields
// replace the entity's abstract config and any field it redefines, such as
// protocols or consumer), ready to process plugin entities.
type Schema struct {
	name   string
	source json.RawMessage
	// entity is the plugins entity record with this plugin's fields in
	// place, and the plugin's schema-level entity checks.
	entity *field
}

// Name is the schema's "name" (the plugin name).
func (s *Schema) Name() string { return s.name }

// Source returns the schema JSON Parse was given.
func (s *Schema) Source() json.RawMessage { return s.source }

// NoConsumer, NoRoute and NoService report the Kong flags a schema sets by
// declaring consumer/route/service with "eq": null (typedefs.no_consumer
// etc.): the plugin cannot be scoped to one.
func (s *Schema) NoConsumer() bool { return s.fieldEqNull("consumer") }

// NoRoute: see NoConsumer.
func (s *Schema) NoRoute() bool { return s.fieldEqNull("route") }

// NoService: see NoConsumer.
func (s *Schema) NoService() bool { return s.fieldEqNull("service") }

func (s *Schema) fieldEqNull(name string) bool {
	f := s.entity.fieldByName(name)
	return f != nil && f.hasEq && f.eq == nil
}

// FieldType returns the DSL type of the plugin entity's field at a dotted
// path ("config.model.options.max_tokens", "protocols"), following records,
// with ok=false when there is no such field. The Admin API uses it to type
// form-encoded values, as Kong's arguments decoder does.
func (s *Schema) FieldType(path string) (string, bool) {
	f := s.entity.fieldAtPath(path)
	if f == nil {
		return "", false
	}
	return f.typ, true
}

// ElementType returns the type of the elements of the array or set at path
// (or of the values of a map), ok=false otherwise.
func (s *Schema) ElementType(path string) (string, bool) {
	f := s.entity.fieldAtPath(path)
	if f == nil {
		return "", false
	}
	switch {
	case f.elements != nil:
		return f.elements.typ, true
	case f.values != nil:
		return f.values.typ, true
	}
	return "", false
}

// The plugins entity (kong/db/schema/entities/plugins.lua), with the
// typedefs it uses spelled out. The custom validators of instance_name and
// tags (UTF-8 and printable-character checks) are Lua functions and not
// reproduced.
const pluginsEntityJSON = `[
	{"id":{"type":"string","uuid":true,"auto":true}},
	{"name":{"type":"string","required":true}},
	{"instance_name":{"type":"string","unique":true}},
	{"created_at":{"type":"integer","timestamp":true,"auto":true}},
	{"updated_at":{"type":"integer","timestamp":true,"auto":true}},
	{"route":{"type":"foreign","reference":"routes","default":null,"on_delete":"cascade"}},
	{"service":{"type":"foreign","reference":"services","default":null,"on_delete":"cascade"}},
	{"consumer":{"type":"foreign","reference":"consumers","default":null,"on_delete":"cascade"}},
	{"config":{"type":"record","abstract":true}},
	{"protocols":{"type":"set","required":true,"default":["grpc","grpcs","http","https"],
		"elements":{"type":"string","one_of":["grpc","grpcs","http","https","tcp","tls","tls_passthrough","udp"]}}},
	{"enabled":{"type":"boolean","required":true,"default":true}},
	{"tags":{"type":"set","elements":{"type":"string","required":true}}}
]`

// knownEntities are the DAO entities a foreign field may reference.
var knownEntities = map[string]bool{
	"consumers": true, "services": true, "routes": true, "plugins": true, "upstreams": true,
	"targets": true, "certificates": true, "snis": true, "ca_certificates": true,
	"workspaces": true, "tags": true, "vaults": true, "keys": true, "key_sets": true,
	"filter_chains": true, "parameters": true, "clustering_data_planes": true,
}

// Kong's subschema errors (init.lua validation_errors).
const (
	errSubschemaBadField = "error in definition of '%s': %s: cannot create a new field"
	errSubschemaBadType  = "error in definition of '%s': %s: cannot change type in a specialized field"
	errSubschemaUndef    = "error in definition of '%s': %s: abstract field was not specialized"
	errBadReference      = "schema refers to an invalid foreign entity: %s"
	errInitPrefix        = "error initializing schema for plugin: "
	errNotEnabled        = "plugin '%s' not enabled; add it to the 'plugins' configuration property"
)

// Parse checks a plugin schema (the "Schema" of a plugin server's dump, or
// a bundled plugin's schema as JSON) the way Kong's plugin_loader does, and
// compiles it. Its errors carry Kong's text: a metaschema failure reads
// "schema violation (fields.1: ...)" or "2 schema violations (...)", a
// grafting failure "error initializing schema for plugin: ...". Kong
// reports either as "error loading plugin schemas: on plugin '<name>': <text>".
func Parse(schemaJSON []byte) (*Schema, error) {
	v, err := decodeJSON(schemaJSON)
	if err != nil {
		return nil, fmt.Errorf("invalid schema JSON: %w", err)
	}
	def, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("invalid schema: expected a JSON object")
	}
	metaErrs, err := metaValidate(def)
	if err != nil {
		return nil, err
	}
	if metaErrs != nil {
		return nil, errors.New(schemaViolation(metaErrs).Message)
	}
	name, _ := def["name"].(string)

	parentFields, err := decodeFields(pluginsEntityJSON)
	if err != nil {
		return nil, err
	}
	own, err := compileFields(def["fields"])
	if err != nil {
		return nil, fmt.Errorf("%s%w", errInitPrefix, err)
	}
	merged := &field{typ: "record", fields: parentFields}
	for _, nf := range own {
		if nf.f.typ == "foreign" && !knownEntities[nf.f.reference] {
			return nil, errors.New(errInitPrefix + fmt.Sprintf(errBadReference, nf.f.reference))
		}
		if nf.f.typ == "record" {
			makeRecordsRequired(nf.f)
		}
		parent := merged.fieldByName(nf.name)
		if parent == nil {
			return nil, errors.New(errInitPrefix + fmt.Sprintf(errSubschemaBadField, name, nf.name))
		}
		if !compatibleFields(parent, nf.f) {
			return nil, errors.New(errInitPrefix + fmt.Sprintf(errSubschemaBadType, name, nf.name))
		}
	}
	for i, nf := range merged.fields {
		for _, o := range own {
			if o.name == nf.name {
				merged.fields[i] = o
			}
		}
	}
	for _, nf := range merged.fields {
		if err := resolveChecks(nf.f); err != nil {
			return nil, fmt.Errorf("%s%w", errInitPrefix, err)
		}
	}
	if merged.checks, err = compileChecks(def["entity_checks"], merged); err != nil {
		return nil, fmt.Errorf("%s%w", errInitPrefix, err)
	}
	return &Schema{name: name, source: append(json.RawMessage(nil), schemaJSON...), entity: merged}, nil
}

// compatibleFields is Kong's compatible_fields (parent, specialized).
func compatibleFields(parent, f *field) bool {
	if parent.typ == "record" && f.typ == "json" {
		return true
	}
	if parent.typ != f.typ {
		return false
	}
	switch parent.typ {
	case "array", "set":
		return parent.elements != nil && f.elements != nil && parent.elements.typ == f.elements.typ
	case "map":
		return parent.keys != nil && f.keys != nil && parent.values != nil && f.values != nil &&
			parent.keys.typ == f.keys.typ && parent.values.typ == f.values.typ
	}
	return true
}

// inputError is Kong's BAD_INPUT for a body that is not an object.
func inputError() *Error {
	t := newErrTable()
	t.addEntity("expected an input table")
	return schemaViolation(t)
}

// decodeInput decodes an entity, a patch or a stored entity: it must be a
// JSON object, else inputError.
func decodeInput(data []byte) (map[string]any, *Error) {
	v, err := decodeJSON(data)
	obj, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil, inputError()
	}
	return obj, nil
}

// ProcessPlugin processes a plugin entity for insertion (POST, PUT, a
// declarative config): Kong's process_auto_fields("insert") followed by
// validate_insert. It returns the entity as Kong stores and shows it
// (defaults applied, absent optional fields as null), or the Admin API's
// schema violation. The auto fields id/created_at/updated_at are not
// generated here: the caller supplies them (or leaves them null).
func (s *Schema) ProcessPlugin(entity json.RawMessage) (json.RawMessage, *Error) {
	obj, errV := decodeInput(entity)
	if errV != nil {
		return nil, errV
	}
	if errT := s.checkName(obj); errT != nil {
		return nil, schemaViolation(errT)
	}
	processed := processRecord(s.entity, obj, ctxInsert)
	if errs := (&validator{}).validateRecord(s.entity, processed, true); errs != nil {
		return nil, schemaViolation(errs)
	}
	return mustMarshal(processed), nil
}

// checkName is validate()'s subschema_key step.
func (s *Schema) checkName(obj map[string]any) *errTable {
	name, present := obj["name"]
	if !present || name == nil {
		return &errTable{fields: map[string]any{"name": errRequired}}
	}
	if n, ok := name.(string); !ok || n != s.name {
		return &errTable{fields: map[string]any{"name": fmt.Sprintf(errNotEnabled, luaToString(name))}}
	}
	return nil
}

// ProcessPluginUpdate applies a partial update (PATCH) to a stored entity
// the way Kong's DAO does: the patch is processed in "update" context (no
// defaults), merged over the stored entity record by record (arrays are
// replaced, not merged), and the result validated as an update (the "when
// updating" wording). The returned entity then has defaults filled in for
// anything still missing, as Kong's next read would show it.
func (s *Schema) ProcessPluginUpdate(current, patch json.RawMessage) (json.RawMessage, *Error) {
	cur, errV := decodeInput(current)
	if errV != nil {
		return nil, errV
	}
	p, errV := decodeInput(patch)
	if errV != nil {
		return nil, errV
	}
	if _, present := p["name"]; present {
		if errT := s.checkName(p); errT != nil {
			return nil, schemaViolation(errT)
		}
	}
	processed := processRecord(s.entity, p, ctxUpdate)
	merged := mergeValues(s.entity, processed, cur)
	v := &validator{updating: true}
	if errs := v.validateRecord(s.entity, merged, false); errs != nil {
		return nil, schemaViolation(errs)
	}
	return mustMarshal(processRecord(s.entity, merged, ctxSelect)), nil
}

// ProcessConfig validates a plugin's config alone, as part of an entity
// {"name": <this plugin>, "config": config}, and returns the config with
// defaults applied and null fields left out — what Kong sends the plugin.
// An empty config argument means "no config" and yields the defaults; a
// JSON null config is refused ("config: required field missing"), as Kong
// does. Errors are the Admin API's, so their fields sit under "config".
func (s *Schema) ProcessConfig(config json.RawMessage) (json.RawMessage, *Error) {
	entity := map[string]any{"name": s.name}
	if len(config) > 0 {
		v, err := decodeJSON(config)
		if err != nil {
			return nil, inputError()
		}
		entity["config"] = v
	}
	out, errV := s.ProcessPlugin(mustMarshal(entity))
	if errV != nil {
		return nil, errV
	}
	v, _ := decodeJSON(out)
	obj, _ := v.(map[string]any)
	return mustMarshal(stripNulls(obj["config"])), nil
}

// mergeValues is Kong's Schema:merge_values(top, bottom): top wins, records
// merge field by field, everything else is replaced whole.
func mergeValues(rec *field, top, bottom map[string]any) map[string]any {
	out := make(map[string]any, len(top)+len(bottom))
	for k, v := range bottom {
		out[k] = deepCopy(v)
	}
	for k, v := range top {
		out[k] = v
	}
	for _, nf := range rec.fields {
		topV, present := top[nf.name]
		if !present {
			continue
		}
		topM, isMap := topV.(map[string]any)
		if nf.f.typ == "record" && !nf.f.abstract && isMap {
			botM, _ := bottom[nf.name].(map[string]any)
			out[nf.name] = mergeValues(nf.f, topM, botM)
		}
	}
	return out
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Values here come from decoded JSON only; marshalling them cannot
		// fail, but a clear message beats a panic if that ever changes.
		return json.RawMessage(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	return b
}
