package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChatBodyIsExactlyTheSize(t *testing.T) {
	for _, stream := range []bool{false, true} {
		b := ChatBody(BodySize, stream)
		require.Len(t, b, BodySize)
		require.Contains(t, string(b), `"model":"`+Model+`"`)
		require.Equal(t, stream, strings.Contains(string(b), `"stream":true`))
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func([]byte) error
		body  string
		ok    bool
	}{
		{"chat completion", checkChat, `{"object":"chat.completion","choices":[{"message":{"content":"hi"}}]}`, true},
		{"chat error envelope", checkChat, `{"error":{"message":"no","type":"invalid_request_error"}}`, false},
		{"truncated chat", checkChat, `{"object":"chat.completion","cho`, false},
		{"stream to [DONE], spaced", checkStream, "data: {\"a\":1}\n\ndata: [DONE]\n\n", true},
		{"stream to [DONE], TGI style", checkStream, "data:{\"a\":1}\n\n:\n\ndata:[DONE]\n\n", true},
		{"stream cut short", checkStream, "data: {\"a\":1}\n\ndata: {\"b\"", false},
		{"stream without [DONE]", checkStream, "data: {\"a\":1}\n\n", false},
		{"empty stream", checkStream, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check([]byte(tc.body))
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, errIncomplete)
			}
		})
	}
}

// Drive keeps concurrency requests in flight, times only the requests
// started after warm-up, and counts every failure, warm-up included.
func TestDrive(t *testing.T) {
	var inFlight, peak, served atomic.Int64
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		served.Add(1)
		time.Sleep(2 * time.Millisecond)
		if fail.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"object":"chat.completion","choices":[]}`))
	}))
	defer srv.Close()
	req := &Request{Name: "t", Method: http.MethodPost, Path: "/chat", Body: []byte("{}"), Check: checkChat}
	client := NewClient(4)

	res := Drive(context.Background(), client, srv.URL, req, 4, 100*time.Millisecond, 200*time.Millisecond)
	require.Zero(t, res.Errors, res.FirstError)
	require.NotEmpty(t, res.Latencies)
	require.Less(t, int64(len(res.Latencies)), served.Load(), "warm-up requests are not timed")
	require.EqualValues(t, 4, peak.Load(), "closed loop: exactly the workers in flight")
	require.GreaterOrEqual(t, res.Elapsed, 200*time.Millisecond)
	for _, l := range res.Latencies {
		require.GreaterOrEqual(t, l, 2*time.Millisecond)
	}

	fail.Store(true)
	res = Drive(context.Background(), client, srv.URL, req, 2, 50*time.Millisecond, 0)
	require.Positive(t, res.Errors, "failures during warm-up count")
	require.Contains(t, res.FirstError, "status 500")
	require.Empty(t, res.Latencies, "failed requests are not timed")
}
