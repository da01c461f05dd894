// Command ai-proxy-hf is the Kong plugin server for the ai-proxy-hf plugin:
// go-pdk's embedded server, plus a -dump that carries the full ai-proxy
// configuration schema (go-pdk's own dump reflects the Go struct and
// loses every default and validator).
//
// The plugin's name is the executable's base name: install the binary as
// "ai-proxy" and Kong knows the plugin as ai-proxy.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/Kong/go-pdk/server"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/relay"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Version is the plugin version Kong reads from -dump (x.y.z; Kong refuses
// anything else). Release builds may set it with
// -ldflags "-X main.Version=x.y.z".
var Version = "0.1.0"

// Priority is Kong's ai-proxy priority: the plugin runs where ai-proxy
// would.
const Priority = 770

// defaultKongPrefix is go-pdk's default for -kong-prefix.
const defaultKongPrefix = "/usr/local/kong"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, startServer))
}

// Environment variables of the relay and the metrics listener (Kong
// passes its environment to the plugin server); the flags of the same
// names win.
const (
	envRelay       = "AI_PROXY_HF_RELAY"        // "off": no relay, every request on the PDK path
	envRelayListen = "AI_PROXY_HF_RELAY_LISTEN" // loopback host:port, default 127.0.0.1:0 (a free port)
	envMetrics     = "AI_PROXY_HF_METRICS_LISTEN"
	envTimeout     = "AI_PROXY_HF_RELAY_TIMEOUT" // Go duration: the relay's wait for an upstream status line and between stream reads
)

// go-pdk parses flag.CommandLine itself in StartServer: the relay's flags
// must be known there too, or it exits on them.
func init() { relayFlags(flag.CommandLine, new(options)) }

// relayFlags defines the relay's flags on fs into o, defaults from the
// environment.
func relayFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.relayListen, "relay-listen", envOr(envRelayListen, "127.0.0.1:0"), "loopback host:port of the relay that carries streams and, with logging off, every request")
	fs.StringVar(&o.metricsListen, "metrics-listen", os.Getenv(envMetrics), "loopback host:port of /metrics (Prometheus) and /debug/pprof; empty: off")
	fs.BoolVar(&o.noRelay, "no-relay", os.Getenv(envRelay) == "off", "no relay: every request on the PDK path (streams then pass through untranslated)")
	fs.DurationVar(&o.relayTimeout, "relay-timeout", envDuration(envTimeout), "the relay's wait for an upstream's status line and between two reads of a stream (0: 60s); keep it under the services' read_timeout so that the relay, not Kong, answers a slow upstream")
}

// startServer starts the relay and the metrics listener, then go-pdk's
// server, which serves Kong until the process ends.
func startServer(o options) error {
	if !o.noRelay {
		reg := relay.NewRegistry()
		r := relay.New(relay.Options{Metrics: relay.NewMetrics(reg), HeaderTimeout: o.relayTimeout, IdleTimeout: o.relayTimeout})
		if err := r.Listen(o.relayListen); err != nil {
			return err
		}
		plugin.UseRelay(r)
		if o.metricsListen != "" {
			if _, err := relay.ServeMetrics(o.metricsListen, reg); err != nil {
				return err
			}
		}
	}
	return server.StartServer(plugin.New, Version, Priority)
}

// options are the command-line flags this binary answers itself. go-pdk
// registers -dump, -help and -kong-prefix on flag.CommandLine at init, so
// they are parsed here on a separate FlagSet, before StartServer.
type options struct {
	dump, help, version, fields bool
	kongPrefix                  string
	relayListen, metricsListen  string
	noRelay                     bool
	relayTimeout                time.Duration
}

// run handles -dump, -version, -help and -fields, and otherwise starts the
// plugin server. It returns the process exit status.
func run(args []string, stdout, stderr io.Writer, serve func(options) error) int {
	var o options
	fs := flag.NewFlagSet("ai-proxy-hf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.dump, "dump", false, "print the plugin's info and schema for Kong's query command, then exit")
	fs.BoolVar(&o.help, "help", false, "show this help, then exit")
	fs.BoolVar(&o.version, "version", false, "print the version, then exit")
	fs.BoolVar(&o.fields, "fields", false, "print the configuration reference (Markdown field table and cross-field rules), then exit")
	fs.StringVar(&o.kongPrefix, "kong-prefix", defaultKongPrefix, "Kong prefix path: the socket is <prefix>/<name>.socket")
	relayFlags(fs, &o)
	fs.Usage = func() { usage(fs, stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	name, err := pluginName()
	if err != nil {
		fmt.Fprintf(stderr, "ai-proxy-hf: %v\n", err)
		return 1
	}
	switch {
	case o.help:
		fs.SetOutput(stdout)
		usage(fs, stdout)
		return 0
	case o.version:
		fmt.Fprintf(stdout, "%s %s\n", name, Version)
		return 0
	case o.fields:
		fmt.Fprint(stdout, schema.MarkdownDoc())
		return 0
	case o.dump:
		out, err := dump(name, o.kongPrefix)
		if err != nil {
			fmt.Fprintf(stderr, "%s: dump: %v\n", name, err)
			return 1
		}
		stdout.Write(append(out, '\n'))
		return 0
	}
	if err := serve(o); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// envDuration reads a Go duration from the environment; 0 when unset or
// malformed (the relay's default then applies).
func envDuration(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name))
	return d
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func usage(fs *flag.FlagSet, w io.Writer) {
	name, _ := pluginName()
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", name)
	fmt.Fprintf(w, "Kong plugin server for the %s plugin (Kong ai-proxy config, provider huggingface), version %s.\n", name, Version)
	fmt.Fprintf(w, "Without flags other than -kong-prefix it serves Kong on <kong-prefix>/%s.socket.\n\n", name)
	fs.PrintDefaults()
}

// pluginName is the executable's base name, the way go-pdk names the
// plugin and its socket (symlinks resolved by os.Executable).
func pluginName() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locate executable: %w", err)
	}
	return path.Base(exe), nil
}

// pluginInfo is what Kong reads from Plugins[0] of the dump.
type pluginInfo struct {
	Name     string
	Version  string
	Priority int
	Phases   []string
	Schema   *schema.Schema
}

type serverInfo struct {
	Protocol   string
	SocketPath string
	Plugins    []pluginInfo
}

// dump renders the query command's answer: one JSON object.
func dump(name, kongPrefix string) ([]byte, error) {
	phases := plugin.Phases()
	if phases == nil {
		// Kong expects an array; a plugin with no handlers yet has none.
		phases = []string{}
	}
	return json.Marshal(serverInfo{
		Protocol:   "ProtoBuf:1",
		SocketPath: path.Join(kongPrefix, name+".socket"),
		Plugins: []pluginInfo{{
			Name:     name,
			Version:  Version,
			Priority: Priority,
			Phases:   phases,
			Schema:   schema.Definition(name),
		}},
	})
}
