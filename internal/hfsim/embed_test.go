package hfsim

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// shapeOf returns the dimensions of a nested JSON array (first element at
// each level).
func shapeOf(t *testing.T, body []byte) []int {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var shape []int
	for {
		a, ok := v.([]any)
		if !ok {
			return shape
		}
		shape = append(shape, len(a))
		if len(a) == 0 {
			return shape
		}
		v = a[0]
	}
}

func TestFeatureExtraction(t *testing.T) {
	const fe = "/pipeline/feature-extraction"
	cases := []struct {
		name, path, body string
		header           map[string]string
		shape            []int
		want             []byte // exact body
	}{
		{name: "pooled_single_1d", path: "/hf-inference/models/sentence-transformers/distilbert-base-nli-mean-tokens" + fe,
			body: `{"inputs":"That is a happy person"}`, shape: []int{384},
			want: EncodeEmbeddings([]string{"That is a happy person"}, 1, 384, true)},
		{name: "pooled_list_2d", path: "/hf-inference/models/BAAI/bge-small-en-v1.5" + fe,
			body: `{"inputs":["a","b c"],"normalize":false}`, shape: []int{2, 384},
			want: EncodeEmbeddings([]string{"a", "b c"}, 2, 384, false)},
		{name: "token_single_3d", path: "/hf-inference/models/facebook/bart-base" + fe,
			body: `{"inputs":"That is a happy person"}`, shape: []int{1, 7, 384}, // 5 words + <s> + </s>, as HFJS's bart-base test
			want: EncodeEmbeddings([]string{"That is a happy person"}, 3, 384, true)},
		{name: "token_list_4d", path: "/hf-inference/models/google-bert/bert-base-uncased" + fe,
			body: `{"inputs":["a b","c"]}`, shape: []int{2, 1, 4, 384}},
		{name: "unknown_model_pools", path: "/hf-inference/models/acme/thing" + fe, body: `{"inputs":"x"}`, shape: []int{384}},
		{name: "header_dim", path: "/hf-inference/models/acme/thing" + fe, body: `{"inputs":["x"]}`,
			header: map[string]string{"X-Hfsim-Dim": "3"}, shape: []int{1, 3},
			want: EncodeEmbeddings([]string{"x"}, 2, 3, true)},
		{name: "dimensions_truncate", path: "/hf-inference/models/acme/thing" + fe, body: `{"inputs":"x","dimensions":8}`, shape: []int{8}},
		{name: "header_shape_3d", path: "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2" + fe, body: `{"inputs":["x y"]}`,
			header: map[string]string{"X-Hfsim-Shape": "3d", "X-Hfsim-Dim": "2"}, shape: []int{1, 4, 2}},
		{name: "header_shape_token", path: "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2" + fe, body: `{"inputs":"x"}`,
			header: map[string]string{"X-Hfsim-Shape": "token", "X-Hfsim-Dim": "2"}, shape: []int{1, 3, 2}},
		{name: "header_shape_pooled", path: "/hf-inference/models/facebook/bart-base" + fe, body: `{"inputs":"x"}`,
			header: map[string]string{"X-Hfsim-Shape": "pooled", "X-Hfsim-Dim": "2"}, shape: []int{2}},
		{name: "legacy_pipeline_path", path: "/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2", body: `{"inputs":"x"}`, shape: []int{384}},
		{name: "litellm_path", path: "/hf-inference/pipeline/feature-extraction/facebook/bart-base", body: `{"inputs":"x"}`, shape: []int{1, 3, 384}},
		{name: "models_path_embedding_model", path: "/models/sentence-transformers/all-MiniLM-L6-v2", body: `{"inputs":["x"]}`, shape: []int{1, 384}},
		{name: "tei_embed_single_2d", path: "/embed", body: `{"inputs":"x","truncate":true}`, shape: []int{1, 384},
			want: EncodeEmbeddings([]string{"x"}, 2, 384, true)},
		{name: "tei_embed_all_3d", path: "/embed_all", body: `{"inputs":["x","y z"]}`, shape: []int{2, 3, 384}},
	}
	s, url := startServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: tc.path, body: tc.body, header: tc.header})
			body := readBody(t, resp)
			require.Equal(t, 200, resp.StatusCode, string(body))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, tc.shape, shapeOf(t, body))
			if tc.want != nil {
				assert.Equal(t, string(tc.want), string(body))
			}
			rec, _ := s.LastRequest()
			assert.Equal(t, tc.body, string(rec.Body))
		})
	}
}

func TestFeatureExtractionValues(t *testing.T) {
	_, url := startServer(t, Options{EmbeddingDim: 16})
	resp := send(t, url, spec{path: "/hf-inference/models/sentence-transformers/x/pipeline/feature-extraction", body: `{"inputs":["alpha","beta"]}`})
	var got [][]float32
	require.NoError(t, json.Unmarshal(readBody(t, resp), &got))
	require.Len(t, got, 2)
	assert.Equal(t, Vector("alpha", 16, true), got[0], "float32 values survive the JSON round trip exactly")
	assert.Equal(t, Vector("beta", 16, true), got[1])
	var norm float64
	for _, f := range got[0] {
		norm += float64(f) * float64(f)
	}
	assert.InDelta(t, 1.0, norm, 1e-5, "normalised by default")
}

func TestFeatureExtractionErrors(t *testing.T) {
	_, url := startServer(t, Options{})
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"empty_batch", `{"inputs":[]}`, 400, `{"error":"Batch is empty","error_type":"empty"}`},
		{"missing", `{"input":"x"}`, 422, "{\"error\":\"Failed to deserialize the JSON body into the target type: missing field `inputs` at line 1 column 13\",\"error_type\":\"validation\"}"},
		{"not_strings", `{"inputs":[1]}`, 422, "{\"error\":\"Input validation error: `inputs` must be a string or a list of strings\",\"error_type\":\"validation\"}"},
		{"not_json", `x`, 422, `{"error":"Failed to parse the request body as JSON: expected value at line 1 column 1","error_type":"validation"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: "/hf-inference/models/a/b/pipeline/feature-extraction", body: tc.body})
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.want, string(readBody(t, resp)))
		})
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	_, url := startServer(t, Options{EmbeddingDim: 4})
	t.Run("float", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/embeddings", body: `{"model":"BAAI/bge-m3","input":["a b","c"]}`})
		body := readBody(t, resp)
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, `{"prompt_tokens":7,"total_tokens":7}`, gjson.GetBytes(body, "usage").Raw)
		assert.Equal(t, `"BAAI/bge-m3"`, gjson.GetBytes(body, "model").Raw)
		assert.Equal(t, `"list"`, gjson.GetBytes(body, "object").Raw)
		assert.Equal(t, int64(1), gjson.GetBytes(body, "data.1.index").Int())
		var v []float32
		require.NoError(t, json.Unmarshal([]byte(gjson.GetBytes(body, "data.1.embedding").Raw), &v))
		assert.Equal(t, Vector("c", 4, true), v)
	})
	t.Run("base64", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/embeddings", body: `{"input":"a","encoding_format":"base64"}`})
		raw, err := base64.StdEncoding.DecodeString(gjson.GetBytes(readBody(t, resp), "data.0.embedding").String())
		require.NoError(t, err)
		want := Vector("a", 4, true)
		require.Len(t, raw, 16)
		for i := range want {
			assert.Equal(t, want[i], math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	})
}

func TestVideos(t *testing.T) {
	const job = `{"id":"video_%s","object":"video","model":"%s","status":"queued","progress":0,"created_at":1722866733,"completed_at":null,"expires_at":null,"size":"%s","seconds":"%s","quality":"standard","prompt":"%s","remixed_from_video_id":null,"error":null}`
	s, url := startServer(t, Options{VideoSize: 4096})
	t.Run("json_job", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/videos", body: `{"model":"Wan-AI/Wan2.2-TI2V-5B","prompt":"A cat","seconds":"8","size":"1280x720"}`})
		require.Equal(t, 200, resp.StatusCode)
		body := readBody(t, resp)
		id := idOf("", "Wan-AI/Wan2.2-TI2V-5B\x00A cat\x008\x001280x720")
		assert.Equal(t, sprintf(job, id, "Wan-AI/Wan2.2-TI2V-5B", "1280x720", "8", "A cat"), string(body))
	})
	t.Run("json_defaults", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/videos", body: `{"prompt":"p"}`})
		body := readBody(t, resp)
		assert.Equal(t, sprintf(job, idOf("", "sora-2\x00p\x00\x00"), "sora-2", "720x1280", "4", "p"), string(body))
	})
	t.Run("json_forced_for_t2v_model", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/videos", body: `{"prompt":"p","model":"Wan-AI/Wan2.1-T2V-14B"}`, header: map[string]string{"X-Hfsim-Video": "json"}})
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "video", gjson.GetBytes(readBody(t, resp), "object").String())
	})
	t.Run("multipart_with_reference", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		require.NoError(t, mw.WriteField("prompt", "A dog"))
		require.NoError(t, mw.WriteField("model", "sora-2"))
		fw, err := mw.CreateFormFile("input_reference", "ref.png")
		require.NoError(t, err)
		_, err = fw.Write([]byte("\x89PNG fake"))
		require.NoError(t, err)
		require.NoError(t, mw.Close())
		resp := send(t, url, spec{path: "/v1/videos", body: buf.String(), header: map[string]string{"Content-Type": mw.FormDataContentType()}})
		body := readBody(t, resp)
		require.Equal(t, 200, resp.StatusCode, string(body))
		assert.Equal(t, "A dog", gjson.GetBytes(body, "prompt").String())
		assert.Equal(t, "sora-2", gjson.GetBytes(body, "model").String())
		rec, _ := s.LastRequest()
		assert.Equal(t, "sora-2", rec.Model)
		assert.Equal(t, buf.String(), string(rec.Body))
		// The reference file changes the id.
		assert.NotEqual(t, "video_"+idOf("", "sora-2\x00A dog\x00\x00"), gjson.GetBytes(body, "id").String())
	})
	for _, tc := range []struct {
		name, body string
		header     map[string]string
		size       int64
	}{
		{"mp4_by_header", `{"prompt":"p"}`, map[string]string{"X-Hfsim-Video": "mp4"}, 4096},
		{"mp4_by_accept", `{"prompt":"p"}`, map[string]string{"Accept": "video/mp4"}, 4096},
		{"mp4_by_model", `{"prompt":"p","model":"Wan-AI/Wan2.1-T2V-14B"}`, nil, 4096},
		{"mp4_sized", `{"prompt":"p","model":"x/text-to-video"}`, map[string]string{"X-Hfsim-Size": "100000"}, 100000},
		{"mp4_tiny", `{"prompt":"p"}`, map[string]string{"X-Hfsim-Video": "mp4", "X-Hfsim-Size": "10"}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: "/v1/videos", body: tc.body, header: tc.header})
			require.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
			assert.Equal(t, tc.size, resp.ContentLength)
			body := readBody(t, resp)
			want, err := io.ReadAll(VideoReader("p", tc.size))
			require.NoError(t, err)
			assert.Equal(t, want, body)
			if tc.size >= 32 {
				assert.Equal(t, "ftypisom", string(body[4:12]))
				assert.Equal(t, "mdat", string(body[28:32]))
				assert.Equal(t, uint32(tc.size-24), binary.BigEndian.Uint32(body[24:28]))
			}
		})
	}
	for _, tc := range []struct{ name, body, ct, want string }{
		{"missing_prompt", `{"model":"x"}`, "application/json", `{"error":{"message":"Missing required parameter: 'prompt'.","type":"invalid_request_error","param":"prompt","code":"missing_required_parameter"}}`},
		{"bad_json", `{`, "application/json", `{"error":{"message":"We could not parse the JSON body of your request.","type":"invalid_request_error"}}`},
		// The rest of the message is the standard library's.
		{"bad_multipart", "--x\r\nbroken", "multipart/form-data; boundary=x", `{"error":"multipart: malformed MIME header`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: "/v1/videos", body: tc.body, header: map[string]string{"Content-Type": tc.ct}})
			assert.Equal(t, 400, resp.StatusCode)
			assert.True(t, strings.HasPrefix(string(readBody(t, resp)), tc.want))
		})
	}
}
