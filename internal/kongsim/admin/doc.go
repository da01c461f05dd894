// Package admin is the stand-in's Kong Admin API: the calls users make to
// manage plugins, and what they need around them.
//
// API:
//
//	NewHandler(st *store.Store, reg *kongschema.Registry) http.Handler
//	NewHandlerWith(st, reg, Options{Version, NodeID, Hostname, Plugins,
//	    Configuration, ReadOnly, ServerStatus}) http.Handler
//	PluginInfo{Version, Priority}; DefaultVersion = "3.9.1-kongsim"
//
// Endpoints: GET / (node info: version, plugins available/enabled),
// GET /status; GET|POST /plugins, GET|PATCH|PUT|DELETE /plugins/{id or
// instance_name}, the same under /services/{id or name}/plugins,
// /routes/{id or name}/plugins and /consumers/{id or username}/plugins;
// GET /plugins/enabled; GET /schemas/plugins/{name}, POST
// /schemas/plugins/validate; GET|POST /services, GET /services/{x},
// GET|POST /services/{x}/routes, GET|POST /routes, GET /routes/{x},
// GET|POST /consumers, GET /consumers/{x}; POST /config (DB-less reload,
// kong/api/routes/config.lua: the declarative config as the JSON body with
// _format_version, as the "config" string of a JSON body or form, or as
// the raw body, e.g. text/yaml; ?flatten_errors=1 adds Kong's
// "flattened_errors", ?check_hash=1 answers 304 to the loaded config).
//
// Bodies: JSON, application/x-www-form-urlencoded and multipart/form-data,
// with Kong's form keys (config.model.name=..., paths[]=/x, tags[1]=a,
// repeated keys for lists) typed by the entity's schema as Kong's
// arguments decoder does ("" → null, numbers, true/false, single values
// for lists).
//
// Answers as Kong: 201 on create, 200 on read/update/upsert, 204 on delete
// (found or not), {"message":"Not found"} 404, {"message":"Method not
// allowed"} 405, the DAO error table with 400 (schema violation, foreign
// key, primary key), 409 (unique violation), and {"data":[...],"next":...}
// lists with size/offset paging. PATCH merges records into the stored
// entity before validating, as Kong's DAO does.
//
// Kong in DB-less mode refuses entity writes with 405; the stand-in allows
// them by default so that a plugin can be tried without a kong.yaml, and
// Options.ReadOnly restores Kong's refusal.
package admin
