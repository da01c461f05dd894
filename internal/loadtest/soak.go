package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SoakOptions shape a soak.
type SoakOptions struct {
	Requests    int           // in all, warm-up included (100,000)
	Warmup      int           // the first requests, before the baselines (10%)
	Concurrency int           // closed-loop workers (16)
	MaxTime     time.Duration // the whole soak must end within it (5 min)
	Interval    time.Duration // between two samples (1 s)
	// MaxRSSGrowth is the allowed growth of the plugin server's RSS from
	// the start of the measured part to its end (0.20).
	MaxRSSGrowth float64
	// GoroutineSlack is how many goroutines above the idle count after
	// warm-up the idle count after the soak may be (pooled plugin socket
	// connections come and go with the stand-in's keepalive pool).
	GoroutineSlack int
	// Settle bounds the wait for the goroutine count to come back down
	// once the load stops.
	Settle   time.Duration
	Progress io.Writer // one line per sample (nil: none)
}

// DefaultSoakOptions is `make soak`.
func DefaultSoakOptions() SoakOptions {
	return SoakOptions{
		Requests: 100_000, Warmup: 10_000, Concurrency: 16, MaxTime: 5 * time.Minute,
		Interval: time.Second, MaxRSSGrowth: 0.20, GoroutineSlack: 8, Settle: 5 * time.Second,
	}
}

// Sample is one reading of the plugin server.
type Sample struct {
	At         time.Duration // since the soak began
	Done       int           // requests answered so far
	RSSKiB     int64
	Threads    int
	Goroutines int // -1 when the metrics listener did not answer
}

// SoakReport is what a soak saw.
type SoakReport struct {
	Requests, Errors int
	FirstError       string
	Elapsed          time.Duration
	// Samples taken while the measured part (after warm-up) ran.
	Samples []Sample
	// IdleAfterWarmup and IdleAfter are the goroutine counts with no
	// request in flight, after warm-up and after the soak (the lowest seen
	// while settling).
	IdleAfterWarmup, IdleAfter int
	// PluginPID and Restarts: the server must be the same process at the end.
	PluginPID, Restarts int
}

// RSSWindow is how many samples at each end of the measured part are
// compared (their medians, so that one reading taken just before a
// garbage collection does not decide).
const RSSWindow = 3

// RSSGrowth compares the median RSS of the last RSSWindow samples with that
// of the first RSSWindow; ok is false with fewer than two samples.
func (r SoakReport) RSSGrowth() (from, to int64, growth float64, ok bool) {
	n := len(r.Samples)
	if n < 2 {
		return 0, 0, 0, false
	}
	k := min(RSSWindow, n/2)
	median := func(s []Sample) int64 {
		v := make([]int64, len(s))
		for i, x := range s {
			v[i] = x.RSSKiB
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	from, to = median(r.Samples[:k]), median(r.Samples[n-k:])
	if from <= 0 {
		return from, to, 0, false
	}
	return from, to, float64(to-from) / float64(from), true
}

// Judge says whether the soak passed: every request answered and checked,
// the plugin server never restarted, its RSS grew at most MaxRSSGrowth, and
// its goroutines came back to the idle count after warm-up (plus slack).
func (r SoakReport) Judge(o SoakOptions) error {
	var errs []error
	if r.Errors > 0 {
		errs = append(errs, fmt.Errorf("%d of %d requests failed; the first: %s", r.Errors, r.Requests+r.Errors, r.FirstError))
	}
	if r.Restarts > 0 {
		errs = append(errs, fmt.Errorf("the plugin server was restarted %d time(s)", r.Restarts))
	}
	from, to, g, ok := r.RSSGrowth()
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("%d RSS samples after warm-up: too few to judge growth (more requests, or a shorter interval)", len(r.Samples)))
	case g > o.MaxRSSGrowth:
		errs = append(errs, fmt.Errorf("plugin server RSS grew %.0f%% after warm-up (%d → %d KiB; limit %.0f%%)", g*100, from, to, o.MaxRSSGrowth*100))
	}
	switch {
	case r.IdleAfterWarmup < 0 || r.IdleAfter < 0:
		errs = append(errs, errors.New("no goroutine count from the plugin server's metrics listener"))
	case r.IdleAfter > r.IdleAfterWarmup+o.GoroutineSlack:
		errs = append(errs, fmt.Errorf("goroutine leak: %d goroutines idle after the soak, %d after warm-up (slack %d)", r.IdleAfter, r.IdleAfterWarmup, o.GoroutineSlack))
	}
	return errors.Join(errs...)
}

// SoakRequests alternate a buffered and a streamed 2 KiB chat.
func SoakRequests() []*Request { return Cases() }

// RunSoak sends o.Requests requests through the rig's plugin stand-in and
// samples the plugin server every o.Interval. The rig needs a MetricsURL.
func RunSoak(ctx context.Context, r *Rig, o SoakOptions) (SoakReport, error) {
	var rep SoakReport
	if r.MetricsURL == "" {
		return rep, errors.New("soak: the rig has no metrics listener (RigOptions.Metrics)")
	}
	ctx, cancel := context.WithTimeout(ctx, o.MaxTime)
	defer cancel()
	start := time.Now()
	pid, err := r.Plugin.PluginPID()
	if err != nil {
		return rep, err
	}
	rep.PluginPID = pid
	before, err := r.Plugin.Stats(ctx)
	if err != nil {
		return rep, err
	}
	client := NewClient(o.Concurrency)
	defer client.CloseIdleConnections()
	reqs := SoakRequests()
	var done atomic.Int64
	run := func(n int) {
		res := sendN(ctx, client, r.Plugin.ProxyURL, reqs, o.Concurrency, n, &done)
		rep.Requests += res.ok
		rep.Errors += res.errors
		if rep.FirstError == "" {
			rep.FirstError = res.firstError
		}
	}
	sample := func() Sample {
		s := Sample{At: time.Since(start), Done: int(done.Load()), Goroutines: -1}
		if st, err := ReadProcStatus(pid); err == nil {
			s.RSSKiB, s.Threads = st.RSSKiB, st.Threads
		}
		if g, err := Goroutines(ctx, r.MetricsURL); err == nil {
			s.Goroutines = g
		}
		return s
	}
	report := func(s Sample) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "%6.1fs %7d/%d requests  rss %7d KiB  goroutines %4d  threads %3d\n",
				s.At.Seconds(), s.Done, o.Requests, s.RSSKiB, s.Goroutines, s.Threads)
		}
	}

	run(o.Warmup)
	rep.IdleAfterWarmup = settledGoroutines(ctx, r.MetricsURL, -1, o.Settle)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				s := sample()
				rep.Samples = append(rep.Samples, s)
				report(s)
			}
		}
	})
	run(o.Requests - o.Warmup)
	close(stop)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("soak: %d of %d requests in %s: %w", done.Load(), o.Requests, o.MaxTime, err)
	}
	rep.IdleAfter = settledGoroutines(context.Background(), r.MetricsURL, rep.IdleAfterWarmup+o.GoroutineSlack, o.Settle)

	after, err := r.Plugin.Stats(context.Background())
	if err != nil {
		return rep, err
	}
	rep.Restarts = after.Spawns - before.Spawns
	if now, err := r.Plugin.PluginPID(); err != nil || now != pid {
		rep.Restarts = max(rep.Restarts, 1)
	}
	return rep, nil
}

// settledGoroutines polls the goroutine count for up to settle once the
// load has stopped (the stand-in's log timers end, pooled connections
// close) and returns the lowest seen; it returns early once the count is at
// or below target (target < 0: take readings for the whole settle time,
// or until two agree). -1 when the listener never answered.
func settledGoroutines(ctx context.Context, metricsURL string, target int, settle time.Duration) int {
	lowest, prev := -1, -1
	deadline := time.Now().Add(settle)
	for {
		if g, err := Goroutines(ctx, metricsURL); err == nil {
			if lowest < 0 || g < lowest {
				lowest = g
			}
			if target >= 0 && g <= target {
				return g
			}
			if target < 0 && g == prev {
				return lowest
			}
			prev = g
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return lowest
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type sendResult struct {
	ok, errors int
	firstError string
}

// sendN sends n requests with concurrency workers (closed loop), request
// i being reqs[i % len(reqs)], and adds each answer to done.
func sendN(ctx context.Context, client *http.Client, base string, reqs []*Request, concurrency, n int, done *atomic.Int64) sendResult {
	var next atomic.Int64
	var mu sync.Mutex
	var res sendResult
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, err := Send(ctx, client, base, reqs[i%len(reqs)], &buf)
				done.Add(1)
				mu.Lock()
				if err != nil {
					res.errors++
					if res.firstError == "" {
						res.firstError = err.Error()
					}
				} else {
					res.ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res
}
