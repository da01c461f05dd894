package kongsim

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
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
	// AdminHandler serves the Admin API next to /kongsim/stats (set by the
	// control plane adapter when Config is nil).
	AdminHandler http.Handler
}

// Kong is a running stand-in.
type Kong struct {
	opts   Options
	set    *settings
	errlog *errlog.Log
	stderr io.Writer
	pdk    *pdk.Dispatcher

	plugins          map[string]*loadedPlugin
	supervisors      []*pluginserver.Supervisor
	supervisorByName map[string]*pluginserver.Supervisor
	config           ConfigSource
	it               atomic.Pointer[iterator]
	itMu             sync.Mutex
	seq              atomic.Int64

	proxySrv, adminSrv   *http.Server
	proxyAddr, adminAddr string

	transportsMu sync.Mutex
	transports   map[string]*http.Transport

	fileLogMu  sync.Mutex
	fileLogFDs map[string]*os.File

	accessLog   io.Writer
	accessLogMu sync.Mutex
	closers     []io.Closer

	records  *recordStore
	counters counters
	timers   sync.WaitGroup
	closed   atomic.Bool
}

type counters struct {
	requests, conns, buffered, streamed, bodiesSpooled, violationsReported atomic.Uint64
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
		plugins:          map[string]*loadedPlugin{},
		supervisorByName: map[string]*pluginserver.Supervisor{},
		transports:       map[string]*http.Transport{},
		fileLogFDs:       map[string]*os.File{},
		records:          newRecordStore(10000),
	}
	if k.stderr == nil {
		k.stderr = os.Stderr
	}
	if err := k.openLogs(); err != nil {
		return nil, err
	}
	k.pdk = pdk.NewDispatcher(pdk.Config{
		NodeID:           set.nodeID,
		TrustedIPs:       set.trustedIPs,
		ErrorDefaultType: set.errorDefaultType,
		Log: func(st *pdk.State, level errlog.Level, msg string) {
			req := &errlog.Request{Conn: st.Conn, Client: st.RemoteAddr, Server: "kong", Line: st.RequestLine, RequestID: st.RequestID, Timer: st.Saved != nil}
			req.Host, _ = st.ReqHeader.Get("Host")
			k.errlog.Write(level, req, msg)
		},
	})
	if err := k.loadPlugins(ctx); err != nil {
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

// loadPlugins is load_external_plugins_info plus the bundled file-log.
func (k *Kong) loadPlugins(ctx context.Context) error {
	k.plugins["file-log"] = &loadedPlugin{name: "file-log", priority: 9, phases: map[string]bool{"log": true}}
	if len(k.set.servers) == 0 {
		return nil
	}
	k.errlog.Printf(errlog.Notice, "[kong] process.lua:91 [pluginserver] loading external plugins info")
	for _, srv := range k.set.servers {
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
	k.errlog.Printf(errlog.Notice, "[kong] process.lua:102 [pluginserver] loaded #%d external plugins info", len(k.set.servers))
	return nil
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

// loadConfig builds the first plugins iterator and follows changes.
func (k *Kong) loadConfig(ctx context.Context) error {
	src := k.opts.Config
	if src == nil {
		var err error
		src, err = k.controlPlane(ctx)
		if err != nil {
			return err
		}
	}
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
func (k *Kong) rebuild(s *Snapshot) {
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

func (k *Kong) currentIterator() *iterator { return k.it.Load() }

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
	if k.proxySrv, k.proxyAddr, err = serveLoopback(proxy, "proxy_listen", k); err != nil {
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
	for name, p := range k.plugins {
		if p.ext != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return fmt.Sprintf("kongsim ready proxy=%s admin=%s plugins=%s", k.proxyAddr, admin, strings.Join(names, ","))
}

// Supervisor returns the process supervisor of a pluginserver by its
// name (tests crash servers through it); nil when Kong does not manage it.
func (k *Kong) Supervisor(name string) *pluginserver.Supervisor {
	return k.supervisorByName[name]
}

// Plugin returns an external plugin by its registered name.
func (k *Kong) Plugin(name string) *pluginserver.Plugin {
	if p := k.plugins[name]; p != nil {
		return p.ext
	}
	return nil
}

// serverToken is SERVER_HEADER: "kong/<version>".
func (k *Kong) serverToken() string { return "kong/" + k.opts.KongVersion }

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
	done := make(chan struct{})
	go func() { k.timers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	for _, s := range k.supervisors {
		if err := s.Close(); err != nil {
			fmt.Fprintln(k.stderr, "kongsim:", err)
		}
	}
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
	for _, c := range k.closers {
		_ = c.Close()
	}
}
