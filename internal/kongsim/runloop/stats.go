package runloop

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
)

// recordStore keeps the serialized log record of every request (the
// shape kong.log.serialize gives, plus "kongsim": {"pdk_calls": ...}).
type recordStore struct {
	mu      sync.Mutex
	list    []json.RawMessage
	total   int
	max     int
	changed chan struct{}
}

func newRecordStore(max int) *recordStore {
	return &recordStore{max: max, changed: make(chan struct{})}
}

func (r *recordStore) add(rec json.RawMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec)
	if len(r.list) > r.max {
		r.list = r.list[len(r.list)-r.max:]
	}
	r.total++
	close(r.changed)
	r.changed = make(chan struct{})
}

// Records returns the log records kept so far, oldest first (at most the
// last 10000).
func (k *Runloop) Records() []json.RawMessage {
	k.records.mu.Lock()
	defer k.records.mu.Unlock()
	return append([]json.RawMessage(nil), k.records.list...)
}

// WaitRecords waits until at least n records were produced since Start
// and returns the kept ones. The log phase runs after the response, so a
// test waits for it instead of sleeping.
func (k *Runloop) WaitRecords(ctx context.Context, n int) ([]json.RawMessage, error) {
	for {
		k.records.mu.Lock()
		total, ch := k.records.total, k.records.changed
		list := append([]json.RawMessage(nil), k.records.list...)
		k.records.mu.Unlock()
		if total >= n {
			return list, nil
		}
		select {
		case <-ctx.Done():
			return list, ctx.Err()
		case <-ch:
		}
	}
}

// Stats is what GET /kongsim/stats answers.
type Stats struct {
	Requests          uint64                           `json:"requests"`
	BufferedProxied   uint64                           `json:"buffered_proxied"`
	StreamedProxied   uint64                           `json:"streamed_proxied"`
	BodiesSpooled     uint64                           `json:"request_bodies_spooled"`
	ReportedRefusals  uint64                           `json:"reported_refused_calls"`
	PDK               pdk.StatsSnapshot                `json:"pdk"`
	Plugins           map[string]pluginserver.Counters `json:"plugins"`
	PluginServerSpawn map[string]int                   `json:"pluginserver_spawns"`
}

// Stats returns the counters: PDK calls by method and phase, refused
// calls, plugin instance starts/closes/resets/retries; PluginServerSpawn
// is left for the plugin servers' supervisors to fill.
func (k *Runloop) Stats() Stats {
	s := Stats{
		Requests:          k.counters.requests.Load(),
		BufferedProxied:   k.counters.buffered.Load(),
		StreamedProxied:   k.counters.streamed.Load(),
		BodiesSpooled:     k.counters.bodiesSpooled.Load(),
		ReportedRefusals:  k.counters.violationsReported.Load(),
		PDK:               k.pdk.Stats().Snapshot(),
		Plugins:           map[string]pluginserver.Counters{},
		PluginServerSpawn: map[string]int{},
	}
	for name, p := range k.plugins {
		if p.ext != nil {
			s.Plugins[name] = p.ext.Counters()
		}
	}
	return s
}
