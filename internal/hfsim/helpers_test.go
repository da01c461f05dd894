package hfsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testToken = "huggingface-key"
	testModel = "mistralai/Mistral-7B-Instruct-v0.2"
)

// startServer serves a new Server on an httptest listener (loopback).
func startServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

type spec struct {
	method string
	path   string
	body   string
	header map[string]string
}

// send performs the request with the test token and a bounded context.
func send(t *testing.T, base string, sp spec) *http.Response {
	t.Helper()
	method := sp.method
	if method == "" {
		method = http.MethodPost
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, base+sp.path, strings.NewReader(sp.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range sp.header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// fixture returns a Kong fixture compacted, as hfsim writes JSON.
func fixture(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/kong/" + path)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, raw))
	return buf.String()
}

func dataEvents(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if !e.Comment {
			out = append(out, e)
		}
	}
	return out
}

func chatBody(model, user string, extra string) string {
	b := `{"model":"` + model + `","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + user + `"}]`
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func startHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
