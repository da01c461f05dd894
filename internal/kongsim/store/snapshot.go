package store

import (
	"sort"
)

// Snapshot is an immutable view of the whole configuration. Version grows
// by one with every change the store accepts. Nothing reachable from a
// Snapshot may be modified.
type Snapshot struct {
	Version uint64
	// Reloaded marks a whole configuration loaded at once (declarative
	// load, POST /config) rather than an entity written.
	Reloaded  bool
	services  []*Service
	routes    []*Route
	consumers []*Consumer
	plugins   []*Plugin
}

// Services lists the services in creation order.
func (s *Snapshot) Services() []*Service { return s.services }

// Routes lists the routes in creation order.
func (s *Snapshot) Routes() []*Route { return s.routes }

// Consumers lists the consumers in creation order.
func (s *Snapshot) Consumers() []*Consumer { return s.consumers }

// Plugins lists the plugins in creation order.
func (s *Snapshot) Plugins() []*Plugin { return s.plugins }

// Service finds a service by id or name (Kong's endpoint key).
func (s *Snapshot) Service(idOrName string) (*Service, bool) {
	return lookup(s.services, idOrName)
}

// Route finds a route by id or name.
func (s *Snapshot) Route(idOrName string) (*Route, bool) {
	return lookup(s.routes, idOrName)
}

// Consumer finds a consumer by id or username.
func (s *Snapshot) Consumer(idOrName string) (*Consumer, bool) {
	return lookup(s.consumers, idOrName)
}

// Plugin finds a plugin by id or instance_name (Kong's endpoint key).
func (s *Snapshot) Plugin(idOrInstanceName string) (*Plugin, bool) {
	return lookup(s.plugins, idOrInstanceName)
}

// RoutesOf lists the routes of a service.
func (s *Snapshot) RoutesOf(serviceID string) []*Route {
	var out []*Route
	for _, r := range s.routes {
		if r.ServiceID == serviceID {
			out = append(out, r)
		}
	}
	return out
}

// PluginsFor returns the plugins that apply to a request matched to
// routeID (with its serviceID; either may be ""), for a request without an
// authenticated consumer, with Kong's precedence: for each plugin name the
// most specific enabled instance wins — route+service, then route, then
// service, then global. Instances scoped to a consumer never apply (the
// stand-in authenticates nobody). When protocol is not "", instances whose
// protocols do not include it are skipped (Kong keeps them off the request
// too). The result holds one instance per name, sorted by name; ordering
// by priority is the caller's.
func (s *Snapshot) PluginsFor(routeID, serviceID, protocol string) []*Plugin {
	best := map[string]*Plugin{}
	rank := map[string]int{}
	for _, p := range s.plugins {
		if !p.Enabled || p.ConsumerID != "" {
			continue
		}
		if protocol != "" && !contains(p.Protocols, protocol) {
			continue
		}
		r := -1
		switch {
		case p.RouteID != "" && p.ServiceID != "":
			if p.RouteID == routeID && p.ServiceID == serviceID {
				r = 3
			}
		case p.RouteID != "":
			if p.RouteID == routeID {
				r = 2
			}
		case p.ServiceID != "":
			if p.ServiceID == serviceID {
				r = 1
			}
		default:
			r = 0
		}
		if r < 0 {
			continue
		}
		if cur, ok := rank[p.Name]; !ok || r > cur {
			best[p.Name], rank[p.Name] = p, r
		}
	}
	out := make([]*Plugin, 0, len(best))
	for _, p := range best {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// GlobalPlugins are the enabled plugins not scoped to anything: those Kong
// runs in the phases before routing (certificate, rewrite).
func (s *Snapshot) GlobalPlugins() []*Plugin {
	var out []*Plugin
	for _, p := range s.plugins {
		if p.Enabled && p.RouteID == "" && p.ServiceID == "" && p.ConsumerID == "" {
			out = append(out, p)
		}
	}
	return out
}

// keyed entities are found by id or by an endpoint key (a service's or
// route's name, a consumer's username, a plugin's instance_name).
type keyed interface {
	keys() (id, endpointKey string)
}

func (e *Service) keys() (string, string)  { return e.ID, e.Name }
func (e *Route) keys() (string, string)    { return e.ID, e.Name }
func (e *Consumer) keys() (string, string) { return e.ID, e.Username }
func (e *Plugin) keys() (string, string)   { return e.ID, e.InstanceName }

// lookup is Kong's select by endpoint key: an id match first, then a
// non-empty endpoint key.
func lookup[E keyed](list []E, idOrKey string) (E, bool) {
	for _, e := range list {
		if id, _ := e.keys(); id == idOrKey {
			return e, true
		}
	}
	for _, e := range list {
		if _, key := e.keys(); key != "" && key == idOrKey {
			return e, true
		}
	}
	var none E
	return none, false
}

// idOf turns a Snapshot lookup into resolveRef's find: the id of the
// entity an id or endpoint key names.
func idOf[E keyed](find func(string) (E, bool)) func(string) (string, bool) {
	return func(idOrKey string) (string, bool) {
		e, ok := find(idOrKey)
		if !ok {
			return "", false
		}
		id, _ := e.keys()
		return id, true
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
