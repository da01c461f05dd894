package kongsim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
)

// benchRig starts a stand-in for a benchmark (startRig needs a *testing.T).
func benchRig(b *testing.B, declarative string) *kongsim.Kong {
	b.Helper()
	prefix := b.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := kongsim.Start(ctx, kongsim.Options{
		Environ:     append(pluginEnv(prefix, pluginBin), "KONG_LOG_LEVEL=notice"),
		Declarative: []byte(declarative),
		ErrorLog:    io.Discard,
		Stderr:      io.Discard,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(k.Close)
	return k
}

func benchGet(b *testing.B, k *kongsim.Kong, header string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", k.ProxyURL()+"/r1/x", nil)
		if header != "" {
			req.Header.Set("X-Test-Access", header)
		}
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}

// BenchmarkProxyNoPlugin is the stand-in alone: route, proxy, log record.
func BenchmarkProxyNoPlugin(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	benchGet(b, benchRig(b, kongYAML(up.URL, "")), "")
}

// BenchmarkProxyBufferedPlugin adds the test plugin's access (two
// response.set_header calls) and response events, buffered.
func BenchmarkProxyBufferedPlugin(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	benchGet(b, benchRig(b, kongYAML(up.URL, globalPlugin)), "")
}

// BenchmarkProxyStreamedPlugin is the same with buffering switched off.
func BenchmarkProxyStreamedPlugin(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	benchGet(b, benchRig(b, kongYAML(up.URL, globalPlugin)), "stream")
}
