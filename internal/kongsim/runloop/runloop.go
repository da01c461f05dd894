// Package runloop is the stand-in's proxying path, Kong's kong/runloop
// and kong/init.lua phases: the router and plugins iterator built from
// each configuration snapshot, the request's phases with the plugins'
// events over their plugin servers, the upstream call (buffered or
// streamed), the log phase with the bundled file-log, and the request
// counters and log records.
//
// Entry point: New(Config), then LoadPlugins (load_external_plugins_info),
// Follow(ConfigSource) and ServeHTTP; Close at the end. The lifecycle
// around it (kong.conf, plugin server processes, listeners, the control
// plane) is package kongsim's.
package runloop

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
)

// Config is what the proxying path needs of kong.conf and the stand-in's
// options.
type Config struct {
	// Prefix is Kong's prefix (client_body_temp lives under it).
	Prefix string
	// ClientBodyBufferSize is client_body_buffer_size in bytes.
	ClientBodyBufferSize int64
	// ErrorDefaultType is error_default_type.
	ErrorDefaultType string
	// EnabledHeaders and UpstreamHeaders are the headers and
	// headers_upstream properties, expanded and lower-cased.
	EnabledHeaders, UpstreamHeaders map[string]bool
	// Enabled is the plugins property (names).
	Enabled map[string]bool
	// KongVersion is the version in Server and Via.
	KongVersion string
	// PluginTimeout is the plugin socket timeout.
	PluginTimeout time.Duration
	// MaxEventRetries caps the retries of closed plugin connections.
	MaxEventRetries int
	// NoPDKCallsInLog leaves "kongsim" out of file-log's lines.
	NoPDKCallsInLog bool
	// ErrorLog, AccessLog (nil = off) and Stderr (the loud reports).
	ErrorLog  *errlog.Log
	AccessLog io.Writer
	Stderr    io.Writer
	// PDK carries out the plugins' PDK calls.
	PDK *pdk.Dispatcher
}

// settings and options keep the names the proxying code reads.
type settings struct {
	prefix                          string
	clientBodyBufferSize            int64
	errorDefaultType                string
	enabledHeaders, upstreamHeaders map[string]bool
	enabled                         map[string]bool
}

type options struct {
	KongVersion     string
	PluginTimeout   time.Duration
	MaxEventRetries int
	NoPDKCallsInLog bool
}

// Runloop is the proxying path of one stand-in (one nginx worker's view).
type Runloop struct {
	opts   options
	set    *settings
	errlog *errlog.Log
	stderr io.Writer
	pdk    *pdk.Dispatcher

	plugins map[string]*loadedPlugin
	config  ConfigSource
	it      atomic.Pointer[iterator]
	itMu    sync.Mutex
	seq     atomic.Int64

	transportsMu sync.Mutex
	transports   map[string]*http.Transport

	fileLogMu  sync.Mutex
	fileLogFDs map[string]*os.File

	accessLog   io.Writer
	accessLogMu sync.Mutex

	records  *recordStore
	counters counters
	timers   sync.WaitGroup
}

type counters struct {
	requests, conns, buffered, streamed, bodiesSpooled, violationsReported atomic.Uint64
}

// New returns a Runloop with the bundled file-log loaded.
func New(c Config) *Runloop {
	k := &Runloop{
		opts: options{KongVersion: c.KongVersion, PluginTimeout: c.PluginTimeout, MaxEventRetries: c.MaxEventRetries, NoPDKCallsInLog: c.NoPDKCallsInLog},
		set: &settings{prefix: c.Prefix, clientBodyBufferSize: c.ClientBodyBufferSize, errorDefaultType: c.ErrorDefaultType,
			enabledHeaders: c.EnabledHeaders, upstreamHeaders: c.UpstreamHeaders, enabled: c.Enabled},
		errlog:     c.ErrorLog,
		stderr:     c.Stderr,
		pdk:        c.PDK,
		plugins:    map[string]*loadedPlugin{},
		transports: map[string]*http.Transport{},
		fileLogFDs: map[string]*os.File{},
		accessLog:  c.AccessLog,
		records:    newRecordStore(10000),
	}
	if k.stderr == nil {
		k.stderr = os.Stderr
	}
	k.plugins["file-log"] = &loadedPlugin{name: "file-log", priority: 9, phases: map[string]bool{"log": true}}
	return k
}

// LoadPlugins is load_external_plugins_info
// (kong/runloop/plugin_servers/process.lua:91-102): every server's query
// command, its dump checked.
func (k *Runloop) LoadPlugins(ctx context.Context, servers []pluginserver.Server) error {
	if len(servers) == 0 {
		return nil
	}
	k.errlog.Printf(errlog.Notice, "[kong] process.lua:91 [pluginserver] loading external plugins info")
	for _, srv := range servers {
		info, err := pluginserver.Query(ctx, srv, k.stderr)
		if err != nil {
			return fmt.Errorf("failed loading external plugins: %w", err)
		}
		client := pluginserver.NewClient(srv.Socket, pluginserver.ClientOptions{Timeout: k.opts.PluginTimeout})
		ext := pluginserver.NewPlugin(info, client)
		ext.MaxRetries = k.opts.MaxEventRetries
		phases := map[string]bool{}
		for _, p := range info.Phases {
			phases[p] = true
		}
		k.plugins[info.Name] = &loadedPlugin{name: info.Name, priority: info.Priority, phases: phases, ext: ext}
	}
	k.errlog.Printf(errlog.Notice, "[kong] process.lua:102 [pluginserver] loaded #%d external plugins info", len(servers))
	return nil
}

// Loaded is a plugin Kong has loaded, as the control plane sees it.
type Loaded struct {
	Name     string
	Priority int
	// External is the plugin server's dump (nil for bundled plugins).
	External *pluginserver.Info
}

// Loaded lists the loaded plugins by name.
func (k *Runloop) Loaded() []Loaded {
	out := make([]Loaded, 0, len(k.plugins))
	for name, lp := range k.plugins {
		l := Loaded{Name: name, Priority: lp.priority}
		if lp.ext != nil {
			l.External = &lp.ext.Info
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Follow builds the first plugins iterator from src and rebuilds on
// every change.
func (k *Runloop) Follow(src ConfigSource) error {
	k.config = src
	k.rebuild(src.Current())
	if it := k.it.Load(); it.err != nil {
		return fmt.Errorf("building the plugins iterator: %w", it.err)
	}
	src.OnChange(k.rebuild)
	return nil
}

// rebuild installs the router and plugins iterator of a new snapshot. A
// snapshot Kong would refuse keeps the previous iterator, as Kong keeps
// its old one when a rebuild fails.
func (k *Runloop) rebuild(s *Snapshot) {
	k.itMu.Lock()
	defer k.itMu.Unlock()
	it := buildIterator(s, k.plugins, k.set.enabled, k.it.Load(), &k.seq)
	if it.err != nil {
		k.errlog.Printf(errlog.Err, "[kong] handler.lua:566 could not rebuild plugins iterator: %v", it.err)
		if k.it.Load() != nil {
			return
		}
	}
	k.it.Store(it)
}

func (k *Runloop) currentIterator() *iterator { return k.it.Load() }

// Plugin returns an external plugin by its registered name.
func (k *Runloop) Plugin(name string) *pluginserver.Plugin {
	if p := k.plugins[name]; p != nil {
		return p.ext
	}
	return nil
}

// serverToken is SERVER_HEADER: "kong/<version>".
func (k *Runloop) serverToken() string { return "kong/" + k.opts.KongVersion }

// WaitTimers waits (up to ctx) for the log timers still running.
func (k *Runloop) WaitTimers(ctx context.Context) {
	done := make(chan struct{})
	go func() { k.timers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Close drops the plugin connections, the upstream connections and
// file-log's files.
func (k *Runloop) Close() {
	for _, p := range k.plugins {
		if p.ext != nil {
			p.ext.Client.Close()
		}
	}
	k.transportsMu.Lock()
	for _, t := range k.transports {
		t.CloseIdleConnections()
	}
	k.transportsMu.Unlock()
	k.fileLogMu.Lock()
	for _, f := range k.fileLogFDs {
		_ = f.Close()
	}
	k.fileLogMu.Unlock()
}
