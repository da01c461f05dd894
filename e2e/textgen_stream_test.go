package e2e

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// TestTextgenStreaming: issue 4 row 7. stream:true or response_streaming
// always streams, deny refuses; the events reach the client exactly as the
// upstream wrote them ("data:" with and without a space, keep-alive
// comments, [DONE]): the bytes through Kong equal the upstream's answer to
// the very request the plugin sent. X-Kong-LLM-Model is on streams too.
func TestTextgenStreaming(t *testing.T) {
	t.Parallel()
	tgi := startHF(t, hfsim.Options{Token: hfToken})
	onTGI := func(c string) string { return conf(t, c, "model.options.upstream_url", jsonString(tgi.URL())) }
	native := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
	r := startRig(t,
		route{path: "/st-router", config: chatConf(t)},
		route{path: "/st-noheader", config: chatConf(t, "model_name_header", "false")},
		route{path: "/st-always", config: chatConf(t, "response_streaming", `"always"`)},
		route{path: "/st-deny", config: chatConf(t, "response_streaming", `"deny"`)},
		route{path: "/st-chat-tgi", config: onTGI(chatConf(t))},
		route{path: "/st-cmpl-router", config: baseConf("llm/v1/completions", tgModel)},
		route{path: "/st-cmpl-tgi", config: onTGI(baseConf("llm/v1/completions", tgModel))},
		route{path: "/st-native-router", config: native},
		route{path: "/st-native-tgi", config: onTGI(native)},
		route{path: "/st-native-deny", config: conf(t, native, "response_streaming", `"deny"`)},
	)
	const prompt = "Stream me three words"
	tools := `"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer"}}}}}]`
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		onTGI            bool
		spaced           bool // "data: " (OpenAI style) rather than "data:" (TGI)
		keepAlives       bool // ":" comment events between data events
		done             bool // ends with data:[DONE]
		model            string
		noModelHeader    bool
		upstreamStream   bool // the plugin must have asked the upstream for a stream in the body
	}{
		{name: "chat router tgi style", path: "/st-router", body: withStream(chatBody(prompt)), keepAlives: true, done: true, model: chatModel},
		{name: "chat router openai style", path: "/st-router", body: withStream(chatBody(prompt)), headers: []string{"X-Hfsim-Style", "openai"}, spaced: true, done: true, model: chatModel},
		{name: "chat with usage", path: "/st-router", body: withStream(`{"stream_options":{"include_usage":true},` + chatBody(prompt)[1:]), keepAlives: true, done: true, model: chatModel},
		{name: "chat tool call", path: "/st-router", body: withStream(`{` + tools + `,` + chatBody(prompt)[1:]), headers: []string{"X-Hfsim-Style", "openai"}, spaced: true, done: true, model: chatModel},
		{name: "chat no model header", path: "/st-noheader", body: withStream(chatBody(prompt)), keepAlives: true, done: true, model: chatModel, noModelHeader: true},
		{name: "always without stream", path: "/st-always", body: chatBody(prompt), keepAlives: true, done: true, model: chatModel, upstreamStream: true},
		{name: "always with stream false", path: "/st-always", body: `{"stream":false,` + chatBody(prompt)[1:], keepAlives: true, done: true, model: chatModel, upstreamStream: true},
		{name: "chat on tgi", path: "/st-chat-tgi", body: withStream(chatBody(prompt)), onTGI: true, keepAlives: true, done: true, model: chatModel},
		{name: "completions on tgi", path: "/st-cmpl-tgi", body: `{"stream":true,"prompt":"` + prompt + `"}`, onTGI: true, keepAlives: true, done: true, model: tgModel},
		{name: "native generate_stream on tgi", path: "/st-native-tgi/generate_stream", body: `{"inputs":"` + prompt + `","parameters":{"max_new_tokens":3}}`, onTGI: true, keepAlives: true, model: tgModel},
		{name: "native compat stream on tgi", path: "/st-native-tgi", body: `{"inputs":"` + prompt + `","stream":true}`, onTGI: true, keepAlives: true, model: tgModel},
		{name: "native generate_stream on router", path: "/st-native-router/generate_stream", body: `{"inputs":"` + prompt + `"}`, keepAlives: true, model: tgModel, upstreamStream: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.send(t, tc.path, tc.body, with(id(t), tc.headers...))
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			assert.Contains(t, res.header.Get("Content-Type"), "text/event-stream")
			if tc.noModelHeader {
				assert.Empty(t, res.header.Values("X-Kong-LLM-Model"))
			} else {
				assert.Equal(t, "huggingface/"+tc.model, res.header.Get("X-Kong-LLM-Model"))
			}
			srv := router
			if tc.onTGI {
				srv = tgi
			}
			up := oneUpstream(t, srv, e2eID(t))
			if tc.upstreamStream {
				assert.Equal(t, "true", gjson.GetBytes(up.Body, "stream").Raw, "upstream body: %s", up.Body)
			}
			direct := replay(t, srv, up)
			require.Equal(t, http.StatusOK, direct.status)
			assert.Equal(t, string(direct.body), string(res.body), "the stream reaches the client byte for byte")

			evs := sseEvents(t, res.body)
			data := dataEvents(evs)
			require.GreaterOrEqual(t, len(data), 2, "stream: %s", res.body)
			comments := 0
			for _, e := range evs {
				if e.Comment {
					comments++
				} else {
					assert.Equal(t, tc.spaced, e.Spaced, "event %q", e.Data)
				}
			}
			if tc.keepAlives {
				assert.Positive(t, comments, "keep-alive comments reach the client")
			} else {
				assert.Zero(t, comments)
			}
			if tc.done {
				assert.Equal(t, hfsim.Done, data[len(data)-1])
				assert.True(t, bytes.HasSuffix(res.body, []byte("[DONE]\n\n")))
			} else {
				assert.NotContains(t, data, hfsim.Done)
				assert.True(t, gjson.Get(data[len(data)-1], "generated_text").Exists(), "last TGI event: %s", data[len(data)-1])
			}
		})
	}

	// Refusals: answered in JSON before anything goes upstream.
	for _, tc := range []struct {
		name, path, body, code, msg string
	}{
		{"deny refuses stream true", "/st-deny", withStream(chatBody(prompt)), "", "response streaming is not enabled for this LLM"},
		{"deny refuses native generate_stream", "/st-native-deny/generate_stream", `{"inputs":"x"}`, "", "response streaming is not enabled for this LLM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.send(t, tc.path, tc.body, id(t))
			msg := requireOpenAIErrorShape(t, res, http.StatusBadRequest, "invalid_request_error", tc.code)
			assert.Equal(t, tc.msg, msg)
			requireNothingUpstream(t, router, e2eID(t))
		})
	}
	t.Run("deny answers stream false", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/st-deny", `{"stream":false,`+chatBody(prompt)[1:], id(t))
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Equal(t, "chat.completion", gjson.GetBytes(res.body, "object").String())
	})
	t.Run("no model header on buffered answers either", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/st-noheader", chatBody(prompt), id(t))
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Empty(t, res.header.Values("X-Kong-LLM-Model"))
	})
}

// TestTextgenStreamFirstEventEarly: issue 4 row 7, "events reach the client
// as they arrive". The upstream holds its final event until the client has
// received the first one: if Kong buffered the stream, the client would
// get nothing before the upstream finished, the hold would run out and the
// test fails. No clock is compared; the 10 s bound only keeps a broken
// build from hanging.
func TestTextgenStreamFirstEventEarly(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		releases = map[string]chan struct{}{}
		held     atomic.Int64
		expired  atomic.Int64
	)
	hold := func(r *http.Request, _ int, final bool) {
		if !final {
			return
		}
		mu.Lock()
		ch := releases[r.Header.Get("X-E2E-Id")]
		mu.Unlock()
		if ch == nil {
			return
		}
		held.Add(1)
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			expired.Add(1)
		}
	}
	tgi := startHF(t, hfsim.Options{Token: hfToken, BeforeEvent: hold})
	onTGI := func(c string) string { return conf(t, c, "model.options.upstream_url", jsonString(tgi.URL())) }
	r := startRig(t,
		route{path: "/early-chat", config: onTGI(chatConf(t))},
		route{path: "/early-cmpl", config: onTGI(baseConf("llm/v1/completions", tgModel))},
		route{path: "/early-native", config: onTGI(conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`))},
		route{path: "/early-preserve", config: onTGI(conf(t, baseConf("preserve", chatModel)))},
	)
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		model            string
	}{
		{"chat tgi style", "/early-chat", withStream(chatBody("hold the end")), nil, chatModel},
		{"chat openai style", "/early-chat", withStream(chatBody("hold the end")), []string{"X-Hfsim-Style", "openai"}, chatModel},
		{"completions", "/early-cmpl", `{"prompt":"hold the end","stream":true}`, nil, tgModel},
		{"native generate_stream", "/early-native/generate_stream", `{"inputs":"hold the end"}`, nil, tgModel},
		{"preserve", "/early-preserve/v1/chat/completions", withStream(chatBody("hold the end")), nil, chatModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := make(chan struct{})
			mu.Lock()
			releases[e2eID(t)] = ch
			mu.Unlock()
			before := expired.Load()
			var once sync.Once
			var firstSeenWhileHeld bool
			res := r.streamEach(t, tc.path, tc.body, with(id(t), tc.headers...), func(i int, data string) {
				once.Do(func() {
					// The upstream has not written its final event yet: it
					// waits for this release.
					firstSeenWhileHeld = true
					close(ch)
				})
			})
			once.Do(func() { close(ch) })
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			assert.True(t, firstSeenWhileHeld, "no event reached the client: %s", res.body)
			assert.Equal(t, before, expired.Load(), "the upstream's final event was held until the hold ran out: Kong buffered the stream")
			assert.Equal(t, "huggingface/"+tc.model, res.header.Get("X-Kong-LLM-Model"))
			assert.GreaterOrEqual(t, len(dataEvents(sseEvents(t, res.body))), 2)
		})
	}
	t.Cleanup(func() {
		assert.Equal(t, int64(5), held.Load(), "every stream was held before its final event")
		assert.Zero(t, expired.Load())
	})
}

// TestTextgenStreamLargeEvents: a stream of 4000-byte events (fault huge)
// goes through whole and in order, ending with [DONE].
func TestTextgenStreamLargeEvents(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/big", config: chatConf(t)})
	res := r.send(t, "/big", withStream(chatBody("big")), with(id(t), "X-Hfsim-Fault", "huge", "X-Hfsim-Size", "400000"))
	require.Equal(t, http.StatusOK, res.status)
	data := dataEvents(sseEvents(t, res.body))
	require.Greater(t, len(data), 50)
	assert.Equal(t, hfsim.Done, data[len(data)-1])
	for _, d := range data[:len(data)-2] {
		require.Equal(t, hfsim.HugeChunk, gjson.Get(d, "choices.0.delta.content").String())
	}
	assert.Equal(t, "length", gjson.Get(data[len(data)-2], "choices.0.finish_reason").String())
	direct := replay(t, router, oneUpstream(t, router, e2eID(t)))
	assert.True(t, bytes.Equal(direct.body, res.body), "the stream reaches the client byte for byte (%d vs %d bytes)", len(res.body), len(direct.body))
}
