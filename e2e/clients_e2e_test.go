package e2e

import (
	"encoding/json"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// Issue 4, "What it must show": the official openai npm client (chat, chat
// streaming, completions) and @huggingface/inference (textGeneration and
// textGenerationStream against the native route) pointed at the stand-in,
// through the real plugin, to the fake upstream. The scripts are those of
// e2e/clients, run by runEmbedClient (clients_embeddings_test.go): without
// node or node_modules the test fails saying to run `make deps`, unless
// E2E_SKIP_NODE=1.

// clientEnv is the environment of one client run: the route, the client's
// own key for Kong (the gateway swaps in its Hugging Face token), and the
// request id plus extra headers.
func clientEnv(t *testing.T, r *rig, path string, headers map[string]string, kv ...string) map[string]string {
	t.Helper()
	h := with(id(t), "apikey", clientAPIKey)
	for k, v := range headers {
		h[k] = v
	}
	raw, err := json.Marshal(h)
	require.NoError(t, err)
	env := map[string]string{"BASE_URL": r.k.ProxyURL() + path, "API_KEY": clientAPIKey, "EXTRA_HEADERS": string(raw)}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// requireGatewayAuth asserts the upstream got the gateway's token and none
// of the client's credentials.
func requireGatewayAuth(t *testing.T, up hfsim.Request) {
	t.Helper()
	assert.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
	assert.Empty(t, up.Header.Values("apikey"), "the client's key for Kong never reaches Hugging Face")
}

func TestClientsTextGeneration(t *testing.T) {
	t.Parallel()
	tgi := startHF(t, hfsim.Options{Token: hfToken})
	native := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
	r := startRig(t,
		route{path: "/cl-chat", config: chatConf(t)},
		route{path: "/cl-cmpl", config: baseConf("llm/v1/completions", tgModel)},
		route{path: "/cl-cmpl-tgi", config: conf(t, baseConf("llm/v1/completions", tgModel), "model.options.upstream_url", jsonString(tgi.URL()))},
		route{path: "/cl-native", config: conf(t, native, "model.options.upstream_url", jsonString(tgi.URL()))},
		route{path: "/cl-native-router", config: native},
	)
	strs := func(r gjson.Result) []string {
		var out []string
		for _, x := range r.Array() {
			out = append(out, x.String())
		}
		return out
	}

	t.Run("openai chat", func(t *testing.T) {
		t.Parallel()
		const input = "What is 1 + 1?"
		out := runEmbedClient(t, "chat.mjs", clientEnv(t, r, "/cl-chat", nil, "INPUT", input))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, hfsim.Reply(input), out.Get("content").String())
		assert.Equal(t, chatModel, out.Get("model").String())
		assert.Equal(t, "chat.completion", out.Get("object").String())
		assert.Equal(t, "stop", out.Get("finish_reason").String())
		assert.Equal(t, "huggingface/"+chatModel, out.Get("model_header").String())
		assert.Equal(t, int64(len(hfsim.Pieces(hfsim.Reply(input)))), out.Get("usage.completion_tokens").Int())
		up := oneUpstream(t, router, e2eID(t))
		assert.Equal(t, "/v1/chat/completions", up.Path)
		assert.Equal(t, chatModel, gjson.GetBytes(up.Body, "model").String(), "the SDK sent no model; the gateway's is used")
		requireGatewayAuth(t, up)
	})
	t.Run("openai chat with the model and options", func(t *testing.T) {
		t.Parallel()
		out := runEmbedClient(t, "chat.mjs", clientEnv(t, r, "/cl-chat", nil, "MODEL", chatModel, "MAX_TOKENS", "2", "TEMPERATURE", "0.5"))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, "length", out.Get("finish_reason").String())
		up := oneUpstream(t, router, e2eID(t))
		assert.Equal(t, "0.5", gjson.GetBytes(up.Body, "temperature").Raw)
	})
	t.Run("openai chat stream", func(t *testing.T) {
		t.Parallel()
		const input = "Say OK!"
		out := runEmbedClient(t, "chat_stream.mjs", clientEnv(t, r, "/cl-chat", nil, "INPUT", input, "INCLUDE_USAGE", "1"))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strs(out.Get("chunks")))
		assert.Equal(t, hfsim.Reply(input), out.Get("content").String())
		assert.Equal(t, "stop", out.Get("finish_reason").String())
		assert.Equal(t, int64(len(hfsim.Pieces(hfsim.Reply(input)))), out.Get("usage.completion_tokens").Int())
		assert.Equal(t, "huggingface/"+chatModel, out.Get("model_header").String())
		up := oneUpstream(t, router, e2eID(t))
		assert.True(t, gjson.GetBytes(up.Body, "stream").Bool())
		requireGatewayAuth(t, up)
	})
	t.Run("openai chat stream tool call", func(t *testing.T) {
		t.Parallel()
		const params = `{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}`
		tools := `{"tools":[{"type":"function","function":{"name":"get_weather","parameters":` + params + `}}]}`
		out := runEmbedClient(t, "chat_stream.mjs", clientEnv(t, r, "/cl-chat", nil, "EXTRA_BODY", tools))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, "get_weather", out.Get("tool_calls.0.function.name").String())
		assert.JSONEq(t, hfsim.ToolArguments(params), out.Get("tool_calls.0.function.arguments").String())
	})
	t.Run("openai completions on the router", func(t *testing.T) {
		t.Parallel()
		const input = "What are you?"
		out := runEmbedClient(t, "completions.mjs", clientEnv(t, r, "/cl-cmpl", nil, "INPUT", input, "MAX_TOKENS", "2"))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		want, _ := hfsim.Truncate(hfsim.Reply(input), 2)
		assert.Equal(t, want, out.Get("text").String())
		assert.Equal(t, "text_completion", out.Get("object").String())
		assert.Equal(t, tgModel, out.Get("model").String())
		assert.Equal(t, "huggingface/"+tgModel, out.Get("model_header").String())
		up := oneUpstream(t, router, e2eID(t))
		assert.Equal(t, "/hf-inference/models/"+tgModel, up.Path)
		requireGatewayAuth(t, up)
	})
	t.Run("openai completions on a tgi", func(t *testing.T) {
		t.Parallel()
		const input = "What are you?"
		out := runEmbedClient(t, "completions.mjs", clientEnv(t, r, "/cl-cmpl-tgi", nil, "INPUT", input, "MAX_TOKENS", "2"))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		want, _ := hfsim.Truncate(hfsim.Reply(input), 2)
		assert.Equal(t, want, out.Get("text").String())
		assert.Equal(t, "length", out.Get("finish_reason").String())
		up := oneUpstream(t, tgi, e2eID(t))
		assert.Equal(t, "/v1/completions", up.Path)
		requireGatewayAuth(t, up)
	})
	t.Run("hf textGeneration on a tgi", func(t *testing.T) {
		t.Parallel()
		const input = "What is Deep Learning?"
		out := runEmbedClient(t, "hf_text_generation.mjs", clientEnv(t, r, "/cl-native/generate", nil, "INPUT", input, "EXTRA_PARAMETERS", `{"details":true}`))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, hfsim.Reply(input), out.Get("generated_text").String())
		assert.Equal(t, "eos_token", out.Get("finish_reason").String())
		assert.Equal(t, int64(len(hfsim.Pieces(hfsim.Reply(input)))), out.Get("generated_tokens").Int())
		up := oneUpstream(t, tgi, e2eID(t))
		assert.Equal(t, "/generate", up.Path)
		requireGatewayAuth(t, up)
	})
	t.Run("hf textGeneration on the router", func(t *testing.T) {
		t.Parallel()
		const input = "What is Deep Learning?"
		out := runEmbedClient(t, "hf_text_generation.mjs", clientEnv(t, r, "/cl-native-router/generate", nil, "INPUT", input, "MAX_NEW_TOKENS", "3"))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		want, _ := hfsim.Truncate(hfsim.Reply(input), 3)
		assert.Equal(t, want, out.Get("generated_text").String())
		up := oneUpstream(t, router, e2eID(t))
		assert.Equal(t, "/hf-inference/models/"+tgModel, up.Path)
		requireGatewayAuth(t, up)
	})
	t.Run("hf textGenerationStream on a tgi", func(t *testing.T) {
		t.Parallel()
		const input = "What is Deep Learning?"
		out := runEmbedClient(t, "hf_text_generation_stream.mjs", clientEnv(t, r, "/cl-native/generate_stream", nil, "INPUT", input, "MAX_NEW_TOKENS", "3"))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		want, _ := hfsim.Truncate(hfsim.Reply(input), 3)
		assert.Equal(t, hfsim.Pieces(want), strs(out.Get("tokens")))
		assert.Equal(t, want, out.Get("generated_text").String())
		up := oneUpstream(t, tgi, e2eID(t))
		assert.Equal(t, "/generate_stream", up.Path)
		requireGatewayAuth(t, up)
	})
	t.Run("hf textGenerationStream on the router", func(t *testing.T) {
		t.Parallel()
		const input = "Stream from the router"
		out := runEmbedClient(t, "hf_text_generation_stream.mjs", clientEnv(t, r, "/cl-native-router/generate_stream", nil, "INPUT", input))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strs(out.Get("tokens")))
		assert.Equal(t, hfsim.Reply(input), out.Get("generated_text").String())
	})

	// Errors as the SDKs report them.
	t.Run("openai sees HF's loading message and Retry-After", func(t *testing.T) {
		t.Parallel()
		out := runEmbedClient(t, "chat.mjs", clientEnv(t, r, "/cl-chat", map[string]string{"X-Hfsim-Fault": "loading"}))
		require.False(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, int64(503), out.Get("error.status").Int())
		assert.Equal(t, "InternalServerError", out.Get("error.name").String())
		assert.Equal(t, "Model "+chatModel+" is currently loading", out.Get("error.error_message").String())
		assert.Equal(t, "model_loading", out.Get("error.code").String())
		assert.Equal(t, "306", out.Get("error.retry_after").String())
	})
	t.Run("openai sees the plugin's model refusal", func(t *testing.T) {
		t.Parallel()
		out := runEmbedClient(t, "chat.mjs", clientEnv(t, r, "/cl-chat", nil, "MODEL", otherModel))
		require.False(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, int64(400), out.Get("error.status").Int())
		assert.Equal(t, "BadRequestError", out.Get("error.name").String())
		assert.Equal(t, "cannot use own model - must be: "+chatModel, out.Get("error.error_message").String())
		assert.Equal(t, "invalid_request_error", out.Get("error.type").String())
		requireNothingUpstream(t, router, e2eID(t))
	})
	t.Run("openai completions stream on the router", func(t *testing.T) {
		// The relay translates hf-inference's text-generation events into
		// OpenAI text_completion chunks, which the SDK reads as a stream.
		t.Parallel()
		const input = "Once upon a time"
		out := runEmbedClient(t, "completions_stream.mjs", clientEnv(t, r, "/cl-cmpl", nil, "INPUT", input))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, hfsim.Reply(input), out.Get("text").String())
		assert.Greater(t, out.Get("events").Int(), int64(1), "more than one chunk: %s", out.Raw)
		assert.Equal(t, []string{"text_completion"}, strs(out.Get("objects")))
		assert.Equal(t, tgModel, out.Get("model").String())
		assert.NotEmpty(t, out.Get("finish_reason").String())
		assert.Equal(t, "huggingface/"+tgModel, out.Get("model_header").String())
		up := oneUpstream(t, router, e2eID(t))
		assert.Equal(t, "/hf-inference/models/"+tgModel, up.Path)
		requireGatewayAuth(t, up)
	})
	t.Run("openai completions stream on a TGI", func(t *testing.T) {
		t.Parallel()
		out := runEmbedClient(t, "completions_stream.mjs", clientEnv(t, r, "/cl-cmpl-tgi", nil, "INPUT", "Once upon a time"))
		require.True(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, hfsim.Reply("Once upon a time"), out.Get("text").String())
		assert.Equal(t, []string{"text_completion"}, strs(out.Get("objects")))
	})
	t.Run("openai stream error mid-stream", func(t *testing.T) {
		t.Parallel()
		out := runEmbedClient(t, "chat_stream.mjs", clientEnv(t, r, "/cl-chat", map[string]string{"X-Hfsim-Fault": "stream_error"}))
		require.False(t, out.Get("ok").Bool(), out.Raw)
		assert.Contains(t, out.Get("error.error_message").String(), "Request failed during generation")
		assert.Equal(t, hfsim.Pieces(hfsim.Reply("Say OK!"))[:1], strs(out.Get("chunks")))
	})
	t.Run("hf sees the validation error", func(t *testing.T) {
		t.Parallel()
		out := runEmbedClient(t, "hf_text_generation.mjs", clientEnv(t, r, "/cl-native/generate", map[string]string{"X-Hfsim-Fault": "validation"}))
		require.False(t, out.Get("ok").Bool(), out.Raw)
		assert.Equal(t, int64(422), out.Get("error.status").Int())
		assert.Contains(t, out.Get("error.body.error.message").String(), "Input validation error")
	})
}
