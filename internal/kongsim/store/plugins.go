package store

import (
	"encoding/json"
	"errors"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
)

// Kong's plugins DAO messages (kong/db/dao/plugins.lua).
const (
	errRouteProtocols   = "must match the associated route's protocols"
	errServiceProtocols = "must match the protocols of at least one route pointing to this Plugin's service"
)

// ErrNotFound is returned (wrapped in a *kongschema.Error with code 6) when
// an entity to update or delete does not exist.
var ErrNotFound = errors.New("not found")

// CreatePlugin adds a plugin (POST /plugins and the nested forms). Route,
// service and consumer may be given by id, {"name": ...} or bare name.
func (s *Store) CreatePlugin(body json.RawMessage) (*Plugin, *kongschema.Error) {
	return create(s, body, s.buildNewPlugin, func(d *draft) *[]*Plugin { return &d.plugins })
}

// UpsertPlugin is PUT /plugins/{id}: the entity with that id is replaced
// whole (created_at kept), or created with that id.
func (s *Store) UpsertPlugin(id string, body json.RawMessage) (*Plugin, *kongschema.Error) {
	var result *Plugin
	err := s.update(func(d *draft) *kongschema.Error {
		b, err := sjson.SetBytes(body, "id", id)
		if err != nil {
			return internalError(err)
		}
		idx := -1
		var createdAt int64
		for i, p := range d.plugins {
			if p.ID == id {
				idx, createdAt = i, p.CreatedAt
			}
		}
		if idx >= 0 {
			b, _ = sjson.DeleteBytes(b, "created_at")
		}
		p, errV := s.buildPlugin(d, b, createdAt)
		if errV != nil {
			return errV
		}
		if errV := checkPluginUnique(d, p, id); errV != nil {
			return errV
		}
		if idx >= 0 {
			d.plugins = replaceAt(d.plugins, idx, p)
		} else {
			d.plugins = append(d.plugins, p)
		}
		result = p
		return nil
	})
	return result, err
}

// UpdatePlugin is PATCH /plugins/{id or instance_name}: records in the
// patch are merged into the stored entity, as Kong does, and the result is
// validated again.
func (s *Store) UpdatePlugin(idOrName string, patch json.RawMessage) (*Plugin, *kongschema.Error) {
	var result *Plugin
	err := s.update(func(d *draft) *kongschema.Error {
		cur, ok := d.view().Plugin(idOrName)
		if !ok {
			return notFound(idOrName)
		}
		view := d.view()
		patch, errV := resolvePluginRefs(view, patch)
		if errV != nil {
			return errV
		}
		if !gjson.ValidBytes(patch) || !gjson.ParseBytes(patch).IsObject() {
			return kongschema.SchemaViolation(map[string]string{"@entity": "expected an input table"})
		}
		patch, _ = sjson.SetBytes(patch, "updated_at", s.now().Unix())
		patch, _ = sjson.DeleteBytes(patch, "id")
		doc, errV := s.reg.ProcessPluginUpdate(cur.Entity, patch)
		if errV != nil {
			return errV
		}
		p, errV := s.finishPlugin(doc)
		if errV != nil {
			return errV
		}
		if errV := checkProtocols(view, p, patch); errV != nil {
			return errV
		}
		if errV := checkPluginUnique(d, p, cur.ID); errV != nil {
			return errV
		}
		for i, o := range d.plugins {
			if o.ID == cur.ID {
				d.plugins = replaceAt(d.plugins, i, p)
			}
		}
		result = p
		return nil
	})
	return result, err
}

// DeletePlugin removes a plugin by id or instance_name. Kong answers 204
// whether or not it existed; found says which.
func (s *Store) DeletePlugin(idOrName string) (found bool) {
	_ = s.update(func(d *draft) *kongschema.Error {
		p, ok := d.view().Plugin(idOrName)
		if !ok {
			return notFound(idOrName)
		}
		for i, o := range d.plugins {
			if o.ID == p.ID {
				d.plugins = append(append([]*Plugin(nil), d.plugins[:i]...), d.plugins[i+1:]...)
				break
			}
		}
		found = true
		return nil
	})
	return found
}

func notFound(key string) *kongschema.Error {
	return kongschema.NotFound(map[string]any{"id": key})
}

func replaceAt(list []*Plugin, i int, p *Plugin) []*Plugin {
	out := append([]*Plugin(nil), list...)
	out[i] = p
	return out
}

// resolvePluginRefs turns route/service/consumer given by name into ids.
func resolvePluginRefs(view *Snapshot, body json.RawMessage) (json.RawMessage, *kongschema.Error) {
	var errV *kongschema.Error
	body, errV = resolveRef(body, "route", idOf(view.Route), "routes")
	if errV != nil {
		return nil, errV
	}
	body, errV = resolveRef(body, "service", idOf(view.Service), "services")
	if errV != nil {
		return nil, errV
	}
	return resolveRef(body, "consumer", idOf(view.Consumer), "consumers")
}

// buildNewPlugin is buildPlugin for a plugin added beside the draft's
// others, so also unique among them.
func (s *Store) buildNewPlugin(d *draft, body json.RawMessage, createdAt int64) (*Plugin, *kongschema.Error) {
	p, err := s.buildPlugin(d, body, createdAt)
	if err != nil {
		return nil, err
	}
	if err := checkPluginUnique(d, p, ""); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Store) buildPlugin(d *draft, body json.RawMessage, createdAt int64) (*Plugin, *kongschema.Error) {
	view := d.view()
	body, errV := s.withAuto(body, createdAt)
	if errV != nil {
		return nil, errV
	}
	if body, errV = resolvePluginRefs(view, body); errV != nil {
		return nil, errV
	}
	doc, errV := s.reg.ProcessPlugin(body)
	if errV != nil {
		return nil, errV
	}
	p, errV := s.finishPlugin(doc)
	if errV != nil {
		return nil, errV
	}
	if errV := checkProtocols(view, p, nil); errV != nil {
		return nil, errV
	}
	for _, o := range d.plugins {
		if o.ID == p.ID && createdAt == 0 {
			return nil, kongschema.PrimaryKeyViolation(map[string]any{"id": p.ID})
		}
	}
	return p, nil
}

// finishPlugin derives the config the plugin receives from a processed
// entity: nulls stripped, vault references resolved.
func (s *Store) finishPlugin(doc json.RawMessage) (*Plugin, *kongschema.Error) {
	name := gjson.GetBytes(doc, "name").String()
	schema, ok := s.reg.Get(name)
	if !ok {
		return nil, kongschema.NotEnabledError(name)
	}
	cfg := kongschema.StripNulls(json.RawMessage(gjson.GetBytes(doc, "config").Raw))
	// Unresolvable references become "" (Kong logs and carries on); the
	// failures are not an entity error.
	cfg, _ = schema.ResolveReferences(cfg, s.resolve)
	return newPlugin(doc, cfg), nil
}

// checkProtocols is the plugins DAO's check_protocols_match. On update it
// applies only when the patch touches protocols, route or service.
func checkProtocols(view *Snapshot, p *Plugin, patch json.RawMessage) *kongschema.Error {
	if patch != nil {
		g := gjson.ParseBytes(patch)
		if !g.Get("protocols").Exists() && !g.Get("route").Exists() && !g.Get("service").Exists() {
			return nil
		}
	}
	common := func(r *Route) bool {
		for _, pp := range p.Protocols {
			if contains(r.Protocols, pp) {
				return true
			}
		}
		return false
	}
	if p.RouteID != "" {
		if r, ok := view.Route(p.RouteID); ok && !common(r) {
			return kongschema.SchemaViolation(map[string]string{"protocols": errRouteProtocols})
		}
		if _, ok := view.Route(p.RouteID); !ok {
			return kongschema.ForeignKeyViolation("route", map[string]any{"id": p.RouteID}, "routes")
		}
		return nil
	}
	if p.ServiceID != "" {
		if _, ok := view.Service(p.ServiceID); !ok {
			return kongschema.ForeignKeyViolation("service", map[string]any{"id": p.ServiceID}, "services")
		}
		routes := view.RoutesOf(p.ServiceID)
		for _, r := range routes {
			if common(r) {
				return nil
			}
		}
		if len(routes) > 0 {
			return kongschema.SchemaViolation(map[string]string{"protocols": errServiceProtocols})
		}
	}
	return nil
}

// checkPluginUnique enforces the plugins cache key (name, route, service,
// consumer) and instance_name uniqueness; self is the id being replaced.
func checkPluginUnique(d *draft, p *Plugin, self string) *kongschema.Error {
	ref := func(id string) any {
		if id == "" {
			return nil
		}
		return map[string]any{"id": id}
	}
	for _, o := range d.plugins {
		if self != "" && o.ID == self {
			continue
		}
		if o.Name == p.Name && o.RouteID == p.RouteID && o.ServiceID == p.ServiceID && o.ConsumerID == p.ConsumerID {
			return kongschema.UniqueViolation(map[string]any{
				"name": p.Name, "route": ref(p.RouteID), "service": ref(p.ServiceID), "consumer": ref(p.ConsumerID),
			})
		}
		if p.InstanceName != "" && o.InstanceName == p.InstanceName {
			return kongschema.UniqueViolation(map[string]any{"instance_name": p.InstanceName})
		}
	}
	return nil
}

// Content is a whole configuration to install at once (a declarative
// config): entities already validated and with ids, references by id.
type Content struct {
	Services  []json.RawMessage
	Routes    []json.RawMessage
	Consumers []json.RawMessage
	Plugins   []json.RawMessage
}

// Replace installs a whole configuration as one new version (DB-less load,
// POST /config). The plugin entities are processed again by their schemas,
// so a Content can come from anywhere; the first problem is returned and
// nothing changes.
func (s *Store) Replace(c Content) *kongschema.Error {
	return s.update(func(d *draft) *kongschema.Error {
		next := &draft{}
		// In dependency order: routes refer to services, plugins to all.
		if err := buildAll(next, "services", c.Services, s.buildService, &next.services); err != nil {
			return err
		}
		if err := buildAll(next, "routes", c.Routes, s.buildRoute, &next.routes); err != nil {
			return err
		}
		if err := buildAll(next, "consumers", c.Consumers, s.buildConsumer, &next.consumers); err != nil {
			return err
		}
		if err := buildAll(next, "plugins", c.Plugins, s.buildNewPlugin, &next.plugins); err != nil {
			return err
		}
		next.replaced = true
		*d = *next
		return nil
	})
}

// buildAll builds bodies one by one into list (a field of d, so each sees
// those before it), keeping their created_at; an error names its index.
func buildAll[E any](d *draft, kind string, bodies []json.RawMessage, build builder[E], list *[]E) *kongschema.Error {
	for i, b := range bodies {
		e, err := build(d, b, gjson.GetBytes(b, "created_at").Int())
		if err != nil {
			return wrapIndex(kind, i, err)
		}
		*list = append(*list, e)
	}
	return nil
}

func wrapIndex(kind string, i int, err *kongschema.Error) *kongschema.Error {
	list := make([]any, i+1)
	list[i] = err
	return kongschema.DeclarativeError(map[string]any{kind: list})
}
