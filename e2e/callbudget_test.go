package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// The PDK call budget of each text-generation request type (the table in
// plugin/handlers.go), as the stand-in counted the calls, with what the
// client got and what reached the upstream.

const budgetModel = "mistralai/Mistral-7B-Instruct-v0.2"

// budgetConfig is the plugin config of one route: route type, extra top-level
// fields and model options (JSON fragments, "" for none).
func budgetConfig(routeType, extra, options string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"route_type":"` + routeType + `"` + extra + `,"auth":{"header_name":"Authorization","header_value":"Bearer ` + hfToken + `"},` +
		`"model":{"provider":"huggingface","name":"` + budgetModel + `","options":{` + options + `}}}`
}

func callTotal(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}

func TestTextGenerationCallBudget(t *testing.T) {
	r := startRig(t,
		route{path: "/chat", config: budgetConfig("llm/v1/chat", "", "")},
		route{path: "/completions", config: budgetConfig("llm/v1/completions", "", `"max_tokens":8`)},
		// A dedicated TGI: the fake upstream behind a path prefix (the
		// router URL itself would count as the router).
		route{path: "/native", config: budgetConfig("llm/v1/chat", `"llm_format":"huggingface"`, `"upstream_url":"`+routerURL+`/tgi"`)},
		route{path: "/preserve", config: budgetConfig("preserve", "", "")},
	)

	t.Run("chat, model in the body: 6 calls, all in access", func(t *testing.T) {
		id := reqID(t)
		res := r.post(t, "/chat", `{"model":"`+budgetModel+`","messages":[{"role":"user","content":"What is 1 + 1?"}]}`, "X-E2E-Id", id)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		assert.Equal(t, budgetModel, res.json(t)["model"])
		assert.Equal(t, "huggingface/"+budgetModel, res.header.Get("X-Kong-LLM-Model"))
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
		assert.Nil(t, calls["response"], "the relay answers: no response phase")
		assert.Zero(t, calls["access"]["kong.request.get_raw_body"], "the body goes to the relay, not over the plugin socket")
		assert.Equal(t, 1, calls["access"]["kong.nginx.set_ctx"])
	})

	t.Run("chat, model filled in, client key cleared: 7 calls", func(t *testing.T) {
		id := reqID(t)
		res := r.post(t, "/chat", `{"messages":[{"role":"user","content":"What is 1 + 1?"}]}`,
			"X-E2E-Id", id, "apikey", clientAPIKey)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		up := oneUpstream(t, router, id)
		assert.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
		assert.Empty(t, up.Header.Get("Apikey"), "the consumer's key for Kong never reaches Hugging Face")
		assert.Equal(t, budgetModel, up.Model)
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Equal(t, 7, callTotal(calls["access"]), "%v", calls["access"])
		assert.Equal(t, 1, calls["access"]["kong.service.request.clear_header"], "the key leaves Kong's request (and so its record)")
		assert.Zero(t, calls["access"]["kong.service.request.set_raw_body"], "the relay sends the edited body")
		assert.Nil(t, calls["response"])
	})

	t.Run("chat streamed: 6 calls, no response phase, events unchanged", func(t *testing.T) {
		id := reqID(t)
		res, events := r.stream(t, "/chat", `{"model":"`+budgetModel+`","messages":[{"role":"user","content":"Say hello"}],"stream":true}`,
			map[string]string{"X-E2E-Id": id})
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		assert.Equal(t, "huggingface/"+budgetModel, res.header.Get("X-Kong-LLM-Model"))
		require.NotEmpty(t, events)
		assert.Equal(t, "[DONE]", events[len(events)-1].data)
		assert.Contains(t, string(res.body), "data:{", "TGI's data: without a space reaches the client as sent")
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Nil(t, calls["response"])
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
		assert.Equal(t, 1, calls["access"]["kong.nginx.set_ctx"])
	})

	t.Run("rejected by the relay: 400, never forwarded, 6 calls", func(t *testing.T) {
		id := reqID(t)
		res := r.post(t, "/chat", `{"model":"other/model","messages":[{"role":"user","content":"x"}]}`, "X-E2E-Id", id)
		require.Equal(t, http.StatusBadRequest, res.status)
		assert.JSONEq(t, `{"error":{"message":"cannot use own model - must be: `+budgetModel+`","type":"invalid_request_error","code":null}}`, string(res.body))
		assert.Empty(t, upstreamRequests(router, id))
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
		assert.Zero(t, calls["access"]["kong.response.exit"], "the relay answered, not access")
	})

	t.Run("upstream loading: 503 in the OpenAI shape with Retry-After", func(t *testing.T) {
		id := reqID(t)
		res := r.post(t, "/chat", `{"messages":[{"role":"user","content":"x"}]}`, "X-E2E-Id", id, "X-Hfsim-Fault", "loading")
		require.Equal(t, http.StatusServiceUnavailable, res.status)
		assert.Equal(t, "306", res.header.Get("Retry-After"))
		e := res.json(t)["error"].(map[string]any)
		assert.Equal(t, "Model "+budgetModel+" is currently loading", e["message"])
		assert.Equal(t, "model_loading", e["code"])
	})

	t.Run("completions on the router: text-generation translated, 6 calls", func(t *testing.T) {
		id := reqID(t)
		res := r.post(t, "/completions", `{"prompt":"Once upon a time"}`, "X-E2E-Id", id)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		m := res.json(t)
		assert.Equal(t, "text_completion", m["object"])
		assert.Equal(t, budgetModel, m["model"])
		text := m["choices"].([]any)[0].(map[string]any)["text"].(string)
		assert.True(t, strings.HasPrefix(text, "Echo:"), text)
		up := oneUpstream(t, router, id)
		assert.Equal(t, "/hf-inference/models/"+budgetModel, up.Path)
		assert.JSONEq(t, `{"inputs":"Once upon a time","parameters":{"max_new_tokens":8,"return_full_text":false}}`, string(up.Body))
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
		assert.Nil(t, calls["response"])
	})

	t.Run("completions streamed on the router: text_completion chunks through the relay, 6 calls", func(t *testing.T) {
		id := reqID(t)
		res, events := r.stream(t, "/completions", `{"prompt":"Once upon a time","stream":true}`, map[string]string{"X-E2E-Id": id})
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.Greater(t, len(events), 1)
		assert.Equal(t, "text_completion", gjson.Get(events[0].data, "object").String(), "%s", events[0].data)
		assert.Equal(t, "[DONE]", events[len(events)-1].data)
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
	})

	t.Run("native /generate on a TGI upstream: 6 calls, the relay keeps the mode", func(t *testing.T) {
		id := reqID(t)
		res := r.post(t, "/native/generate", `{"inputs":"What is Deep Learning?","parameters":{"max_new_tokens":3}}`, "X-E2E-Id", id)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		var out struct {
			GeneratedText string `json:"generated_text"`
		}
		require.NoError(t, json.Unmarshal(res.body, &out), "%s", res.body)
		assert.Equal(t, "Echo: What is", out.GeneratedText)
		up := oneUpstream(t, router, id)
		assert.Equal(t, "/tgi/generate", up.Path)
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
		assert.Zero(t, calls["access"]["kong.ctx.shared.set"], "no state crosses the socket: the relay holds it")
		assert.Nil(t, calls["response"])
	})

	t.Run("native /generate_stream: token events, no [DONE]", func(t *testing.T) {
		id := reqID(t)
		res, events := r.stream(t, "/native/generate_stream", `{"inputs":"Hi there","parameters":{"max_new_tokens":2}}`,
			map[string]string{"X-E2E-Id": id})
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.NotEmpty(t, events)
		assert.Contains(t, events[0].data, `"token":`)
		assert.NotContains(t, string(res.body), "[DONE]")
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Nil(t, calls["response"])
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
	})

	t.Run("preserve: the client path and the body as sent, 6 calls", func(t *testing.T) {
		id := reqID(t)
		body := `{"model":"` + budgetModel + `","messages":[{"role":"user","content":"hi"}]}`
		res := r.post(t, "/preserve/v1/chat/completions", body, "X-E2E-Id", id)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		up := oneUpstream(t, router, id)
		assert.Equal(t, "/preserve/v1/chat/completions", up.Path, "the client path as sent, as Kong's ai-proxy preserve does")
		assert.Equal(t, body, string(up.Body))
		calls := pdkCalls(t, r.recordFor(t, id))
		assert.Nil(t, calls["response"])
		assert.Equal(t, 6, callTotal(calls["access"]), "%v", calls["access"])
	})
}
