// Package kongconf reads Kong's settings the way kong/conf_loader does: a
// kong.conf file ("key = value", # comments, \# for a literal #, trailing \
// continuation) under KONG_* environment variables (environment wins), over
// kong_defaults.lua's defaults, with Kong's property names. Only the
// properties the stand-in uses are interpreted; every resolved one is kept
// in Config.Properties.
//
// API:
//
//	Load(confPath string, environ []string) (*Config, error)
//	LoadWith(Options{ConfPath, Environ, PluginServerDir, SearchDefaultPaths}) (*Config, error)
//	Config{Prefix, LogLevel, Database, DeclarativeConfig, Plugins,
//	       PluginServers []PluginServer, ProxyListeners, AdminListeners []Listener,
//	       ProxyAccessLog, ProxyErrorLog, AdminAccessLog, AdminErrorLog,
//	       ClientBodyBufferSize, Properties, Warnings, Notes}
//	(*Config).ProxyAddr()/AdminAddr() (addr, note string, ok bool)
//	    the first plain (non-ssl) listener, mapped to loopback
//	(*Config).PluginServer(name) (PluginServer, bool)
//	(*Config).EnabledPlugins(bundled []string) []string
//	PluginServer{Name, Socket, StartCmd, QueryCmd}
//	Listener{Host, Port, SSL, HTTP2, Flags, Listener}
//	LoopbackAddr(host, port) (addr, note string)
//
// Kong's rules kept: pluginserver_<name with - → _>_socket defaults to
// <prefix>/<name>.socket (dashes kept); _start_cmd and _query_cmd default to
// /usr/local/bin/<name> (and "<that> -dump") only if that file exists; no
// query command is an error ("query_command undefined for pluginserver
// <name>"); no start command is only a warning. Relative log paths and
// declarative_config resolve against the prefix.
//
// Stand-in rules: database must be "off" (DB-less is all it does), and the
// listeners are bound on loopback only: 0.0.0.0 (or any non-loopback
// address) becomes 127.0.0.1, [::] becomes [::1], and Config.Notes says so.
package kongconf
