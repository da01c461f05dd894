package clients_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/ai-proxy-hf/ai-proxy-hf/e2e/clients"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
)

// These tests run each client script straight against the fake Hugging
// Face upstream, without Kong: they pin what the scripts send (so the
// end-to-end tests know what reaches the plugin) and how they report what
// they get, with both installed versions of each npm client (subtests
// "pinned" and "latest"). Expected values come from hfsim's own derivation
// helpers.

const token = "hf_clients_test"

type result struct {
	out  gjson.Result
	code int
	srv  *hfsim.Server
	// url is the fake upstream's address (BASE_URL without basePath).
	url string
}

// run starts a fresh hfsim, runs `node script` with env (BASE_URL is
// hfsim's URL + basePath) and returns the script's one JSON line.
//
// The script runs with v's packages, and its line must say it did: the
// package and the version package.json declares (a stale node_modules
// fails here, not as a puzzling difference further on).
func run(t *testing.T, v clients.Version, script, basePath string, env map[string]string) result {
	t.Helper()
	for _, pkg := range []string{v.HFPkg, v.OpenAIPkg} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("e2e/clients/node_modules/%s is not installed (run `make deps`): %v", pkg, err)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed; the client scripts need Node.js 20+: %v", err)
	}
	srv := hfsim.New(hfsim.Options{Token: token})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "BASE_URL="+ts.URL+basePath, "API_KEY="+token, "TIMEOUT_MS=20000",
		"HF_PKG="+v.HFPkg, "OPENAI_PKG="+v.OpenAIPkg)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("node %s: %v (stderr: %s)", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	require.Len(t, lines, 1, "%s must print exactly one line; stdout %q, stderr %q", script, stdout.String(), stderr.String())
	require.True(t, gjson.Valid(lines[0]), "%s printed %q, not JSON", script, lines[0])
	out := gjson.Parse(lines[0])
	if !out.Get("usage_error").Exists() {
		require.NoError(t, clients.CheckImported(".", script, v, out))
	}
	return result{out: out, code: code, srv: srv, url: ts.URL}
}

func strs(r gjson.Result) []string {
	var out []string
	for _, x := range r.Array() {
		out = append(out, x.String())
	}
	return out
}

func lastRequest(t *testing.T, srv *hfsim.Server) hfsim.Request {
	t.Helper()
	req, ok := srv.LastRequest()
	require.True(t, ok, "the script sent no request")
	return req
}

// first4 is what the scripts print of a vector: its first components,
// rounded to float32.
func first4(v []float32) []float64 {
	out := make([]float64, 0, 4)
	for _, x := range v[:4] {
		out = append(out, float64(x))
	}
	return out
}

func floats(r gjson.Result) []float64 {
	var out []float64
	for _, x := range r.Array() {
		out = append(out, x.Float())
	}
	return out
}

const model = "meta-llama/Llama-3.3-70B-Instruct"

func TestOpenAIChat(t *testing.T) {
	t.Parallel()
	clients.Each(t, func(t *testing.T, v clients.Version) {
		const input = "What is 1 + 1?"
		r := run(t, v, "chat.mjs", "/v1", map[string]string{"MODEL": model, "INPUT": input})
		assert.Equal(t, 0, r.code)
		assert.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		assert.Equal(t, hfsim.Reply(input), r.out.Get("content").String())
		assert.Equal(t, model, r.out.Get("model").String())
		assert.Equal(t, "chat.completion", r.out.Get("object").String())
		assert.Equal(t, "stop", r.out.Get("finish_reason").String())

		req := lastRequest(t, r.srv)
		assert.Equal(t, "/v1/chat/completions", req.Path)
		assert.Equal(t, "Bearer "+token, req.Header.Get("Authorization"))
		assert.Equal(t, model, gjson.GetBytes(req.Body, "model").String())
		assert.Equal(t, input, gjson.GetBytes(req.Body, "messages.0.content").String())
		assert.False(t, gjson.GetBytes(req.Body, "stream").Bool())
	})
}

func TestOpenAIChatWithoutModel(t *testing.T) {
	t.Parallel()
	clients.Each(t, func(t *testing.T, v clients.Version) {
		r := run(t, v, "chat.mjs", "/v1", nil)
		assert.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		// No MODEL: the body carries no model, so the gateway's config decides.
		assert.False(t, gjson.GetBytes(lastRequest(t, r.srv).Body, "model").Exists())
	})
}

func TestOpenAIChatStream(t *testing.T) {
	t.Parallel()
	clients.Each(t, func(t *testing.T, v clients.Version) {
		const input = "Say OK!"
		r := run(t, v, "chat_stream.mjs", "/v1", map[string]string{"MODEL": model, "INPUT": input, "INCLUDE_USAGE": "1"})
		require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strs(r.out.Get("chunks")))
		assert.Equal(t, hfsim.Reply(input), r.out.Get("content").String())
		assert.Equal(t, "stop", r.out.Get("finish_reason").String())
		assert.Equal(t, int64(len(hfsim.Pieces(hfsim.Reply(input)))), r.out.Get("usage.completion_tokens").Int())

		body := lastRequest(t, r.srv).Body
		assert.True(t, gjson.GetBytes(body, "stream").Bool())
		assert.True(t, gjson.GetBytes(body, "stream_options.include_usage").Bool())
	})
}

func TestOpenAIChatStreamToolCall(t *testing.T) {
	t.Parallel()
	clients.Each(t, func(t *testing.T, v clients.Version) {
		const params = `{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}`
		tools := `{"tools":[{"type":"function","function":{"name":"get_weather","parameters":` + params + `}}]}`
		r := run(t, v, "chat_stream.mjs", "/v1", map[string]string{"MODEL": model, "EXTRA_BODY": tools})
		require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		assert.Equal(t, "get_weather", r.out.Get("tool_calls.0.function.name").String())
		assert.JSONEq(t, hfsim.ToolArguments(params), r.out.Get("tool_calls.0.function.arguments").String())
		assert.True(t, gjson.GetBytes(lastRequest(t, r.srv).Body, "tools.0.function.name").Exists())
	})
}

func TestOpenAICompletions(t *testing.T) {
	t.Parallel()
	clients.Each(t, func(t *testing.T, v clients.Version) {
		const input = "What are you?"
		r := run(t, v, "completions.mjs", "/v1", map[string]string{"MODEL": "gpt2", "INPUT": input, "MAX_TOKENS": "2"})
		require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		want, truncated := hfsim.Truncate(hfsim.Reply(input), 2)
		assert.True(t, truncated)
		assert.Equal(t, want, r.out.Get("text").String())
		assert.Equal(t, "length", r.out.Get("finish_reason").String())
		req := lastRequest(t, r.srv)
		assert.Equal(t, "/v1/completions", req.Path)
		assert.Equal(t, input, gjson.GetBytes(req.Body, "prompt").String())
	})
}

func TestOpenAIEmbeddings(t *testing.T) {
	t.Parallel()
	inputs := []string{"first sentence", "second"}
	clients.Each(t, func(t *testing.T, v clients.Version) {
		for _, tc := range []struct {
			format, wantRequest, wantRaw, wantReport string
		}{
			{format: "float", wantRequest: "float", wantRaw: "array", wantReport: "float"},
			{format: "base64", wantRequest: "base64", wantRaw: "string", wantReport: "base64"},
			// The SDK's default: it asks for base64 and decodes it itself.
			{format: "", wantRequest: "base64", wantRaw: "array", wantReport: "sdk-default"},
		} {
			t.Run("format_"+tc.wantReport, func(t *testing.T) {
				t.Parallel()
				raw, _ := json.Marshal(inputs)
				r := run(t, v, "embeddings.mjs", "/v1", map[string]string{"MODEL": "BAAI/bge-small-en", "INPUT_JSON": string(raw), "ENCODING_FORMAT": tc.format})
				require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
				assert.Equal(t, tc.wantReport, r.out.Get("encoding_format").String())
				assert.Equal(t, int64(len(inputs)), r.out.Get("count").Int())
				for i, in := range inputs {
					vec := r.out.Get("vectors." + strconv.Itoa(i))
					assert.Equal(t, int64(i), vec.Get("index").Int())
					assert.Equal(t, int64(hfsim.DefaultEmbeddingDim), vec.Get("length").Int())
					assert.InDeltaSlice(t, first4(hfsim.Vector(in, hfsim.DefaultEmbeddingDim, true)), floats(vec.Get("first")), 1e-7)
					assert.Equal(t, tc.wantRaw, r.out.Get("raw_types."+strconv.Itoa(i)).String())
				}
				assert.Equal(t, tc.wantRequest, gjson.GetBytes(lastRequest(t, r.srv).Body, "encoding_format").String())
			})
		}
	})
}

// TestHFTextGeneration pins what each version sends with an endpointUrl:
// 4.13.16 TGI's native body to endpointUrl as it is; the newest OpenAI
// completions to <endpointUrl>/v1/completions, with the endpointUrl itself
// as "model" and TGI's parameters flattened into the body.
func TestHFTextGeneration(t *testing.T) {
	t.Parallel()
	const input = "What is Deep Learning?"
	clients.Each(t, func(t *testing.T, v clients.Version) {
		r := run(t, v, "hf_text_generation.mjs", "/generate", map[string]string{"INPUT": input, "MAX_NEW_TOKENS": "8", "EXTRA_PARAMETERS": `{"details":true}`})
		require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		assert.Equal(t, hfsim.Reply(input), r.out.Get("generated_text").String())
		req := lastRequest(t, r.srv)
		assert.Equal(t, "Bearer "+token, req.Header.Get("Authorization"))
		if !v.Latest() {
			assert.Equal(t, "eos_token", r.out.Get("finish_reason").String())
			assert.Equal(t, int64(len(hfsim.Pieces(hfsim.Reply(input)))), r.out.Get("generated_tokens").Int())
			assert.Equal(t, "/generate", req.Path)
			assert.JSONEq(t, `{"inputs":"`+input+`","parameters":{"max_new_tokens":8,"details":true}}`, string(req.Body))
			return
		}
		// The newest returns {generated_text} alone: no details.
		assert.Equal(t, gjson.Null, r.out.Get("finish_reason").Type)
		assert.Equal(t, "/generate/v1/completions", req.Path)
		assert.JSONEq(t, `{"model":"`+r.url+`/generate","max_tokens":8,"details":true,"prompt":"`+input+`"}`, string(req.Body))
	})
}

func TestHFTextGenerationStream(t *testing.T) {
	t.Parallel()
	const input = "What is Deep Learning?"
	clients.Each(t, func(t *testing.T, v clients.Version) {
		r := run(t, v, "hf_text_generation_stream.mjs", "/generate_stream", map[string]string{"INPUT": input, "MAX_NEW_TOKENS": "3"})
		require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		want, _ := hfsim.Truncate(hfsim.Reply(input), 3)
		assert.Equal(t, hfsim.Pieces(want), strs(r.out.Get("tokens")))
		assert.Equal(t, want, r.out.Get("text").String())
		req := lastRequest(t, r.srv)
		assert.True(t, gjson.GetBytes(req.Body, "stream").Bool())
		if !v.Latest() {
			assert.Equal(t, "tgi", r.out.Get("format").String())
			assert.Equal(t, want, r.out.Get("generated_text").String())
			assert.Equal(t, "/generate_stream", req.Path)
			assert.Equal(t, int64(3), gjson.GetBytes(req.Body, "parameters.max_new_tokens").Int())
			return
		}
		// The newest yields the OpenAI completion chunks as they come.
		assert.Equal(t, "openai", r.out.Get("format").String())
		assert.Equal(t, "length", r.out.Get("finish_reason").String())
		assert.Equal(t, "/generate_stream/v1/completions", req.Path)
		assert.Equal(t, int64(3), gjson.GetBytes(req.Body, "max_tokens").Int())
		assert.Equal(t, input, gjson.GetBytes(req.Body, "prompt").String())
	})
}

// TestHFChatCompletion: both versions post OpenAI chat to
// <endpointUrl>/v1/chat/completions with "model" = MODEL, or the
// endpointUrl itself when none is given.
func TestHFChatCompletion(t *testing.T) {
	t.Parallel()
	const input = "What is 1 + 1?"
	clients.Each(t, func(t *testing.T, v clients.Version) {
		for _, tc := range []struct{ name, model string }{{"without_model", ""}, {"with_model", model}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := run(t, v, "hf_chat.mjs", "/tgi", map[string]string{"INPUT": input, "MODEL": tc.model, "MAX_TOKENS": "8"})
				require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
				assert.Equal(t, hfsim.Reply(input), r.out.Get("content").String())
				assert.Equal(t, "stop", r.out.Get("finish_reason").String())
				req := lastRequest(t, r.srv)
				assert.Equal(t, "/tgi/v1/chat/completions", req.Path)
				wantModel := tc.model
				if wantModel == "" {
					wantModel = r.url + "/tgi"
				}
				assert.Equal(t, wantModel, gjson.GetBytes(req.Body, "model").String())
				assert.Equal(t, input, gjson.GetBytes(req.Body, "messages.0.content").String())
				assert.Equal(t, int64(8), gjson.GetBytes(req.Body, "max_tokens").Int())
			})
		}
	})
}

func TestHFChatCompletionStream(t *testing.T) {
	t.Parallel()
	const input = "Say OK!"
	clients.Each(t, func(t *testing.T, v clients.Version) {
		r := run(t, v, "hf_chat_stream.mjs", "/tgi", map[string]string{"INPUT": input})
		require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
		assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strs(r.out.Get("chunks")))
		assert.Equal(t, "stop", r.out.Get("finish_reason").String())
		req := lastRequest(t, r.srv)
		assert.Equal(t, "/tgi/v1/chat/completions", req.Path)
		assert.True(t, gjson.GetBytes(req.Body, "stream").Bool())
		assert.Equal(t, r.url+"/tgi", gjson.GetBytes(req.Body, "model").String())
	})
}

func TestHFFeatureExtraction(t *testing.T) {
	t.Parallel()
	clients.Each(t, func(t *testing.T, v clients.Version) {
		t.Run("pooled_1d", func(t *testing.T) {
			t.Parallel()
			const input = "Today is a sunny day."
			const path = "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction"
			r := run(t, v, "hf_feature_extraction.mjs", path, map[string]string{"INPUT": input})
			require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
			assert.Equal(t, []float64{hfsim.DefaultEmbeddingDim}, floats(r.out.Get("shape")))
			assert.InDeltaSlice(t, first4(hfsim.Vector(input, hfsim.DefaultEmbeddingDim, true)), floats(r.out.Get("vectors.0.first")), 1e-7)
			req := lastRequest(t, r.srv)
			assert.Equal(t, path, req.Path, "endpointUrl as it is")
			assert.JSONEq(t, `{"inputs":"`+input+`"}`, string(req.Body))
		})
		t.Run("token_level_4d", func(t *testing.T) {
			t.Parallel()
			r := run(t, v, "hf_feature_extraction.mjs", "/hf-inference/models/facebook/bart-base/pipeline/feature-extraction", map[string]string{"INPUT_JSON": `["a b","c"]`})
			require.True(t, r.out.Get("ok").Bool(), r.out.Raw)
			// N × 1 × tokens × hidden, tokens = words + 2 of the first input.
			assert.Equal(t, []float64{2, 1, float64(hfsim.TokenCount("a b")), hfsim.DefaultEmbeddingDim}, floats(r.out.Get("shape")))
		})
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script, path string
		env                map[string]string
		check              func(t *testing.T, v clients.Version, out gjson.Result)
	}{
		{
			name: "openai wrong token", script: "chat.mjs", path: "/v1",
			env: map[string]string{"MODEL": model, "API_KEY": "hf_wrong"},
			check: func(t *testing.T, _ clients.Version, out gjson.Result) {
				assert.Equal(t, int64(401), out.Get("error.status").Int())
				assert.Equal(t, "AuthenticationError", out.Get("error.name").String())
				assert.Equal(t, "Authorization header is correct, but the token seems invalid", out.Get("error.error_message").String())
			},
		},
		{
			name: "openai model loading", script: "chat.mjs", path: "/v1",
			env: map[string]string{"MODEL": model, "EXTRA_HEADERS": `{"X-Hfsim-Fault":"loading"}`},
			check: func(t *testing.T, _ clients.Version, out gjson.Result) {
				assert.Equal(t, int64(503), out.Get("error.status").Int())
				assert.Contains(t, out.Get("error.error_message").String(), "is currently loading")
			},
		},
		{
			name: "openai error mid-stream", script: "chat_stream.mjs", path: "/v1",
			env: map[string]string{"MODEL": model, "EXTRA_HEADERS": `{"X-Hfsim-Fault":"stream_error"}`},
			check: func(t *testing.T, _ clients.Version, out gjson.Result) {
				assert.Contains(t, out.Get("error.error_message").String(), "Request failed during generation")
				assert.Equal(t, hfsim.Pieces(hfsim.Reply("Say OK!"))[:1], strs(out.Get("chunks")))
			},
		},
		{
			name: "hf model loading is not retried", script: "hf_text_generation.mjs", path: "/generate",
			env: map[string]string{"EXTRA_HEADERS": `{"X-Hfsim-Fault":"loading"}`},
			check: func(t *testing.T, _ clients.Version, out gjson.Result) {
				assert.Equal(t, int64(503), out.Get("error.status").Int())
				assert.Equal(t, "ProviderApiError", out.Get("error.name").String())
				assert.True(t, out.Get("error.body.estimated_time").Exists())
			},
		},
		{
			name: "hf wrong token", script: "hf_feature_extraction.mjs", path: "/hf-inference/models/a/b/pipeline/feature-extraction",
			env: map[string]string{"API_KEY": "hf_wrong"},
			check: func(t *testing.T, _ clients.Version, out gjson.Result) {
				assert.Equal(t, int64(401), out.Get("error.status").Int())
			},
		},
		{
			name: "hf error mid-stream", script: "hf_text_generation_stream.mjs", path: "/generate_stream",
			env: map[string]string{"EXTRA_HEADERS": `{"X-Hfsim-Fault":"stream_error"}`},
			check: func(t *testing.T, _ clients.Version, out gjson.Result) {
				assert.Contains(t, out.Get("error.message").String(), "Request failed during generation")
				assert.Len(t, out.Get("tokens").Array(), 1)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				r := run(t, v, tc.script, tc.path, tc.env)
				assert.Equal(t, 0, r.code, "a server error is reported, not an exit status")
				assert.False(t, r.out.Get("ok").Bool(), r.out.Raw)
				tc.check(t, v, r.out)
			})
		})
	}
}

func TestUsageError(t *testing.T) {
	t.Parallel()
	clients.Each(t, func(t *testing.T, v clients.Version) {
		r := run(t, v, "embeddings.mjs", "/v1", map[string]string{"ENCODING_FORMAT": "int8"})
		assert.Equal(t, 2, r.code)
		assert.Equal(t, `ENCODING_FORMAT must be float, base64 or unset, got "int8"`, r.out.Get("usage_error").String())
		_, sent := r.srv.LastRequest()
		assert.False(t, sent, "a usage error sends nothing")
	})
}

// TestUnknownPackage: a package name the scripts do not know is a usage
// error, never a silent run of another version.
func TestUnknownPackage(t *testing.T) {
	t.Parallel()
	r := run(t, clients.Version{Name: "typo", HFPkg: "@huggingface/inference", OpenAIPkg: "openai"}, "chat.mjs", "/v1", map[string]string{"OPENAI_PKG": "openai-newest"})
	assert.Equal(t, 2, r.code)
	assert.Equal(t, `OPENAI_PKG must be one of openai, openai-latest, got "openai-newest"`, r.out.Get("usage_error").String())
}
