package kongsim

import (
	"fmt"
	"net"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongconf"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/store"
)

// settings are the kong.conf properties the data plane uses.
type settings struct {
	conf                 *kongconf.Config
	proxyAddr            string
	adminAddr            string
	prefix               string
	logLevel             errlog.Level
	errorLog             string
	accessLog            string
	clientBodyBufferSize int64
	servers              []pluginserver.Server
	enabled              map[string]bool
	declarative          string
	trustedIPs           []*net.IPNet
	errorDefaultType     string
	enabledHeaders       map[string]bool
	upstreamHeaders      map[string]bool
	nodeID               string
	workspaceID          string
}

func loadSettings(o Options) (*settings, error) {
	conf, err := kongconf.Load(o.ConfPath, o.Environ)
	if err != nil {
		return nil, err
	}
	level, err := errlog.ParseLevel(conf.LogLevel)
	if err != nil {
		return nil, err
	}
	s := &settings{
		conf:                 conf,
		prefix:               conf.Prefix,
		logLevel:             level,
		errorLog:             conf.ProxyErrorLog,
		accessLog:            conf.ProxyAccessLog,
		clientBodyBufferSize: conf.ClientBodyBufferSize,
		enabled:              map[string]bool{},
		declarative:          conf.DeclarativeConfig,
		errorDefaultType:     prop(conf, "error_default_type", "text/plain"),
		nodeID:               prop(conf, "node_id", ""),
		workspaceID:          store.NewUUID(),
	}
	if s.nodeID == "" || s.nodeID == "NONE" {
		s.nodeID = store.NewUUID()
	}
	if s.clientBodyBufferSize <= 0 {
		s.clientBodyBufferSize = 8 * 1024
	}
	if addr, _, ok := conf.ProxyAddr(); ok {
		s.proxyAddr = addr
	}
	if addr, _, ok := conf.AdminAddr(); ok {
		s.adminAddr = addr
	}
	if s.proxyAddr == "" && o.ProxyAddr == "" {
		return nil, fmt.Errorf("proxy_listen: no plain HTTP listener (the stand-in serves HTTP on loopback only)")
	}
	for _, ps := range conf.PluginServers {
		s.servers = append(s.servers, pluginserver.Server{Name: ps.Name, Socket: ps.Socket, StartCmd: ps.StartCmd, QueryCmd: ps.QueryCmd})
	}
	for _, name := range conf.EnabledPlugins(kongschema.BuiltinNames()) {
		s.enabled[name] = true
	}
	s.trustedIPs, err = parseTrustedIPs(prop(conf, "trusted_ips", "NONE"))
	if err != nil {
		return nil, err
	}
	s.enabledHeaders = parseHeaders(prop(conf, "headers", "server_tokens, latency_tokens, x-kong-request-id"))
	s.upstreamHeaders = parseHeaders(prop(conf, "headers_upstream", "x-kong-request-id"))
	return s, nil
}

func prop(c *kongconf.Config, name, def string) string {
	if v, ok := c.Properties[name]; ok && v != "" {
		return v
	}
	return def
}

// parseTrustedIPs reads trusted_ips: CIDRs or addresses; "unix:" entries
// never match a TCP client.
func parseTrustedIPs(v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" || e == "NONE" || strings.HasPrefix(e, "unix:") {
			continue
		}
		if !strings.Contains(e, "/") {
			if ip := net.ParseIP(e); ip != nil && ip.To4() != nil {
				e += "/32"
			} else {
				e += "/128"
			}
		}
		_, n, err := net.ParseCIDR(e)
		if err != nil {
			return nil, fmt.Errorf("trusted_ips: invalid entry %q: %w", e, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseHeaders expands the headers / headers_upstream property into the
// enabled header names, lower-cased (conf_loader's enabled_headers).
func parseHeaders(v string) map[string]bool {
	out := map[string]bool{}
	for _, e := range strings.Split(v, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		switch e {
		case "", "off":
		case "server_tokens":
			out["via"], out["server"] = true, true
		case "latency_tokens":
			out["x-kong-proxy-latency"], out["x-kong-response-latency"], out["x-kong-upstream-latency"] = true, true, true
		default:
			out[e] = true
		}
	}
	return out
}
