package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Models the text-generation tests ask for.
const (
	chatModel  = "meta-llama/Llama-3.3-70B-Instruct"
	otherModel = "Qwen/Qwen2.5-7B-Instruct"
	tgModel    = "HuggingFaceH4/zephyr-7b-beta"
)

// baseConf is a plugin config for a route type with the gateway's token and
// a configured model.
func baseConf(routeType, model string) string {
	return `{"route_type":"` + routeType + `","auth":` + authConfig(hfToken) + `,"model":{"provider":"huggingface","name":"` + model + `"}}`
}

// conf edits a config: kv alternates sjson paths and raw JSON values; a
// value of "-" deletes the path.
func conf(t *testing.T, base string, kv ...string) string {
	t.Helper()
	require.Zero(t, len(kv)%2, "conf takes path/value pairs")
	out := base
	for i := 0; i < len(kv); i += 2 {
		var err error
		if kv[i+1] == "-" {
			out, err = sjson.Delete(out, kv[i])
		} else {
			out, err = sjson.SetRaw(out, kv[i], kv[i+1])
		}
		require.NoError(t, err, "editing %s", kv[i])
	}
	return out
}

// chatConf is the usual chat route on the router, edited by kv.
func chatConf(t *testing.T, kv ...string) string {
	t.Helper()
	return conf(t, baseConf("llm/v1/chat", chatModel), kv...)
}

// jsonString quotes s as a JSON string (for conf values).
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// withStream inserts "stream":true as the first key of a JSON object body
// (the rest of the body byte for byte); other bodies are returned as they are.
func withStream(body string) string {
	if !strings.HasPrefix(body, "{") {
		return body
	}
	rest := strings.TrimSpace(body[1:])
	if strings.HasPrefix(rest, "}") {
		return `{"stream":true}`
	}
	return `{"stream":true,` + body[1:]
}

// bufferedAndStreamed runs f as a parallel subtest twice: with body as
// given, and named name+" stream" with "stream":true added (withStream),
// since every request form must hold for both answers.
func bufferedAndStreamed(t *testing.T, name, body string, f func(t *testing.T, stream bool, body string)) {
	t.Helper()
	for _, stream := range []bool{false, true} {
		n, b := name, body
		if stream {
			n, b = name+" stream", withStream(body)
		}
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			f(t, stream, b)
		})
	}
}

// id returns the X-E2E-Id header map of one request of the test.
func id(t *testing.T, suffix ...string) map[string]string {
	return map[string]string{"X-E2E-Id": e2eID(t, suffix...)}
}

// e2eID is the request id of a test: its name plus a number unique in the
// process, so that -count reruns (which share the fake router and its
// record) never see each other's requests. Stable for one test.
func e2eID(t *testing.T, suffix ...string) string {
	v, ok := testIDs.Load(t)
	if !ok {
		v, _ = testIDs.LoadOrStore(t, fmt.Sprintf("%s#%d", t.Name(), testIDSeq.Add(1)))
	}
	return v.(string) + strings.Join(suffix, "")
}

var (
	testIDs   sync.Map // *testing.T → id
	testIDSeq atomic.Int64
)

// with adds headers to a header map.
func with(h map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(h)+len(kv)/2)
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// send posts body to path with headers and reads the whole answer.
func (r *rig) send(t *testing.T, path, body string, headers map[string]string) response {
	t.Helper()
	return r.do(t, http.MethodPost, path, []byte(body), headers)
}

// requireOpenAIError asserts an error answer in the OpenAI shape,
// {"error":{"message","type","code"}} and nothing else, with a JSON content
// type. message is matched exactly; code "" means null, "*" any code.
func requireOpenAIError(t *testing.T, res response, status int, typ, code, message string) {
	t.Helper()
	requireOpenAIErrorShape(t, res, status, typ, code)
	assert.Equal(t, message, gjson.GetBytes(res.body, "error.message").String(), "body: %s", res.body)
}

// requireOpenAIErrorShape is requireOpenAIError without the message check;
// it returns the message.
func requireOpenAIErrorShape(t *testing.T, res response, status int, typ, code string) string {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res.body)
	assert.Contains(t, res.header.Get("Content-Type"), "application/json")
	require.True(t, gjson.ValidBytes(res.body), "not JSON: %s", res.body)
	root := gjson.ParseBytes(res.body)
	keys := []string{}
	root.ForEach(func(k, _ gjson.Result) bool { keys = append(keys, k.Str); return true })
	assert.Equal(t, []string{"error"}, keys, "body: %s", res.body)
	e := root.Get("error")
	fields := []string{}
	e.ForEach(func(k, _ gjson.Result) bool { fields = append(fields, k.Str); return true })
	assert.ElementsMatch(t, []string{"message", "type", "code"}, fields, "body: %s", res.body)
	msg := e.Get("message")
	assert.Equal(t, gjson.String, msg.Type, "body: %s", res.body)
	assert.NotEmpty(t, msg.Str, "body: %s", res.body)
	assert.Equal(t, typ, e.Get("type").String(), "body: %s", res.body)
	switch code {
	case "*": // any code: null or a string
		assert.Contains(t, []gjson.Type{gjson.Null, gjson.String}, e.Get("code").Type, "body: %s", res.body)
	case "":
		assert.Equal(t, gjson.Null, e.Get("code").Type, "body: %s", res.body)
	default:
		assert.Equal(t, code, e.Get("code").String(), "body: %s", res.body)
	}
	return msg.Str
}

// requireNothingUpstream asserts that no request of the id reached srv.
func requireNothingUpstream(t *testing.T, srv *hfsim.Server, id string) {
	t.Helper()
	assert.Empty(t, upstreamRequests(srv, id), "a request the plugin rejected reached the upstream")
}

// oneUpstream returns the one request of the id that reached srv.
func oneUpstream(t *testing.T, srv *hfsim.Server, id string) hfsim.Request {
	t.Helper()
	ups := upstreamRequests(srv, id)
	require.Len(t, ups, 1, "requests upstream for %s", id)
	return ups[0]
}

// replay sends an upstream request, as the fake upstream recorded it,
// straight to srv: what the upstream answers to exactly what the plugin
// sent, to compare with what the client got through Kong.
func replay(t *testing.T, srv *hfsim.Server, req hfsim.Request) response {
	t.Helper()
	u := srv.URL() + req.Path
	if req.RawQuery != "" {
		u += "?" + req.RawQuery
	}
	hreq, err := http.NewRequest(req.Method, u, bytes.NewReader(req.Body))
	require.NoError(t, err)
	for k, vs := range req.Header {
		switch strings.ToLower(k) {
		case "x-e2e-id", "content-length", "host", "connection":
			continue
		}
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	hreq.Header.Set("X-E2E-Id", "replay")
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(hreq)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// withoutKeys deletes top-level keys from a JSON object, keeping every
// other byte, so two bodies can be compared byte for byte except those keys.
func withoutKeys(t *testing.T, body []byte, keys ...string) string {
	t.Helper()
	out := body
	for _, k := range keys {
		var err error
		out, err = sjson.DeleteBytes(out, k)
		require.NoError(t, err)
	}
	return string(out)
}

// sseEvents parses a raw event stream as the client got it.
func sseEvents(t *testing.T, raw []byte) []hfsim.Event {
	t.Helper()
	evs, err := hfsim.ReadEvents(bytes.NewReader(raw))
	require.NoError(t, err, "stream: %s", raw)
	return evs
}

// dataEvents are the data payloads of a stream, comments left out.
func dataEvents(evs []hfsim.Event) []string {
	var out []string
	for _, e := range evs {
		if !e.Comment {
			out = append(out, e.Data)
		}
	}
	return out
}

// chatBody is a one-message OpenAI chat body.
func chatBody(prompt string) string {
	return `{"messages":[{"role":"user","content":` + jsonString(prompt) + `}]}`
}

// sendLoose is send for answers that may end early (an upstream that
// drops the connection mid-body): it returns what arrived and the read
// error instead of failing the test.
func (r *rig) sendLoose(t *testing.T, path, body string, headers map[string]string) (response, error) {
	t.Helper()
	return r.doLoose(t, http.MethodPost, path, []byte(body), headers)
}
