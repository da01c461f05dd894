package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Request is one request of the load: the same method, path, headers and
// body go to both sides, so the only difference is the route's plugin.
type Request struct {
	Name   string
	Method string
	Path   string // appended to the side's proxy URL
	Header http.Header
	Body   []byte
	// Check says whether a 200 answer's body is complete and of the right
	// kind (a whole chat completion, a stream that reached [DONE]).
	Check func(body []byte) error
}

// Result is one run of the closed loop on one side.
type Result struct {
	Latencies  []time.Duration // of the checked answers, unsorted
	Sent       int             // requests answered, warm-up and failures included
	Errors     int
	Elapsed    time.Duration
	FirstError string
}

// NewClient is the HTTP client of one side: keep-alive connections, one
// idle connection kept per worker so that no request pays a new TCP
// handshake after warm-up, no transparent gzip (the answers are what the
// proxy sent).
func NewClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        concurrency * 2,
			MaxIdleConnsPerHost: concurrency * 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Send sends one request to base+req.Path, reads the whole answer into buf
// (reset first) and checks it. It returns how long the round trip took,
// from before the request was written to after the last byte was read.
func Send(ctx context.Context, client *http.Client, base string, req *Request, buf *bytes.Buffer) (time.Duration, error) {
	hr, err := http.NewRequestWithContext(ctx, req.Method, base+req.Path, bytes.NewReader(req.Body))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", req.Name, err)
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	buf.Reset()
	start := time.Now()
	res, err := client.Do(hr)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", req.Name, err)
	}
	_, err = buf.ReadFrom(res.Body)
	res.Body.Close()
	took := time.Since(start)
	switch {
	case err != nil:
		return took, fmt.Errorf("%s: reading the answer: %w", req.Name, err)
	case res.StatusCode != http.StatusOK:
		return took, fmt.Errorf("%s: status %d: %.200s", req.Name, res.StatusCode, buf.Bytes())
	case req.Check != nil:
		if err := req.Check(buf.Bytes()); err != nil {
			return took, fmt.Errorf("%s: %w", req.Name, err)
		}
	}
	return took, nil
}

// Drive runs a closed loop of concurrency workers against base for warmup
// plus dur: each worker sends req, reads and checks the answer, and sends
// again. Requests started during warm-up are not timed (their failures
// are counted); requests
// started before the end are waited for and recorded. Elapsed runs from
// the end of warm-up to the last recorded answer.
func Drive(ctx context.Context, client *http.Client, base string, req *Request, concurrency int, warmup, dur time.Duration) Result {
	t0 := time.Now()
	measureFrom, end := t0.Add(warmup), t0.Add(warmup+dur)
	type worker struct {
		lat      []time.Duration
		sent     int
		errors   int
		firstErr error
		last     time.Time
	}
	ws := make([]worker, concurrency)
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				started := time.Now()
				if !started.Before(end) {
					return
				}
				took, err := Send(ctx, client, base, req, &buf)
				w.sent++
				// A failure counts in warm-up too: no request may fail.
				if err != nil {
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
				}
				if started.Before(measureFrom) || err != nil {
					continue
				}
				w.last = started.Add(took)
				w.lat = append(w.lat, took)
			}
		})
	}
	wg.Wait()
	var res Result
	last := measureFrom
	for _, w := range ws {
		res.Latencies = append(res.Latencies, w.lat...)
		res.Sent += w.sent
		res.Errors += w.errors
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
		if w.last.After(last) {
			last = w.last
		}
	}
	res.Elapsed = last.Sub(measureFrom)
	if err := ctx.Err(); err != nil && res.FirstError == "" {
		res.FirstError = err.Error()
	}
	return res
}

// errIncomplete is the check failure of a truncated or wrong answer.
var errIncomplete = errors.New("incomplete answer")

// checkChat accepts a chat.completion JSON body.
func checkChat(body []byte) error {
	if !bytes.Contains(body, []byte(`"chat.completion"`)) || !bytes.Contains(body, []byte(`"choices"`)) {
		return fmt.Errorf("%w: not a chat completion: %.200s", errIncomplete, body)
	}
	return nil
}

// checkStream accepts an SSE body whose last event is data: [DONE].
func checkStream(body []byte) error {
	tail := bytes.TrimRight(body, "\r\n")
	if i := bytes.LastIndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	}
	tail = bytes.TrimSpace(bytes.TrimPrefix(tail, []byte("data:")))
	if !bytes.Equal(tail, []byte("[DONE]")) {
		return fmt.Errorf("%w: the stream does not end with data: [DONE] (%d bytes)", errIncomplete, len(body))
	}
	return nil
}
