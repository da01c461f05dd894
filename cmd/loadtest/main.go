// Command loadtest runs `make load` and `make soak`: the plugin measured
// side by side with a plain Kong route, and soaked for leaks, on the real
// binaries (bin/hfsim, bin/kongsim, bin/ai-proxy-hf) on 127.0.0.1.
//
//	loadtest load [-bin bin] [-duration 4s] [-warmup 500ms] [-rounds 2] [-c 1,16]
//
// load prints a Markdown table and ends with the line
// "added p50 <ms> ms p99 <ms> ms at c=16; rps ratio <with/without>";
// it exits 1 if any request failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

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
		fmt.Fprintln(stderr, "usage: loadtest load [flags] (loadtest load -h for the flags)")
		return flag.ErrHelp
	}
	switch args[0] {
	case "load":
		return runLoad(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: want load", args[0])
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
	verbose := fs.Bool("v", false, "show the servers' output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Concurrency = conc
	o.Progress = stderr
	ro := loadtest.RigOptions{BinDir: *bin}
	if *verbose {
		ro.Log = stderr
	}
	rig, err := loadtest.StartRig(ctx, ro)
	if err != nil {
		return err
	}
	defer rig.Close()
	fmt.Fprintf(stdout, "%s\n\n", loadtest.Conditions(o))
	cells, err := loadtest.RunLoad(ctx, rig, o)
	if err != nil {
		return err
	}
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
