// Package store is the stand-in's entity store: services, routes,
// consumers and plugins (with their processed configs) behind immutable,
// versioned snapshots, validated with kongschema the way Kong's DAO
// validates them (Kong's 400/404/409 errors as *kongschema.Error).
//
// API:
//
//	New(reg *kongschema.Registry, opts ...Option) *Store
//	    WithResolver(kongschema.Resolver)  vault references (e.g. kongschema.EnvVault(os.Environ()))
//	    WithClock(func() time.Time)
//	(*Store).Snapshot() *Snapshot            current view, never blocks on writers
//	(*Store).OnChange(func(*Snapshot)) (cancel func())
//	(*Store).Registry() *kongschema.Registry
//	(*Store).CreateService/CreateRoute/CreateConsumer(body) (*T, *kongschema.Error)
//	(*Store).CreatePlugin(body), UpsertPlugin(id, body), UpdatePlugin(idOrName, patch)
//	    (*Plugin, *kongschema.Error); DeletePlugin(idOrName) (found bool)
//	(*Store).Replace(Content) *kongschema.Error   whole config, one new version
//	Snapshot{Version}: Services(), Routes(), Consumers(), Plugins(),
//	    Service(idOrName), Route(idOrName), Consumer(idOrUsername), Plugin(idOrInstanceName),
//	    RoutesOf(serviceID), GlobalPlugins(),
//	    PluginsFor(routeID, serviceID, protocol) []*Plugin   Kong's precedence
//	Plugin{ID, Name, InstanceName, RouteID, ServiceID, ConsumerID, Config,
//	       Enabled, Protocols, Tags, CreatedAt, UpdatedAt, Entity}
//	Service{ID, Name, Protocol, Host, Port, Path, Retries, *Timeout, Enabled, Tags, ..., Entity}
//	Route{ID, Name, ServiceID, Protocols, Methods, Hosts, Paths, StripPath,
//	      PreserveHost, RegexPriority, PathHandling, Request/ResponseBuffering, ..., Entity}
//	NewUUID() string
//
// Plugin.Config is what Kong sends the plugin (defaults applied, nulls
// left out, vault references resolved); Plugin.Entity is what the Admin
// API shows. Entities untouched by a change keep their pointer across
// snapshots; a changed plugin is a new *Plugin (and the snapshot a new
// version), so the data plane can start a new instance for it and close
// the old one, as Kong does with __seq__. Replace (a declarative reload)
// makes every entity new, as Kong's rebuild does.
//
// Precedence (PluginsFor): for each plugin name, route+service beats
// route, which beats service, which beats global; disabled instances are
// ignored (so a disabled route-level instance lets the global one apply);
// consumer-scoped ones never apply (nobody is authenticated).
package store
