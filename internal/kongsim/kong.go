package kongsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/controlplane"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/runloop"
)

// DefaultKongVersion is the Kong release the stand-in answers as (Server
// and Via headers): the one docker-compose.yml runs.
const DefaultKongVersion = "3.9.1"

// Options configures Start. Settings come from kong.conf and KONG_*
// variables with Kong's names; the fields here only override what a test
// cannot express through them.
type Options struct {
	// ConfPath is the kong.conf file ("" = none).
	ConfPath string
	// Environ holds the KONG_* variables (nil = os.Environ()).
	Environ []string
	// Config supplies services, routes and plugins. Nil means the control
	// plane: declarative_config (or Declarative) loaded into the store,
	// managed by the Admin API.
	Config ConfigSource
	// Declarative is a kong.yaml document used instead of
	// declarative_config.
	Declarative []byte
	// ProxyAddr and AdminAddr override proxy_listen and admin_listen
	// (tests use "127.0.0.1:0").
	ProxyAddr string
	AdminAddr string
	// ErrorLog receives the error log; nil = proxy_error_log.
	ErrorLog io.Writer
	// Stderr receives the stand-in's loud reports (refused PDK calls);
	// nil = os.Stderr.
	Stderr io.Writer
	// NoWaitForSockets starts serving without waiting for the plugin
	// servers' sockets, as Kong does.
	NoWaitForSockets bool
	// StartTimeout bounds the wait for the sockets (10 s).
	StartTimeout time.Duration
	// PluginTimeout is the plugin socket timeout (lua_socket_*_timeout,
	// 60 s).
	PluginTimeout time.Duration
	// MaxEventRetries caps Kong's endless "closed → reset → retry" loop (5).
	MaxEventRetries int
	// NoPDKCallsInLog leaves "kongsim": {"pdk_calls": ...} out of the
	// file-log lines, which then are exactly Kong's record.
	NoPDKCallsInLog bool
	// KongVersion is the version in Server/Via ("3.9.1").
	KongVersion string
	// AdminHandler serves the Admin API next to /kongsim/stats (the
	// control plane's when Config is nil).
	AdminHandler http.Handler
}

// The configuration types of the proxying path (package runloop).
type (
	Snapshot     = runloop.Snapshot
	Service      = runloop.Service
	Route        = runloop.Route
	Plugin       = runloop.Plugin
	ConfigSource = runloop.ConfigSource
	StaticConfig = runloop.StaticConfig
	Stats        = runloop.Stats
)

// NewStaticConfig returns a source holding s.
func NewStaticConfig(s *Snapshot) *StaticConfig { return runloop.NewStaticConfig(s) }

// Kong is a running stand-in: the lifecycle (kong.conf, logs, plugin
// server processes, listeners) around the proxying path (package runloop)
// and the control plane (package controlplane).
type Kong struct {
	opts   Options
	set    *settings
	errlog *errlog.Log
	stderr io.Writer
	rl     *runloop.Runloop

	supervisors      []*pluginserver.Supervisor
	supervisorByName map[string]*pluginserver.Supervisor

	proxySrv, adminSrv   *http.Server
	proxyAddr, adminAddr string

	accessLog io.Writer
	closers   []io.Closer
	closed    atomic.Bool
}

// Start loads the configuration, queries and starts the plugin servers,
// loads the entities and opens the listeners.
func Start(ctx context.Context, o Options) (*Kong, error) {
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.PluginTimeout <= 0 {
		o.PluginTimeout = 60 * time.Second
	}
	if o.KongVersion == "" {
		o.KongVersion = DefaultKongVersion
	}
	set, err := loadSettings(o)
	if err != nil {
		return nil, err
	}
	k := &Kong{
		opts: o, set: set, stderr: o.Stderr,
		supervisorByName: map[string]*pluginserver.Supervisor{},
	}
	if k.stderr == nil {
		k.stderr = os.Stderr
	}
	if err := k.openLogs(); err != nil {
		return nil, err
	}
	dispatcher := pdk.NewDispatcher(pdk.Config{
		NodeID:           set.nodeID,
		TrustedIPs:       set.trustedIPs,
		ErrorDefaultType: set.errorDefaultType,
		Log: func(st *pdk.State, level errlog.Level, msg string) {
			req := &errlog.Request{Conn: st.Conn, Client: st.RemoteAddr, Server: "kong", Line: st.RequestLine, RequestID: st.RequestID, Timer: st.Saved != nil}
			req.Host, _ = st.ReqHeader.Get("Host")
			k.errlog.Write(level, req, msg)
		},
	})
	k.rl = runloop.New(runloop.Config{
		Prefix: set.prefix, ClientBodyBufferSize: set.clientBodyBufferSize, ErrorDefaultType: set.errorDefaultType,
		EnabledHeaders: set.enabledHeaders, UpstreamHeaders: set.upstreamHeaders, Enabled: set.enabled,
		KongVersion: o.KongVersion, PluginTimeout: o.PluginTimeout, MaxEventRetries: o.MaxEventRetries,
		NoPDKCallsInLog: o.NoPDKCallsInLog, ErrorLog: k.errlog, AccessLog: k.accessLog, Stderr: k.stderr, PDK: dispatcher,
	})
	if err := k.rl.LoadPlugins(ctx, set.servers); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.startPluginServers(ctx); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.loadConfig(ctx); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.listen(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

func (k *Kong) openLogs() error {
	var w io.Writer = k.opts.ErrorLog
	if w == nil {
		f, err := openLogFile(k.set.errorLog)
		if err != nil {
			return err
		}
		if c, ok := f.(io.Closer); ok && f != os.Stderr && f != os.Stdout {
			k.closers = append(k.closers, c)
		}
		w = f
	}
	k.errlog = errlog.New(w, k.set.logLevel)
	if k.set.accessLog != "" && k.set.accessLog != "off" {
		f, err := openLogFile(k.set.accessLog)
		if err != nil {
			return err
		}
		if c, ok := f.(io.Closer); ok && f != os.Stderr && f != os.Stdout {
			k.closers = append(k.closers, c)
		}
		k.accessLog = f
	}
	return nil
}

func openLogFile(path string) (io.Writer, error) {
	switch path {
	case "/dev/stderr":
		return os.Stderr, nil
	case "/dev/stdout":
		return os.Stdout, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", path, err)
	}
	return f, nil
}

// startPluginServers is start_pluginservers, plus the optional wait.
func (k *Kong) startPluginServers(ctx context.Context) error {
	type pending struct {
		srv  pluginserver.Server
		prev os.FileInfo
	}
	var waits []pending
	for _, srv := range k.set.servers {
		if srv.StartCmd == "" {
			k.errlog.Printf(errlog.Warn, "start_command undefined for pluginserver %s; assuming external process management", srv.Name)
			continue
		}
		prev, _ := os.Stat(srv.Socket)
		sup := pluginserver.StartSupervisor(srv, k.errlog, nil)
		k.supervisors = append(k.supervisors, sup)
		k.supervisorByName[srv.Name] = sup
		waits = append(waits, pending{srv, prev})
	}
	if k.opts.NoWaitForSockets {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, k.opts.StartTimeout)
	defer cancel()
	for _, w := range waits {
		if err := pluginserver.WaitForSocket(wctx, w.srv.Socket, w.prev); err != nil {
			return fmt.Errorf("pluginserver %s: %w", w.srv.Name, err)
		}
	}
	return nil
}

// loadConfig hands the proxying path its configuration: the control
// plane's store (declarative_config loaded, the Admin API over it) unless
// Options.Config supplies one.
func (k *Kong) loadConfig(_ context.Context) error {
	src := k.opts.Config
	if src == nil {
		cp, err := controlplane.New(controlplane.Config{
			Enabled: k.set.enabled, Loaded: k.rl.Loaded(), Environ: k.opts.Environ,
			Declarative: k.opts.Declarative, DeclarativePath: k.set.declarative,
			KongVersion: k.opts.KongVersion, NodeID: k.set.nodeID, WorkspaceID: k.set.workspaceID,
		})
		if err != nil {
			return err
		}
		src, k.opts.AdminHandler = cp.Source(), cp.Handler()
	}
	return k.rl.Follow(src)
}

// loopbackOnly refuses an address the stand-in must not bind: it serves
// on loopback only (kong.conf's listeners are already mapped there).
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: the stand-in binds loopback addresses only", addr)
	}
	return nil
}

func (k *Kong) listen() error {
	proxy := k.opts.ProxyAddr
	if proxy == "" {
		proxy = k.set.proxyAddr
	}
	var err error
	if k.proxySrv, k.proxyAddr, err = serveLoopback(proxy, "proxy_listen", k.rl); err != nil {
		return err
	}

	admin := k.opts.AdminAddr
	if admin == "" {
		admin = k.set.adminAddr
	}
	if admin != "" {
		if k.adminSrv, k.adminAddr, err = serveLoopback(admin, "admin_listen", k.adminHandler()); err != nil {
			return err
		}
	}
	return nil
}

// serveLoopback serves h on addr, which must be a loopback address;
// setting names the kong.conf listen setting in errors. It returns the
// server and the address actually bound (for a port 0).
func serveLoopback(addr, setting string, h http.Handler) (*http.Server, string, error) {
	if err := loopbackOnly(addr); err != nil {
		return nil, "", err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", setting, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 60 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, l.Addr().String(), nil
}

// ProxyAddr is the proxy listener's address.
func (k *Kong) ProxyAddr() string { return k.proxyAddr }

// AdminAddr is the admin listener's address ("" when off).
func (k *Kong) AdminAddr() string { return k.adminAddr }

// ProxyURL is "http://" + ProxyAddr.
func (k *Kong) ProxyURL() string { return "http://" + k.proxyAddr }

// AdminURL is "http://" + AdminAddr.
func (k *Kong) AdminURL() string { return "http://" + k.adminAddr }

// ReadyLine is the line the CLI prints once serving.
func (k *Kong) ReadyLine() string {
	admin := k.adminAddr
	if admin == "" {
		admin = "off"
	}
	var names []string
	for _, p := range k.rl.Loaded() {
		if p.External != nil {
			names = append(names, p.Name)
		}
	}
	return fmt.Sprintf("kongsim ready proxy=%s admin=%s plugins=%s", k.proxyAddr, admin, strings.Join(names, ","))
}

// Supervisor returns the process supervisor of a pluginserver by its
// name (tests crash servers through it); nil when Kong does not manage it.
func (k *Kong) Supervisor(name string) *pluginserver.Supervisor {
	return k.supervisorByName[name]
}

// Plugin returns an external plugin by its registered name.
func (k *Kong) Plugin(name string) *pluginserver.Plugin {
	if k.rl == nil {
		return nil
	}
	return k.rl.Plugin(name)
}

// ServeHTTP serves a proxied request.
func (k *Kong) ServeHTTP(w http.ResponseWriter, r *http.Request) { k.rl.ServeHTTP(w, r) }

// Records returns the log records kept so far, oldest first (at most the
// last 10000).
func (k *Kong) Records() []json.RawMessage { return k.rl.Records() }

// WaitRecords waits until at least n records were produced since Start
// and returns the kept ones. The log phase runs after the response, so a
// test waits for it instead of sleeping.
func (k *Kong) WaitRecords(ctx context.Context, n int) ([]json.RawMessage, error) {
	return k.rl.WaitRecords(ctx, n)
}

// Stats returns the counters: PDK calls by method and phase, refused
// calls, plugin instance starts/closes/resets/retries, server restarts.
func (k *Kong) Stats() Stats {
	s := k.rl.Stats()
	for name, sup := range k.supervisorByName {
		s.PluginServerSpawn[name] = sup.Spawns()
	}
	return s
}

// adminHandler serves /kongsim/stats and /kongsim/records, and the Admin
// API for everything else.
func (k *Kong) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /kongsim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, k.Stats())
	})
	mux.HandleFunc("GET /kongsim/records", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, k.Records())
	})
	admin := k.opts.AdminHandler
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if admin == nil {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Not found"}`))
			return
		}
		admin.ServeHTTP(w, r)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(b, '\n'))
}

// Close stops the listeners and the plugin servers and waits for log
// timers.
func (k *Kong) Close() {
	if !k.closed.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if k.proxySrv != nil {
		_ = k.proxySrv.Shutdown(ctx)
	}
	if k.adminSrv != nil {
		_ = k.adminSrv.Shutdown(ctx)
	}
	if k.rl != nil {
		k.rl.WaitTimers(ctx)
	}
	for _, s := range k.supervisors {
		if err := s.Close(); err != nil {
			fmt.Fprintln(k.stderr, "kongsim:", err)
		}
	}
	if k.rl != nil {
		k.rl.Close()
	}
	for _, c := range k.closers {
		_ = c.Close()
	}
}
