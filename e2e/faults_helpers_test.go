package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// outcome is how one request of a fault test ended, as the client saw it.
type outcome struct {
	status int    // 0 when no answer arrived
	body   []byte // what arrived (capped)
	err    error  // transport or read error
	took   time.Duration
}

// timedOut reports whether the client gave up waiting: a hang.
func (o outcome) timedOut() bool {
	var ne interface{ Timeout() bool }
	return o.err != nil && (errors.Is(o.err, context.DeadlineExceeded) || (errors.As(o.err, &ne) && ne.Timeout()))
}

func (o outcome) String() string {
	return fmt.Sprintf("status %d after %v, err %v, body %.200s", o.status, o.took.Round(time.Millisecond), o.err, o.body)
}

// sendBounded sends one request with a client timeout and reads at most
// maxBody bytes of the answer (the rest is drained and counted, never
// held): what a client with a deadline sees.
func (r *rig) sendBounded(path, body string, headers map[string]string, timeout time.Duration) outcome {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.k.ProxyURL()+path, strings.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return outcome{err: err, took: time.Since(start)}
	}
	defer res.Body.Close()
	const maxBody = 64 << 10
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
	}
	keep(b)
	return outcome{status: res.StatusCode, body: b, err: err, took: time.Since(start)}
}

// eventually polls a good chat request until it is answered 200 or the
// bound passes, and returns how many tries it took. Fault tests assert
// recovery this way, never its speed (the machine is slow and shared).
func (r *rig) eventually(t *testing.T, path string, bound time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(bound)
	var last outcome
	for i := 1; ; i++ {
		last = r.sendBounded(path, chatBody("are you back?"), id(t, "#"+strconv.Itoa(i)), 10*time.Second)
		if last.status == http.StatusOK {
			return i
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful request within %v; last: %v", bound, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rssSampler samples a process's resident set (VmRSS) until stopped and
// keeps the largest value: a process's memory while a fault lasts.
type rssSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := vmRSS(pid); v > 0 {
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Peak stops the sampler and returns the largest RSS seen, in bytes.
func (s *rssSampler) Peak() int64 {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// vmRSS is a process's current resident set from /proc/<pid>/status, in
// bytes; 0 when the process is gone.
func vmRSS(pid int) int64 {
	b, err := procStatusBytes(pid, "VmRSS")
	if err != nil {
		return 0
	}
	return b
}
