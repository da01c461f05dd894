// Package controlplane is the stand-in's control plane, Kong's kong/db
// and kong/api: the plugin schemas (the plugin servers' dumps and the
// bundled file-log) in a registry, the store of entities, the
// declarative config loaded at start, and the Admin API (with POST
// /config) that changes the store.
//
// Entry point: New(Config) gives the configuration source the proxying
// path follows (Source) and the Admin API handler (Handler).
package controlplane

import (
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/admin"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/declarative"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/runloop"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/store"
)

// Config is what the control plane is built from.
type Config struct {
	// Enabled is the plugins property (names).
	Enabled map[string]bool
	// Loaded are the plugins the proxying path loaded.
	Loaded []runloop.Loaded
	// Environ holds the variables {vault://env/...} references read.
	Environ []string
	// Declarative is a kong.yaml document; else DeclarativePath is read
	// ("" = none).
	Declarative     []byte
	DeclarativePath string
	// KongVersion, NodeID and WorkspaceID are reported by the Admin API
	// and stamped on the snapshots.
	KongVersion, NodeID, WorkspaceID string
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	src     *storeSource
	handler http.Handler
}

// Source is the configuration the proxying path follows.
func (c *ControlPlane) Source() runloop.ConfigSource { return c.src }

// Handler is the Admin API.
func (c *ControlPlane) Handler() http.Handler { return c.handler }

// New loads the schemas into a registry and the declarative config into
// the store, and serves the Admin API over it.
func New(c Config) (*ControlPlane, error) {
	loaded := map[string]runloop.Loaded{}
	for _, l := range c.Loaded {
		loaded[l.Name] = l
	}
	var schemas []*kongschema.Schema
	for name := range c.Enabled {
		lp, ok := loaded[name]
		switch {
		case !ok:
			if b, ok := kongschema.Builtin(name); ok {
				schemas = append(schemas, b)
			}
			// The stand-in carries no other bundled Kong plugin (its
			// scope is file-log): configs naming one are refused as
			// "not enabled", which is what Kong says of a plugin it lacks.
		case lp.External != nil:
			if len(lp.External.Schema) == 0 {
				return nil, fmt.Errorf("error loading plugin schemas: on plugin '%s': no schema in the plugin server's dump", name)
			}
			sc, err := kongschema.Parse(lp.External.Schema)
			if err != nil {
				return nil, fmt.Errorf("error loading plugin schemas: on plugin '%s': %w", name, err)
			}
			schemas = append(schemas, sc)
		default:
			if b, ok := kongschema.Builtin(name); ok {
				schemas = append(schemas, b)
			}
		}
	}
	reg := kongschema.NewRegistry(schemas...)
	st := store.New(reg, store.WithResolver(kongschema.EnvVault(c.Environ)))
	data := c.Declarative
	if data == nil && c.DeclarativePath != "" {
		b, err := os.ReadFile(c.DeclarativePath)
		if err != nil {
			return nil, fmt.Errorf("error parsing declarative config file %s: %w", c.DeclarativePath, err)
		}
		data = b
	}
	if data != nil {
		if _, derr := declarative.Apply(st, data); derr != nil {
			return nil, fmt.Errorf("error parsing declarative config file %s:\n%s", c.DeclarativePath, derr.Error())
		}
	}
	infos := map[string]admin.PluginInfo{}
	for _, lp := range c.Loaded {
		if lp.External != nil {
			infos[lp.Name] = admin.PluginInfo{Version: lp.External.Version, Priority: lp.Priority}
		} else {
			infos[lp.Name] = admin.PluginInfo{Version: c.KongVersion, Priority: lp.Priority}
		}
	}
	host, _ := os.Hostname()
	h := admin.NewHandlerWith(st, reg, admin.Options{
		Version:  c.KongVersion,
		NodeID:   c.NodeID,
		Hostname: host,
		Plugins:  infos,
	})
	return &ControlPlane{src: &storeSource{st: st, wsID: c.WorkspaceID}, handler: h}, nil
}

// storeSource adapts the store's snapshots to the data plane's.
type storeSource struct {
	st   *store.Store
	wsID string
	mu   sync.Mutex
	last *store.Snapshot
	conv *runloop.Snapshot
}

func (s *storeSource) convert(ss *store.Snapshot) *runloop.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == ss && s.conv != nil {
		return s.conv
	}
	out := &runloop.Snapshot{Version: ss.Version, WorkspaceID: s.wsID, Reloaded: ss.Reloaded}
	for _, e := range ss.Services() {
		out.Services = append(out.Services, &runloop.Service{
			ID: e.ID, Name: e.Name, Protocol: e.Protocol, Host: e.Host, Port: e.Port, Path: e.Path,
			Retries: e.Retries, ConnectTimeout: e.ConnectTimeout, WriteTimeout: e.WriteTimeout,
			ReadTimeout: e.ReadTimeout, Enabled: e.Enabled, Entity: e.Entity,
		})
	}
	for _, e := range ss.Routes() {
		out.Routes = append(out.Routes, &runloop.Route{
			ID: e.ID, Name: e.Name, ServiceID: e.ServiceID, Protocols: e.Protocols, Methods: e.Methods,
			Hosts: e.Hosts, Paths: e.Paths, StripPath: e.StripPath, PreserveHost: e.PreserveHost,
			PathHandling: e.PathHandling, Entity: e.Entity,
		})
	}
	for _, e := range ss.Plugins() {
		out.Plugins = append(out.Plugins, &runloop.Plugin{
			ID: e.ID, Name: e.Name, InstanceName: e.InstanceName, RouteID: e.RouteID, ServiceID: e.ServiceID,
			ConsumerID: e.ConsumerID, Config: e.Config, Enabled: e.Enabled, Protocols: e.Protocols,
			UpdatedAt: e.UpdatedAt,
		})
	}
	s.last, s.conv = ss, out
	return out
}

func (s *storeSource) Current() *runloop.Snapshot { return s.convert(s.st.Snapshot()) }

func (s *storeSource) OnChange(f func(*runloop.Snapshot)) {
	s.st.OnChange(func(ss *store.Snapshot) { f(s.convert(ss)) })
}
