// Command hfsim serves the fake Hugging Face upstream of package
// internal/hfsim on a loopback address, for manual tries and e2e tests.
//
//	hfsim -listen 127.0.0.1:8081 -token hf_test
//
// It prints exactly one line, "hfsim listening on http://ADDR", once it
// accepts connections, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hfsim:", err)
		os.Exit(1)
	}
}

// modelFaults collects repeated -fault-model model=mode flags.
type modelFaults map[string]string

func (m modelFaults) String() string { return fmt.Sprint(map[string]string(m)) }

func (m modelFaults) Set(v string) error {
	model, mode, ok := strings.Cut(v, "=")
	if !ok || model == "" || mode == "" {
		return fmt.Errorf("want model=mode, got %q", v)
	}
	m[model] = mode
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hfsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	faults := modelFaults{}
	var (
		listen    = fs.String("listen", "127.0.0.1:8081", "loopback address to listen on (port 0 picks one)")
		token     = fs.String("token", "", "accepted bearer token (empty: accept any request)")
		delay     = fs.Duration("delay", 0, "delay between SSE events")
		firstByte = fs.Duration("first-byte-delay", hfsim.DefaultFirstByteDelay, "delay of fault slow_first_byte")
		dim       = fs.Int("dim", hfsim.DefaultEmbeddingDim, "embedding dimension")
		huge      = fs.Int64("huge-size", hfsim.DefaultHugeSize, "body size of fault huge, bytes")
		video     = fs.Int64("video-size", hfsim.DefaultVideoSize, "size of binary video answers, bytes")
		style     = fs.String("style", string(hfsim.StyleTGI), "default SSE style: tgi or openai")
		verbose   = fs.Bool("v", false, "log one line per request to stderr")
	)
	fs.Var(faults, "fault-model", "model=mode: requests for model get fault mode (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *style != string(hfsim.StyleTGI) && *style != string(hfsim.StyleOpenAI) {
		return fmt.Errorf("-style must be tgi or openai, got %q", *style)
	}
	opts := hfsim.Options{
		Token: *token, EventDelay: *delay, FirstByteDelay: *firstByte, EmbeddingDim: *dim,
		HugeSize: *huge, VideoSize: *video, DefaultStyle: hfsim.Style(*style), ModelFaults: faults,
	}
	if *verbose {
		logger := log.New(stderr, "", log.LstdFlags)
		opts.Logf = logger.Printf
	}
	// Catch signals before announcing readiness: a supervisor may send
	// SIGTERM as soon as it has read the ready line.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := hfsim.New(opts)
	url, err := srv.Start(*listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hfsim listening on %s\n", url)

	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Close(shutdown)
}
