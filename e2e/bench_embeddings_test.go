package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// BenchmarkEmbeddings256x1024EndToEnd is the embeddings batch of the issue
// (256 inputs × 1024 dimensions, about 5 MB of upstream JSON) through the
// stand-in, the plugin and the fake router, per encoding: time per request,
// and the plugin server's peak RSS as plugin-peak-rss-MB. The upstream's
// answer crosses the plugin socket once and the client's list once: the
// conversion itself is benchmarked in plugin/translate
// (BenchmarkEmbeddings256x1024). Allocations are the test process's. It
// runs only under -bench.
func BenchmarkEmbeddings256x1024EndToEnd(b *testing.B) {
	inputs := make([]string, 256)
	for i := range inputs {
		inputs[i] = "benchmark input number " + strconv.Itoa(i)
	}
	raw, err := json.Marshal(inputs)
	require.NoError(b, err)
	for _, format := range []string{"float", "base64"} {
		b.Run(format, func(b *testing.B) {
			r := startRig(b, route{path: "/emb", config: embedConfig(hfToken, "", "")})
			body := []byte(`{"model":"` + pooledModel + `","input":` + string(raw) + `,"encoding_format":"` + format + `"}`)
			client := &http.Client{Timeout: 60 * time.Second}
			send := func() int {
				req, err := http.NewRequest(http.MethodPost, r.k.ProxyURL()+"/emb", bytes.NewReader(body))
				require.NoError(b, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Hfsim-Dim", "1024")
				res, err := client.Do(req)
				require.NoError(b, err)
				defer res.Body.Close()
				out, err := io.ReadAll(res.Body)
				require.NoError(b, err)
				if res.StatusCode != http.StatusOK || gjson.GetBytes(out, "data.#").Int() != int64(len(inputs)) {
					b.Fatalf("status %d: %.300s", res.StatusCode, out)
				}
				return len(out)
			}
			send() // the plugin instance starts on the first request
			pid, _ := pluginPID(b, r)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				n = send()
			}
			b.StopTimer()
			b.SetBytes(int64(n))
			b.ReportMetric(float64(peakRSS(b, pid))/(1<<20), "plugin-peak-rss-MB")
		})
	}
}
