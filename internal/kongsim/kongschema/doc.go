// Package kongschema is the stand-in's own implementation of Kong's schema
// DSL (kong/db/schema/init.lua, metaschema.lua, entities/plugins.lua): it
// checks a plugin schema the way Kong's plugin loader does, and validates
// and fills in plugin entities and their config the way Kong's DAO does,
// with Kong's messages and Kong's Admin API error body. It knows nothing of
// the plugin's Go code: it works from the schema JSON a plugin server dumps.
//
// API:
//
//	Parse(schemaJSON []byte) (*Schema, error)
//	    Metaschema check + grafting onto the plugins entity. Error text is
//	    Kong's (prefix it with "error loading plugin schemas: on plugin
//	    '<name>': " as Kong does at start-up).
//	(*Schema).Name() string, Source() json.RawMessage
//	(*Schema).NoConsumer()/NoRoute()/NoService() bool   ("eq": null scoping bans)
//	(*Schema).FieldType(path), ElementType(path)        (for typing form input)
//	(*Schema).ProcessConfig(config) (json.RawMessage, *Error)
//	    config alone → config with defaults, nulls left out (what the plugin gets).
//	(*Schema).ProcessPlugin(entity) (json.RawMessage, *Error)
//	    whole plugin entity (POST/PUT/declarative) → entity with defaults, nulls kept.
//	(*Schema).ProcessPluginUpdate(current, patch) (json.RawMessage, *Error)
//	    PATCH: process patch as an update, merge records over current, validate.
//	Builtin(name) (*Schema, bool), BuiltinNames()        (bundled: "file-log")
//	NewRegistry(...*Schema) *Registry; Add, Get, Names, ProcessPlugin,
//	    ProcessPluginUpdate (dispatch by "name"; unknown → NotEnabledError)
//	StripNulls(json.RawMessage) json.RawMessage
//	Error{Code, Name, Message, Fields}: marshals to Kong's 400 body;
//	    FieldErrors() flattens Fields to dotted paths.
//
// Supported: types string, boolean, integer, number, record, array, set,
// map, foreign (an {"id": uuid} reference), and the metaschema's any/self/
// function; every JSON-expressible attribute of metaschema.lua, including
// required, default, eq/ne (null too), one_of/not_one_of, between, gt,
// len_eq/len_min/len_max, match/not_match/match_all/match_none/match_any
// (Lua patterns, translated by a small Lua-pattern→RE2 compiler that works
// on bytes), starts_with, contains, uuid, timestamp, is_regex, err,
// referenceable ({vault://...} values skip validators), elements, keys,
// values, fields; entity checks at_least_one_of, only_one_of, distinct,
// conditional, conditional_at_least_one_of, mutually_required,
// mutually_exclusive, mutually_exclusive_sets, on records and on the schema.
// Not supported, with a clear error from Parse: the json field type, Lua
// function attributes (custom_validator, custom_entity_check, shorthand
// func, transformations — none can be written in JSON anyway), and the Lua
// pattern items %b, %f and back-references.
//
// Fidelity notes (all deliberate, all Kong's behaviour):
//   - Records in a plugin schema are required unless they say otherwise
//     (Entity make_records_required), so an absent record is expanded to
//     its fields' defaults; an absent optional field becomes null.
//   - Strings must be non-empty unless len_min says otherwise.
//   - The schema violation message names at most two levels
//     ("config.model: ..."); a deeper error is printed as Penlight's
//     pretty.write of the sub-table, exactly as kong/db/errors.lua does.
//   - Field descriptions must be 10 to 500 characters (metaschema rule).
//   - A conditional's if_match treats a null value as matching unless the
//     clause has eq/required, as Kong's validate_field does.
package kongschema
