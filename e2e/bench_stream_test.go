package e2e

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// firstEvent sends a streamed chat request and returns how long the first
// "data:" line took to reach the client, then reads the stream to its end.
func firstEvent(tb testing.TB, url, body string, headers map[string]string) time.Duration {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(tb, err)
	defer res.Body.Close()
	require.Equal(tb, http.StatusOK, res.StatusCode)
	var ttfb time.Duration
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if ttfb == 0 && strings.HasPrefix(sc.Text(), "data:") {
			ttfb = time.Since(start)
		}
	}
	require.NoError(tb, sc.Err())
	require.NotZero(tb, ttfb, "no data: event in the stream")
	return ttfb
}

// BenchmarkStreamTTFB measures the time to the first SSE event of a
// streamed chat answer, straight from the fake router and through the Kong
// stand-in and the plugin (access phase, buffering switched off), and
// reports both and the difference: what the gateway adds before the first
// token. A figure, not an assertion (the machine's load decides it).
func BenchmarkStreamTTFB(b *testing.B) {
	r := startRig(b, route{path: "/chat", config: baseConf("llm/v1/chat", chatModel)})
	body := `{"messages":[{"role":"user","content":"Say hello to the world from the benchmark"}],"stream":true}`
	direct := `{"model":"` + chatModel + `","messages":[{"role":"user","content":"Say hello to the world from the benchmark"}],"stream":true}`
	var viaKong, straight time.Duration
	for b.Loop() {
		straight += firstEvent(b, routerURL+"/v1/chat/completions", direct, map[string]string{"Authorization": "Bearer " + hfToken})
		viaKong += firstEvent(b, r.k.ProxyURL()+"/chat", body, nil)
	}
	n := float64(b.N)
	b.ReportMetric(float64(straight.Microseconds())/n, "direct-ttfb-µs")
	b.ReportMetric(float64(viaKong.Microseconds())/n, "kong-ttfb-µs")
	b.ReportMetric(float64((viaKong-straight).Microseconds())/n, "added-µs")
}
