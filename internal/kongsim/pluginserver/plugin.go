package pluginserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
)

// Conf is the plugin configuration Kong hands to an event: the config table
// (defaults applied, Kong's keys added) and the two keys Kong's instance
// bookkeeping reads.
type Conf struct {
	PluginID string // __plugin_id, the key of running_instances
	Seq      int64  // __seq__, new for every rebuild of the plugins iterator
	JSON     []byte // cjson.encode(conf), sent with CmdStartInstance
}

// Logger writes one line to the error log in the context of the request or
// timer that runs the event.
type Logger func(level errlog.Level, msg string)

// Plugin is one external plugin: the dump, the RPC client and Kong's
// per-worker instance bookkeeping (plugin_servers/plugin.lua).
type Plugin struct {
	Info   Info
	Client *Client

	// MaxRetries caps Kong's unbounded "reset instances and retry the
	// event" loop (pb_rpc.lua handle_event); 0 means 5.
	MaxRetries int
	// ClaimWait is how long an event waits for another one that is
	// starting the same instance (Kong: 10 s in 0.1 s steps).
	ClaimWait time.Duration

	mu      sync.Mutex
	running map[string]*instanceInfo

	starts, closes, resets, retries, exhausted atomic.Int64
}

type instanceInfo struct {
	id       int32
	hasID    bool
	seq      int64
	pluginID string
	name     string        // set once started: reset_instances_for_plugin matches it
	done     chan struct{} // closed when a claim ends (started or failed)
}

// NewPlugin wires a dump to its socket client.
func NewPlugin(info Info, client *Client) *Plugin {
	return &Plugin{Info: info, Client: client, running: map[string]*instanceInfo{}}
}

// Counters are the plugin's lifecycle counts.
type Counters struct {
	InstancesStarted int64 `json:"instances_started"`
	InstancesClosed  int64 `json:"instances_closed"`
	InstanceResets   int64 `json:"instance_resets"`
	EventRetries     int64 `json:"event_retries"`
	RetriesExhausted int64 `json:"retries_exhausted"`
}

// Counters returns a snapshot of the lifecycle counts.
func (p *Plugin) Counters() Counters {
	return Counters{
		InstancesStarted: p.starts.Load(),
		InstancesClosed:  p.closes.Load(),
		InstanceResets:   p.resets.Load(),
		EventRetries:     p.retries.Load(),
		RetriesExhausted: p.exhausted.Load(),
	}
}

// ErrRetriesExhausted is returned when the stand-in stops Kong's endless
// retry loop.
var ErrRetriesExhausted = errors.New("kongsim: event retries exhausted")

// HandleEvent is Rpc:handle_event: get (or start) the instance for conf,
// run the event, and on an error mentioning "closed" or "no plugin
// instance" forget every instance of the plugin, log the error at warn and
// run the event again from the start.
func (p *Plugin) HandleEvent(ctx context.Context, conf Conf, phase string, b Bridge, abandon Abandon, logf Logger) error {
	maxRetries := p.MaxRetries
	if maxRetries <= 0 {
		maxRetries = 5
	}
	for attempt := 0; ; attempt++ {
		id, err := p.instanceID(ctx, conf, logf)
		if err != nil {
			return err // raised by get_instance_id
		}
		err = p.Client.HandleEvent(ctx, id, phase, b, abandon)
		if err == nil {
			return nil
		}
		var raised *Raised
		if errors.As(err, &raised) || !retryable(err) {
			return err
		}
		p.ResetInstances()
		logf(errlog.Warn, "[kong] pb_rpc.lua:378 "+err.Error())
		if attempt >= maxRetries {
			p.exhausted.Add(1)
			return fmt.Errorf("%w after %d retries: %w", ErrRetriesExhausted, attempt, err)
		}
		p.retries.Add(1)
	}
}

func retryable(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "no plugin instance") || strings.Contains(msg, "closed")
}

// ResetInstances is reset_instances_for_plugin: forget every started
// instance of this plugin (claims in progress are left alone, as in Kong,
// because they carry no plugin_name yet).
func (p *Plugin) ResetInstances() {
	p.resets.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.running {
		if v.name != "" {
			delete(p.running, k)
		}
	}
}

// instanceID is get_instance_id.
func (p *Plugin) instanceID(ctx context.Context, conf Conf, logf Logger) (int32, error) {
	key := conf.PluginID
	wait := p.ClaimWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	p.mu.Lock()
	info := p.running[key]
	for info != nil && !info.hasID {
		done := info.done
		p.mu.Unlock()
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			p.mu.Lock()
			if p.running[key] == info {
				delete(p.running, key)
			}
			p.mu.Unlock()
			return 0, &Raised{Err: fmt.Errorf("Could not claim instance_id for %s (key: %s)", p.Info.Name, key)} //nolint:staticcheck // Kong's message
		case <-ctx.Done():
			return 0, &Raised{Err: ctx.Err()}
		}
		p.mu.Lock()
		info = p.running[key]
	}
	if info != nil && info.hasID && info.seq == conf.Seq && info.pluginID == key {
		id := info.id
		p.mu.Unlock()
		return id, nil
	}
	var oldID int32
	hadOld := false
	if info == nil {
		info = &instanceInfo{seq: conf.Seq, pluginID: key}
		p.running[key] = info
	} else {
		oldID, hadOld = info.id, info.hasID
		info.hasID = false
	}
	info.done = make(chan struct{})
	claim := info
	p.mu.Unlock()

	id, err := p.Client.StartInstance(ctx, p.Info.Name, conf.JSON)
	p.mu.Lock()
	close(claim.done)
	if err != nil {
		if p.running[key] == claim {
			delete(p.running, key)
		}
		p.mu.Unlock()
		logf(errlog.Err, "[kong] plugin.lua:283 starting instance: "+err.Error())
		var raised *Raised
		if errors.As(err, &raised) {
			return 0, err
		}
		return 0, &Raised{Err: err} // error(err)
	}
	claim.id, claim.hasID = id, true
	claim.name = p.Info.Name
	claim.seq = conf.Seq
	claim.pluginID = key
	p.mu.Unlock()
	p.starts.Add(1)
	logf(errlog.Debug, fmt.Sprintf("[kong] pb_rpc.lua:341 started plugin server: seq %d, worker 0, instance id %d", conf.Seq, id))
	if hadOld {
		// "there was a previous instance with same key, close it";
		// errors are ignored.
		if p.Client.CloseInstance(ctx, oldID) == nil {
			p.closes.Add(1)
		}
	}
	return id, nil
}
