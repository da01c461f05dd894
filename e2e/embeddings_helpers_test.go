package e2e

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Helpers of the embeddings and video tests. Every expectation is computed
// here from hfsim's derivation helpers (Vector, TokenVectors, VideoReader),
// never read back from what the plugin produced.

// Models whose answer shape hfsim derives from the id (EmbeddingKindFor).
const (
	pooledModel = "sentence-transformers/all-MiniLM-L6-v2" // 1-D / 2-D
	tokenModel  = "facebook/bart-base"                     // 3-D / 4-D
)

// reqSeq makes request ids unique across runs (-count) of the suite, which
// share the fake router and its record of requests.
var reqSeq atomic.Int64

// reqID is a fresh X-E2E-Id for one request of test t.
func reqID(t *testing.T) string {
	return fmt.Sprintf("%s#%d", t.Name(), reqSeq.Add(1))
}

// authConfig is the plugin's auth block injecting the gateway's token.
func authConfig(token string) string {
	return `{"header_name":"Authorization","header_value":"Bearer ` + token + `"}`
}

// embedConfig is an embeddings route's plugin config. The model is left to
// the request unless modelJSON names one; upstreamURL "" is the router.
func embedConfig(token, upstreamURL, extra string) string {
	model := `{"provider":"huggingface"`
	if upstreamURL != "" {
		model += `,"options":{"upstream_url":"` + upstreamURL + `"}`
	}
	model += `}`
	cfg := `{"route_type":"llm/v1/embeddings","genai_category":"text/embeddings","auth":` + authConfig(token) + `,"model":` + model
	if extra != "" {
		cfg += "," + extra
	}
	return cfg + "}"
}

// meanPool is the expected pooled vector of a token-level answer: the mean
// of every token vector (special tokens included), in float64, rounded to
// float32; L2-normalised when normalize is set.
func meanPool(tokens [][]float32, normalize bool) []float32 {
	sum := make([]float64, len(tokens[0]))
	for _, row := range tokens {
		for j, v := range row {
			sum[j] += float64(v)
		}
	}
	for j := range sum {
		sum[j] /= float64(len(tokens))
	}
	if normalize {
		var sq float64
		for _, v := range sum {
			sq += v * v
		}
		for j := range sum {
			sum[j] /= math.Sqrt(sq)
		}
	}
	out := make([]float32, len(sum))
	for j, v := range sum {
		out[j] = float32(v)
	}
	return out
}

// embeddingList is the OpenAI embeddings list as a client decodes it;
// Embedding is a float array or a base64 string.
type embeddingList struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// decodeEmbeddings checks the list's envelope and returns its vectors in
// index order, decoding base64 (little-endian float32) when b64 is set.
func decodeEmbeddings(t *testing.T, body []byte, b64 bool) (embeddingList, [][]float32) {
	t.Helper()
	var l embeddingList
	require.NoError(t, json.Unmarshal(body, &l), "body: %.2000s", body)
	require.Equal(t, "list", l.Object)
	out := make([][]float32, len(l.Data))
	for i, d := range l.Data {
		require.Equal(t, "embedding", d.Object)
		require.Equal(t, i, d.Index, "data[%d].index", i)
		if b64 {
			var s string
			require.NoError(t, json.Unmarshal(d.Embedding, &s), "data[%d].embedding is not a base64 string: %.200s", i, d.Embedding)
			out[i] = decodeFloat32LE(t, s)
		} else {
			// float32 parsing: the upstream's float32 literals come back exact.
			require.NoError(t, json.Unmarshal(d.Embedding, &out[i]), "data[%d].embedding is not a number array: %.200s", i, d.Embedding)
		}
	}
	return l, out
}

// decodeFloat32LE decodes OpenAI's base64 embedding encoding.
func decodeFloat32LE(t *testing.T, s string) []float32 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	require.Zero(t, len(raw)%4, "base64 embedding of %d bytes", len(raw))
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// requireVectorsEqual compares vectors exactly (pooled answers: the
// upstream's float32 values pass unchanged) or within delta (vectors the
// plugin pooled: its float64 sum of the parsed literals may differ from
// ours in the last float32 bit).
func requireVectorsEqual(t *testing.T, want, got [][]float32, delta float64) {
	t.Helper()
	require.Len(t, got, len(want), "vector count")
	for i := range want {
		require.Len(t, got[i], len(want[i]), "vector %d length", i)
		if delta == 0 {
			require.Equal(t, want[i], got[i], "vector %d", i)
			continue
		}
		for j := range want[i] {
			require.InDelta(t, want[i][j], got[i][j], delta, "vector %d component %d", i, j)
		}
	}
}

// estimateTokens is the plugin's documented estimate for an input when the
// upstream gives no count: ceil(bytes/4) + 2 special tokens.
func estimateTokens(inputs ...string) int {
	n := 0
	for _, s := range inputs {
		n += (len(s)+3)/4 + 2
	}
	return n
}

// requireErrorBody checks an error answer: the status, the OpenAI error
// shape and nothing else in the body (no partial data), a message holding
// want.
func requireErrorBody(t *testing.T, res response, status int, typ, want string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.status, "body: %.1000s", res.body)
	require.True(t, strings.HasPrefix(res.header.Get("Content-Type"), "application/json"), "content-type %q", res.header.Get("Content-Type"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(res.body, &m), "body: %.1000s", res.body)
	require.Len(t, m, 1, "an error answer holds only \"error\": %s", res.body)
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "body: %s", res.body)
	require.Contains(t, e, "code")
	require.IsType(t, "", e["message"])
	require.Contains(t, e["message"], want, "body: %s", res.body)
	if typ != "" {
		require.Equal(t, typ, e["type"], "body: %s", res.body)
	}
	return e
}

// crafted is an upstream answering, per X-E2E-Id, a body the test chose:
// shapes hfsim would never produce (ragged, non-numeric, counts that do not
// match). It records what it received.
type crafted struct {
	srv *httptest.Server

	mu      sync.Mutex
	answers map[string]craftedAnswer
	got     map[string][]*http.Request
}

type craftedAnswer struct {
	status int
	ctype  string
	body   string
}

func newCrafted(t *testing.T) *crafted {
	t.Helper()
	c := &crafted{answers: map[string]craftedAnswer{}, got: map[string][]*http.Request{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-E2E-Id")
		c.mu.Lock()
		a, ok := c.answers[id]
		c.got[id] = append(c.got[id], r)
		c.mu.Unlock()
		if !ok {
			http.Error(w, "no crafted answer for "+id, http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", a.ctype)
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *crafted) answer(id string, a craftedAnswer) {
	c.mu.Lock()
	c.answers[id] = a
	c.mu.Unlock()
}

func (c *crafted) requests(id string) []*http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[id]
}
