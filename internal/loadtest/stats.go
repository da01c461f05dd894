package loadtest

import (
	"math"
	"slices"
	"time"
)

// Summary is what one side of one cell measured.
type Summary struct {
	Requests int           // requests answered and checked
	Errors   int           // requests that failed (transport, status, body)
	Elapsed  time.Duration // measured wall time (warm-up excluded)
	P50, P99 time.Duration
	// FirstError is the first failure, kept to say why.
	FirstError string
}

// RPS is the throughput: answered requests per second of measured time.
func (s Summary) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted: the smallest value with at least p% of the values at or below it.
// It is 0 for no values. Nearest rank, not interpolation: the figure is a
// latency some request really had.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Recorder collects the latencies of one side of a cell across its rounds.
type Recorder struct {
	lat        []time.Duration
	errors     int
	elapsed    time.Duration
	firstError string
}

// Add merges one round's result.
func (r *Recorder) Add(res Result) {
	r.lat = append(r.lat, res.Latencies...)
	r.errors += res.Errors
	r.elapsed += res.Elapsed
	if r.firstError == "" {
		r.firstError = res.FirstError
	}
}

// Summary sorts what was collected and computes the percentiles.
func (r *Recorder) Summary() Summary {
	slices.Sort(r.lat)
	return Summary{
		Requests:   len(r.lat),
		Errors:     r.errors,
		Elapsed:    r.elapsed,
		P50:        Percentile(r.lat, 50),
		P99:        Percentile(r.lat, 99),
		FirstError: r.firstError,
	}
}
