package declarative

import (
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/store"
)

// formatVersions are the _format_version values Kong 3.x accepts.
var formatVersions = []string{"1.1", "2.1", "3.0"}

// topLevel lists what a declarative config may hold: the entities the
// stand-in loads, the metadata keys, and Kong entities it knows but does
// not implement (reported as such instead of "unknown field").
var (
	loadedEntities = map[string]bool{"services": true, "routes": true, "consumers": true, "plugins": true}
	metaKeys       = map[string]bool{"_format_version": true, "_transform": true, "_comment": true, "_workspace": true, "_info": true}
	otherEntities  = map[string]bool{
		"upstreams": true, "targets": true, "certificates": true, "ca_certificates": true, "snis": true,
		"vaults": true, "keys": true, "key_sets": true, "filter_chains": true, "parameters": true,
	}
)

// Config is a parsed, validated declarative configuration, ready for
// store.Replace.
type Config struct {
	FormatVersion string
	Content       store.Content
	// Warnings are things Kong would accept that the stand-in notes
	// (e.g. an old _format_version, route hosts it does not match on).
	Warnings []string
}

// Load reads a declarative config file (YAML or JSON).
func Load(path string, reg *kongschema.Registry) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed loading declarative config: %w", err)
	}
	cfg, errV := Parse(data, reg)
	if errV != nil {
		return nil, fmt.Errorf("failed loading declarative config %s: %w", path, errV)
	}
	return cfg, nil
}

// Apply parses data and installs it in st as one new version (what Kong's
// POST /config does).
func Apply(st *store.Store, data []byte) (*Config, *kongschema.Error) {
	cfg, errV := Parse(data, st.Registry())
	if errV != nil {
		return nil, errV
	}
	if errV := st.Replace(cfg.Content); errV != nil {
		return nil, errV
	}
	return cfg, nil
}

// Parse decodes and validates a declarative config (YAML, or JSON, which
// is YAML too). Every problem found is reported at once, in Kong's
// declarative error (code 14) whose fields mirror the document:
// {"services":[{"routes":[{"plugins":[{"config":{...}}]}]}]}.
func Parse(data []byte, reg *kongschema.Registry) (*Config, *kongschema.Error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, parseError(err)
	}
	root, ok := normalize(doc).(map[string]any)
	if !ok {
		return nil, parseError(errors.New("expected an object"))
	}
	p := &parser{reg: reg, errs: map[string]any{}, cfg: &Config{}, names: map[string]map[string]string{}}
	p.top(root)
	if len(p.errs) > 0 {
		return nil, kongschema.DeclarativeError(p.errs)
	}
	p.resolveRefs()
	if len(p.errs) > 0 {
		return nil, kongschema.DeclarativeError(p.errs)
	}
	p.process()
	if len(p.errs) > 0 {
		return nil, kongschema.DeclarativeError(p.errs)
	}
	return p.cfg, nil
}

// parseError is unserialize's failure (kong/db/declarative/init.lua:106-143):
// the error table is {error = "failed parsing declarative configuration:
// ..."}, a plain string under "error", not an entity error.
func parseError(err error) *kongschema.Error {
	return kongschema.DeclarativeError(map[string]any{"error": "failed parsing declarative configuration: " + err.Error()})
}

// normalize turns yaml.v3 output into JSON-shaped values.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}

// item is one entity found in the document, with where it sits.
type item struct {
	kind   string         // "services", "routes", "consumers", "plugins"
	body   map[string]any // the entity without nested lists
	path   []any          // error-tree path: "services", 0, "routes", 1
	parent *item          // the entity it is nested in, if any
	id     string
}

type parser struct {
	reg   *kongschema.Registry
	errs  map[string]any
	cfg   *Config
	items []*item
	// names maps kind → endpoint key (name/username) → id.
	names map[string]map[string]string
	ids   map[string]map[string]bool
}

// addErr records err (a string, a list of strings or a *kongschema.Error)
// at path in the error tree.
func (p *parser) addErr(path []any, err any) {
	var cur any = p.errs
	for i, step := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			key := step.(string)
			if last {
				c[key] = mergeErr(c[key], err)
				return
			}
			if c[key] == nil {
				if _, isIdx := path[i+1].(int); isIdx {
					c[key] = []any{}
				} else {
					c[key] = map[string]any{}
				}
			}
			cur = c[key]
		case []any:
			idx := step.(int)
			for len(c) <= idx {
				c = append(c, nil)
			}
			// Re-attach the grown list to its parent.
			p.setList(path[:i], c)
			if last {
				c[idx] = mergeErr(c[idx], err)
				return
			}
			if c[idx] == nil {
				c[idx] = map[string]any{}
			}
			cur = c[idx]
		}
	}
}

func (p *parser) setList(path []any, l []any) {
	var cur any = p.errs
	for i, step := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[step.(string)] = l
				return
			}
			cur = c[step.(string)]
		case []any:
			if last {
				c[step.(int)] = l
				return
			}
			cur = c[step.(int)]
		}
	}
}

func mergeErr(old, err any) any {
	if old == nil {
		return err
	}
	// Several problems for one entity: keep them all as a list.
	list, ok := old.([]any)
	if !ok {
		list = []any{old}
	}
	return append(list, err)
}

func (p *parser) top(root map[string]any) {
	fv, present := root["_format_version"]
	switch s, isStr := fv.(string); {
	case !present || fv == nil:
		p.errs["_format_version"] = "required field missing"
	case !isStr:
		p.errs["_format_version"] = "expected a string"
	case !oneOf(s, formatVersions):
		p.errs["_format_version"] = "expected one of: " + strings.Join(formatVersions, ", ")
	default:
		p.cfg.FormatVersion = s
		if s != "3.0" {
			p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("_format_version %q: kongsim reads it as 3.0 (no path transformations)", s))
		}
	}
	if t, ok := root["_transform"]; ok {
		if _, isBool := t.(bool); !isBool {
			p.errs["_transform"] = "expected a boolean"
		}
	}
	for _, k := range sortedKeys(root) {
		switch {
		case metaKeys[k], loadedEntities[k]:
		case otherEntities[k]:
			p.errs[k] = fmt.Sprintf("'%s' entities are not supported by kongsim", k)
		default:
			p.errs[k] = "unknown field"
		}
	}
	for _, kind := range []string{"consumers", "services", "routes", "plugins"} {
		p.list(root, kind, []any{kind}, nil)
	}
}

func oneOf(s string, list []string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nested lists which entity kinds can be nested in which.
var nested = map[string][]string{
	"services":  {"routes", "plugins"},
	"routes":    {"plugins"},
	"consumers": {"plugins"},
}

// list collects the entities of one kind at container[kind].
func (p *parser) list(container map[string]any, kind string, path []any, parent *item) {
	raw, present := container[kind]
	if !present || raw == nil {
		return
	}
	entries, ok := raw.([]any)
	if !ok {
		if m, isMap := raw.(map[string]any); isMap && len(m) == 0 {
			return
		}
		p.addErr(path, "expected an array")
		return
	}
	for i, e := range entries {
		body, ok := e.(map[string]any)
		entPath := append(append([]any{}, path...), i)
		if !ok {
			p.addErr(entPath, "expected a record")
			continue
		}
		it := &item{kind: kind, body: map[string]any{}, path: entPath, parent: parent}
		for k, v := range body {
			it.body[k] = v
		}
		for _, sub := range nested[kind] {
			delete(it.body, sub)
		}
		p.items = append(p.items, it)
		for _, sub := range nested[kind] {
			p.list(body, sub, append(append([]any{}, entPath...), sub), it)
		}
	}
}

// endpointKey is the field Kong addresses each kind by.
func endpointKey(kind string) string {
	switch kind {
	case "consumers":
		return "username"
	case "plugins":
		return "instance_name"
	}
	return "name"
}

// stableID derives an entity id from where it is and what it is called,
// so that reloading the same file keeps the same ids (a UUID v5 built
// with SHA-1 over a fixed namespace).
func stableID(it *item) string {
	key := it.kind
	if name, ok := it.body[endpointKey(it.kind)].(string); ok && name != "" {
		key += ":" + name
	} else {
		if it.parent != nil {
			key += ":" + stableID(it.parent)
		}
		if n, ok := it.body["name"].(string); ok && it.kind == "plugins" {
			key += ":" + n
		}
		key += fmt.Sprintf(":%v", it.path)
	}
	h := sha1.Sum([]byte("kongsim-declarative:" + key))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// resolveRefs assigns ids, checks uniqueness and turns references by name
// (or id) into {"id": ...}, with Kong's messages.
func (p *parser) resolveRefs() {
	p.ids = map[string]map[string]bool{}
	for _, it := range p.items {
		if p.ids[it.kind] == nil {
			p.ids[it.kind] = map[string]bool{}
			p.names[it.kind] = map[string]string{}
		}
		if id, ok := it.body["id"].(string); ok && id != "" {
			it.id = id
		} else {
			it.id = stableID(it)
		}
		key := endpointKey(it.kind)
		if name, ok := it.body[key].(string); ok && name != "" && it.kind != "plugins" {
			if _, dup := p.names[it.kind][name]; dup {
				p.addErr(it.path, fmt.Sprintf("uniqueness violation: '%s' entity with %s set to '%s' already declared", it.kind, key, name))
				continue
			}
			p.names[it.kind][name] = it.id
		}
		if p.ids[it.kind][it.id] {
			p.addErr(it.path, fmt.Sprintf("uniqueness violation: '%s' entity with primary key set to '%s' already declared", it.kind, it.id))
			continue
		}
		p.ids[it.kind][it.id] = true
		it.body["id"] = it.id
	}
	for _, it := range p.items {
		// A nested entity belongs to its parent.
		if it.parent != nil {
			field := strings.TrimSuffix(it.parent.kind, "s")
			it.body[field] = map[string]any{"id": it.parent.id}
		}
		for _, ref := range []struct{ field, kind string }{{"service", "services"}, {"route", "routes"}, {"consumer", "consumers"}} {
			p.resolveRef(it, ref.field, ref.kind)
		}
	}
}

func (p *parser) resolveRef(it *item, field, kind string) {
	v, present := it.body[field]
	if !present || v == nil {
		return
	}
	var key string
	switch x := v.(type) {
	case string:
		key = x
	case map[string]any:
		if id, ok := x["id"].(string); ok {
			key = id
		} else if n, ok := x[endpointKey(kind)].(string); ok {
			key = n
		} else {
			return // let the schema report the malformed reference
		}
	default:
		return
	}
	if id, ok := p.names[kind][key]; ok {
		it.body[field] = map[string]any{"id": id}
		return
	}
	if p.ids[kind][key] {
		it.body[field] = map[string]any{"id": key}
		return
	}
	shown := key
	if _, isMap := v.(map[string]any); isMap {
		b, _ := json.Marshal(v)
		shown = string(b)
	}
	p.addErr(it.path, []any{fmt.Sprintf("invalid reference '%s: %s' (no such entry in '%s')", field, shown, kind)})
}

// process validates every entity with its schema and fills Content.
func (p *parser) process() {
	for _, it := range p.items {
		body, err := json.Marshal(it.body)
		if err != nil {
			p.addErr(it.path, err.Error())
			continue
		}
		var out json.RawMessage
		var errV *kongschema.Error
		switch it.kind {
		case "services":
			out, errV = kongschema.Services().Process(body)
			p.cfg.Content.Services = append(p.cfg.Content.Services, out)
		case "routes":
			out, errV = kongschema.Routes().Process(body)
			p.cfg.Content.Routes = append(p.cfg.Content.Routes, out)
			if h, ok := it.body["hosts"].([]any); ok && len(h) > 0 {
				p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf("route %s: kongsim routes by path and method only; hosts are ignored", it.id))
			}
		case "consumers":
			out, errV = kongschema.Consumers().Process(body)
			p.cfg.Content.Consumers = append(p.cfg.Content.Consumers, out)
		case "plugins":
			out, errV = p.reg.ProcessPlugin(body)
			p.cfg.Content.Plugins = append(p.cfg.Content.Plugins, out)
		}
		if errV != nil {
			p.addErr(it.path, errV)
		}
	}
}
