package translate

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/require"
)

const embedModel = "sentence-transformers/all-MiniLM-L6-v2"

// routerConfig is a router config for routeType with a bearer token and a
// configured model, edited by mod when not nil.
func routerConfig(routeType, model string, mod func(*schema.Config)) *schema.Config {
	cfg := &schema.Config{
		RouteType:          routeType,
		MaxRequestBodySize: 1 << 20,
		Auth:               schema.Auth{HeaderName: "Authorization", HeaderValue: "Bearer hf_test"},
		Model:              schema.Model{Provider: "huggingface", Name: model},
	}
	if mod != nil {
		mod(cfg)
	}
	return cfg
}

// embedConfig is the embeddings route's routerConfig.
func embedConfig(mod func(*schema.Config)) *schema.Config {
	return routerConfig(RouteEmbeddings, embedModel, mod)
}

// openAIList is the client's view of an embeddings answer.
type openAIList struct {
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

// vectorsOf decodes a client answer into float32 vectors, whatever its
// encoding_format, checking the list's envelope on the way.
func vectorsOf(t *testing.T, body []byte) (openAIList, [][]float32) {
	t.Helper()
	var l openAIList
	require.NoError(t, json.Unmarshal(body, &l), "%s", body)
	require.Equal(t, "list", l.Object)
	out := make([][]float32, len(l.Data))
	for i, d := range l.Data {
		require.Equal(t, "embedding", d.Object)
		require.Equal(t, i, d.Index)
		var s string
		if json.Unmarshal(d.Embedding, &s) == nil {
			raw, err := base64.StdEncoding.DecodeString(s)
			require.NoError(t, err)
			for k := 0; k+4 <= len(raw); k += 4 {
				out[i] = append(out[i], math.Float32frombits(binary.LittleEndian.Uint32(raw[k:])))
			}
			continue
		}
		var fs []float64
		require.NoError(t, json.Unmarshal(d.Embedding, &fs))
		for _, f := range fs {
			out[i] = append(out[i], float32(f))
		}
	}
	return l, out
}

func TestEmbeddingsRoundTrip(t *testing.T) {
	tei := func(c *schema.Config) { c.Model.Options.UpstreamURL = "http://tei.internal:8080" }
	for _, tc := range []struct {
		name     string
		cfg      func(*schema.Config)
		req      string
		path     string
		upStatus int
		upHeader map[string][]string
		upBody   string // file in testdata/embeddings/upstream
		status   int    // client status
		vectors  [][]float32
		usage    Usage
		headers  map[string]string
	}{
		{
			name: "single_string_1d", req: `{"model":"` + embedModel + `","input":"hello world"}`,
			path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "1d.json", status: 200,
			vectors: [][]float32{{0.0123, -0.0456, 0.0789, 0.1011}},
			usage:   Usage{PromptTokens: 5, TotalTokens: 5, Estimated: true, ResponseModel: embedModel},
		},
		{
			name: "list_2d", req: `{"input":["The food was delicious","and the waiter..."]}`,
			path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "2d.json", status: 200,
			vectors: [][]float32{{0.25, -0.5, 0.75}, {0.001, 0.025, -30}},
			usage:   Usage{PromptTokens: 6 + 2 + 5 + 2, TotalTokens: 15, Estimated: true, ResponseModel: embedModel},
		},
		{
			name: "base64_2d", req: `{"input":["a","b"],"encoding_format":"base64"}`,
			path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "2d.json", status: 200,
			vectors: [][]float32{{0.25, -0.5, 0.75}, {0.001, 0.025, -30}},
			usage:   Usage{PromptTokens: 6, TotalTokens: 6, Estimated: true, ResponseModel: embedModel},
		},
		{
			// A plain transformer answers token vectors: mean-pooled, and
			// the token count is the upstream tokenizer's.
			name: "single_3d_pooled", cfg: func(c *schema.Config) { c.Model.Name = "facebook/bart-base" },
			req:  `{"input":"pool me"}`,
			path: "/hf-inference/models/facebook/bart-base/pipeline/feature-extraction", upBody: "3d.json", status: 200,
			vectors: [][]float32{{0.25, 0, 0.4}},
			usage:   Usage{PromptTokens: 4, TotalTokens: 4, ResponseModel: "facebook/bart-base"},
		},
		{
			name: "list_4d_pooled_base64", cfg: func(c *schema.Config) { c.Model.Name = "facebook/bart-base" },
			req:  `{"input":["x","y"],"encoding_format":"base64"}`,
			path: "/hf-inference/models/facebook/bart-base/pipeline/feature-extraction", upBody: "4d.json", status: 200,
			vectors: [][]float32{{2, 3}, {0, 0.5}},
			usage:   Usage{PromptTokens: 5, TotalTokens: 5, ResponseModel: "facebook/bart-base"},
		},
		{
			name: "router_policy_suffix_dropped", cfg: func(c *schema.Config) { c.Model.Name = embedModel + ":fastest" },
			req:  `{"input":"hello world"}`,
			path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "1d.json", status: 200,
			vectors: [][]float32{{0.0123, -0.0456, 0.0789, 0.1011}},
			usage:   Usage{PromptTokens: 5, TotalTokens: 5, Estimated: true, ResponseModel: embedModel + ":fastest"},
		},
		{
			name: "tei_embed_with_hf_parameters", cfg: tei,
			req:  `{"input":["a","b"],"normalize":false,"truncate":true,"truncation_direction":"left","prompt_name":"query","user":"u1"}`,
			path: "/embed", upBody: "2d.json", upHeader: map[string][]string{"x-compute-tokens": {"7"}}, status: 200,
			vectors: [][]float32{{0.25, -0.5, 0.75}, {0.001, 0.025, -30}},
			usage:   Usage{PromptTokens: 7, TotalTokens: 7, ResponseModel: embedModel},
		},
		{
			name: "dimensions_passed", cfg: tei, req: `{"input":"abc","dimensions":3}`,
			path: "/embed", upBody: "dims3.json", status: 200,
			vectors: [][]float32{{1, 2, 3}},
			usage:   Usage{PromptTokens: 3, TotalTokens: 3, Estimated: true, ResponseModel: embedModel},
		},
		{
			name: "openai_compatible_upstream",
			cfg: func(c *schema.Config) {
				c.Model.Options.UpstreamURL = "http://tei.internal:8080/v1/embeddings"
				c.Model.Name = "BAAI/bge-small-en-v1.5"
			},
			req:  `{"input":["x","y"],"encoding_format":"base64","model":"BAAI/bge-small-en-v1.5"}`,
			path: "/v1/embeddings", upBody: "openai.json", status: 200,
			vectors: [][]float32{{0.5, 0.25}, {-0.125, 1}},
			usage:   Usage{PromptTokens: 9, TotalTokens: 9, ResponseModel: "BAAI/bge-small-en-v1.5"},
		},
		{name: "ragged_502", req: `{"input":["a","b"]}`, path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "ragged.json", status: 502},
		{name: "non_numeric_502", req: `{"input":["a","b"]}`, path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "non_numeric.json", status: 502},
		{name: "count_mismatch_502", req: `{"input":["a","b"]}`, path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "count_mismatch.json", status: 502},
		{name: "error_in_200_502", req: `{"input":"a"}`, path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction", upBody: "error_200.json", status: 502},
		{name: "dimensions_ignored_502", cfg: tei, req: `{"input":"abc","dimensions":2}`, path: "/embed", upBody: "dims3.json", status: 502},
		{
			name: "model_loading_503", req: `{"input":"a"}`, path: "/hf-inference/models/" + embedModel + "/pipeline/feature-extraction",
			upStatus: 503, upBody: "loading_503.json", status: 503,
			headers: map[string]string{"Retry-After": "21"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := embedConfig(tc.cfg)
			cap, err := For(cfg)
			require.NoError(t, err)
			in := &ClientRequest{Method: "POST", Path: "/embeddings", Headers: map[string][]string{
				"content-type": {"application/json"}, "apikey": {"kong-key"},
			}, Body: []byte(tc.req)}
			up, err := cap.Request(cfg, in)
			require.NoError(t, err)
			require.Equal(t, tc.path, up.Path)
			require.Equal(t, "Bearer hf_test", up.SetHeaders["authorization"])
			require.Equal(t, "application/json", up.SetHeaders["content-type"])
			require.Contains(t, up.ClearHeaders, "apikey", "the client's Kong credential must not reach Hugging Face")
			require.False(t, up.Stream)
			require.True(t, json.Valid(up.Body), "%s", up.Body)
			checkGolden(t, "embeddings", tc.name+".upstream.json", up.Body)

			// The State crosses the socket as JSON: round-trip it.
			raw, err := json.Marshal(up.State)
			require.NoError(t, err)
			var st State
			require.NoError(t, json.Unmarshal(raw, &st))

			status := tc.upStatus
			if status == 0 {
				status = 200
			}
			res, err := cap.Response(cfg, &st, &UpstreamResponse{
				Status: status, Headers: tc.upHeader, Body: readTestdata(t, "embeddings", "upstream", tc.upBody),
			})
			if tc.status == http.StatusBadGateway {
				require.Error(t, err)
				e := AsError(err)
				require.Equal(t, http.StatusBadGateway, e.Status)
				require.Equal(t, "bad_upstream_response", e.Code)
				checkGolden(t, "embeddings", tc.name+".json", e.Body())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.status, res.Status)
			for k, v := range tc.headers {
				require.Equal(t, v, res.Headers[k])
			}
			require.NotNil(t, res.Body)
			checkGolden(t, "embeddings", tc.name+".json", res.Body)
			if tc.status != 200 {
				require.NotNil(t, res.Error)
				return
			}
			l, got := vectorsOf(t, res.Body)
			require.Equal(t, st.Model, l.Model)
			require.Equal(t, tc.usage.PromptTokens, l.Usage.PromptTokens)
			require.Equal(t, tc.usage.TotalTokens, l.Usage.TotalTokens)
			require.Equal(t, tc.usage, res.Usage)
			require.Len(t, got, len(tc.vectors))
			for i := range tc.vectors {
				require.InDeltaSlice(t, tc.vectors[i], got[i], 1e-6, "vector %d", i)
			}
		})
	}
}

// TestEmbeddingsBase64MatchesFloat checks that base64 and float answers of
// the same upstream bytes carry the same float32 values, bit for bit.
func TestEmbeddingsBase64MatchesFloat(t *testing.T) {
	cfg := embedConfig(nil)
	body := readTestdata(t, "embeddings", "upstream", "2d.json")
	run := func(format string) [][]float32 {
		up, err := Embeddings{}.Request(cfg, &ClientRequest{Body: []byte(`{"input":["a","b"],"encoding_format":"` + format + `"}`)})
		require.NoError(t, err)
		res, err := Embeddings{}.Response(cfg, &up.State, &UpstreamResponse{Status: 200, Body: body})
		require.NoError(t, err)
		_, v := vectorsOf(t, res.Body)
		return v
	}
	f, b := run("float"), run("base64")
	require.Equal(t, len(f), len(b))
	for i := range f {
		for k := range f[i] {
			require.Equal(t, math.Float32bits(f[i][k]), math.Float32bits(b[i][k]))
		}
	}
}

func TestEmbeddingsRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(*schema.Config)
		req    string
		status int
		msg    string
	}{
		{name: "missing_input", req: `{}`, status: 400, msg: `has no "input"`},
		{name: "null_input", req: `{"input":null}`, status: 400, msg: `has no "input"`},
		{name: "empty_string", req: `{"input":""}`, status: 400, msg: "empty string"},
		{name: "empty_list", req: `{"input":[]}`, status: 400, msg: "empty array"},
		{name: "empty_string_in_list", req: `{"input":["a",""]}`, status: 400, msg: `"input"[1] is an empty string`},
		{name: "token_ids", req: `{"input":[101,2023,102]}`, status: 400, msg: "feature-extraction takes text"},
		{name: "token_id_arrays", req: `{"input":[[101,2023],[102]]}`, status: 400, msg: "feature-extraction takes text"},
		{name: "single_token_id", req: `{"input":101}`, status: 400, msg: "feature-extraction takes text"},
		{name: "object_input", req: `{"input":{"text":"a"}}`, status: 400, msg: `"input" must be a string or an array of strings`},
		{name: "mixed_list", req: `{"input":["a",{"b":1}]}`, status: 400, msg: `"input"[1] is not a string`},
		{name: "bad_encoding_format", req: `{"input":"a","encoding_format":"int8"}`, status: 400, msg: `"encoding_format" must be "float" or "base64"`},
		{name: "zero_dimensions", req: `{"input":"a","dimensions":0}`, status: 400, msg: `"dimensions" must be a positive integer`},
		{name: "fractional_dimensions", req: `{"input":"a","dimensions":1.5}`, status: 400, msg: `"dimensions" must be a positive integer`},
		{name: "string_dimensions", req: `{"input":"a","dimensions":"3"}`, status: 400, msg: `"dimensions" must be a positive integer`},
		{name: "stream", req: `{"input":"a","stream":true}`, status: 400, msg: "embeddings cannot be streamed"},
		{name: "normalize_not_bool", req: `{"input":"a","normalize":"yes"}`, status: 400, msg: `"normalize" must be true or false`},
		{name: "truncation_direction_bad", req: `{"input":"a","truncation_direction":"middle"}`, status: 400, msg: `"truncation_direction" must be "left" or "right"`},
		{name: "not_json", req: `input=a`, status: 400, msg: "bad JSON formatting"},
		{name: "own_model", req: `{"input":"a","model":"other/model"}`, status: 400, msg: "cannot use own model - must be: " + embedModel},
		{name: "no_model", cfg: func(c *schema.Config) { c.Model.Name = "" }, req: `{"input":"a"}`, status: 400, msg: "model parameter not found"},
		{name: "model_path_traversal", cfg: func(c *schema.Config) { c.Model.Name = "" }, req: `{"input":"a","model":"org/../x"}`, status: 400, msg: "not a valid Hugging Face model id"},
		{name: "router_other_provider", cfg: func(c *schema.Config) { c.Model.Name = embedModel + ":nebius" }, req: `{"input":"a"}`, status: 400, msg: "hf-inference"},
		{name: "too_large", cfg: func(c *schema.Config) { c.MaxRequestBodySize = 16 }, req: `{"input":"a long enough input"}`, status: 413, msg: "max_request_body_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := embedConfig(tc.cfg)
			up, err := Embeddings{}.Request(cfg, &ClientRequest{Body: []byte(tc.req)})
			require.Nil(t, up)
			e := AsError(err)
			require.Equal(t, tc.status, e.Status, "%v", err)
			require.Contains(t, e.Message, tc.msg)
			require.True(t, json.Valid(e.Body()))
		})
	}
}

// TestEmbeddingsNoLimit checks max_request_body_size 0 = unlimited.
func TestEmbeddingsNoLimit(t *testing.T) {
	cfg := embedConfig(func(c *schema.Config) { c.MaxRequestBodySize = 0 })
	big := `{"input":"` + strings.Repeat("word ", 1<<19) + `"}`
	up, err := Embeddings{}.Request(cfg, &ClientRequest{Body: []byte(big)})
	require.NoError(t, err)
	require.Equal(t, 1, up.State.Inputs)
}

func TestEmbedModeRoundTrip(t *testing.T) {
	for _, m := range []embedMode{
		{opt: vectorOptions{Inputs: 1}, inputs: 1},
		{opt: vectorOptions{Inputs: 3, Encoding: encodeBase64, Dimensions: 256, Normalize: true}, inputs: 3, openAI: true},
	} {
		st := State{Mode: m.String(), Inputs: m.inputs}
		got, err := parseEmbedMode(&st)
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	for _, bad := range []State{{Mode: "f", Inputs: 0}, {Mode: "x", Inputs: 1}, {Mode: "f,d0", Inputs: 1}, {Mode: "", Inputs: 1}} {
		_, err := parseEmbedMode(&bad)
		require.Equal(t, http.StatusInternalServerError, AsError(err).Status, "%+v", bad)
	}
}

// benchEmbeddingAnswer is a 2-D answer of n vectors of dims float32 values
// printed the way hf-inference (Python: the widened float64's shortest
// repr, 16-17 digits) or TEI (Rust: the float32's shortest, at most 9)
// print them.
func benchEmbeddingAnswer(n, dims int, tei bool) []byte {
	var b []byte
	b = append(b, '[')
	x := uint32(12345)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for k := 0; k < dims; k++ {
			if k > 0 {
				b = append(b, ',')
			}
			x = x*1664525 + 1013904223
			v := float32(int32(x>>8)-1<<23) / (1 << 23) * 0.1
			if tei {
				b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
			} else {
				b = strconv.AppendFloat(b, float64(v), 'g', -1, 64)
			}
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

func benchEmbeddings(b *testing.B, req string, body []byte) {
	cfg := embedConfig(nil)
	up, err := Embeddings{}.Request(cfg, &ClientRequest{Body: []byte(req)})
	require.NoError(b, err)
	in := &UpstreamResponse{Status: 200, Body: body}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Embeddings{}).Response(cfg, &up.State, in); err != nil {
			b.Fatal(err)
		}
	}
}

func batchRequest(n int, format string) string {
	return `{"input":[` + strings.TrimSuffix(strings.Repeat(`"some text to embed",`, n), ",") + `],"encoding_format":"` + format + `"}`
}

// BenchmarkEmbeddings256x1024 converts a batch of 256 inputs × 1024 dims.
func BenchmarkEmbeddings256x1024(b *testing.B) {
	for _, style := range []struct {
		name string
		tei  bool
	}{{"python", false}, {"tei", true}} {
		body := benchEmbeddingAnswer(256, 1024, style.tei)
		b.Run(style.name+"/float", func(b *testing.B) { benchEmbeddings(b, batchRequest(256, "float"), body) })
		b.Run(style.name+"/base64", func(b *testing.B) { benchEmbeddings(b, batchRequest(256, "base64"), body) })
	}
}

// BenchmarkEmbeddingsPooled3D mean-pools one input of 512 tokens × 768
// dims (a plain transformer's 1×T×H answer).
func BenchmarkEmbeddingsPooled3D(b *testing.B) {
	tokens := benchEmbeddingAnswer(512, 768, false)
	body := append(append([]byte{'['}, tokens...), ']')
	b.Run("float", func(b *testing.B) { benchEmbeddings(b, `{"input":"a"}`, body) })
	b.Run("base64", func(b *testing.B) { benchEmbeddings(b, `{"input":"a","encoding_format":"base64"}`, body) })
}
