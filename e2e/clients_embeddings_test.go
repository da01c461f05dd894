package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/ai-proxy-hf/ai-proxy-hf/e2e/clients"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// These tests drive the official npm clients (e2e/clients) through the
// stand-in: the openai client's embeddings.create and @huggingface/inference's
// featureExtraction must get the vectors hfsim derives for their inputs.

// embedClientDir holds the client scripts and their node_modules.
const embedClientDir = "clients"

// runEmbedClient runs `node script` from e2e/clients with env and returns
// its one JSON line. Without node or node_modules the test fails with the
// fix (`make deps`), unless E2E_SKIP_NODE=1 asks to skip explicitly.
func runEmbedClient(t *testing.T, script string, env map[string]string) gjson.Result {
	t.Helper()
	skip := os.Getenv("E2E_SKIP_NODE") == "1"
	node, err := exec.LookPath("node")
	if err != nil {
		if skip {
			t.Skip("E2E_SKIP_NODE=1 and node is not installed")
		}
		t.Fatalf("node is not installed: the client tests need Node.js 20+ and npm; run `make deps` (or set E2E_SKIP_NODE=1 to skip them): %v", err)
	}
	for _, pkg := range []string{"openai", "@huggingface/inference", "openai-latest", "hf-latest"} {
		if _, err := os.Stat(filepath.Join(embedClientDir, "node_modules", pkg, "package.json")); err != nil {
			if skip {
				t.Skipf("E2E_SKIP_NODE=1 and e2e/clients/node_modules/%s is missing", pkg)
			}
			t.Fatalf("e2e/clients/node_modules/%s is not installed: run `make deps` (or set E2E_SKIP_NODE=1 to skip the client tests): %v", pkg, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = embedClientDir
	cmd.Env = append(os.Environ(), "TIMEOUT_MS=20000")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("node %s: %v (stderr: %s)", script, err, stderr.String())
	}
	line := strings.TrimSpace(stdout.String())
	require.NotContains(t, line, "\n", "%s must print one line; stderr: %s", script, stderr.String())
	require.True(t, gjson.Valid(line), "%s printed %q (stderr: %s)", script, line, stderr.String())
	keep([]byte(line))
	out := gjson.Parse(line)
	require.False(t, out.Get("usage_error").Exists(), "usage error: %s", line)
	return out
}

// vecHead is what the scripts print of a vector: its first components as
// float32 values.
func vecHead(v []float32) []float64 {
	out := make([]float64, 0, 4)
	for _, x := range v[:4] {
		out = append(out, float64(x))
	}
	return out
}

func gjsonFloats(r gjson.Result) []float64 {
	var out []float64
	for _, x := range r.Array() {
		out = append(out, x.Float())
	}
	return out
}

// TestClientOpenAIEmbeddings: the openai npm client's embeddings.create
// through an embeddings route, for each encoding (float, base64 decoded by
// the script, and the SDK's default: base64 asked for and decoded by the
// SDK), for pooled and token-level models, with both client versions.
func TestClientOpenAIEmbeddings(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/v1", config: embedConfig(hfToken, "", "")})
	inputs := []string{"first sentence", "the second one is longer"}
	raw, err := json.Marshal(inputs)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, model, format, report, rawType string
		want                                 [][]float32
		delta                                float64
		tokens                               int
	}{
		{name: "float", model: pooledModel, format: "float", report: "float", rawType: "array",
			want: pooled(hfsim.DefaultEmbeddingDim, true, inputs...)(), tokens: estimateTokens(inputs...)},
		{name: "base64", model: pooledModel, format: "base64", report: "base64", rawType: "string",
			want: pooled(hfsim.DefaultEmbeddingDim, true, inputs...)(), tokens: estimateTokens(inputs...)},
		{name: "sdk_default", model: pooledModel, format: "", report: "sdk-default", rawType: "array",
			want: pooled(hfsim.DefaultEmbeddingDim, true, inputs...)(), tokens: estimateTokens(inputs...)},
		{name: "token_level_base64", model: tokenModel, format: "base64", report: "base64", rawType: "string",
			want: tokenPooled(hfsim.DefaultEmbeddingDim, false, inputs...)(), delta: poolDelta, tokens: tokenCounts(inputs...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				id := reqID(t)
				out := runClient(t, v, "embeddings.mjs", map[string]string{
					"BASE_URL": r.k.ProxyURL() + "/v1", "API_KEY": clientAPIKey, "MODEL": tc.model,
					"INPUT_JSON": string(raw), "ENCODING_FORMAT": tc.format,
					"EXTRA_HEADERS": `{"X-E2E-Id":"` + id + `"}`,
				})
				require.True(t, out.Get("ok").Bool(), out.Raw)
				require.Equal(t, "list", out.Get("object").String())
				require.Equal(t, tc.model, out.Get("model").String())
				require.Equal(t, tc.report, out.Get("encoding_format").String())
				require.EqualValues(t, len(inputs), out.Get("count").Int())
				for i, rt := range out.Get("raw_types").Array() {
					require.Equal(t, tc.rawType, rt.String(), "raw type of vector %d", i)
				}
				for i, w := range tc.want {
					v := out.Get("vectors." + strconv.Itoa(i))
					require.EqualValues(t, i, v.Get("index").Int())
					require.EqualValues(t, len(w), v.Get("length").Int())
					require.InDeltaSlice(t, vecHead(w), gjsonFloats(v.Get("first")), tc.delta, "vector %d", i)
				}
				require.EqualValues(t, tc.tokens, out.Get("usage.prompt_tokens").Int())
				require.EqualValues(t, tc.tokens, out.Get("usage.total_tokens").Int())

				up := oneUpstream(t, router, id)
				require.Equal(t, "/hf-inference/models/"+tc.model+"/pipeline/feature-extraction", up.Path)
				require.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"), "the client's key is replaced by the gateway's token")
				require.JSONEq(t, `{"inputs":`+string(raw)+`}`, string(up.Body), "encoding_format is the plugin's business, not the upstream's")
			})
		})
	}
}

// TestClientOpenAIEmbeddingsErrors: the openai client sees the plugin's
// 400s and the upstream's errors as the SDK's error classes.
func TestClientOpenAIEmbeddingsErrors(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/v1", config: embedConfig(hfToken, "", "")})
	for _, tc := range []struct {
		name, input, headers, errName, msg string
		status                             int64
		upstream                           int
	}{
		{name: "token_ids", input: `[[1,2,3]]`, errName: "BadRequestError", status: 400, msg: "token ids"},
		{name: "empty", input: `[]`, errName: "BadRequestError", status: 400, msg: "empty array"},
		{name: "loading", input: `"hello"`, headers: `"X-Hfsim-Fault":"loading",`, errName: "InternalServerError", status: 503,
			msg: "is currently loading", upstream: 1},
		{name: "wrong_shape_answer", input: `["a","b"]`, headers: `"X-Hfsim-Fault":"wrong_shape",`, errName: "InternalServerError", status: 502,
			msg: "cannot be used", upstream: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				id := reqID(t)
				out := runClient(t, v, "embeddings.mjs", map[string]string{
					"BASE_URL": r.k.ProxyURL() + "/v1", "API_KEY": clientAPIKey, "MODEL": pooledModel,
					"INPUT_JSON": tc.input, "ENCODING_FORMAT": "float",
					"EXTRA_HEADERS": `{` + tc.headers + `"X-E2E-Id":"` + id + `"}`,
				})
				require.False(t, out.Get("ok").Bool(), out.Raw)
				require.Equal(t, tc.errName, out.Get("error.name").String(), out.Raw)
				require.Equal(t, tc.status, out.Get("error.status").Int(), out.Raw)
				require.Contains(t, out.Get("error.error_message").String(), tc.msg, out.Raw)
				require.Len(t, upstreamRequests(router, id), tc.upstream)
			})
		})
	}
}

// TestClientHFFeatureExtraction: @huggingface/inference's featureExtraction
// pointed (endpointUrl) at a preserve route placed where the router's
// hf-inference paths are. Its {"inputs": ...} body and bare-array answer are
// Hugging Face's own protocol, which the embeddings route (OpenAI in and
// out) does not speak; the preserve route passes it through with the
// gateway's token, and the client gets the arrays the model returned. Both
// client versions post {"inputs", ...} to endpointUrl as it is.
func TestClientHFFeatureExtraction(t *testing.T) {
	t.Parallel()
	cfg := `{"route_type":"preserve","genai_category":"text/embeddings","auth":` + authConfig(hfToken) + `,"model":{"provider":"huggingface"}}`
	r := startRig(t, route{path: "/hf-inference", config: cfg})
	const dim = hfsim.DefaultEmbeddingDim
	for _, tc := range []struct {
		name, model, inputJSON, extra string
		shape                         []float64
		want                          [][]float32
	}{
		{name: "pooled_1d", model: pooledModel, inputJSON: `"Today is a sunny day."`,
			shape: []float64{dim}, want: pooled(dim, true, "Today is a sunny day.")()},
		{name: "pooled_2d", model: pooledModel, inputJSON: `["one","two words"]`,
			shape: []float64{2, dim}, want: pooled(dim, true, "one", "two words")()},
		{name: "pooled_not_normalized", model: pooledModel, inputJSON: `"raw"`, extra: `{"normalize":false}`,
			shape: []float64{dim}, want: pooled(dim, false, "raw")()},
		{name: "token_level_3d", model: tokenModel, inputJSON: `"a b c"`,
			shape: []float64{1, float64(hfsim.TokenCount("a b c")), dim}, want: hfsim.TokenVectors("a b c", dim)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				id := reqID(t)
				out := runClient(t, v, "hf_feature_extraction.mjs", map[string]string{
					"BASE_URL":      r.k.ProxyURL() + "/hf-inference/models/" + tc.model + "/pipeline/feature-extraction",
					"API_KEY":       clientAPIKey,
					"INPUT_JSON":    tc.inputJSON,
					"EXTRA_BODY":    tc.extra,
					"EXTRA_HEADERS": `{"X-E2E-Id":"` + id + `"}`,
				})
				require.True(t, out.Get("ok").Bool(), out.Raw)
				require.Equal(t, tc.shape, gjsonFloats(out.Get("shape")))
				vecs := out.Get("vectors").Array()
				require.Len(t, vecs, len(tc.want))
				for i, w := range tc.want {
					require.EqualValues(t, len(w), vecs[i].Get("length").Int())
					require.Equal(t, vecHead(w), gjsonFloats(vecs[i].Get("first")), "vector %d", i)
				}
				up := oneUpstream(t, router, id)
				require.Equal(t, "/hf-inference/models/"+tc.model+"/pipeline/feature-extraction", up.Path)
				require.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
				require.JSONEq(t, tc.inputJSON, gjson.GetBytes(up.Body, "inputs").Raw)
			})
		})
	}
}
