package loadtest

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"median of an odd count", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"median of an even count is the lower middle (nearest rank)", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the maximum", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of ten values is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"a tiny p is the minimum", ms(4, 5, 6), 0.001, 4 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Percentile(tc.in, tc.p))
		})
	}
}

func TestRecorderMergesRounds(t *testing.T) {
	var r Recorder
	r.Add(Result{Latencies: []time.Duration{5, 1, 3}, Elapsed: time.Second})
	r.Add(Result{Latencies: []time.Duration{4, 2}, Errors: 2, Elapsed: time.Second, FirstError: "status 500"})
	r.Add(Result{Errors: 1, FirstError: "later"})
	s := r.Summary()
	require.Equal(t, 5, s.Requests)
	require.Equal(t, 3, s.Errors)
	require.Equal(t, time.Duration(3), s.P50)
	require.Equal(t, time.Duration(5), s.P99)
	require.Equal(t, 2*time.Second, s.Elapsed)
	require.InDelta(t, 2.5, s.RPS(), 1e-9)
	require.Equal(t, "status 500", s.FirstError, "the first failure is kept")
	require.True(t, slices.IsSorted(r.lat))
}

func TestSummaryRPSWithoutTime(t *testing.T) {
	require.Zero(t, Summary{Requests: 3}.RPS())
	require.Zero(t, Cell{With: Summary{Requests: 3, Elapsed: time.Second}}.RPSRatio(), "no plain figure: no ratio")
}

// lastLine is the format `make load` promises for its final line.
var lastLine = regexp.MustCompile(`^added p50 -?\d+\.\d{3} ms p99 -?\d+\.\d{3} ms at c=\d+; rps ratio \d+\.\d{2}$`)

func TestLastLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		cell Cell
		want string
	}{
		{"slower with the plugin", Cell{
			Concurrency: 16,
			Without:     Summary{Requests: 2000, Elapsed: time.Second, P50: 5464 * time.Microsecond, P99: 24297 * time.Microsecond},
			With:        Summary{Requests: 700, Elapsed: time.Second, P50: 17127 * time.Microsecond, P99: 68484 * time.Microsecond},
		}, "added p50 11.663 ms p99 44.187 ms at c=16; rps ratio 0.35"},
		{"within the noise: negative", Cell{
			Concurrency: 16,
			Without:     Summary{Requests: 1000, Elapsed: time.Second, P50: 1200 * time.Microsecond, P99: 3 * time.Millisecond},
			With:        Summary{Requests: 1010, Elapsed: time.Second, P50: 1150 * time.Microsecond, P99: 3 * time.Millisecond},
		}, "added p50 -0.050 ms p99 0.000 ms at c=16; rps ratio 1.01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := LastLine(tc.cell)
			require.Equal(t, tc.want, got)
			require.Regexp(t, lastLine, got)
		})
	}
}

func TestHeadlineIsBufferedAtTheHighestConcurrency(t *testing.T) {
	cells := []Cell{
		{Case: "buffered chat 2 KiB", Concurrency: 1},
		{Case: "buffered chat 2 KiB", Concurrency: 16, PDKCallsPerRequest: 11},
		{Case: "streamed chat 2 KiB", Concurrency: 32},
	}
	got, ok := Headline(cells)
	require.True(t, ok)
	require.Equal(t, 16, got.Concurrency)
	require.Equal(t, "buffered chat 2 KiB", got.Case)
	_, ok = Headline(cells[2:])
	require.False(t, ok)
}
