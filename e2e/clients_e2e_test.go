package e2e

import (
	"encoding/json"
	"github.com/ai-proxy-hf/ai-proxy-hf/e2e/clients"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// Issues 4 and 12, "What it must show": the official openai npm client
// (chat, chat streaming, tool calls, completions) and @huggingface/inference
// (textGeneration, textGenerationStream, chatCompletion,
// chatCompletionStream with endpointUrl) pointed at the stand-in as the
// README configures each route, through the real plugin, to the fake
// upstream; every call with the pinned client versions and with the newest
// ones (subtests "pinned" and "latest", see clients.Versions). The scripts are
// those of e2e/clients, run by runEmbedClient (clients_embeddings_test.go):
// without node or node_modules the test fails saying to run `make deps`,
// unless E2E_SKIP_NODE=1.

// run runs a client script with v's packages and checks that it did: the
// line names the package and the version package.json declares for it.
func runClient(t *testing.T, v clients.Version, script string, env map[string]string) gjson.Result {
	t.Helper()
	full := v.Env()
	for k, val := range env {
		full[k] = val
	}
	out := runEmbedClient(t, script, full)
	require.NoError(t, clients.CheckImported(embedClientDir, script, v, out))
	return out
}

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

// clientRig is the routes the client tests use, each configured as the
// README's "Clients" section says: /cl-chat (llm/v1/chat on the router),
// /cl-cmpl (llm/v1/completions on the router), /cl-cmpl-tgi (the same on a
// TGI), /cl-native (llm_format huggingface on a TGI), /cl-native-router
// (the same on the router).
func clientRig(t *testing.T) (*rig, *hfsim.Server) {
	t.Helper()
	tgi := startHF(t, hfsim.Options{Token: hfToken})
	native := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
	r := startRig(t,
		route{path: "/cl-chat", config: chatConf(t)},
		route{path: "/cl-cmpl", config: baseConf("llm/v1/completions", tgModel)},
		route{path: "/cl-cmpl-tgi", config: conf(t, baseConf("llm/v1/completions", tgModel), "model.options.upstream_url", jsonString(tgi.URL()))},
		route{path: "/cl-native", config: conf(t, native, "model.options.upstream_url", jsonString(tgi.URL()))},
		route{path: "/cl-native-router", config: native},
	)
	return r, tgi
}

func strsOf(r gjson.Result) []string {
	var out []string
	for _, x := range r.Array() {
		out = append(out, x.String())
	}
	return out
}

// TestClientsOpenAI: the openai client's chat, stream, tool calls and
// completions, both versions.
func TestClientsOpenAI(t *testing.T) {
	t.Parallel()
	r, tgi := clientRig(t)

	t.Run("chat", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const input = "What is 1 + 1?"
			out := runClient(t, v, "chat.mjs", clientEnv(t, r, "/cl-chat", nil, "INPUT", input))
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
	})
	t.Run("chat with the model and options", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			out := runClient(t, v, "chat.mjs", clientEnv(t, r, "/cl-chat", nil, "MODEL", chatModel, "MAX_TOKENS", "2", "TEMPERATURE", "0.5"))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, "length", out.Get("finish_reason").String())
			up := oneUpstream(t, router, e2eID(t))
			assert.Equal(t, "0.5", gjson.GetBytes(up.Body, "temperature").Raw)
		})
	})
	t.Run("chat stream", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const input = "Say OK!"
			out := runClient(t, v, "chat_stream.mjs", clientEnv(t, r, "/cl-chat", nil, "INPUT", input, "INCLUDE_USAGE", "1"))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strsOf(out.Get("chunks")))
			assert.Equal(t, hfsim.Reply(input), out.Get("content").String())
			assert.Equal(t, "stop", out.Get("finish_reason").String())
			assert.Equal(t, int64(len(hfsim.Pieces(hfsim.Reply(input)))), out.Get("usage.completion_tokens").Int())
			assert.Equal(t, "huggingface/"+chatModel, out.Get("model_header").String())
			up := oneUpstream(t, router, e2eID(t))
			assert.True(t, gjson.GetBytes(up.Body, "stream").Bool())
			requireGatewayAuth(t, up)
		})
	})
	t.Run("chat stream tool call", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const params = `{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}`
			tools := `{"tools":[{"type":"function","function":{"name":"get_weather","parameters":` + params + `}}]}`
			out := runClient(t, v, "chat_stream.mjs", clientEnv(t, r, "/cl-chat", nil, "EXTRA_BODY", tools))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, "get_weather", out.Get("tool_calls.0.function.name").String())
			assert.JSONEq(t, hfsim.ToolArguments(params), out.Get("tool_calls.0.function.arguments").String())
		})
	})
	t.Run("completions on the router", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const input = "What are you?"
			out := runClient(t, v, "completions.mjs", clientEnv(t, r, "/cl-cmpl", nil, "INPUT", input, "MAX_TOKENS", "2"))
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
	})
	t.Run("completions on a tgi", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const input = "What are you?"
			out := runClient(t, v, "completions.mjs", clientEnv(t, r, "/cl-cmpl-tgi", nil, "INPUT", input, "MAX_TOKENS", "2"))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			want, _ := hfsim.Truncate(hfsim.Reply(input), 2)
			assert.Equal(t, want, out.Get("text").String())
			assert.Equal(t, "length", out.Get("finish_reason").String())
			up := oneUpstream(t, tgi, e2eID(t))
			assert.Equal(t, "/v1/completions", up.Path)
			requireGatewayAuth(t, up)
		})
	})

	// Errors as the SDKs report them.
	t.Run("sees HF's loading message and Retry-After", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			out := runClient(t, v, "chat.mjs", clientEnv(t, r, "/cl-chat", map[string]string{"X-Hfsim-Fault": "loading"}))
			require.False(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, int64(503), out.Get("error.status").Int())
			assert.Equal(t, "InternalServerError", out.Get("error.name").String())
			assert.Equal(t, "Model "+chatModel+" is currently loading", out.Get("error.error_message").String())
			assert.Equal(t, "model_loading", out.Get("error.code").String())
			assert.Equal(t, "306", out.Get("error.retry_after").String())
		})
	})
	t.Run("sees the plugin's model refusal", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			out := runClient(t, v, "chat.mjs", clientEnv(t, r, "/cl-chat", nil, "MODEL", otherModel))
			require.False(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, int64(400), out.Get("error.status").Int())
			assert.Equal(t, "BadRequestError", out.Get("error.name").String())
			assert.Equal(t, "cannot use own model - must be: "+chatModel, out.Get("error.error_message").String())
			assert.Equal(t, "invalid_request_error", out.Get("error.type").String())
			requireNothingUpstream(t, router, e2eID(t))
		})
	})
	t.Run("completions stream on the router", func(t *testing.T) {
		// The relay turns hf-inference's text-generation events into
		// OpenAI text_completion chunks, which the SDK reads as a stream.
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const input = "Once upon a time"
			out := runClient(t, v, "completions_stream.mjs", clientEnv(t, r, "/cl-cmpl", nil, "INPUT", input))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, hfsim.Reply(input), out.Get("text").String())
			assert.Greater(t, out.Get("events").Int(), int64(1), "more than one chunk: %s", out.Raw)
			assert.Equal(t, []string{"text_completion"}, strsOf(out.Get("objects")))
			assert.Equal(t, tgModel, out.Get("model").String())
			assert.NotEmpty(t, out.Get("finish_reason").String())
			assert.Equal(t, "huggingface/"+tgModel, out.Get("model_header").String())
			up := oneUpstream(t, router, e2eID(t))
			assert.Equal(t, "/hf-inference/models/"+tgModel, up.Path)
			requireGatewayAuth(t, up)
		})
	})
	t.Run("completions stream on a tgi", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			out := runClient(t, v, "completions_stream.mjs", clientEnv(t, r, "/cl-cmpl-tgi", nil, "INPUT", "Once upon a time"))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, hfsim.Reply("Once upon a time"), out.Get("text").String())
			assert.Equal(t, []string{"text_completion"}, strsOf(out.Get("objects")))
		})
	})
	t.Run("stream error mid-stream", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			out := runClient(t, v, "chat_stream.mjs", clientEnv(t, r, "/cl-chat", map[string]string{"X-Hfsim-Fault": "stream_error"}))
			require.False(t, out.Get("ok").Bool(), out.Raw)
			assert.Contains(t, out.Get("error.error_message").String(), "Request failed during generation")
			assert.Equal(t, hfsim.Pieces(hfsim.Reply("Say OK!"))[:1], strsOf(out.Get("chunks")))
		})
	})
}

// TestClientsHFTextGeneration: @huggingface/inference's textGeneration and
// textGenerationStream with endpointUrl = a native route (llm_format
// huggingface), both versions. The pinned client speaks TGI's native API
// there; the newest posts OpenAI completions to <endpointUrl>/v1/completions
// with the endpointUrl as "model", which the route serves as completions
// (passed to the TGI's /v1/completions, or translated for the router) with
// the gateway's model.
func TestClientsHFTextGeneration(t *testing.T) {
	t.Parallel()
	r, tgi := clientRig(t)

	// textGeneration, with endpointUrl the route (the README's way) and
	// the route's /generate.
	for _, tc := range []struct{ name, path, pinnedUpstream string }{
		{name: "on a tgi", path: "/cl-native", pinnedUpstream: "/"},
		{name: "on a tgi, endpointUrl /generate", path: "/cl-native/generate", pinnedUpstream: "/generate"},
	} {
		t.Run("textGeneration "+tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				const input = "What is Deep Learning?"
				out := runClient(t, v, "hf_text_generation.mjs", clientEnv(t, r, tc.path, nil, "INPUT", input, "MAX_NEW_TOKENS", "8", "EXTRA_PARAMETERS", `{"details":true}`))
				require.True(t, out.Get("ok").Bool(), out.Raw)
				assert.Equal(t, hfsim.Reply(input), out.Get("generated_text").String())
				up := oneUpstream(t, tgi, e2eID(t))
				requireGatewayAuth(t, up)
				if !v.Latest() {
					assert.Equal(t, "eos_token", out.Get("finish_reason").String())
					assert.Equal(t, int64(len(hfsim.Pieces(hfsim.Reply(input)))), out.Get("generated_tokens").Int())
					assert.Equal(t, tc.pinnedUpstream, up.Path)
					assert.Equal(t, input, gjson.GetBytes(up.Body, "inputs").String())
					return
				}
				assert.Equal(t, "/v1/completions", up.Path)
				assert.Equal(t, tgModel, gjson.GetBytes(up.Body, "model").String(), "the client's model was its endpointUrl; the gateway's is used")
				assert.Equal(t, input, gjson.GetBytes(up.Body, "prompt").String())
				assert.Equal(t, int64(8), gjson.GetBytes(up.Body, "max_tokens").Int())
			})
		})
	}
	t.Run("textGeneration on the router", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const input = "What is Deep Learning?"
			out := runClient(t, v, "hf_text_generation.mjs", clientEnv(t, r, "/cl-native-router", nil, "INPUT", input, "MAX_NEW_TOKENS", "3"))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			want, _ := hfsim.Truncate(hfsim.Reply(input), 3)
			assert.Equal(t, want, out.Get("generated_text").String())
			up := oneUpstream(t, router, e2eID(t))
			assert.Equal(t, "/hf-inference/models/"+tgModel, up.Path)
			assert.Equal(t, input, gjson.GetBytes(up.Body, "inputs").String(), "both versions reach hf-inference text-generation")
			assert.Equal(t, int64(3), gjson.GetBytes(up.Body, "parameters.max_new_tokens").Int())
			requireGatewayAuth(t, up)
		})
	})
	for _, tc := range []struct{ name, path, pinnedUpstream string }{
		{name: "on a tgi", path: "/cl-native", pinnedUpstream: "/"},
		{name: "on a tgi, endpointUrl /generate_stream", path: "/cl-native/generate_stream", pinnedUpstream: "/generate_stream"},
	} {
		t.Run("textGenerationStream "+tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				const input = "What is Deep Learning?"
				out := runClient(t, v, "hf_text_generation_stream.mjs", clientEnv(t, r, tc.path, nil, "INPUT", input, "MAX_NEW_TOKENS", "3"))
				require.True(t, out.Get("ok").Bool(), out.Raw)
				want, _ := hfsim.Truncate(hfsim.Reply(input), 3)
				assert.Equal(t, hfsim.Pieces(want), strsOf(out.Get("tokens")))
				assert.Equal(t, want, out.Get("text").String())
				up := oneUpstream(t, tgi, e2eID(t))
				requireGatewayAuth(t, up)
				assert.True(t, gjson.GetBytes(up.Body, "stream").Bool())
				if !v.Latest() {
					assert.Equal(t, "tgi", out.Get("format").String())
					assert.Equal(t, want, out.Get("generated_text").String())
					assert.Equal(t, tc.pinnedUpstream, up.Path)
					return
				}
				assert.Equal(t, "openai", out.Get("format").String(), "TGI's OpenAI completion chunks, passed through")
				assert.Equal(t, "length", out.Get("finish_reason").String())
				assert.Equal(t, "/v1/completions", up.Path)
				assert.Equal(t, tgModel, gjson.GetBytes(up.Body, "model").String())
			})
		})
	}
	t.Run("textGenerationStream on the router", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			const input = "Stream from the router"
			out := runClient(t, v, "hf_text_generation_stream.mjs", clientEnv(t, r, "/cl-native-router", nil, "INPUT", input))
			require.True(t, out.Get("ok").Bool(), out.Raw)
			if v.Latest() {
				// The newest client asks /v1/completions for OpenAI chunks:
				// the relay makes them from the router's text-generation
				// events.
				assert.Equal(t, "openai", out.Get("format").String())
				assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strsOf(out.Get("tokens")))
				assert.Equal(t, hfsim.Reply(input), out.Get("text").String())
				assert.Equal(t, "/hf-inference/models/"+tgModel, oneUpstream(t, router, e2eID(t)).Path)
				return
			}
			assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strsOf(out.Get("tokens")))
			assert.Equal(t, hfsim.Reply(input), out.Get("generated_text").String())
		})
	})
	t.Run("sees the validation error", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			out := runClient(t, v, "hf_text_generation.mjs", clientEnv(t, r, "/cl-native", map[string]string{"X-Hfsim-Fault": "validation"}))
			require.False(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, int64(422), out.Get("error.status").Int())
			assert.Contains(t, out.Get("error.body.error.message").String(), "Input validation error")
		})
	})
}

// TestClientsHFChat: @huggingface/inference's chatCompletion and
// chatCompletionStream with endpointUrl. Both versions post OpenAI chat to
// <endpointUrl>/v1/chat/completions with the endpointUrl as "model": a chat
// route serves it with the gateway's model, and so does a native route
// (TGI serves /v1/chat/completions beside /generate).
func TestClientsHFChat(t *testing.T) {
	t.Parallel()
	r, tgi := clientRig(t)
	for _, tc := range []struct {
		name, path, model, upstreamPath string
		up                              func() *hfsim.Server
	}{
		{name: "on the chat route", path: "/cl-chat", model: chatModel, upstreamPath: "/v1/chat/completions", up: func() *hfsim.Server { return router }},
		{name: "on the native route", path: "/cl-native", model: tgModel, upstreamPath: "/v1/chat/completions", up: func() *hfsim.Server { return tgi }},
		{name: "on the native route on the router", path: "/cl-native-router", model: tgModel, upstreamPath: "/v1/chat/completions", up: func() *hfsim.Server { return router }},
	} {
		t.Run("chatCompletion "+tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				const input = "What is 1 + 1?"
				out := runClient(t, v, "hf_chat.mjs", clientEnv(t, r, tc.path, nil, "INPUT", input, "MAX_TOKENS", "8"))
				require.True(t, out.Get("ok").Bool(), out.Raw)
				assert.Equal(t, hfsim.Reply(input), out.Get("content").String())
				assert.Equal(t, "stop", out.Get("finish_reason").String())
				assert.Equal(t, tc.model, out.Get("model").String())
				up := oneUpstream(t, tc.up(), e2eID(t))
				assert.Equal(t, tc.upstreamPath, up.Path)
				assert.Equal(t, tc.model, gjson.GetBytes(up.Body, "model").String(), "the client's model was its endpointUrl; the gateway's is used")
				requireGatewayAuth(t, up)
			})
		})
		t.Run("chatCompletionStream "+tc.name, func(t *testing.T) {
			t.Parallel()
			clients.Each(t, func(t *testing.T, v clients.Version) {
				const input = "Say OK!"
				out := runClient(t, v, "hf_chat_stream.mjs", clientEnv(t, r, tc.path, nil, "INPUT", input))
				require.True(t, out.Get("ok").Bool(), out.Raw)
				assert.Equal(t, hfsim.Pieces(hfsim.Reply(input)), strsOf(out.Get("chunks")))
				assert.Equal(t, "stop", out.Get("finish_reason").String())
				up := oneUpstream(t, tc.up(), e2eID(t))
				assert.Equal(t, tc.upstreamPath, up.Path)
				assert.True(t, gjson.GetBytes(up.Body, "stream").Bool())
				assert.Equal(t, tc.model, gjson.GetBytes(up.Body, "model").String())
				requireGatewayAuth(t, up)
			})
		})
	}
	t.Run("chatCompletion with another model is refused", func(t *testing.T) {
		t.Parallel()
		clients.Each(t, func(t *testing.T, v clients.Version) {
			out := runClient(t, v, "hf_chat.mjs", clientEnv(t, r, "/cl-chat", nil, "MODEL", otherModel))
			require.False(t, out.Get("ok").Bool(), out.Raw)
			assert.Equal(t, int64(400), out.Get("error.status").Int())
			assert.Equal(t, "cannot use own model - must be: "+chatModel, out.Get("error.body.error.message").String())
		})
	})
}
