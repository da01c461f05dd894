package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSmokeChat is the first thing that must work: an OpenAI chat request
// through Kong reaches the router with the gateway's token and the model,
// and the answer comes back as an OpenAI chat completion.
func TestSmokeChat(t *testing.T) {
	r := startRig(t, route{path: "/chat", config: `{"route_type":"llm/v1/chat","auth":{"header_name":"Authorization","header_value":"Bearer ` + hfToken + `"},"model":{"provider":"huggingface","name":"meta-llama/Llama-3.3-70B-Instruct"}}`})
	id := reqID(t)
	res := r.post(t, "/chat", `{"messages":[{"role":"user","content":"What is 1 + 1?"}]}`, "X-E2E-Id", id)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	m := res.json(t)
	require.Equal(t, "chat.completion", m["object"])
	require.Equal(t, "meta-llama/Llama-3.3-70B-Instruct", m["model"])
	require.Equal(t, "huggingface/meta-llama/Llama-3.3-70B-Instruct", res.header.Get("X-Kong-LLM-Model"))
	up := oneUpstream(t, router, id)
	require.Equal(t, "/v1/chat/completions", up.Path)
	require.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
	require.Len(t, r.records(t, 1), 1)
	calls := pdkCalls(t, r.memRecords(t, 1)[0])
	require.NotEmpty(t, calls["access"])
	t.Logf("pdk calls: %v", calls)
}
