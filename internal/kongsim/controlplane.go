package kongsim

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/admin"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/declarative"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/store"
)

// controlPlane wires the control plane packages: the plugin schemas (the
// dumped ones and the bundled file-log) into a registry, the store, the
// declarative config, and the Admin API.
func (k *Kong) controlPlane(_ context.Context) (ConfigSource, error) {
	var schemas []*kongschema.Schema
	for name := range k.set.enabled {
		lp := k.plugins[name]
		switch {
		case lp == nil:
			if b, ok := kongschema.Builtin(name); ok {
				schemas = append(schemas, b)
			}
			// The stand-in carries no other bundled Kong plugin (its
			// scope is file-log): configs naming one are refused as
			// "not enabled", which is what Kong says of a plugin it lacks.
		case lp.ext != nil:
			if len(lp.ext.Info.Schema) == 0 {
				return nil, fmt.Errorf("error loading plugin schemas: on plugin '%s': no schema in the plugin server's dump", name)
			}
			sc, err := kongschema.Parse(lp.ext.Info.Schema)
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
	st := store.New(reg, store.WithResolver(kongschema.EnvVault(k.opts.Environ)))
	data := k.opts.Declarative
	if data == nil && k.set.declarative != "" {
		b, err := os.ReadFile(k.set.declarative)
		if err != nil {
			return nil, fmt.Errorf("error parsing declarative config file %s: %w", k.set.declarative, err)
		}
		data = b
	}
	if data != nil {
		if _, derr := declarative.Apply(st, data); derr != nil {
			return nil, fmt.Errorf("error parsing declarative config file %s:\n%s", k.set.declarative, derr.Error())
		}
	}
	infos := map[string]admin.PluginInfo{}
	for name, lp := range k.plugins {
		if lp.ext != nil {
			infos[name] = admin.PluginInfo{Version: lp.ext.Info.Version, Priority: lp.priority}
		} else {
			infos[name] = admin.PluginInfo{Version: k.opts.KongVersion, Priority: lp.priority}
		}
	}
	host, _ := os.Hostname()
	k.opts.AdminHandler = admin.NewHandlerWith(st, reg, admin.Options{
		Version:  k.opts.KongVersion,
		NodeID:   k.set.nodeID,
		Hostname: host,
		Plugins:  infos,
	})
	return &storeSource{st: st, wsID: k.set.workspaceID}, nil
}

// storeSource adapts the store's snapshots to the data plane's.
type storeSource struct {
	st   *store.Store
	wsID string
	mu   sync.Mutex
	last *store.Snapshot
	conv *Snapshot
}

func (s *storeSource) convert(ss *store.Snapshot) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == ss && s.conv != nil {
		return s.conv
	}
	out := &Snapshot{Version: ss.Version, WorkspaceID: s.wsID, Reloaded: ss.Reloaded}
	for _, e := range ss.Services() {
		out.Services = append(out.Services, &Service{
			ID: e.ID, Name: e.Name, Protocol: e.Protocol, Host: e.Host, Port: e.Port, Path: e.Path,
			Retries: e.Retries, ConnectTimeout: e.ConnectTimeout, WriteTimeout: e.WriteTimeout,
			ReadTimeout: e.ReadTimeout, Enabled: e.Enabled, Entity: e.Entity,
		})
	}
	for _, e := range ss.Routes() {
		out.Routes = append(out.Routes, &Route{
			ID: e.ID, Name: e.Name, ServiceID: e.ServiceID, Protocols: e.Protocols, Methods: e.Methods,
			Hosts: e.Hosts, Paths: e.Paths, StripPath: e.StripPath, PreserveHost: e.PreserveHost,
			PathHandling: e.PathHandling, Entity: e.Entity,
		})
	}
	for _, e := range ss.Plugins() {
		out.Plugins = append(out.Plugins, &Plugin{
			ID: e.ID, Name: e.Name, InstanceName: e.InstanceName, RouteID: e.RouteID, ServiceID: e.ServiceID,
			ConsumerID: e.ConsumerID, Config: e.Config, Enabled: e.Enabled, Protocols: e.Protocols,
			UpdatedAt: e.UpdatedAt,
		})
	}
	s.last, s.conv = ss, out
	return out
}

func (s *storeSource) Current() *Snapshot { return s.convert(s.st.Snapshot()) }

func (s *storeSource) OnChange(f func(*Snapshot)) {
	s.st.OnChange(func(ss *store.Snapshot) { f(s.convert(ss)) })
}
