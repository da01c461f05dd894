package kongconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// defaults are the kong_defaults.lua values of the properties the stand-in
// reads ("NONE" = unset, as in Kong).
var defaults = map[string]string{
	"prefix":                             "/usr/local/kong/",
	"log_level":                          "notice",
	"proxy_access_log":                   "logs/access.log",
	"proxy_error_log":                    "logs/error.log",
	"admin_access_log":                   "logs/admin_access.log",
	"admin_error_log":                    "logs/error.log",
	"plugins":                            "bundled",
	"proxy_listen":                       "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384",
	"admin_listen":                       "127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384",
	"status_listen":                      "127.0.0.1:8007 reuseport backlog=16384",
	"database":                           "postgres",
	"declarative_config":                 "NONE",
	"pluginserver_names":                 "NONE",
	"client_body_buffer_size":            "8k",
	"nginx_http_client_body_buffer_size": "8k",
	"nginx_http_client_max_body_size":    "0",
	"headers":                            "server_tokens, latency_tokens, x-kong-request-id",
	"error_default_type":                 "text/plain",
	"node_id":                            "NONE",
}

// dynamicPrefixes are Kong's DYNAMIC_KEY_NAMESPACES the stand-in honours:
// keys under them exist only when a file or KONG_* variable sets them.
var dynamicPrefixes = []string{"pluginserver_", "vault_", "nginx_http_", "nginx_proxy_", "nginx_admin_"}

// DefaultPaths are where Kong looks for kong.conf when none is given.
var DefaultPaths = []string{"/etc/kong/kong.conf", "/etc/kong.conf"}

// Options configures LoadWith.
type Options struct {
	// ConfPath is the kong.conf file ("" = Kong's DefaultPaths, if any).
	ConfPath string
	// Environ is the environment, as os.Environ returns it; KONG_* win
	// over the file.
	Environ []string
	// PluginServerDir replaces Kong's /usr/local/bin in the defaults of
	// pluginserver_<name>_start_cmd/_query_cmd ("" = /usr/local/bin).
	PluginServerDir string
	// SearchDefaultPaths makes an empty ConfPath look at DefaultPaths as
	// Kong does; off, an empty ConfPath means "no file".
	SearchDefaultPaths bool
}

// Listener is one parsed entry of a *_listen property.
type Listener struct {
	Host     string   // as written (brackets kept for IPv6), before loopback mapping
	Port     int      //
	SSL      bool     //
	HTTP2    bool     //
	Flags    []string // every recognised flag, e.g. "reuseport", "backlog=16384"
	Listener string   // Kong's normalised "ip:port flags"
}

// PluginServer is one conf.pluginservers entry.
type PluginServer struct {
	Name     string // lower-cased pluginserver name
	Socket   string // pluginserver_<name>_socket, default <prefix>/<name>.socket
	StartCmd string // "" = managed externally (Kong only warns)
	QueryCmd string
}

// Config is Kong's configuration as the stand-in needs it.
type Config struct {
	Prefix            string // absolute, no trailing slash
	LogLevel          string
	Database          string
	DeclarativeConfig string // "" when unset
	Plugins           []string
	PluginServers     []PluginServer
	ProxyListeners    []Listener
	AdminListeners    []Listener
	ProxyAccessLog    string // resolved against Prefix unless absolute or "off"
	ProxyErrorLog     string
	AdminAccessLog    string
	AdminErrorLog     string
	// ClientBodyBufferSize is client_body_buffer_size in bytes (8k): request
	// bodies above it are spooled to a temp file.
	ClientBodyBufferSize int64
	// Properties holds every resolved property by name (file, then KONG_*
	// over it, then defaults), as strings.
	Properties map[string]string
	// Warnings lists what Kong would warn about (no start command), and
	// Notes what the stand-in changed (loopback binding).
	Warnings []string
	Notes    []string
}

// Load reads confPath (if not empty) and then the KONG_* variables of
// environ, Kong's way: environment over file over defaults. It does not
// search Kong's default paths; use LoadWith for that.
func Load(confPath string, environ []string) (*Config, error) {
	return LoadWith(Options{ConfPath: confPath, Environ: environ})
}

// LoadWith is Load with options.
func LoadWith(opts Options) (*Config, error) {
	fileConf := map[string]string{}
	path := opts.ConfPath
	if path == "" && opts.SearchDefaultPaths {
		for _, p := range DefaultPaths {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	} else if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no file at: %s", path)
		}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("could not load config file: %w", err)
		}
		if fileConf, err = parseConf(data); err != nil {
			return nil, fmt.Errorf("could not load config file: %w", err)
		}
	}
	env := envMap(opts.Environ)
	props := resolve(fileConf, env)
	return build(props, opts)
}

// envMap picks the KONG_* variables, keyed by lower-cased property name.
func envMap(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		// Kong reads each property from getenv("KONG_" .. upper(key)):
		// only the upper-case spelling counts.
		if name, ok := strings.CutPrefix(k, "KONG_"); ok && name == strings.ToUpper(name) {
			out[strings.ToLower(name)] = v
		}
	}
	return out
}

func isDynamic(key string) bool {
	for _, p := range dynamicPrefixes {
		if strings.HasPrefix(key, p) && len(key) > len(p) {
			return true
		}
	}
	return false
}

// resolve merges defaults, file and environment like conf_loader's
// overrides(): a property is known if it has a default or sits in a dynamic
// namespace; an empty value (or NONE as a default) means unset.
func resolve(fileConf, env map[string]string) map[string]string {
	keys := map[string]bool{}
	for k := range defaults {
		keys[k] = true
	}
	for k := range fileConf {
		if isDynamic(k) {
			keys[k] = true
		}
	}
	for k := range env {
		if isDynamic(k) {
			keys[k] = true
		}
	}
	props := map[string]string{}
	for k := range keys {
		v, inFile := fileConf[k]
		if !inFile {
			v = defaults[k]
			if v == "NONE" {
				v = ""
			}
		}
		if e, ok := env[k]; ok {
			v = e
		}
		v = strings.TrimSpace(v)
		if v != "" {
			props[k] = v
		}
	}
	return props
}

// commentRe is Kong's strip_comments: an unescaped # and what follows.
var commentRe = regexp.MustCompile(`\s*(^|[^\\])#.*$`)

// parseConf reads kong.conf syntax (Penlight config.read, smart=false):
// "key = value" lines, # comments (\# for a literal #), trailing "\" to
// continue a line, [sections] ignored.
func parseConf(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	pending := ""
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := pending + sc.Text()
		pending = ""
		if strings.HasSuffix(line, "\\") && !strings.HasSuffix(line, "\\\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' || trimmed[0] == '[' {
			continue
		}
		key, value, ok := strings.Cut(trimmed, "=")
		if !ok {
			// Penlight keeps such lines as list items of the section;
			// Kong never reads them.
			continue
		}
		key = strings.TrimSpace(key)
		value = stripComment(strings.TrimSpace(value))
		out[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", lineNo, err)
	}
	return out, nil
}

func stripComment(v string) string {
	if m := commentRe.FindStringSubmatchIndex(v); m != nil {
		// Keep the character before '#' (group 1).
		v = v[:m[3]]
	}
	v = strings.ReplaceAll(v, `\#`, "#")
	return strings.TrimSpace(v)
}

// splitList is parse_value(..., "array"): comma-separated, trimmed, empty
// entries dropped.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func build(props map[string]string, opts Options) (*Config, error) {
	c := &Config{Properties: props}
	prefix := props["prefix"]
	abs, err := filepath.Abs(prefix)
	if err != nil {
		return nil, fmt.Errorf("prefix: %w", err)
	}
	c.Prefix = abs
	c.Properties["prefix"] = abs
	c.LogLevel = props["log_level"]
	switch c.LogLevel {
	case "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg":
	default:
		return nil, fmt.Errorf("log_level has an invalid value: '%s' (debug, info, notice, warn, error, crit, alert, emerg)", c.LogLevel)
	}
	c.Database = props["database"]
	if c.Database != "off" {
		return nil, fmt.Errorf("database has an invalid value for kongsim: '%s' (the stand-in runs DB-less only: set database = off)", c.Database)
	}
	c.DeclarativeConfig = props["declarative_config"]
	if c.DeclarativeConfig != "" && !filepath.IsAbs(c.DeclarativeConfig) {
		c.DeclarativeConfig = filepath.Join(c.Prefix, c.DeclarativeConfig)
	}
	c.Plugins = splitList(props["plugins"])

	if c.ProxyListeners, err = parseListeners(props["proxy_listen"]); err != nil {
		return nil, fmt.Errorf("proxy_listen %w", err)
	}
	if c.AdminListeners, err = parseListeners(props["admin_listen"]); err != nil {
		return nil, fmt.Errorf("admin_listen %w", err)
	}
	c.ProxyAccessLog = c.logPath(props["proxy_access_log"])
	c.ProxyErrorLog = c.logPath(props["proxy_error_log"])
	c.AdminAccessLog = c.logPath(props["admin_access_log"])
	c.AdminErrorLog = c.logPath(props["admin_error_log"])
	for _, ls := range [][]Listener{c.ProxyListeners, c.AdminListeners} {
		if _, note, ok := firstPlain(ls); ok && note != "" {
			c.Notes = append(c.Notes, note)
		}
	}
	if c.ClientBodyBufferSize, err = parseSize(props["client_body_buffer_size"]); err != nil {
		return nil, fmt.Errorf("client_body_buffer_size: %w", err)
	}

	dir := opts.PluginServerDir
	if dir == "" {
		dir = "/usr/local/bin"
	}
	for _, name := range splitList(props["pluginserver_names"]) {
		name = strings.ToLower(name)
		key := "pluginserver_" + strings.ReplaceAll(name, "-", "_")
		ps := PluginServer{
			Name:     name,
			Socket:   props[key+"_socket"],
			StartCmd: props[key+"_start_cmd"],
			QueryCmd: props[key+"_query_cmd"],
		}
		if ps.Socket == "" {
			// Kong's default uses the name with dashes.
			ps.Socket = c.Prefix + "/" + name + ".socket"
		}
		defaultPath := filepath.Join(dir, name)
		_, statErr := os.Stat(defaultPath)
		exists := statErr == nil
		if ps.StartCmd == "" && exists {
			ps.StartCmd = defaultPath
		}
		if ps.QueryCmd == "" && exists {
			ps.QueryCmd = defaultPath + " -dump"
		}
		if ps.QueryCmd == "" {
			return nil, errors.New("query_command undefined for pluginserver " + name)
		}
		if ps.StartCmd == "" {
			c.Warnings = append(c.Warnings, "start_command undefined for pluginserver "+name+"; assuming external process management")
		}
		c.PluginServers = append(c.PluginServers, ps)
	}
	return c, nil
}

// logPath resolves a log property against the prefix, as Kong's prefix
// handler does for relative paths.
func (c *Config) logPath(v string) string {
	if v == "" || v == "off" || filepath.IsAbs(v) {
		return v
	}
	// A flag such as "basic" may follow the path.
	path, rest, _ := strings.Cut(v, " ")
	out := filepath.Join(c.Prefix, path)
	if rest != "" {
		out += " " + rest
	}
	return out
}

// parseSize reads nginx sizes: 8k, 10m, 1g, plain bytes.
func parseSize(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToLower(v[len(v)-1:]) {
	case "k":
		mult, v = 1024, v[:len(v)-1]
	case "m":
		mult, v = 1024*1024, v[:len(v)-1]
	case "g":
		mult, v = 1024*1024*1024, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	return n * mult, nil
}

var httpListenFlags = []*regexp.Regexp{
	regexp.MustCompile(`^ssl$`), regexp.MustCompile(`^http2$`), regexp.MustCompile(`^proxy_protocol$`),
	regexp.MustCompile(`^deferred$`), regexp.MustCompile(`^bind$`), regexp.MustCompile(`^reuseport$`),
	regexp.MustCompile(`^backlog=\d+$`), regexp.MustCompile(`^ipv6only=(on|off)$`),
	regexp.MustCompile(`^so_keepalive=(on|off)$`), regexp.MustCompile(`^so_keepalive=\w*:\w*:\d*$`),
}

const listenUsage = "must be of form: [off] | <ip>:<port> [ssl] [http2] [proxy_protocol] [deferred] [bind] [reuseport] [backlog=%d+] [ipv6only=on] [ipv6only=off] [so_keepalive=on] [so_keepalive=off] [so_keepalive=%w*:%w*:%d*], [... next entry ...]"

// parseListeners is Kong's parse_listeners for the http subsystem.
func parseListeners(v string) ([]Listener, error) {
	entries := splitList(v)
	if len(entries) == 0 {
		return nil, errors.New(listenUsage)
	}
	if entries[0] == "off" {
		return nil, nil
	}
	var out []Listener
	for _, entry := range entries {
		words := strings.Fields(entry)
		var addr []string
		l := Listener{}
		for _, w := range words {
			known := false
			for _, re := range httpListenFlags {
				if re.MatchString(w) {
					known = true
					break
				}
			}
			if !known {
				addr = append(addr, w)
				continue
			}
			switch w {
			case "ssl":
				l.SSL = true
			case "http2":
				l.HTTP2 = true
			}
			l.Flags = append(l.Flags, w)
		}
		if len(addr) != 1 {
			return nil, errors.New(listenUsage)
		}
		host, port, err := net.SplitHostPort(addr[0])
		if err != nil {
			return nil, errors.New(listenUsage)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, errors.New(listenUsage)
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		l.Host, l.Port = host, p
		var cleaned []string
		for _, f := range l.Flags {
			if f != "http2" {
				cleaned = append(cleaned, f)
			}
		}
		l.Listener = host + ":" + port
		if len(cleaned) > 0 {
			l.Listener += " " + strings.Join(cleaned, " ")
		}
		out = append(out, l)
	}
	return out, nil
}

// ProxyAddr is the address the stand-in's proxy binds: the first plain
// (non-ssl) proxy listener, moved to loopback (see LoopbackAddr). ok is
// false when proxy_listen is off or has only ssl entries.
func (c *Config) ProxyAddr() (addr string, note string, ok bool) {
	return firstPlain(c.ProxyListeners)
}

// AdminAddr is ProxyAddr for admin_listen.
func (c *Config) AdminAddr() (addr string, note string, ok bool) {
	return firstPlain(c.AdminListeners)
}

func firstPlain(ls []Listener) (string, string, bool) {
	for _, l := range ls {
		if l.SSL {
			continue
		}
		addr, note := LoopbackAddr(l.Host, l.Port)
		return addr, note, true
	}
	return "", "", false
}

// LoopbackAddr maps a listen host to loopback: the stand-in never binds
// beyond the machine. 0.0.0.0, * and any non-loopback address become
// 127.0.0.1 ([::] and IPv6 ones [::1]); note says what changed ("" if
// nothing did).
func LoopbackAddr(host string, port int) (string, string) {
	p := strconv.Itoa(port)
	bare := strings.Trim(host, "[]")
	if bare == "localhost" {
		return net.JoinHostPort(bare, p), ""
	}
	ip := net.ParseIP(bare)
	if ip != nil && ip.IsLoopback() {
		return net.JoinHostPort(bare, p), ""
	}
	target := "127.0.0.1"
	if ip != nil && ip.To4() == nil {
		target = "::1"
	}
	addr := net.JoinHostPort(target, p)
	return addr, fmt.Sprintf("kongsim binds loopback only: %s:%d is served on %s", host, port, addr)
}

// PluginServer returns the pluginserver entry named name (lower-cased).
func (c *Config) PluginServer(name string) (PluginServer, bool) {
	name = strings.ToLower(name)
	for _, ps := range c.PluginServers {
		if ps.Name == name {
			return ps, true
		}
	}
	return PluginServer{}, false
}

// EnabledPlugins expands "plugins" the way Kong does: "bundled" stands for
// the bundled plugins given, "off" (first) for none; the result is sorted
// and without duplicates.
func (c *Config) EnabledPlugins(bundled []string) []string {
	set := map[string]bool{}
	if len(c.Plugins) > 0 && c.Plugins[0] == "off" {
		return nil
	}
	for _, p := range c.Plugins {
		switch p {
		case "off":
		case "bundled":
			for _, b := range bundled {
				set[b] = true
			}
		default:
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
