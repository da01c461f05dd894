package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The plugin server's runtime figures come from its loopback metrics
// listener (cmd/ai-proxy-hf -metrics-listen): go_goroutines on /metrics,
// CPU profiles on /debug/pprof/profile.

// metricsFlag is the plugin server's flag for that listener.
const metricsFlag = "-metrics-listen"

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

// Goroutines reads the plugin server's goroutine count: go_goroutines on
// its /metrics.
func Goroutines(ctx context.Context, metricsURL string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL+"/metrics", nil)
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

// parseGoroutines finds the count in Prometheus text ("go_goroutines N")
// or in a pprof goroutine profile (debug=1: "goroutine profile: total N").
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
