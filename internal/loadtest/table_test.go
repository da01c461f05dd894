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
