package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binDir holds hfsim, kongsim and ai-proxy-hf, built once for the tests.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "loadtest-bin-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-o", dir+"/", "../hfsim", "../kongsim", "../ai-proxy-hf")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building the binaries: " + err.Error())
	}
	binDir = dir
	return m.Run()
}

var (
	lastLineRE = regexp.MustCompile(`^added p50 -?\d+\.\d{3} ms p99 -?\d+\.\d{3} ms at c=16; rps ratio \d+\.\d{2}$`)
	rowRE      = regexp.MustCompile(`^\| (buffered|streamed) chat 2 KiB +\| +(1|16) \|`)
)

// needLoadStep skips the short load and soak unless make test's load-short
// step runs them: alone, after the suite, since they keep both cores busy.
func needLoadStep(t *testing.T) {
	t.Helper()
	if os.Getenv("AI_PROXY_HF_LOAD_TESTS") == "" {
		t.Skip("run by make load-short (part of make test) on its own: it keeps both cores busy")
	}
}

// A short `make load` with a CPU profile first: the profile's top items,
// every cell measured on both sides, a table of four rows in which no
// request failed, and the promised last line. The figures themselves are
// not asserted (the machine is shared).
func TestLoadShort(t *testing.T) {
	needLoadStep(t)
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	err := run(ctx, []string{"load", "-bin", binDir, "-duration", "800ms", "-warmup", "100ms", "-rounds", "2",
		"-cpuprofile", prof, "-profile-time", "1s"}, &out, &errOut)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	st, err := os.Stat(prof)
	require.NoError(t, err)
	require.Positive(t, st.Size())
	require.Regexp(t, `(?m)^CPU profile of the plugin server, buffered chat 2 KiB at c=16 for 1s \([1-9]\d* requests\)`, out.String())
	require.Regexp(t, `(?m)^ +flat +flat% +sum% +cum +cum%$`, out.String(), "go tool pprof -top output")

	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	require.Regexp(t, lastLineRE, lines[len(lines)-1], "the last line")
	var rows, cpuRows []string
	inCPU := false
	for _, l := range lines {
		inCPU = inCPU || strings.HasPrefix(l, "CPU per request by process")
		switch {
		case !rowRE.MatchString(l):
		case inCPU:
			cpuRows = append(cpuRows, l)
		default:
			rows = append(rows, l)
		}
	}
	require.Len(t, rows, 4, "one row per case and concurrency:\n%s", out.String())
	require.Len(t, cpuRows, 4, "a CPU row per case and concurrency:\n%s", out.String())
	for _, r := range cpuRows {
		cols := strings.Split(strings.Trim(r, "| "), "|")
		require.Len(t, cols, 10, r)
		// The plugin server worked on the plugin side (the count is in
		// 10 ms ticks over all the cell's requests: never 0 for hundreds).
		require.NotEqual(t, "0", strings.TrimSpace(cols[6]), "no CPU in the plugin server: %s", r)
	}
	for _, r := range rows {
		cols := strings.Split(strings.Trim(r, "| "), "|")
		require.Len(t, cols, 13, r)
		require.Equal(t, "0", strings.TrimSpace(cols[12]), "failed requests: %s", r)
		for _, rps := range []string{cols[4], cols[7]} {
			require.NotEqual(t, "0", strings.TrimSpace(rps), "a side measured nothing: %s", r)
		}
		// The plugin side went through the plugin: the stand-in counted
		// PDK calls for it.
		require.NotEqual(t, "0.0", strings.TrimSpace(cols[11]), "no PDK calls on the plugin side: %s", r)
	}
}

// The short form of `make soak`: 10,000 mixed chats, every one answered,
// the plugin server sampled every second, and a verdict on RSS growth and
// goroutines (Judge's rules are unit-tested in internal/loadtest).
func TestSoakShort(t *testing.T) {
	needLoadStep(t)
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	err := run(ctx, []string{"soak", "-bin", binDir,
		"-requests", "10000", "-warmup", "2000", "-interval", "500ms", "-max-time", "3m"}, &out, &errOut)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	require.Regexp(t, `(?m)^10000 requests in .*, 0 failed; plugin server RSS \d+ → \d+ KiB`, out.String())
	require.Regexp(t, `(?m)^ +\d+\.\ds +\d+/10000 requests +rss +[1-9]\d* KiB +goroutines +[1-9]\d* +threads`, out.String(), "samples with RSS and goroutines")
	require.True(t, strings.HasSuffix(out.String(), "soak passed\n"), out.String())
}

func TestUsage(t *testing.T) {
	var out, errOut strings.Builder
	require.Error(t, run(context.Background(), nil, &out, &errOut))
	require.Contains(t, errOut.String(), "usage: loadtest load")
	require.ErrorContains(t, run(context.Background(), []string{"fly"}, &out, &errOut), `unknown command "fly"`)
	require.Error(t, run(context.Background(), []string{"load", "-c", "0"}, &out, &errOut))
	require.ErrorContains(t, run(context.Background(), []string{"load", "-bin", t.TempDir()}, &out, &errOut), "make build")
	// Without the relay the plugin server has no metrics listener: a
	// profile is refused with the reason, not attempted.
	require.ErrorContains(t, run(context.Background(), []string{"load", "-bin", binDir, "-plugin-args", "-no-relay", "-cpuprofile", filepath.Join(t.TempDir(), "p")}, &out, &errOut),
		"metrics listener (-metrics-listen")
}
