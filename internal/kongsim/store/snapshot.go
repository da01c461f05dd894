package store

import (
	"sort"
)

// Snapshot is an immutable view of the whole configuration. Version grows
// by one with every change the store accepts. Nothing reachable from a
// Snapshot may be modified.
type Snapshot struct {
	Version   uint64
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
	for _, e := range s.services {
		if e.ID == idOrName {
			return e, true
		}
	}
	for _, e := range s.services {
		if e.Name != "" && e.Name == idOrName {
			return e, true
		}
	}
	return nil, false
}

// Route finds a route by id or name.
func (s *Snapshot) Route(idOrName string) (*Route, bool) {
	for _, e := range s.routes {
		if e.ID == idOrName {
			return e, true
		}
	}
	for _, e := range s.routes {
		if e.Name != "" && e.Name == idOrName {
			return e, true
		}
	}
	return nil, false
}

// Consumer finds a consumer by id or username.
func (s *Snapshot) Consumer(idOrName string) (*Consumer, bool) {
	for _, e := range s.consumers {
		if e.ID == idOrName {
			return e, true
		}
	}
	for _, e := range s.consumers {
		if e.Username != "" && e.Username == idOrName {
			return e, true
		}
	}
	return nil, false
}

// Plugin finds a plugin by id or instance_name (Kong's endpoint key).
func (s *Snapshot) Plugin(idOrInstanceName string) (*Plugin, bool) {
	for _, e := range s.plugins {
		if e.ID == idOrInstanceName {
			return e, true
		}
	}
	for _, e := range s.plugins {
		if e.InstanceName != "" && e.InstanceName == idOrInstanceName {
			return e, true
		}
	}
	return nil, false
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

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
