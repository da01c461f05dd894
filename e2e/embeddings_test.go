package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/require"
)

// embedCase is one embeddings request through the stand-in and what must
// come of it, upstream and at the client.
type embedCase struct {
	name  string
	model string
	// input is the OpenAI "input": one string or a list.
	input any
	// extra is appended to the request body (HF parameters, dimensions).
	extra string
	// headers go with the request (X-Hfsim-* to choose the answer's shape).
	headers []string
	base64  bool
	// wantUpstream is the body the upstream must receive (JSON-equal).
	wantUpstream string
	// want computes the expected vectors; delta 0 means exact.
	want  func() [][]float32
	delta float64
	// tokens is the expected usage.prompt_tokens.
	tokens int
}

func (c embedCase) inputs() []string {
	if s, ok := c.input.(string); ok {
		return []string{s}
	}
	return c.input.([]string)
}

func (c embedCase) body(t *testing.T) string {
	in, err := json.Marshal(c.input)
	require.NoError(t, err)
	b := `{"model":"` + c.model + `","input":` + string(in)
	if c.base64 {
		b += `,"encoding_format":"base64"`
	}
	if c.extra != "" {
		b += "," + c.extra
	}
	return b + "}"
}

func pooled(dim int, normalize bool, texts ...string) func() [][]float32 {
	return func() [][]float32 {
		out := make([][]float32, len(texts))
		for i, s := range texts {
			out[i] = hfsim.Vector(s, dim, normalize)
		}
		return out
	}
}

func tokenPooled(dim int, normalize bool, texts ...string) func() [][]float32 {
	return func() [][]float32 {
		out := make([][]float32, len(texts))
		for i, s := range texts {
			out[i] = meanPool(hfsim.TokenVectors(s, dim), normalize)
		}
		return out
	}
}

func tokenCounts(texts ...string) int {
	n := 0
	for _, s := range texts {
		n += hfsim.TokenCount(s)
	}
	return n
}

// poolDelta bounds the difference between the plugin's mean of the
// upstream's decimal literals and ours of the exact float32 values.
const poolDelta = 1e-6

// TestEmbeddingsRouterShapes sends OpenAI embeddings requests to the
// router's hf-inference feature-extraction pipeline and checks, for every
// answer shape (1-D, 2-D pooled; 3-D, 4-D token-level, mean-pooled by the
// plugin) and both encodings, what the upstream received and that the
// client gets exactly the expected vectors as an OpenAI list.
func TestEmbeddingsRouterShapes(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/emb", config: embedConfig(hfToken, "", "")})
	const dim = hfsim.DefaultEmbeddingDim
	one := "The food was delicious and the waiter was friendly."
	two := []string{"first sentence", "second"}
	big := make([]string, 256)
	for i := range big {
		big[i] = "batch input number " + strconv.Itoa(i)
	}
	bigJSON, err := json.Marshal(big)
	require.NoError(t, err)
	cases := []embedCase{
		{name: "string_1d", model: pooledModel, input: one,
			wantUpstream: `{"inputs":` + strconv.Quote(one) + `}`,
			want:         pooled(dim, true, one), tokens: estimateTokens(one)},
		{name: "array_2d", model: pooledModel, input: two,
			wantUpstream: `{"inputs":["first sentence","second"]}`,
			want:         pooled(dim, true, two...), tokens: estimateTokens(two...)},
		{name: "string_3d_token_level", model: tokenModel, input: "a b c",
			wantUpstream: `{"inputs":"a b c"}`,
			want:         tokenPooled(dim, false, "a b c"), delta: poolDelta, tokens: tokenCounts("a b c")},
		{name: "array_4d_token_level", model: tokenModel, input: []string{"a b", "c d e f"},
			wantUpstream: `{"inputs":["a b","c d e f"]}`,
			want:         tokenPooled(dim, false, "a b", "c d e f"), delta: poolDelta, tokens: tokenCounts("a b", "c d e f")},
		{name: "array_3d_NxTxH", model: pooledModel, input: two, headers: []string{"X-Hfsim-Shape", "3d"},
			wantUpstream: `{"inputs":["first sentence","second"]}`,
			want:         tokenPooled(dim, false, two...), delta: poolDelta, tokens: tokenCounts(two...)},
		{name: "string_2d_1xH", model: pooledModel, input: one, headers: []string{"X-Hfsim-Shape", "2d"},
			wantUpstream: `{"inputs":` + strconv.Quote(one) + `}`,
			want:         pooled(dim, true, one), tokens: estimateTokens(one)},
		{name: "string_1d_base64", model: pooledModel, input: one, base64: true,
			wantUpstream: `{"inputs":` + strconv.Quote(one) + `}`,
			want:         pooled(dim, true, one), tokens: estimateTokens(one)},
		{name: "array_2d_base64", model: pooledModel, input: two, base64: true,
			wantUpstream: `{"inputs":["first sentence","second"]}`,
			want:         pooled(dim, true, two...), tokens: estimateTokens(two...)},
		{name: "array_4d_base64", model: tokenModel, input: []string{"a b", "c d e f"}, base64: true,
			wantUpstream: `{"inputs":["a b","c d e f"]}`,
			want:         tokenPooled(dim, false, "a b", "c d e f"), delta: poolDelta, tokens: tokenCounts("a b", "c d e f")},
		{name: "normalize_false_truncate_true", model: pooledModel, input: two,
			extra:        `"normalize":false,"truncate":true`,
			wantUpstream: `{"inputs":["first sentence","second"],"normalize":false,"truncate":true}`,
			want:         pooled(dim, false, two...), tokens: estimateTokens(two...)},
		{name: "token_level_normalize_true", model: tokenModel, input: "x y", extra: `"normalize":true`,
			wantUpstream: `{"inputs":"x y","normalize":true}`,
			want:         tokenPooled(dim, true, "x y"), delta: poolDelta, tokens: tokenCounts("x y")},
		{name: "truncation_direction_prompt_name", model: pooledModel, input: one,
			extra:        `"truncate":true,"truncation_direction":"left","prompt_name":"query"`,
			wantUpstream: `{"inputs":` + strconv.Quote(one) + `,"truncate":true,"truncation_direction":"left","prompt_name":"query"}`,
			want:         pooled(dim, true, one), tokens: estimateTokens(one)},
		{name: "dimensions", model: pooledModel, input: two, extra: `"dimensions":64`,
			wantUpstream: `{"inputs":["first sentence","second"],"dimensions":64}`,
			want:         pooled(64, true, two...), tokens: estimateTokens(two...)},
		{name: "batch_256x1024", model: pooledModel, input: big, headers: []string{"X-Hfsim-Dim", "1024"},
			wantUpstream: `{"inputs":` + string(bigJSON) + `}`,
			want:         pooled(1024, true, big...), tokens: estimateTokens(big...)},
		{name: "batch_256x1024_base64", model: pooledModel, input: big, base64: true, headers: []string{"X-Hfsim-Dim", "1024"},
			wantUpstream: `{"inputs":` + string(bigJSON) + `}`,
			want:         pooled(1024, true, big...), tokens: estimateTokens(big...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			// The client brings its own Kong credential: it must not reach
			// Hugging Face, the gateway's token must.
			headers := append([]string{"X-E2E-Id", id, "Authorization", "Bearer " + clientAPIKey}, tc.headers...)
			res := r.post(t, "/emb", tc.body(t), headers...)
			require.Equal(t, http.StatusOK, res.status, "body: %.1000s", res.body)

			up := oneUpstream(t, router, id)
			require.Equal(t, "/hf-inference/models/"+tc.model+"/pipeline/feature-extraction", up.Path)
			require.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
			require.Equal(t, "application/json", up.Header.Get("Content-Type"))
			require.JSONEq(t, tc.wantUpstream, string(up.Body))

			require.Equal(t, "huggingface/"+tc.model, res.header.Get("X-Kong-LLM-Model"))
			l, got := decodeEmbeddings(t, res.body, tc.base64)
			require.Equal(t, tc.model, l.Model)
			requireVectorsEqual(t, tc.want(), got, tc.delta)
			require.Len(t, got, len(tc.inputs()))
			require.Equal(t, tc.tokens, l.Usage.PromptTokens, "prompt_tokens")
			require.Equal(t, tc.tokens, l.Usage.TotalTokens, "total_tokens")
		})
	}
}

// TestEmbeddingsConfiguredModel: with model.name set, a request without a
// model uses it, and a request naming another model is refused before
// anything reaches the upstream.
func TestEmbeddingsConfiguredModel(t *testing.T) {
	t.Parallel()
	cfg := `{"route_type":"llm/v1/embeddings","genai_category":"text/embeddings","auth":` + authConfig(hfToken) +
		`,"model":{"provider":"huggingface","name":"` + pooledModel + `"}}`
	r := startRig(t, route{path: "/emb", config: cfg})

	id := reqID(t) + "/no-model"
	res := r.post(t, "/emb", `{"input":"hello world"}`, "X-E2E-Id", id)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	l, got := decodeEmbeddings(t, res.body, false)
	require.Equal(t, pooledModel, l.Model)
	requireVectorsEqual(t, pooled(hfsim.DefaultEmbeddingDim, true, "hello world")(), got, 0)
	up := oneUpstream(t, router, id)
	require.Equal(t, "/hf-inference/models/"+pooledModel+"/pipeline/feature-extraction", up.Path)

	id = reqID(t)
	res = r.post(t, "/emb", `{"model":"BAAI/bge-small-en-v1.5","input":"hello"}`, "X-E2E-Id", id)
	requireErrorBody(t, res, http.StatusBadRequest, "invalid_request_error", pooledModel)
	require.Empty(t, upstreamRequests(router, id))
}

// TestEmbeddingsTEI points upstream_url at a dedicated TEI server: the
// request goes to {upstream_url}/embed with {"inputs": ...} (TEI answers
// 2-D for every input), or, for an upstream_url ending in /v1/embeddings,
// to TEI's OpenAI-compatible route with the client's body, whose usage
// is the upstream's own count.
func TestEmbeddingsTEI(t *testing.T) {
	t.Parallel()
	tei := startHF(t, hfsim.Options{Token: hfToken})
	teiURL := tei.URL()
	r := startRig(t,
		route{path: "/tei", config: embedConfig(hfToken, teiURL, "")},
		route{path: "/tei-prefixed", config: embedConfig(hfToken, teiURL+"/embed", "")},
		route{path: "/tei-openai", config: embedConfig(hfToken, teiURL+"/v1/embeddings", "")},
	)
	const dim = hfsim.DefaultEmbeddingDim
	two := []string{"tei one", "tei two words"}
	for _, tc := range []struct {
		name, route, body, wantPath, wantBody string
		texts                                 []string
		base64                                bool
		tokens                                int
	}{
		{name: "embed_string", route: "/tei", body: `{"model":"` + pooledModel + `","input":"hello tei"}`,
			wantPath: "/embed", wantBody: `{"inputs":"hello tei"}`, texts: []string{"hello tei"}, tokens: estimateTokens("hello tei")},
		{name: "embed_array", route: "/tei", body: `{"model":"` + pooledModel + `","input":["tei one","tei two words"]}`,
			wantPath: "/embed", wantBody: `{"inputs":["tei one","tei two words"]}`, texts: two, tokens: estimateTokens(two...)},
		{name: "embed_array_base64_normalize", route: "/tei", body: `{"model":"` + pooledModel + `","input":["tei one","tei two words"],"encoding_format":"base64","normalize":true}`,
			wantPath: "/embed", wantBody: `{"inputs":["tei one","tei two words"],"normalize":true}`, texts: two, base64: true, tokens: estimateTokens(two...)},
		{name: "embed_full_url", route: "/tei-prefixed", body: `{"model":"` + pooledModel + `","input":"hello tei"}`,
			wantPath: "/embed", wantBody: `{"inputs":"hello tei"}`, texts: []string{"hello tei"}, tokens: estimateTokens("hello tei")},
		{name: "openai_compatible", route: "/tei-openai", body: `{"model":"` + pooledModel + `","input":["tei one","tei two words"]}`,
			wantPath: "/v1/embeddings", wantBody: `{"model":"` + pooledModel + `","input":["tei one","tei two words"]}`, texts: two, tokens: tokenCounts(two...)},
		{name: "openai_compatible_base64", route: "/tei-openai", body: `{"model":"` + pooledModel + `","input":["tei one","tei two words"],"encoding_format":"base64"}`,
			// base64 is made by the plugin from the floats it asked for.
			wantPath: "/v1/embeddings", wantBody: `{"model":"` + pooledModel + `","input":["tei one","tei two words"]}`, texts: two, base64: true, tokens: tokenCounts(two...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			res := r.post(t, tc.route, tc.body, "X-E2E-Id", id)
			require.Equal(t, http.StatusOK, res.status, "body: %.1000s", res.body)
			up := oneUpstream(t, tei, id)
			require.Equal(t, tc.wantPath, up.Path)
			require.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
			require.JSONEq(t, tc.wantBody, string(up.Body))
			require.Empty(t, upstreamRequests(router, id), "nothing goes to the router")

			l, got := decodeEmbeddings(t, res.body, tc.base64)
			require.Equal(t, pooledModel, l.Model)
			requireVectorsEqual(t, pooled(dim, true, tc.texts...)(), got, 0)
			require.Equal(t, tc.tokens, l.Usage.PromptTokens)
			require.Equal(t, tc.tokens, l.Usage.TotalTokens)
		})
	}
}

// TestEmbeddingsRequestErrors: requests that cannot be served get a 400 in
// the OpenAI error shape from the plugin, and nothing reaches the upstream.
func TestEmbeddingsRequestErrors(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/emb", config: embedConfig(hfToken, "", "")})
	m := `"model":"` + pooledModel + `",`
	for _, tc := range []struct {
		name, body, want string
	}{
		{"token_array", `{` + m + `"input":[1,2,3]}`, "token ids"},
		{"token_arrays", `{` + m + `"input":[[1,2],[3,4]]}`, "token ids"},
		{"token_number", `{` + m + `"input":42}`, "token ids"},
		{"empty_string", `{` + m + `"input":""}`, "empty string"},
		{"empty_array", `{` + m + `"input":[]}`, "empty array"},
		{"empty_string_in_array", `{` + m + `"input":["a",""]}`, "empty string"},
		{"no_input", `{` + m + `"encoding_format":"float"}`, "no \"input\""},
		{"null_input", `{` + m + `"input":null}`, "no \"input\""},
		{"object_input", `{` + m + `"input":{"text":"a"}}`, "must be a string or an array of strings"},
		{"stream_true", `{` + m + `"input":"a","stream":true}`, "cannot be streamed"},
		{"bad_encoding_format", `{` + m + `"input":"a","encoding_format":"int8"}`, "encoding_format"},
		{"bad_dimensions", `{` + m + `"input":"a","dimensions":0}`, "dimensions"},
		{"bad_normalize", `{` + m + `"input":"a","normalize":"yes"}`, "normalize"},
		{"no_model", `{"input":"a"}`, "model"},
		{"not_json", `input=a`, "JSON"},
		{"duplicate_model", `{"model":"` + pooledModel + `","model":"gpt2","input":"a"}`, "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			res := r.post(t, "/emb", tc.body, "X-E2E-Id", id)
			requireErrorBody(t, res, http.StatusBadRequest, "invalid_request_error", tc.want)
			require.Empty(t, upstreamRequests(router, id), "a refused request must not reach the upstream")
		})
	}
}

// TestEmbeddingsBadUpstreamAnswers: a 2xx answer that cannot be used as a
// whole (not JSON, an object, ragged, non-numeric, too deep, a vector count
// that does not match the inputs) is a 502 naming the problem, and never a
// partial list.
func TestEmbeddingsBadUpstreamAnswers(t *testing.T) {
	t.Parallel()
	up := newCrafted(t)
	r := startRig(t,
		route{path: "/emb", config: embedConfig(hfToken, "", "")},
		route{path: "/crafted", config: embedConfig(hfToken, up.srv.URL, "")},
	)
	two := `["a","b"]`
	for _, tc := range []struct {
		name   string
		input  string
		answer string // crafted 200 body; "" = hfsim fault below
		fault  string
		want   string
	}{
		{name: "hfsim_bad_json", input: two, fault: hfsim.FaultBadJSON, want: "cannot be used"},
		{name: "hfsim_wrong_shape", input: two, fault: hfsim.FaultWrongShape, want: "cannot be used"},
		{name: "ragged_2d", input: two, answer: `[[0.1,0.2],[0.3]]`, want: "ragged"},
		{name: "ragged_2d_longer", input: two, answer: `[[0.1,0.2],[0.3,0.4,0.5]]`, want: "ragged"},
		{name: "ragged_3d_tokens", input: two, answer: `[[[0.1,0.2],[0.3]],[[0.1,0.2]]]`, want: "ragged"},
		{name: "ragged_mixed_depth", input: two, answer: `[[0.1,0.2],[[0.3,0.4]]]`, want: "ragged"},
		{name: "non_numeric_string", input: two, answer: `[["x","y"],[0.1,0.2]]`, want: "non-numeric"},
		{name: "non_numeric_null", input: two, answer: `[[0.1,null],[0.1,0.2]]`, want: "non-numeric"},
		{name: "fewer_vectors", input: two, answer: `[[0.1,0.2]]`, want: "1 vectors for 2 inputs"},
		{name: "more_vectors", input: two, answer: `[[0.1,0.2],[0.3,0.4],[0.5,0.6]]`, want: "more than 2 vectors"},
		{name: "one_d_for_two_inputs", input: two, answer: `[0.1,0.2]`, want: "1 vectors for 2 inputs"},
		{name: "too_deep", input: `"a"`, answer: `[[[[[0.1]]]]]`, want: "levels deep"},
		{name: "empty_array", input: `"a"`, answer: `[]`, want: "empty array"},
		{name: "truncated", input: two, answer: `[[0.1,0.2],[0.3,0.4`, want: "ends"},
		{name: "trailing_garbage", input: two, answer: `[[0.1,0.2],[0.3,0.4]] x`, want: "unexpected data"},
		{name: "error_object_200", input: `"a"`, answer: `{"error":"CUDA out of memory"}`, want: "CUDA out of memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			body := `{"model":"` + pooledModel + `","input":` + tc.input + `}`
			var res response
			if tc.fault != "" {
				res = r.post(t, "/emb", body, "X-E2E-Id", id, "X-Hfsim-Fault", tc.fault)
				require.Len(t, upstreamRequests(router, id), 1)
			} else {
				up.answer(id, craftedAnswer{status: http.StatusOK, ctype: "application/json", body: tc.answer})
				res = r.post(t, "/crafted", body, "X-E2E-Id", id)
				reqs := up.requests(id)
				require.Len(t, reqs, 1)
				require.Equal(t, "/embed", reqs[0].URL.Path)
			}
			e := requireErrorBody(t, res, http.StatusBadGateway, "", tc.want)
			require.Equal(t, "bad_upstream_response", e["code"])
			require.NotContains(t, string(res.body), `"embedding"`)
		})
	}
}

// TestEmbeddingsUpstreamErrors: the upstream's errors keep their status
// and come back in the OpenAI error shape with Hugging Face's message; a
// loading model's estimated_time becomes Retry-After.
func TestEmbeddingsUpstreamErrors(t *testing.T) {
	t.Parallel()
	tei := startHF(t, hfsim.Options{Token: hfToken})
	teiURL := tei.URL()
	r := startRig(t,
		route{path: "/emb", config: embedConfig(hfToken, "", "")},
		route{path: "/emb-badtoken", config: embedConfig("hf_not_the_right_token", "", "")},
		route{path: "/tei", config: embedConfig(hfToken, teiURL, "")},
	)
	body := `{"model":"` + pooledModel + `","input":["a","b"]}`
	for _, tc := range []struct {
		name, route, fault string
		status             int
		typ, want          string
		retryAfter         string
	}{
		{name: "loading_503", route: "/emb", fault: hfsim.FaultLoading, status: 503, typ: "server_error",
			want: "Model " + pooledModel + " is currently loading", retryAfter: "306"},
		{name: "bad_token_401", route: "/emb-badtoken", status: 401, typ: "authentication_error",
			want: "Authorization header is correct, but the token seems invalid"},
		{name: "ratelimit_429", route: "/emb", fault: hfsim.FaultRateLimit, status: 429, typ: "rate_limit_error", want: "Rate limit reached"},
		{name: "overloaded_429", route: "/emb", fault: hfsim.FaultOverloaded, status: 429, typ: "rate_limit_error", want: "Model is overloaded"},
		{name: "timeout_504", route: "/emb", fault: hfsim.FaultTimeout, status: 504, typ: "server_error", want: "time out"},
		{name: "html_500", route: "/emb", fault: hfsim.FaultHTML500, status: 500, typ: "server_error", want: "500 Internal Server Error"},
		{name: "tei_loading_503", route: "/tei", fault: hfsim.FaultLoading, status: 503, typ: "server_error",
			want: "is currently loading", retryAfter: "306"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			h := []string{"X-E2E-Id", id}
			if tc.fault != "" {
				h = append(h, "X-Hfsim-Fault", tc.fault)
			}
			res := r.post(t, tc.route, body, h...)
			requireErrorBody(t, res, tc.status, tc.typ, tc.want)
			require.Equal(t, tc.retryAfter, res.header.Get("Retry-After"))
			n := len(upstreamRequests(router, id)) + len(upstreamRequests(tei, id))
			require.Equal(t, 1, n, "exactly one upstream request")
		})
	}
}

// TestEmbeddingsLogRecord: the log record of an embeddings request carries
// the request through Kong and the plugin's PDK calls; shown for the call
// budget, and asserted against it.
func TestEmbeddingsLogRecord(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/emb", config: embedConfig(hfToken, "", "")})
	res := r.post(t, "/emb", `{"model":"`+pooledModel+`","input":["a","b"]}`, "X-E2E-Id", reqID(t))
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	recs := r.records(t, 1)
	require.Len(t, recs, 1)
	resp, _ := recs[0]["response"].(map[string]any)
	require.EqualValues(t, 200, resp["status"], "record: %v", recs[0])
	calls := pdkCalls(t, r.memRecords(t, 1)[0])
	total := func(phase string) int {
		n := 0
		for _, c := range calls[phase] {
			n += c
		}
		return n
	}
	t.Logf("pdk calls: %v", calls)
	// Logging off: the relay's data path. access: headers, path, target,
	// scheme, the ticket's path, buffering off; the relay reads, translates
	// and answers, so no response phase.
	require.Equal(t, 6, total("access"), fmt.Sprint(calls["access"]))
	require.Zero(t, total("response"), fmt.Sprint(calls["response"]))
	require.False(t, strings.Contains(string(res.body), hfToken))
}
