package e2e

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/require"
)

// bigVideo is the size of the large-video answer: 50 MB.
const bigVideo = 50 << 20

// pluginServerName is the pluginserver the stand-in supervises.
const pluginServerName = "ai-proxy-hf"

// pluginPID is the pid of the plugin server process the stand-in started
// (Kong's pluginserver supervisor), and how many times it was spawned.
func pluginPID(tb testing.TB, r *rig) (pid, spawns int) {
	tb.Helper()
	needStandIn(tb, "the plugin server's pid and spawns are the stand-in's supervisor's")
	sup := r.k.Supervisor(pluginServerName)
	require.NotNil(tb, sup, "the stand-in supervises no %s pluginserver", pluginServerName)
	pid = sup.PID()
	require.NotZero(tb, pid, "the plugin server is not running")
	return pid, sup.Spawns()
}

// peakRSS is the peak resident set size of a process: VmHWM ("high water
// mark") from /proc/<pid>/status, in bytes. It only grows, so reading it
// after a request tells the most memory the process ever held.
func peakRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := procStatusBytes(pid, "VmHWM")
	require.NoError(tb, err, "peak RSS is read from /proc (Linux)")
	return b
}

// procStatusBytes reads the "<key>:  N kB" line of /proc/<pid>/status, in
// bytes.
func procStatusBytes(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s line %q: %w", key, sc.Text(), err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s line", pid, key)
}

// fetchVideo asks for a binary video of size bytes and hashes the answer as
// it streams in (the test process never holds it, and it stays out of the
// transcript of small bodies). It returns the status, content type, length
// and SHA-256.
func fetchVideo(tb testing.TB, r *rig, prompt string, size int64) (status int, ctype string, n int64, sum [32]byte) {
	tb.Helper()
	body := `{"prompt":"` + prompt + `"}`
	req, err := http.NewRequest(http.MethodPost, r.k.ProxyURL()+"/video", strings.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hfsim-Video", "mp4")
	req.Header.Set("X-Hfsim-Size", strconv.FormatInt(size, 10))
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	require.NoError(tb, err)
	defer res.Body.Close()
	h := sha256.New()
	n, err = io.Copy(h, res.Body)
	require.NoError(tb, err)
	copy(sum[:], h.Sum(nil))
	return res.StatusCode, res.Header.Get("Content-Type"), n, sum
}

// videoSum is the SHA-256 of the video hfsim generates for prompt.
func videoSum(tb testing.TB, prompt string, size int64) [32]byte {
	tb.Helper()
	h := sha256.New()
	_, err := io.Copy(h, hfsim.VideoReader(prompt, size))
	require.NoError(tb, err)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// TestVideoLargeMP4PluginMemory sends a 50 MB video/mp4 answer through the
// stand-in and the plugin and bounds the plugin server's peak RSS.
//
// This is a memory bound, not a timing assertion. Kong buffers the answer
// (buffered proxying, so the plugin's response phase runs), but the plugin
// must never pull a binary body across the plugin socket: it needs only the
// status and the content type to let Kong send the bytes as they came. A
// plugin that read the body (kong.service.response.get_raw_body) would hold
// at least one 50 MB copy, in practice two or three (socket frame, protobuf
// message, the []byte handed to the capability). A peak under half the
// answer's size proves it holds none; the Go plugin server's own footprint
// is around 10-15 MB.
func TestVideoLargeMP4PluginMemory(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/video", config: videoConfig(hfToken, videoModel, "")})
	const prompt = "A 50 MB video"
	pid, spawns := pluginPID(t, r)
	before := peakRSS(t, pid)

	status, ctype, n, sum := fetchVideo(t, r, prompt, bigVideo)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "video/mp4", ctype)
	require.Equal(t, int64(bigVideo), n)
	require.Equal(t, videoSum(t, prompt, bigVideo), sum, "the 50 MB video passes byte for byte")

	pid2, spawns2 := pluginPID(t, r)
	require.Equal(t, pid, pid2, "the same plugin server served the request")
	require.Equal(t, spawns, spawns2)
	peak := peakRSS(t, pid)
	t.Logf("plugin server pid %d: peak RSS %.1f MB before the request, %.1f MB after a %d MB answer",
		pid, float64(before)/(1<<20), float64(peak)/(1<<20), bigVideo>>20)
	require.Less(t, peak, int64(bigVideo/2),
		"the plugin server's peak RSS (%.1f MB) must stay well below the %d MB answer: it must not read video bytes", float64(peak)/(1<<20), bigVideo>>20)
}

// BenchmarkVideoMP450MB measures the large-video path end to end (client →
// stand-in → plugin → fake upstream and back): time and throughput per
// 50 MB answer, and the plugin server's peak RSS as plugin-peak-rss-MB
// (with its RSS before the first request as plugin-start-rss-MB). The
// allocations reported are the test process's (client, stand-in and fake
// upstream), not the plugin's. It runs only under -bench.
func BenchmarkVideoMP450MB(b *testing.B) {
	r := startRig(b, route{path: "/video", config: videoConfig(hfToken, videoModel, "")})
	const prompt = "A 50 MB video"
	want := videoSum(b, prompt, bigVideo)
	pid, _ := pluginPID(b, r)
	start := peakRSS(b, pid)
	b.SetBytes(bigVideo)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		status, _, n, sum := fetchVideo(b, r, prompt, bigVideo)
		if status != http.StatusOK || n != bigVideo || sum != want {
			b.Fatalf("status %d, %d bytes, sha256 match %v", status, n, sum == want)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peakRSS(b, pid))/(1<<20), "plugin-peak-rss-MB")
	b.ReportMetric(float64(start)/(1<<20), "plugin-start-rss-MB")
}
