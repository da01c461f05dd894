package kongschema

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:embed builtin/*.json
var builtinFS embed.FS

// builtins are the bundled plugins the stand-in implements itself, parsed
// once from builtin/<name>.json (Kong's Lua schemas transcribed to JSON).
var builtins = sync.OnceValue(func() map[string]*Schema {
	out := map[string]*Schema{}
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		return out
	}
	for _, e := range entries {
		data, err := builtinFS.ReadFile("builtin/" + e.Name())
		if err != nil {
			continue
		}
		s, err := Parse(data)
		if err != nil {
			// The files are part of this package and covered by tests; a
			// broken one is left out rather than taking the process down.
			continue
		}
		out[s.Name()] = s
	}
	return out
})

// Builtin returns the schema of a bundled plugin the stand-in implements
// ("file-log").
func Builtin(name string) (*Schema, bool) {
	s, ok := builtins()[name]
	return s, ok
}

// BuiltinNames lists the bundled plugins, sorted.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtins()))
	for n := range builtins() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Registry holds the schemas of the enabled plugins (Kong's loaded
// subschemas of the plugins entity). It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	schemas map[string]*Schema
}

// NewRegistry returns a registry holding the given schemas.
func NewRegistry(schemas ...*Schema) *Registry {
	r := &Registry{schemas: map[string]*Schema{}}
	for _, s := range schemas {
		r.Add(s)
	}
	return r
}

// Add registers (or replaces) a schema under its name.
func (r *Registry) Add(s *Schema) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.schemas[s.Name()] = s
}

// Get returns the schema of an enabled plugin.
func (r *Registry) Get(name string) (*Schema, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.schemas[name]
	return s, ok
}

// Names lists the enabled plugins, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.schemas))
	for n := range r.schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NotEnabledError is Kong's schema violation for a plugin name that is not
// among the enabled plugins.
func NotEnabledError(name string) *Error {
	return schemaViolation(&errTable{fields: map[string]any{"name": fmt.Sprintf(errNotEnabled, name)}})
}

// pluginName reads the "name" of an entity body, reporting Kong's
// subschema_key errors.
func pluginName(entity json.RawMessage) (string, *Error) {
	obj, errV := decodeInput(entity)
	if errV != nil {
		return "", errV
	}
	name, present := obj["name"]
	if !present || name == nil {
		return "", schemaViolation(&errTable{fields: map[string]any{"name": errRequired}})
	}
	s, ok := name.(string)
	if !ok {
		return "", NotEnabledError(luaToString(name))
	}
	return s, nil
}

// ProcessPlugin picks the schema by the entity's "name" and processes the
// entity (see Schema.ProcessPlugin); an unknown name gets Kong's "plugin
// '<name>' not enabled; add it to the 'plugins' configuration property".
func (r *Registry) ProcessPlugin(entity json.RawMessage) (json.RawMessage, *Error) {
	name, errV := pluginName(entity)
	if errV != nil {
		return nil, errV
	}
	s, ok := r.Get(name)
	if !ok {
		return nil, NotEnabledError(name)
	}
	return s.ProcessPlugin(entity)
}

// ProcessPluginUpdate finds the schema from the stored entity's name (or
// the patch's, when it renames) and applies the patch (see
// Schema.ProcessPluginUpdate).
func (r *Registry) ProcessPluginUpdate(current, patch json.RawMessage) (json.RawMessage, *Error) {
	name, errV := pluginName(current)
	if errV != nil {
		return nil, errV
	}
	if strings.Contains(string(patch), `"name"`) {
		if n, e := pluginName(patch); e == nil {
			name = n
		}
	}
	s, ok := r.Get(name)
	if !ok {
		return nil, NotEnabledError(name)
	}
	return s.ProcessPluginUpdate(current, patch)
}
