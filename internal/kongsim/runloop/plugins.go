package runloop

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/luajson"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"github.com/tidwall/sjson"
)

// loadedPlugin is a plugin Kong has loaded: an external one served by a
// plugin server, or the stand-in's own file-log.
type loadedPlugin struct {
	name     string
	priority int
	phases   map[string]bool
	ext      *pluginserver.Plugin // nil for bundled plugins
}

func (p *loadedPlugin) has(phase string) bool { return p.phases[phase] }

// configured is one plugin entity as the iterator holds it
// (plugins_iterator.lua get_plugin_config).
type configured struct {
	plugin *loadedPlugin
	entity *Plugin
	conf   pluginserver.Conf // what the plugin server receives
	lua    map[string]any    // the config as a Lua table (bundled plugins)
}

// iterator is the plugins iterator built from one snapshot.
type iterator struct {
	snapshot *Snapshot
	router   *router
	// ordered: the loaded plugins that have at least one configuration,
	// by priority (ws.plugins).
	ordered []*loadedPlugin
	combos  map[string]map[string]*configured
	globals map[string]*configured
	// byID keeps the configs for the next rebuild's comparison.
	byID map[string]*configured
	err  error
}

// compoundKey is build_compound_key(route_id, service_id, consumer_id).
func compoundKey(route, service, consumer string) string {
	return route + ":" + service + ":" + consumer
}

// sortPlugins is dao/plugins.lua sort_by_handler_priority: priority
// descending; equal non-zero priorities by name descending.
func sortPlugins(ps []*loadedPlugin) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.priority == b.priority && a.priority != 0 {
			return a.name > b.name
		}
		return a.priority > b.priority
	})
}

// buildIterator is PluginsIterator.new. Kong re-reads every plugin entity
// when it rebuilds, so every config gets a new __seq__ then
// (plugins_iterator.lua:179-187). A POST /config always rebuilds: it
// reaches the workers without hashes (config.lua:151 passes none to
// load_into_cache_with_events), and a nil plugins hash never equals the
// current one (handler.lua:719). Otherwise the stand-in rebuilds (and
// re-numbers) only when the plugin entities changed, as Kong does when
// only routes or services change.
func buildIterator(s *Snapshot, loaded map[string]*loadedPlugin, enabled map[string]bool, prev *iterator, seq *atomic.Int64) *iterator {
	it := &iterator{
		snapshot: s,
		router:   newRouter(s),
		combos:   map[string]map[string]*configured{},
		globals:  map[string]*configured{},
		byID:     map[string]*configured{},
	}
	reuse := prev != nil && !s.Reloaded && samePlugins(prev.snapshot.Plugins, s.Plugins)
	seen := map[string]bool{}
	for _, p := range s.Plugins {
		if !enabled[p.Name] {
			it.err = fmt.Errorf("%s plugin is in use but not enabled", p.Name)
			return it
		}
		lp := loaded[p.Name]
		if lp == nil {
			it.err = fmt.Errorf("%s plugin is enabled but not installed", p.Name)
			return it
		}
		if !p.Enabled || !hasHTTP(p.Protocols) {
			continue
		}
		var cfg *configured
		if reuse {
			cfg = prev.byID[p.ID]
		}
		if cfg == nil {
			var err error
			cfg, err = newConfigured(lp, p, s.WorkspaceID, seq.Add(1))
			if err != nil {
				it.err = err
				return it
			}
		}
		it.byID[p.ID] = cfg
		if p.RouteID == "" && p.ServiceID == "" && p.ConsumerID == "" {
			it.globals[p.Name] = cfg
		}
		if it.combos[p.Name] == nil {
			it.combos[p.Name] = map[string]*configured{}
		}
		it.combos[p.Name][compoundKey(p.RouteID, p.ServiceID, p.ConsumerID)] = cfg
		if !seen[p.Name] {
			seen[p.Name] = true
			it.ordered = append(it.ordered, lp)
		}
	}
	sortPlugins(it.ordered)
	return it
}

func samePlugins(a, b []*Plugin) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Name != y.Name || x.UpdatedAt != y.UpdatedAt || x.Enabled != y.Enabled ||
			x.RouteID != y.RouteID || x.ServiceID != y.ServiceID || x.ConsumerID != y.ConsumerID ||
			x.InstanceName != y.InstanceName || !bytes.Equal(x.Config, y.Config) {
			return false
		}
	}
	return true
}

// newConfigured adds Kong's keys to the config (get_plugin_config) and
// encodes it as cjson would.
func newConfigured(lp *loadedPlugin, p *Plugin, wsID string, seq int64) (*configured, error) {
	raw := []byte(p.Config)
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	set := func(path string, v any) error {
		var err error
		raw, err = sjson.SetBytes(raw, path, v)
		if err != nil {
			return fmt.Errorf("plugin %s: setting %s: %w", p.ID, path, err)
		}
		return nil
	}
	key := fmt.Sprintf("plugins:%s:%s:%s:%s::%s", p.Name, p.RouteID, p.ServiceID, p.ConsumerID, wsID)
	steps := []struct {
		path string
		v    any
		skip bool
	}{
		{"route_id", p.RouteID, p.RouteID == ""},
		{"service_id", p.ServiceID, p.ServiceID == ""},
		{"consumer_id", p.ConsumerID, p.ConsumerID == ""},
		{"plugin_instance_name", p.InstanceName, p.InstanceName == ""},
		{"__plugin_id", p.ID, false},
		{"__ws_id", wsID, false},
		{"__key__", key, false},
		{"__seq__", seq, false},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		if err := set(escapeSJSON(s.path), s.v); err != nil {
			return nil, err
		}
	}
	v, err := luajson.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("plugin %s config: %w", p.ID, err)
	}
	v = luajson.StripNulls(v)
	lua, _ := v.(map[string]any)
	enc, err := luajson.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("plugin %s config: %w", p.ID, err)
	}
	return &configured{
		plugin: lp,
		entity: p,
		conf:   pluginserver.Conf{PluginID: p.ID, Seq: seq, JSON: enc},
		lua:    lua,
	}, nil
}

func escapeSJSON(path string) string {
	r := strings.NewReplacer(".", `\.`, "*", `\*`, "?", `\?`)
	return r.Replace(path)
}

// lookupCfg is plugins_iterator.lua lookup_cfg: the most specific
// configuration of a plugin for this route/service (consumers are never
// identified by the stand-in).
func lookupCfg(combos map[string]*configured, routeID, serviceID string) *configured {
	if routeID != "" && serviceID != "" {
		if c := combos[compoundKey(routeID, serviceID, "")]; c != nil {
			return c
		}
	}
	if routeID != "" {
		if c := combos[compoundKey(routeID, "", "")]; c != nil {
			return c
		}
	}
	if serviceID != "" {
		if c := combos[compoundKey("", serviceID, "")]; c != nil {
			return c
		}
	}
	return combos[compoundKey("", "", "")]
}

// globalsFor lists the global configurations of plugins having phase, in
// order (get_global_iterator).
func (it *iterator) globalsFor(phase string) []*configured {
	var out []*configured
	for _, lp := range it.ordered {
		if !lp.has(phase) {
			continue
		}
		if c := it.globals[lp.name]; c != nil {
			out = append(out, c)
		}
	}
	return out
}
