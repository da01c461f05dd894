package loadtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func samples(rss ...int64) []Sample {
	out := make([]Sample, len(rss))
	for i, r := range rss {
		out[i] = Sample{RSSKiB: r, Goroutines: 20}
	}
	return out
}

func TestRSSGrowth(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rss      []int64
		from, to int64
		ok       bool
	}{
		{"flat", []int64{100, 100, 100, 100, 100, 100}, 100, 100, true},
		{"medians of three at each end", []int64{90, 200, 100, 500, 120, 130, 125}, 100, 125, true},
		{"one spike at the end does not decide", []int64{100, 100, 100, 100, 400, 100}, 100, 100, true},
		{"two samples: first against last", []int64{100, 150}, 100, 150, true},
		{"one sample is not enough", []int64{100}, 0, 0, false},
		{"no RSS read", []int64{0, 0, 0, 0}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to, _, ok := SoakReport{Samples: samples(tc.rss...)}.RSSGrowth()
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.from, from)
				require.Equal(t, tc.to, to)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	o := DefaultSoakOptions()
	good := SoakReport{Requests: 100, Samples: samples(1000, 1010, 1000, 1100, 1150, 1190), IdleAfterWarmup: 20, IdleAfter: 22}
	for _, tc := range []struct {
		name string
		edit func(*SoakReport)
		want []string // substrings of the error; none: passes
	}{
		{"steady", func(*SoakReport) {}, nil},
		{"19% growth passes", func(r *SoakReport) { r.Samples = samples(1000, 1000, 1000, 1190, 1190, 1190) }, nil},
		{"RSS grows 21%", func(r *SoakReport) { r.Samples = samples(1000, 1000, 1000, 1210, 1210, 1210) },
			[]string{"RSS grew 21% after warm-up (1000 → 1210 KiB; limit 20%)"}},
		{"goroutines within the slack", func(r *SoakReport) { r.IdleAfter = r.IdleAfterWarmup + o.GoroutineSlack }, nil},
		{"goroutine leak", func(r *SoakReport) { r.IdleAfter = 20 + o.GoroutineSlack + 1 },
			[]string{"goroutine leak: 29 goroutines idle after the soak, 20 after warm-up"}},
		{"no goroutine count", func(r *SoakReport) { r.IdleAfter = -1 }, []string{"no goroutine count"}},
		{"a failed request", func(r *SoakReport) { r.Errors, r.FirstError = 1, "buffered chat: status 502" },
			[]string{"1 of 101 requests failed; the first: buffered chat: status 502"}},
		{"restarted", func(r *SoakReport) { r.Restarts = 1 }, []string{"restarted 1 time(s)"}},
		{"too short", func(r *SoakReport) { r.Samples = samples(1000) }, []string{"too few to judge"}},
		{"every fault is named", func(r *SoakReport) {
			r.Errors, r.Restarts, r.IdleAfter = 3, 2, 100
			r.Samples = samples(1000, 1000, 1000, 2000, 2000, 2000)
		}, []string{"3 of 103 requests failed", "restarted 2", "RSS grew 100%", "goroutine leak"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			r.Samples = append([]Sample(nil), good.Samples...)
			tc.edit(&r)
			err := r.Judge(o)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int
		err  bool
	}{
		{"pprof debug=1", "goroutine profile: total 22\n5 @ 0x43e 0x40a\n#\t0x43e\truntime.gopark\n", 22, false},
		{"prometheus", "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines 37\ngo_threads 9\n", 37, false},
		{"prometheus float", "go_goroutines 1.2e+01\n", 12, false},
		{"neither", "go_threads 9\n", 0, true},
		{"garbage count", "goroutine profile: total many\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGoroutines(strings.NewReader(tc.in))
			if tc.err {
				require.ErrorIs(t, err, errNoGoroutineCount)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
