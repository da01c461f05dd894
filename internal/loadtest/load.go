package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// BodySize is the size of the buffered chat body the issue measures.
const BodySize = 2048

// prompt is the user message: 15 words, so a streamed answer ("Echo: " +
// prompt, one piece per word) has a realistic handful of events.
const prompt = "Say hello to the world from the load test in a few short words please"

// ChatBody is an OpenAI chat request of exactly size bytes (the system
// message is padded), naming Model; stream adds "stream":true.
func ChatBody(size int, stream bool) []byte {
	tail := ""
	if stream {
		tail = `,"stream":true`
	}
	build := func(pad string) string {
		return `{"model":"` + Model + `","messages":[{"role":"system","content":"` + pad +
			`"},{"role":"user","content":"` + prompt + `"}]` + tail + `}`
	}
	n := size - len(build(""))
	if n < 0 {
		n = 0
	}
	const words = "You are a helpful assistant answering in plain words. "
	pad := strings.Repeat(words, n/len(words)+1)[:n]
	return []byte(build(pad))
}

// Cases are the two requests of `make load`: a buffered chat of BodySize
// bytes and the same chat streamed. Both carry hfsim's token (see token).
func Cases() []*Request {
	h := http.Header{
		"Content-Type":  {"application/json"},
		"Authorization": {"Bearer " + token},
	}
	return []*Request{
		{Name: "buffered chat 2 KiB", Method: http.MethodPost, Path: "/chat", Header: h, Body: ChatBody(BodySize, false), Check: checkChat},
		{Name: "streamed chat 2 KiB", Method: http.MethodPost, Path: "/chat", Header: h, Body: ChatBody(BodySize, true), Check: checkStream},
	}
}

// LoadOptions shape a `make load` run.
type LoadOptions struct {
	Concurrency []int         // worker counts (1 and 16)
	Duration    time.Duration // measured time per side and cell, split over Rounds
	Warmup      time.Duration // before each round on each side, not measured
	Rounds      int           // the two sides alternate this many times per cell
	Progress    io.Writer     // one line per cell as it ends (nil: none)
}

// DefaultLoadOptions finish in about 42 s of load: 2 cases × 2
// concurrencies × 2 sides × 8 rounds × (0.15 s warm-up + 0.5 s measured).
// Eight short rounds rather than one long one: on a shared machine a burst
// of someone else's work then lands on both sides alike.
func DefaultLoadOptions() LoadOptions {
	return LoadOptions{Concurrency: []int{1, 16}, Duration: 4 * time.Second, Warmup: 150 * time.Millisecond, Rounds: 8}
}

// RunLoad measures every case at every concurrency on both sides of the
// rig. The sides take turns within a cell (plain, plugin, then plugin,
// plain, ...) in short rounds, so that what else the machine does at the
// time weighs on both alike.
func RunLoad(ctx context.Context, r *Rig, o LoadOptions) ([]Cell, error) {
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	slice := o.Duration / time.Duration(o.Rounds)
	plainCPU, pluginCPU, err := r.cpuMeters()
	if err != nil {
		return nil, err
	}
	var cells []Cell
	for _, req := range Cases() {
		for _, c := range o.Concurrency {
			plainClient, pluginClient := NewClient(c), NewClient(c)
			var without, with Recorder
			var withoutCPU, withCPU cpuTally
			before, err := r.Plugin.Stats(ctx)
			if err != nil {
				return cells, err
			}
			for round := range o.Rounds {
				plainFirst := round%2 == 0
				for _, plain := range []bool{plainFirst, !plainFirst} {
					if plain {
						withoutCPU.measure(plainCPU, func() int {
							res := Drive(ctx, plainClient, r.Plain.ProxyURL, req, c, o.Warmup, slice)
							without.Add(res)
							return res.Sent
						})
					} else {
						withCPU.measure(pluginCPU, func() int {
							res := Drive(ctx, pluginClient, r.Plugin.ProxyURL, req, c, o.Warmup, slice)
							with.Add(res)
							return res.Sent
						})
					}
				}
			}
			after, err := r.Plugin.Stats(ctx)
			if err != nil {
				return cells, err
			}
			plainClient.CloseIdleConnections()
			pluginClient.CloseIdleConnections()
			cell := Cell{Case: req.Name, Concurrency: c, Without: without.Summary(), With: with.Summary(),
				WithoutCPU: withoutCPU.perRequest(), WithCPU: withCPU.perRequest()}
			if n := after.Requests - before.Requests; n > 0 {
				cell.PDKCallsPerRequest = float64(after.PDKCalls-before.PDKCalls) / float64(n)
			}
			cells = append(cells, cell)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "%s c=%d: %d + %d requests, added p50 %s ms\n",
					req.Name, c, cell.Without.Requests, cell.With.Requests, signed(cell.AddedP50()))
			}
			if err := ctx.Err(); err != nil {
				return cells, err
			}
		}
	}
	return cells, nil
}

// Headline is the cell of the last line: the buffered chat at the highest
// concurrency measured.
func Headline(cells []Cell) (Cell, bool) {
	var best Cell
	found := false
	for _, c := range cells {
		if strings.HasPrefix(c.Case, "buffered") && (!found || c.Concurrency > best.Concurrency) {
			best, found = c, true
		}
	}
	return best, found
}

// StandStats are the stand-in's counters that matter here.
type StandStats struct {
	Requests uint64
	PDKCalls int64
	// Spawns is how many times the plugin server was started (1 unless it
	// died and the stand-in restarted it, as Kong does).
	Spawns int
}

// Stats reads GET /kongsim/stats from the stand-in's admin listener.
func (s *Stand) Stats(ctx context.Context) (StandStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.AdminURL+"/kongsim/stats", nil)
	if err != nil {
		return StandStats{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return StandStats{}, fmt.Errorf("kongsim stats: %w", err)
	}
	defer res.Body.Close()
	var raw struct {
		Requests uint64 `json:"requests"`
		PDK      struct {
			TotalCalls int64 `json:"total_calls"`
		} `json:"pdk"`
		Spawns map[string]int `json:"pluginserver_spawns"`
	}
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		return StandStats{}, fmt.Errorf("kongsim stats: %w", err)
	}
	return StandStats{Requests: raw.Requests, PDKCalls: raw.PDK.TotalCalls, Spawns: raw.Spawns["ai-proxy-hf"]}, nil
}

// Conditions is the line above the table: what was run, how long, where.
func Conditions(o LoadOptions) string {
	return fmt.Sprintf("closed loop, keep-alive; per cell and side: %d round(s) of %s measured after %s warm-up, sides alternating; "+
		"plain kongsim route vs the same route with ai-proxy-hf, hfsim upstream, all on 127.0.0.1; %s, load average %s at the start",
		max(o.Rounds, 1), o.Duration/time.Duration(max(o.Rounds, 1)), o.Warmup, Machine(), LoadAverage())
}
