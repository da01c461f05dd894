// Package declarative loads a DB-less declarative configuration (kong.yaml
// or its JSON form, _format_version "3.0") the way Kong does: services
// (url or protocol/host/port/path) with nested routes and plugins, routes
// (paths, methods, strip_path, ..., a service by name or id) with nested
// plugins, consumers with nested plugins, and plugins global or scoped by
// nesting or by service:/route:/consumer: references. Every entity is
// validated with its Kong schema (plugins with the registry's schemas), all
// problems are reported at once in Kong's declarative error (code 14,
// "declarative config is invalid: ..."), and entities without an id get a
// stable one derived from their name or position (UUID v5 style), so
// reloading the same file keeps the same ids.
//
// API:
//
//	Parse(data []byte, reg *kongschema.Registry) (*Config, *kongschema.Error)
//	Load(path string, reg *kongschema.Registry) (*Config, error)
//	Apply(st *store.Store, data []byte) (*Config, *kongschema.Error)   parse + st.Replace
//	Config{FormatVersion, Content store.Content, Warnings []string}
//
// Messages follow kong/db/schema/others/declarative_config.lua: unknown
// top-level keys ("unknown field"), "uniqueness violation: 'services'
// entity with name set to 'x' already declared", "invalid reference
// 'service: x' (no such entry in 'services')", and the entity schemas' own
// schema violations (e.g. "plugin 'x' not enabled; add it to the 'plugins'
// configuration property"). Kong entities the stand-in does not implement
// (upstreams, certificates, ...) are refused by name rather than ignored.
package declarative
