package runloop

import (
	"encoding/json"
	"sync"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/luajson"
)

// Service is what the data plane needs of a Kong service. Entity is the
// entity as Kong's DAO reads it (nulls left out): it becomes ngx.ctx.service
// and the "service" of the log record.
type Service struct {
	ID             string
	Name           string
	Protocol       string
	Host           string
	Port           int
	Path           string // "" when null
	Retries        int
	ConnectTimeout int // ms
	WriteTimeout   int // ms
	ReadTimeout    int // ms
	Enabled        bool
	Entity         json.RawMessage
}

// Route is what the data plane needs of a Kong route.
type Route struct {
	ID           string
	Name         string
	ServiceID    string
	Protocols    []string
	Methods      []string
	Hosts        []string
	Paths        []string
	StripPath    bool
	PreserveHost bool
	PathHandling string // "v0" (default) or "v1"
	Entity       json.RawMessage
}

// Plugin is a plugin entity: Config is the config Kong hands the plugin
// (defaults applied, nulls left out); the data plane adds Kong's keys.
type Plugin struct {
	ID           string
	Name         string
	InstanceName string
	RouteID      string
	ServiceID    string
	ConsumerID   string
	Config       json.RawMessage
	Enabled      bool
	Protocols    []string
	UpdatedAt    int64
}

// Snapshot is one immutable version of the configuration.
type Snapshot struct {
	Version  uint64
	Services []*Service
	Routes   []*Route
	Plugins  []*Plugin
	// WorkspaceID is the default workspace's id (ws_id of every entity).
	WorkspaceID string
	// Reloaded marks a whole configuration loaded at once (POST /config):
	// Kong then rebuilds the plugins iterator whatever changed, so every
	// plugin config gets a new __seq__ (and a new instance).
	Reloaded bool
}

// ConfigSource supplies configuration snapshots: the control plane's store,
// or a fixed configuration in tests.
type ConfigSource interface {
	// Current returns the latest snapshot.
	Current() *Snapshot
	// OnChange registers f to be called with every new snapshot.
	OnChange(f func(*Snapshot))
}

// StaticConfig is a ConfigSource holding snapshots set by hand.
type StaticConfig struct {
	mu    sync.Mutex
	cur   *Snapshot
	subs  []func(*Snapshot)
	count uint64
}

// NewStaticConfig returns a source holding s.
func NewStaticConfig(s *Snapshot) *StaticConfig {
	c := &StaticConfig{}
	c.Set(s)
	return c
}

// Current implements ConfigSource.
func (c *StaticConfig) Current() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// OnChange implements ConfigSource.
func (c *StaticConfig) OnChange(f func(*Snapshot)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = append(c.subs, f)
}

// Set publishes a new snapshot (its Version is assigned).
func (c *StaticConfig) Set(s *Snapshot) {
	c.mu.Lock()
	c.count++
	cp := *s
	cp.Version = c.count
	c.cur = &cp
	subs := append([]func(*Snapshot){}, c.subs...)
	c.mu.Unlock()
	for _, f := range subs {
		f(&cp)
	}
}

// entityTable decodes an entity into the Lua table Kong keeps in ngx.ctx.
func entityTable(raw json.RawMessage) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	v, err := luajson.Decode(raw)
	if err != nil {
		return nil
	}
	m, _ := luajson.StripNulls(v).(map[string]any)
	return m
}
