package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ProfileCPU drives the rig's plugin side with req at concurrency workers
// while it takes a CPU profile of the plugin server (its metrics listener's
// /debug/pprof/profile) for dur, and writes the profile to w. The driver
// starts a moment before the profile and stops a moment after it, so the
// profile covers load only.
func ProfileCPU(ctx context.Context, r *Rig, req *Request, concurrency int, dur time.Duration, w io.Writer) (Result, error) {
	if r.MetricsURL == "" {
		return Result{}, fmt.Errorf("profile: the rig has no metrics listener (RigOptions.Metrics)")
	}
	secs := max(int(dur.Round(time.Second)/time.Second), 1)
	lead := 500 * time.Millisecond
	done := make(chan Result, 1)
	go func() {
		done <- Drive(ctx, NewClient(concurrency), r.Plugin.ProxyURL, req, concurrency, lead, time.Duration(secs)*time.Second+lead)
	}()
	time.Sleep(lead)
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", r.MetricsURL, secs), nil)
	if err != nil {
		return <-done, err
	}
	res, err := (&http.Client{Timeout: time.Duration(secs)*time.Second + 30*time.Second}).Do(hr)
	if err != nil {
		return <-done, fmt.Errorf("profile: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return <-done, fmt.Errorf("profile: status %d: %s", res.StatusCode, b)
	}
	if _, err := io.Copy(w, res.Body); err != nil {
		return <-done, fmt.Errorf("profile: %w", err)
	}
	return <-done, nil
}
