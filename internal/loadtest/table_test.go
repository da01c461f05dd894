package loadtest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func summary(n int, p50, p99 time.Duration, errs int) Summary {
	return Summary{Requests: n, Errors: errs, Elapsed: 2 * time.Second, P50: p50, P99: p99}
}

func TestWriteTableGolden(t *testing.T) {
	us := time.Microsecond
	cells := []Cell{
		{Case: "buffered chat 2 KiB", Concurrency: 1, Without: summary(2940, 564*us, 3496*us, 0), With: summary(1060, 1559*us, 6738*us, 0), PDKCallsPerRequest: 11},
		{Case: "buffered chat 2 KiB", Concurrency: 16, Without: summary(4772, 5464*us, 24297*us, 0), With: summary(1676, 17127*us, 68484*us, 2), PDKCallsPerRequest: 11.04},
		{Case: "streamed chat 2 KiB", Concurrency: 16, Without: summary(3050, 8410*us, 45351*us, 0), With: summary(1674, 7706*us, 44307*us, 0), PDKCallsPerRequest: 9},
	}
	var b strings.Builder
	require.NoError(t, WriteTable(&b, cells))
	golden := filepath.Join("testdata", "table.golden.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())

	// Every row has the header's columns, so the table renders as Markdown.
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 2+len(cells))
	for _, l := range lines {
		require.Equal(t, len(tableHeader)+1, strings.Count(l, "|"), "line %q", l)
	}
}

func TestWriteCPUTableGolden(t *testing.T) {
	us := time.Microsecond
	cells := []Cell{
		{Case: "buffered chat 2 KiB", Concurrency: 1,
			WithoutCPU: CPUPerRequest{Gateway: 210 * us, Upstream: 95 * us, Client: 80 * us},
			WithCPU:    CPUPerRequest{Gateway: 520 * us, PluginServer: 240 * us, Upstream: 98 * us, Client: 82 * us}},
		{Case: "streamed chat 2 KiB", Concurrency: 16,
			WithoutCPU: CPUPerRequest{Gateway: 300 * us, Upstream: 150 * us, Client: 90 * us},
			WithCPU:    CPUPerRequest{Gateway: 280 * us, PluginServer: 0, Upstream: 140 * us, Client: 90 * us}},
	}
	var b strings.Builder
	require.NoError(t, WriteCPUTable(&b, cells))
	golden := filepath.Join("testdata", "cpu_table.golden.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())
	require.Contains(t, b.String(), " +553 |\n", "added = (520+240+98) - (210+95)")
	require.Contains(t, b.String(), " -30 |\n", "a side that costs less shows a negative difference")
}

func TestCPUTallyPerRequest(t *testing.T) {
	var tally cpuTally
	require.Equal(t, CPUPerRequest{}, tally.perRequest(), "no request: nothing, not a division by zero")
	tally.used = CPUPerRequest{Gateway: time.Second, PluginServer: 500 * time.Millisecond, Upstream: 250 * time.Millisecond}
	tally.requests = 1000
	got := tally.perRequest()
	require.Equal(t, CPUPerRequest{Gateway: time.Millisecond, PluginServer: 500 * time.Microsecond, Upstream: 250 * time.Microsecond}, got)
	require.Equal(t, 1750*time.Microsecond, got.Servers())
}
