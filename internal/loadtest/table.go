package loadtest

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Cell is one load shape measured on both sides: without the plugin (a
// plain proxy route) and with it.
type Cell struct {
	Case        string // "buffered chat 2 KiB", "streamed chat"
	Concurrency int
	Without     Summary
	With        Summary
	// PDKCallsPerRequest is what the stand-in counted on the plugin side
	// (warm-up included): PDK calls over requests.
	PDKCallsPerRequest float64
	// WithoutCPU and WithCPU are each side's CPU per request by process.
	WithoutCPU, WithCPU CPUPerRequest
}

// AddedP50 is what the plugin adds to the median latency.
func (c Cell) AddedP50() time.Duration { return c.With.P50 - c.Without.P50 }

// AddedP99 is what the plugin adds to the 99th percentile.
func (c Cell) AddedP99() time.Duration { return c.With.P99 - c.Without.P99 }

// RPSRatio is the throughput with the plugin over the throughput without
// (1 = the plugin costs nothing; 0 when the plain side measured nothing).
func (c Cell) RPSRatio() float64 {
	if c.Without.RPS() == 0 {
		return 0
	}
	return c.With.RPS() / c.Without.RPS()
}

// Failed is the number of failed requests on both sides.
func (c Cell) Failed() int { return c.Without.Errors + c.With.Errors }

// ms renders a duration in milliseconds with three decimals (µs
// resolution: the goal is stated in fractions of a millisecond).
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

var tableHeader = []string{
	"case", "c",
	"p50 without", "p99 without", "rps without",
	"p50 with", "p99 with", "rps with",
	"added p50", "added p99", "rps ratio", "pdk calls/req", "failed",
}

// WriteTable writes the cells as a Markdown table (it reads as well in a
// terminal as in the README), latencies in ms, columns padded to align.
func WriteTable(w io.Writer, cells []Cell) error {
	rows := [][]string{tableHeader}
	for _, c := range cells {
		rows = append(rows, []string{
			c.Case, fmt.Sprint(c.Concurrency),
			ms(c.Without.P50), ms(c.Without.P99), fmt.Sprintf("%.0f", c.Without.RPS()),
			ms(c.With.P50), ms(c.With.P99), fmt.Sprintf("%.0f", c.With.RPS()),
			signed(c.AddedP50()), signed(c.AddedP99()), fmt.Sprintf("%.2f", c.RPSRatio()),
			fmt.Sprintf("%.1f", c.PDKCallsPerRequest), fmt.Sprint(c.Failed()),
		})
	}
	return writeMarkdown(w, rows)
}

// writeMarkdown writes rows (the first is the header) as a Markdown table,
// columns padded to align: text left, figures right.
func writeMarkdown(w io.Writer, rows [][]string) error {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, v := range r {
			width[i] = max(width[i], len(v))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		b.WriteString("|")
		for i, v := range r {
			if i == 0 {
				fmt.Fprintf(&b, " %-*s |", width[i], v)
			} else {
				fmt.Fprintf(&b, " %*s |", width[i], v)
			}
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
		if i > 0 {
			sep[i] = sep[i][:n-1] + ":"
		}
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// signed is ms with an explicit sign: an added latency can be negative
// when the difference is within the noise.
func signed(d time.Duration) string {
	if d >= 0 {
		return "+" + ms(d)
	}
	return ms(d)
}

// LastLine is the summary `make load` ends with, for the buffered chat at
// the highest concurrency: "added p50 <ms> ms p99 <ms> ms at c=16; rps
// ratio <with/without>".
func LastLine(c Cell) string {
	return fmt.Sprintf("added p50 %s ms p99 %s ms at c=%d; rps ratio %.2f",
		ms(c.AddedP50()), ms(c.AddedP99()), c.Concurrency, c.RPSRatio())
}

var cpuHeader = []string{
	"case", "c",
	"kongsim without", "hfsim without", "driver without",
	"kongsim with", "plugin server with", "hfsim with", "driver with",
	"added (servers)",
}

// WriteCPUTable writes each side's CPU per request by process (µs), and
// what the plugin adds to the servers' total (kongsim + plugin server +
// hfsim), as a Markdown table.
func WriteCPUTable(w io.Writer, cells []Cell) error {
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }
	rows := [][]string{cpuHeader}
	for _, c := range cells {
		rows = append(rows, []string{
			c.Case, fmt.Sprint(c.Concurrency),
			us(c.WithoutCPU.Gateway), us(c.WithoutCPU.Upstream), us(c.WithoutCPU.Client),
			us(c.WithCPU.Gateway), us(c.WithCPU.PluginServer), us(c.WithCPU.Upstream), us(c.WithCPU.Client),
			fmt.Sprintf("%+.0f", float64(c.WithCPU.Servers()-c.WithoutCPU.Servers())/float64(time.Microsecond)),
		})
	}
	return writeMarkdown(w, rows)
}
