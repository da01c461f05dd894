// Command loadtest runs `make load` and `make soak`: the plugin measured
// side by side with a plain Kong route, and soaked for leaks, on the real
// binaries (bin/hfsim, bin/kongsim, bin/ai-proxy-hf) on 127.0.0.1.
//
//	loadtest load [-bin bin] [-duration 4s] [-warmup 150ms] [-rounds 8] [-c 1,16] [-cpuprofile cpu.pprof [-profile-stream]]
//	loadtest soak [-bin bin] [-requests 100000] [-warmup 10000] [-c 16] [-max-time 5m]
//
// load prints a Markdown table (with -cpuprofile, first the profile's top
// items) and ends with the line
// "added p50 <ms> ms p99 <ms> ms at c=16; rps ratio <with/without>";
// it exits 1 if any request failed. soak prints one sample of the plugin
// server per second (RSS, goroutines, threads) and a verdict, and exits 1
// on RSS growth, a goroutine leak, a failed request or a restart. Both
// read the plugin server's figures from its metrics listener
// (ai-proxy-hf -metrics-listen, on a free loopback port).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: loadtest load|soak [flags] (loadtest load -h for the flags)")
		return flag.ErrHelp
	}
	switch args[0] {
	case "load":
		return runLoad(ctx, args[1:], stdout, stderr)
	case "soak":
		return runSoak(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: want load or soak", args[0])
}

// concurrencies parses "-c 1,16".
type concurrencies []int

func (c *concurrencies) String() string { return fmt.Sprint([]int(*c)) }

func (c *concurrencies) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("want positive worker counts like 1,16, got %q", v)
		}
		out = append(out, n)
	}
	*c = out
	return nil
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := loadtest.DefaultLoadOptions()
	conc := concurrencies(o.Concurrency)
	fs := flag.NewFlagSet("loadtest load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin", "directory holding hfsim, kongsim and ai-proxy-hf")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured time per side and cell (split over the rounds)")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up before each round on each side, not measured")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "times the two sides alternate within a cell")
	fs.Var(&conc, "c", "concurrencies (closed-loop workers), comma-separated")
	cpuprofile := fs.String("cpuprofile", "", "first take a CPU profile of the plugin server under the buffered chat at the highest concurrency, write it here and print its top items")
	profileTime := fs.Duration("profile-time", 5*time.Second, "how long the CPU profile runs")
	profileStream := fs.Bool("profile-stream", false, "profile under the streamed chat instead of the buffered one")
	verbose := fs.Bool("v", false, "show the servers' output")
	pluginArgs := fs.String("plugin-args", "", "extra arguments of the plugin server, space-separated (e.g. -no-relay: the PDK-only data path)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Concurrency = conc
	o.Progress = stderr
	ro := loadtest.RigOptions{BinDir: *bin, PluginArgs: strings.Fields(*pluginArgs)}
	if *verbose {
		ro.Log = stderr
	}
	ro.Metrics = *cpuprofile != ""
	rig, err := loadtest.StartRig(ctx, ro)
	if err != nil {
		return err
	}
	defer rig.Close()
	if *cpuprofile != "" {
		req := loadtest.Cases()[0]
		if *profileStream {
			req = loadtest.Cases()[1]
		}
		if err := profile(ctx, rig, req, slices.Max(o.Concurrency), *profileTime, *cpuprofile, stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s\n\n", loadtest.Conditions(o))
	cells, err := loadtest.RunLoad(ctx, rig, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "load average %s at the end\n\n", loadtest.LoadAverage())
	if err := loadtest.WriteTable(stdout, cells); err != nil {
		return err
	}
	failed := 0
	for _, c := range cells {
		failed += c.Failed()
		for _, s := range []loadtest.Summary{c.Without, c.With} {
			if s.FirstError != "" {
				fmt.Fprintf(stdout, "\n%s c=%d: first failure: %s\n", c.Case, c.Concurrency, s.FirstError)
			}
		}
	}
	fmt.Fprintln(stdout, "\nCPU per request by process (µs; user + system from /proc/<pid>/stat in 10 ms ticks, warm-up included):")
	fmt.Fprintln(stdout)
	if err := loadtest.WriteCPUTable(stdout, cells); err != nil {
		return err
	}
	head, ok := loadtest.Headline(cells)
	if !ok {
		return errors.New("no buffered cell measured")
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, loadtest.LastLine(head))
	if failed > 0 {
		return fmt.Errorf("%d requests failed", failed)
	}
	return nil
}

// profile takes a CPU profile of the plugin server (its metrics
// listener's pprof) under req, before the table is measured
// on the same rig, and prints `go tool pprof -top` of it.
func profile(ctx context.Context, rig *loadtest.Rig, req *loadtest.Request, concurrency int, dur time.Duration, path string, stdout io.Writer) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	res, err := loadtest.ProfileCPU(ctx, rig, req, concurrency, dur, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("profile: %d requests failed; the first: %s", res.Errors, res.FirstError)
	}
	fmt.Fprintf(stdout, "CPU profile of the plugin server, %s at c=%d for %s (%d requests): %s\n", req.Name, concurrency, dur, len(res.Latencies), path)
	top := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", path)
	top.Stdout, top.Stderr = stdout, stdout
	if err := top.Run(); err != nil {
		return fmt.Errorf("go tool pprof -top: %w", err)
	}
	fmt.Fprintln(stdout)
	return nil
}

func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := loadtest.DefaultSoakOptions()
	fs := flag.NewFlagSet("loadtest soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin", "directory holding hfsim, kongsim and ai-proxy-hf")
	fs.IntVar(&o.Requests, "requests", o.Requests, "requests in all, warm-up included")
	fs.IntVar(&o.Warmup, "warmup", o.Warmup, "requests before the baselines")
	fs.IntVar(&o.Concurrency, "c", o.Concurrency, "closed-loop workers")
	fs.DurationVar(&o.MaxTime, "max-time", o.MaxTime, "fail if the soak has not ended by then")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "time between two samples of the plugin server")
	fs.Float64Var(&o.MaxRSSGrowth, "max-rss-growth", o.MaxRSSGrowth, "allowed RSS growth after warm-up (0.2 = 20%)")
	fs.IntVar(&o.GoroutineSlack, "goroutine-slack", o.GoroutineSlack, "goroutines above the idle count after warm-up still accepted at the end")
	verbose := fs.Bool("v", false, "show the servers' output")
	pluginArgs := fs.String("plugin-args", "", "extra arguments of the plugin server, space-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Requests < 1 || o.Warmup < 0 || o.Warmup >= o.Requests || o.Concurrency < 1 {
		return fmt.Errorf("want 0 <= -warmup < -requests and -c >= 1")
	}
	ro := loadtest.RigOptions{BinDir: *bin, Metrics: true, PluginOnly: true, PluginArgs: strings.Fields(*pluginArgs)}
	if *verbose {
		ro.Log = stderr
	}
	rig, err := loadtest.StartRig(ctx, ro)
	if err != nil {
		return err
	}
	defer rig.Close()
	o.Progress = stdout
	fmt.Fprintf(stdout, "soak: %d requests (buffered and streamed 2 KiB chats alternating), %d of them warm-up, %d workers, through kongsim + ai-proxy-hf to hfsim; %s, load average %s\n",
		o.Requests, o.Warmup, o.Concurrency, loadtest.Machine(), loadtest.LoadAverage())
	rep, err := loadtest.RunSoak(ctx, rig, o)
	if err != nil {
		return err
	}
	from, to, growth, _ := rep.RSSGrowth()
	fmt.Fprintf(stdout, "\n%d requests in %s (%.0f/s), %d failed; plugin server RSS %d → %d KiB (%+.1f%%), goroutines idle %d after warm-up, %d after; restarts %d\n",
		rep.Requests, rep.Elapsed.Round(time.Millisecond), float64(rep.Requests)/rep.Elapsed.Seconds(), rep.Errors,
		from, to, growth*100, rep.IdleAfterWarmup, rep.IdleAfter, rep.Restarts)
	if err := rep.Judge(o); err != nil {
		return fmt.Errorf("soak failed: %w", err)
	}
	fmt.Fprintln(stdout, "soak passed")
	return nil
}
