package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refUpstreamHeader is the plain form upstreamHeader must equal: Clone,
// then Del and Set.
func refUpstreamHeader(src http.Header, up *translate.UpstreamRequest) http.Header {
	h := src.Clone()
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.Del("Content-Length")
	for _, k := range up.ClearHeaders {
		h.Del(k)
	}
	for k, v := range up.SetHeaders {
		h.Set(k, v)
	}
	if h.Get("User-Agent") == "" {
		h["User-Agent"] = nil
	}
	return h
}

func TestUpstreamHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  http.Header
		up   translate.UpstreamRequest
	}{
		{"empty", http.Header{}, translate.UpstreamRequest{}},
		{"hop and length dropped", http.Header{"Connection": {"keep-alive, X-Foo"}, "Keep-Alive": {"300"}, "Te": {"trailers"},
			"Transfer-Encoding": {"chunked"}, "Upgrade": {"h2c"}, "Proxy-Connection": {"x"}, "Trailer": {"X"},
			"Content-Length": {"12"}, "Accept": {"*/*", "text/plain"}, "User-Agent": {"curl/8"}}, translate.UpstreamRequest{}},
		{"credentials cleared, real ones set", http.Header{"Authorization": {"Bearer kong-key"}, "Apikey": {"k"}, "X-Api-Key": {"k2"},
			"Content-Type": {"text/plain"}, "X-Kong-Request-Id": {"abc"}},
			translate.UpstreamRequest{ClearHeaders: []string{"apikey", "x-api-key"},
				SetHeaders: map[string]string{"authorization": "Bearer hf_x", "content-type": "application/json", "accept-encoding": "identity"}}},
		{"empty user agent", http.Header{"User-Agent": {""}}, translate.UpstreamRequest{}},
		{"nil value kept", http.Header{"X-Nil": nil}, translate.UpstreamRequest{}},
		{"non-canonical key kept as is", http.Header{"x_odd key": {"1"}}, translate.UpstreamRequest{SetHeaders: map[string]string{"x-use-cache": "false"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := refUpstreamHeader(tc.src, &tc.up)
			got := upstreamHeader(tc.src, &tc.up)
			assert.Equal(t, want, got)
			// The values are copies: changing the result leaves the source.
			for k, v := range got {
				if len(v) > 0 && len(tc.src[k]) > 0 {
					v[0] = "changed"
					assert.NotEqual(t, "changed", tc.src[k][0], k)
				}
			}
		})
	}
}

// The cached parse of the upstream URL gives the request the whole URL's
// parse gives, and refuses what that refuses.
func TestUpstreamRequestURL(t *testing.T) {
	q := func(s string) *string { return &s }
	for _, tc := range []struct {
		name  string
		up    translate.UpstreamRequest
		query string
	}{
		{"https default port", translate.UpstreamRequest{Scheme: "https", Host: "router.huggingface.co", Path: "/v1/chat/completions"}, ""},
		{"port and query", translate.UpstreamRequest{Scheme: "http", Host: "127.0.0.1", Port: 8080, Path: "/models/a/b"}, "x=1&y=%20"},
		{"query replaced", translate.UpstreamRequest{Scheme: "http", Host: "127.0.0.1", Port: 8080, Path: "/p", Query: q("key=v")}, "client=1"},
		{"ipv6", translate.UpstreamRequest{Scheme: "http", Host: "::1", Port: 9, Path: "/p"}, "a=b"},
		{"ipv6 no port", translate.UpstreamRequest{Scheme: "http", Host: "::1", Path: "/p"}, ""},
		{"escaped path", translate.UpstreamRequest{Scheme: "http", Host: "h", Path: "/models/a%2Fb/c d"}, ""},
		{"fragment in query", translate.UpstreamRequest{Scheme: "http", Host: "h", Path: "/p"}, "a=1#frag"},
		{"bad fragment", translate.UpstreamRequest{Scheme: "http", Host: "h", Path: "/p"}, "a=1#%zz"},
		{"control char in query", translate.UpstreamRequest{Scheme: "http", Host: "h", Path: "/p"}, "a=1\r\nX: y"},
		{"question mark in path", translate.UpstreamRequest{Scheme: "http", Host: "h", Path: "/p?x=1"}, "y=2"},
		{"bad host", translate.UpstreamRequest{Scheme: "http", Host: "h%zz", Path: "/p"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query := tc.query
			if tc.up.Query != nil {
				query = *tc.up.Query
			}
			want, werr := http.NewRequestWithContext(context.Background(), http.MethodPost, targetURL(&tc.up, query), bytes.NewReader(nil))
			for range 2 { // the second one is served from the cache
				in := &translate.ClientRequest{Method: http.MethodPost, Query: tc.query}
				got, err := upstreamRequest(context.Background(), &http.Request{Header: http.Header{}}, in, &tc.up)
				if werr != nil {
					require.Error(t, err)
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, want.URL, got.URL)
				assert.Equal(t, want.URL.String(), got.URL.String())
				assert.Equal(t, want.Host, got.Host)
			}
		})
	}
}

func TestReadAll(t *testing.T) {
	body := strings.Repeat("0123456789", 300)
	for _, tc := range []struct {
		name          string
		length, limit int64
		r             func() io.Reader
	}{
		{"known length", int64(len(body)), 1 << 20, func() io.Reader { return strings.NewReader(body) }},
		{"unknown length", -1, 1 << 20, func() io.Reader { return strings.NewReader(body) }},
		{"length too small", 10, 1 << 20, func() io.Reader { return strings.NewReader(body) }},
		{"over the limit", -1, 100, func() io.Reader { return strings.NewReader(body) }},
		{"exactly the limit", int64(len(body)), int64(len(body)), func() io.Reader { return strings.NewReader(body) }},
		{"one byte reads", -1, 1 << 20, func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }},
		{"error after data", int64(len(body)), 1 << 20, func() io.Reader {
			return io.MultiReader(strings.NewReader(body[:100]), iotest.ErrReader(io.ErrUnexpectedEOF))
		}},
		{"empty", 0, 1 << 20, func() io.Reader { return strings.NewReader("") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, werr := io.ReadAll(io.LimitReader(tc.r(), tc.limit))
			got, err := readAll(tc.r(), tc.length, tc.limit)
			assert.Equal(t, want, got)
			assert.True(t, errors.Is(err, werr), "%v / %v", err, werr)
		})
	}
}

func TestCopyHeaders(t *testing.T) {
	src := http.Header{"Content-Type": {"application/json"}, "Content-Length": {"5"}, "Connection": {"close"},
		"Transfer-Encoding": {"chunked"}, "X-Request-Id": {"r"}, "Retry-After": {"3"}}
	want := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r"}, "Retry-After": {"3"}}
	dst := http.Header{}
	copyHeaders(dst, src)
	assert.Equal(t, want, dst)
	dst = http.Header{"Keep-Alive": {"1"}, "X-Own": {"o"}}
	copyHeaders(dst, src)
	assert.Equal(t, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r"}, "Retry-After": {"3"}, "X-Own": {"o"}}, dst)
	assert.Equal(t, map[string][]string{"content-type": {"application/json"}, "content-length": {"5"}, "connection": {"close"},
		"transfer-encoding": {"chunked"}, "x-request-id": {"r"}, "retry-after": {"3"}}, lowerHeaders(src))
}

// The caches stop growing at their bound and still answer.
func TestCowCacheBound(t *testing.T) {
	c := cowCache[string, int]{max: 2}
	assert.Equal(t, 1, c.store("a", 1))
	assert.Equal(t, 2, c.store("b", 2))
	assert.Equal(t, 3, c.store("c", 3))
	_, ok := c.load("c")
	assert.False(t, ok)
	assert.Equal(t, 1, c.store("a", 9), "an existing entry wins")
	v, ok := c.load("b")
	assert.True(t, ok)
	assert.Equal(t, 2, v)
}

// Concurrent loads and stores (run with -race): every reader sees either
// nothing or the stored value.
func TestCowCacheConcurrent(t *testing.T) {
	c := cowCache[int, int]{max: 1000}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				k := (i*7 + g) % 300
				if v, ok := c.load(k); ok && v != k*2 {
					t.Errorf("key %d: %d", k, v)
				}
				if v := c.store(k, k*2); v != k*2 {
					t.Errorf("store %d: %d", k, v)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	for k := range 300 {
		v, ok := c.load(k)
		assert.True(t, ok)
		assert.Equal(t, k*2, v)
	}
}
