// Command kongsim is the Kong Gateway stand-in of package internal/kongsim:
// it reads kong.conf and KONG_* variables like Kong, runs the configured
// plugin servers, loads the declarative config and serves the proxy and
// the Admin API on loopback.
//
//	kongsim -c kong/kong.conf
//	KONG_DECLARATIVE_CONFIG=kong/kong.yaml KONG_PLUGINS=bundled,ai-proxy-hf ... kongsim
//
// It prints one line, "kongsim ready proxy=ADDR admin=ADDR plugins=...",
// once it serves, and stops on SIGINT or SIGTERM. GET /kongsim/stats on the
// admin listener shows the PDK call counters.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
)

func main() {
	err := run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kongsim:", err)
		os.Exit(1)
	}
}

// run starts the stand-in and serves until a signal (or stop, in tests).
func run(args, environ []string, stdout, stderr io.Writer, stop <-chan struct{}) error {
	fs := flag.NewFlagSet("kongsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		conf     = fs.String("c", "", "kong.conf file (settings can also come from KONG_* variables)")
		prefix   = fs.String("p", "", "prefix directory (same as KONG_PREFIX)")
		noWait   = fs.Bool("no-wait", false, "do not wait for plugin server sockets before serving (Kong does not wait)")
		startTO  = fs.Duration("start-timeout", 10*time.Second, "how long to wait for plugin server sockets")
		pluginTO = fs.Duration("plugin-timeout", 60*time.Second, "plugin socket connect/read/send timeout (lua_socket_*_timeout)")
		retries  = fs.Int("max-event-retries", 5, "cap on Kong's endless retry of events whose plugin connection closed")
		version  = fs.String("kong-version", kongsim.DefaultKongVersion, "Kong version shown in Server and Via headers")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kongsim [-c kong.conf] [-p prefix] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *prefix != "" {
		environ = append(environ, "KONG_PREFIX="+*prefix)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	k, err := kongsim.Start(ctx, kongsim.Options{
		ConfPath:         *conf,
		Environ:          environ,
		Stderr:           stderr,
		NoWaitForSockets: *noWait,
		StartTimeout:     *startTO,
		PluginTimeout:    *pluginTO,
		MaxEventRetries:  *retries,
		KongVersion:      *version,
	})
	if err != nil {
		return err
	}
	defer k.Close()
	fmt.Fprintln(stdout, k.ReadyLine())
	select {
	case <-ctx.Done():
	case <-stop:
	}
	return nil
}
