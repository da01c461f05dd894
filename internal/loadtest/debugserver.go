package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Kong/go-pdk/server"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin"
)

// The plugin server's runtime figures (goroutines, CPU profile) are read
// from a net/http/pprof listener on loopback. ServePlugin is the plugin
// server with that listener: the product's handlers (plugin.New) under
// go-pdk's embedded server, as cmd/ai-proxy-hf runs them, plus
// /debug/pprof/ on debugAddr. It runs as `loadtest plugin-server`, which the
// rig starts as the plugin server's start command; the info and schema Kong
// reads still come from the real binary's -dump (the query command), so
// the version and priority here only fill go-pdk's own info call.
func ServePlugin(debugAddr, kongPrefix string) error {
	if err := loopbackOnly(debugAddr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", debugAddr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go func() { _ = http.Serve(ln, mux) }()
	// go-pdk reads -kong-prefix from the process's own command line.
	os.Args = []string{os.Args[0], "-kong-prefix", kongPrefix}
	return server.StartServer(plugin.New, "0.1.0", 770)
}

func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("debug address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("debug address %q is not loopback", addr)
	}
	return nil
}

// freeLoopbackAddr picks a free port on 127.0.0.1 for a child to listen
// on (closed again at once: the child binds it moments later).
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Goroutines reads the plugin server's goroutine count from its debug
// listener: the "goroutine profile: total N" line of
// /debug/pprof/goroutine?debug=1.
func Goroutines(ctx context.Context, debugURL string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, debugURL+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("goroutine count: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("goroutine count: status %d", res.StatusCode)
	}
	return parseGoroutines(res.Body)
}

var errNoGoroutineCount = errors.New("no goroutine count in the answer")

// parseGoroutines finds the count in a pprof goroutine profile (debug=1:
// "goroutine profile: total N") or in Prometheus text ("go_goroutines N").
func parseGoroutines(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		v, ok := strings.CutPrefix(l, "goroutine profile: total ")
		if !ok {
			v, ok = strings.CutPrefix(l, "go_goroutines ")
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("goroutine count %q: %w", l, errNoGoroutineCount)
		}
		return int(f), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errNoGoroutineCount
}
