package e2e

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 6 for the embeddings and video routes: the same ai.proxy keys, with
// what these answers can tell (no completion tokens, so no time per token;
// video bytes described, never logged).

// anModelConfig is anConfig for another route family: model and genai
// category set.
func anModelConfig(t *testing.T, routeType, category, model, options string, stats, payloads bool) string {
	t.Helper()
	return conf(t, anConfig(routeType, "", options, stats, payloads), "model.name", jsonString(model), "genai_category", jsonString(category))
}

func TestAnalyticsEmbeddings(t *testing.T) {
	t.Parallel()
	const (
		pooled = "sentence-transformers/all-MiniLM-L6-v2"
		token  = "google-bert/bert-base-uncased"
	)
	tei := startHF(t, hfsim.Options{Token: hfToken})
	costs := `"input_cost":2,"output_cost":100`
	r := startRig(t,
		route{path: "/pooled", config: anModelConfig(t, "llm/v1/embeddings", "text/embeddings", pooled, costs, true, true)},
		route{path: "/token", config: anModelConfig(t, "llm/v1/embeddings", "text/embeddings", token, "", true, false)},
		route{path: "/tei", config: anModelConfig(t, "llm/v1/embeddings", "text/embeddings", pooled, `"upstream_url":"`+tei.URL()+`/v1/embeddings"`, true, false)},
		route{path: "/off", config: anModelConfig(t, "llm/v1/embeddings", "text/embeddings", pooled, "", false, false)},
	)
	inputs := []string{"The food was delicious", "and the waiter"}
	body := `{"input":["` + strings.Join(inputs, `","`) + `"]}`
	embedUsageKeys := []string{"prompt_tokens", "completion_tokens", "total_tokens", "cost", "time_per_token"}

	check := func(t *testing.T, path string, wantPrompt int, estimated bool) {
		h := id(t)
		res := r.send(t, path, body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p.Get("meta"), anMetaKeys...)
		keys := embedUsageKeys
		if estimated {
			keys = append([]string{"estimated"}, keys...)
		}
		requireKeys(t, p.Get("usage"), keys...)
		assert.EqualValues(t, wantPrompt, p.Get("usage.prompt_tokens").Int())
		assert.EqualValues(t, 0, p.Get("usage.completion_tokens").Int())
		assert.EqualValues(t, wantPrompt, p.Get("usage.total_tokens").Int())
		client := res.json(t)["usage"].(map[string]any)
		assert.EqualValues(t, client["prompt_tokens"], p.Get("usage.prompt_tokens").Int(), "the client's usage agrees")
		assert.Equal(t, "oneshot", p.Get("meta.request_mode").String())
		assert.Equal(t, res.json(t)["model"], p.Get("meta.response_model").String())
		requireLatencyFigures(t, p, 0)
	}
	t.Run("pooled on the router: estimated, with its cost", func(t *testing.T) {
		want := 0
		for _, s := range inputs {
			want += (len(s)+3)/4 + 2 // one token per 4 bytes, rounded up, + 2 special tokens
		}
		check(t, "/pooled", want, true)
	})
	t.Run("pooled: payloads", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/pooled", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		assert.Equal(t, body, p.Get("payload.request").String())
		assert.Equal(t, string(res.body), p.Get("payload.response").String(), "the OpenAI list the client got")
		assert.InDelta(t, float64(p.Get("usage.prompt_tokens").Int())*2/1e6, p.Get("usage.cost").Float(), 1e-15, "input_cost only: no completion")
	})
	t.Run("token-level model: the token vectors counted", func(t *testing.T) {
		want := 0
		for _, s := range inputs {
			want += hfsim.TokenCount(s)
		}
		check(t, "/token", want, false)
	})
	t.Run("TEI's OpenAI route: the upstream's usage", func(t *testing.T) {
		want := 0
		for _, s := range inputs {
			want += hfsim.Words(s) + 2
		}
		check(t, "/tei", want, false)
	})
	t.Run("statistics off: no ai key", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/off", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		assert.NotContains(t, r.loggedRecord(t, h["X-E2E-Id"]), "ai")
	})
	t.Run("upstream error", func(t *testing.T) {
		h := with(id(t), "X-Hfsim-Fault", "loading")
		res := r.send(t, "/pooled", body, h)
		require.Equal(t, http.StatusServiceUnavailable, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireErrorRecord(t, p, res, "upstream")
		assert.Zero(t, p.Get("usage.prompt_tokens").Int())
	})
	t.Run("rejected: streaming asked", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/pooled", `{"input":"x","stream":true}`, h)
		require.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireErrorRecord(t, p, res, "plugin")
		assert.Equal(t, pooled, p.Get("meta.request_model").String())
	})
}

func TestAnalyticsVideo(t *testing.T) {
	t.Parallel()
	const model = "Lightricks/LTX-Video"
	r := startRig(t,
		route{path: "/video", config: anModelConfig(t, "video/v1/videos/generations", "video/generation", model, "", true, true)},
		route{path: "/off", config: anModelConfig(t, "video/v1/videos/generations", "video/generation", model, "", false, false)},
	)
	zeroUsage := []string{"prompt_tokens", "completion_tokens", "total_tokens", "cost", "time_per_token"}

	t.Run("JSON job: zero usage, the job logged", func(t *testing.T) {
		h := with(id(t), "X-Hfsim-Video", "json")
		body := `{"prompt":"a cat playing the piano"}`
		res := r.send(t, "/video", body, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireKeys(t, p, "meta", "usage", "payload")
		requireKeys(t, p.Get("meta"), anMetaKeys...)
		requireKeys(t, p.Get("usage"), zeroUsage...)
		assert.Zero(t, p.Get("usage.total_tokens").Int())
		assert.Equal(t, model, p.Get("meta.request_model").String())
		assert.Equal(t, res.json(t)["model"], p.Get("meta.response_model").String(), "the job's model")
		assert.Equal(t, body, p.Get("payload.request").String())
		assert.Equal(t, string(res.body), p.Get("payload.response").String())
		requireLatencyFigures(t, p, 0)
	})
	t.Run("video bytes: described, never read", func(t *testing.T) {
		const size = 200000
		h := with(id(t), "X-Hfsim-Video", "mp4", "X-Hfsim-Size", fmt.Sprint(size))
		res := r.send(t, "/video", `{"prompt":"a dog"}`, h)
		require.Equal(t, http.StatusOK, res.status)
		require.Len(t, res.body, size)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		assert.Equal(t, fmt.Sprintf("<%d bytes video/mp4>", size), p.Get("payload.response").String())
		assert.Equal(t, model, p.Get("meta.response_model").String())
		requireKeys(t, p.Get("usage"), zeroUsage...)
	})
	t.Run("multipart request with an image: described", func(t *testing.T) {
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		require.NoError(t, mw.WriteField("prompt", "the cat walks"))
		fw, err := mw.CreateFormFile("input_reference", "cat.png")
		require.NoError(t, err)
		_, err = fw.Write([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
		require.NoError(t, err)
		require.NoError(t, mw.Close())
		h := with(id(t), "X-Hfsim-Video", "json", "Content-Type", mw.FormDataContentType())
		res := r.do(t, http.MethodPost, "/video", form.Bytes(), h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		assert.Equal(t, fmt.Sprintf("<%d bytes multipart/form-data>", form.Len()), p.Get("payload.request").String())
		assert.Equal(t, string(res.body), p.Get("payload.response").String())
	})
	t.Run("upstream error", func(t *testing.T) {
		h := with(id(t), "X-Hfsim-Fault", "credits")
		res := r.send(t, "/video", `{"prompt":"x"}`, h)
		require.Equal(t, http.StatusPaymentRequired, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireErrorRecord(t, p, res, "upstream")
		r.waitErrorLog(t, "[warn]", "[ai-proxy-hf] upstream answered 402 for model "+model)
	})
	t.Run("rejected: no prompt", func(t *testing.T) {
		h := id(t)
		res := r.send(t, "/video", `{"seconds":"4"}`, h)
		require.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
		p := aiProxy(t, r.loggedRecord(t, h["X-E2E-Id"]))
		requireErrorRecord(t, p, res, "plugin")
		assert.Equal(t, `{"seconds":"4"}`, p.Get("payload.request").String())
	})
	t.Run("statistics off: no ai key", func(t *testing.T) {
		h := with(id(t), "X-Hfsim-Video", "json")
		res := r.send(t, "/off", `{"prompt":"x"}`, h)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		assert.NotContains(t, r.loggedRecord(t, h["X-E2E-Id"]), "ai")
	})
}
