package hfsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// Every fault that replaces the answer, on a chat request for testModel.
func TestFaultAnswers(t *testing.T) {
	cases := []struct {
		mode, contentType, body string
		status                  int
		headers                 map[string]string
	}{
		{FaultLoading, "application/json", fixture(t, "llm-v1-chat/responses/bad_response_model_load.json"), 503, nil},
		{FaultTimeout, "application/json", fixture(t, "llm-v1-chat/responses/bad_response_timeout.json"), 504, nil},
		{FaultTemplateError, "application/json", fixture(t, "llm-v1-chat/responses/bad_request.json"), 400, nil},
		{FaultRateLimit, "application/json", BodyRateLimit, 429, map[string]string{
			"RateLimit": `"api";r=0;t=55`, "RateLimit-Policy": `"fixed window";"api";q=500;w=300`}},
		{FaultOverloaded, "application/json", `{"error":"Model is overloaded","error_type":"overloaded"}`, 429, nil},
		{FaultCredits, "application/json", `{"error":"You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to get 20x more monthly included credits."}`, 402, nil},
		{FaultPermission, "application/json", `{"error":{"message":"This authentication method does not have sufficient permissions to call Inference Providers on behalf of user hfsim","type":"permission_error"}}`, 403, nil},
		{FaultModelNotSupported, "application/json", `{"error":{"message":"The requested model 'mistralai/Mistral-7B-Instruct-v0.2' is not supported by any provider you have enabled.","type":"invalid_request_error","param":"model","code":"model_not_supported"}}`, 400, nil},
		{FaultValidation, "application/json", "{\"error\":\"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 17 `inputs` tokens and 10000 `max_new_tokens`\",\"error_type\":\"validation\"}", 422, nil},
		{FaultHTML500, "text/html", BodyHTML500, 500, nil},
		{FaultWrongShape, "application/json", `{"foo":1}`, 200, nil},
		{FaultStreamError, "application/json", BodyGenerationErr, 424, nil},
		{"no_such_mode", "application/json", `{"error":"hfsim: unknown fault mode \"no_such_mode\"; known: bad_json,credits,endless,html500,huge,loading,model_not_supported,overloaded,permission,ratelimit,reset,slow_first_byte,slow_headers,stream_cut,stream_error,template_error,timeout,validation,wrong_shape"}`, 400, nil},
	}
	s, url := startServer(t, Options{Token: testToken})
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			s.Reset()
			resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "hi", ""),
				header: map[string]string{"X-Hfsim-Fault": tc.mode}})
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.contentType, resp.Header.Get("Content-Type"))
			assert.Equal(t, tc.body, string(readBody(t, resp)))
			for k, v := range tc.headers {
				assert.Equal(t, v, resp.Header.Get(k), k)
			}
			rec, ok := s.LastRequest()
			require.True(t, ok)
			assert.Equal(t, tc.mode, rec.Fault)
		})
	}
}

func TestFaultsListIsComplete(t *testing.T) {
	assert.Equal(t, []string{"bad_json", "credits", "endless", "html500", "huge", "loading", "model_not_supported", "overloaded",
		"permission", "ratelimit", "reset", "slow_first_byte", "slow_headers", "stream_cut", "stream_error", "template_error",
		"timeout", "validation", "wrong_shape"}, Faults())
	for _, f := range Faults() {
		assert.True(t, knownFault(f), f)
	}
}

// Every way of choosing a fault, and their precedence.
func TestFaultSelection(t *testing.T) {
	opts := Options{
		ModelFaults: map[string]string{"acme/flaky": FaultTimeout},
		FaultFor: func(r *http.Request) string {
			if r.Header.Get("X-Test-Case") == "func" {
				return FaultCredits
			}
			if b, err := io.ReadAll(r.Body); err == nil && strings.Contains(string(b), "trigger-html") {
				return FaultHTML500
			}
			return ""
		},
	}
	cases := []struct {
		name, path, body string
		header           map[string]string
		status           int
		fault            string
		model            string
	}{
		{name: "none", path: "/v1/chat/completions", body: chatBody("acme/ok", "x", ""), status: 200, model: "acme/ok"},
		{name: "header", path: "/v1/chat/completions", body: chatBody("acme/ok", "x", ""),
			header: map[string]string{"X-Hfsim-Fault": "loading"}, status: 503, fault: "loading", model: "acme/ok"},
		{name: "query", path: "/v1/chat/completions?hfsim_fault=credits", body: chatBody("acme/ok", "x", ""), status: 402, fault: "credits", model: "acme/ok"},
		{name: "path_prefix", path: "/fault/timeout/v1/chat/completions", body: chatBody("acme/ok", "x", ""), status: 504, fault: "timeout", model: "acme/ok"},
		{name: "kong_model_loading_prefix", path: "/model-loading/v1/chat/completions", body: chatBody("acme/ok", "x", ""), status: 503, fault: "loading", model: "acme/ok"},
		{name: "kong_model_timeout_prefix", path: "/model-timeout/v1/chat/completions", body: chatBody("acme/ok", "x", ""), status: 504, fault: "timeout", model: "acme/ok"},
		{name: "func", path: "/v1/chat/completions", body: chatBody("acme/ok", "x", ""),
			header: map[string]string{"X-Test-Case": "func"}, status: 402, fault: "credits", model: "acme/ok"},
		{name: "func_reads_body", path: "/v1/chat/completions", body: chatBody("acme/ok", "trigger-html", ""), status: 500, fault: "html500", model: "acme/ok"},
		{name: "model_table", path: "/v1/chat/completions", body: chatBody("acme/flaky", "x", ""), status: 504, fault: "timeout", model: "acme/flaky"},
		{name: "model_table_ignores_provider_suffix", path: "/v1/chat/completions", body: chatBody("acme/flaky:groq", "x", ""), status: 504, fault: "timeout", model: "acme/flaky:groq"},
		{name: "fault_model_in_body", path: "/v1/chat/completions", body: chatBody("hfsim-fault/permission", "x", ""), status: 403, fault: "permission", model: "hfsim-fault/permission"},
		{name: "fault_model_in_url", path: "/hf-inference/models/hfsim-fault/ratelimit/pipeline/feature-extraction", body: `{"inputs":"x"}`, status: 429, fault: "ratelimit", model: "hfsim-fault/ratelimit"},
		{name: "header_beats_query", path: "/v1/chat/completions?hfsim_fault=credits", body: chatBody("acme/ok", "x", ""),
			header: map[string]string{"X-Hfsim-Fault": "wrong_shape"}, status: 200, fault: "wrong_shape", model: "acme/ok"},
		{name: "query_beats_path", path: "/fault/timeout/v1/chat/completions?hfsim_fault=credits", body: chatBody("acme/ok", "x", ""), status: 402, fault: "credits", model: "acme/ok"},
		{name: "path_beats_model", path: "/fault/credits/v1/chat/completions", body: chatBody("acme/flaky", "x", ""), status: 402, fault: "credits", model: "acme/flaky"},
	}
	s, url := startServer(t, opts)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset()
			resp := send(t, url, spec{path: tc.path, body: tc.body, header: tc.header})
			_ = readBody(t, resp)
			assert.Equal(t, tc.status, resp.StatusCode)
			reqs := s.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, tc.fault, reqs[0].Fault)
			assert.Equal(t, tc.model, reqs[0].Model)
		})
	}
}

// Auth runs before faults: a fault never hides a missing token.
func TestAuth(t *testing.T) {
	cases := []struct {
		name, token, auth string
		status            int
		body              string
	}{
		{"missing", testToken, "", 401, `{"error":"Invalid credentials in Authorization header"}`},
		{"wrong", testToken, "Bearer nope", 401, fixture(t, "llm-v1-chat/responses/unauthorized.json")},
		{"not_bearer", testToken, "Basic " + testToken, 401, fixture(t, "llm-v1-completions/responses/unauthorized.json")},
		{"lowercase_scheme", testToken, "bearer " + testToken, 200, ""},
		{"right", testToken, "Bearer " + testToken, 200, ""},
		{"no_token_configured_any", "", "Bearer whatever", 200, ""},
		{"no_token_configured_none", "", "", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, url := startServer(t, Options{Token: tc.token})
			resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "x", ""),
				header: map[string]string{"Authorization": tc.auth, "X-Hfsim-Fault": ""}})
			body := readBody(t, resp)
			assert.Equal(t, tc.status, resp.StatusCode)
			if tc.body != "" {
				assert.Equal(t, tc.body, string(body))
			}
			if tc.status == 401 {
				resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "x", ""),
					header: map[string]string{"Authorization": tc.auth, "X-Hfsim-Fault": "loading"}})
				assert.Equal(t, 401, resp.StatusCode, "auth before faults")
			}
		})
	}
}

func TestFaultSlowFirstByte(t *testing.T) {
	t.Run("answers_after_delay", func(t *testing.T) {
		_, url := startServer(t, Options{})
		resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "x", ""),
			header: map[string]string{"X-Hfsim-Fault": FaultSlowFirstByte, "X-Hfsim-First-Byte-Delay": "5ms"}})
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "Echo: x", gjson.GetBytes(readBody(t, resp), "choices.0.message.content").String())
	})
	t.Run("no_header_before_delay", func(t *testing.T) {
		// The delay is an hour: a client with a short deadline must time out
		// waiting for the headers (the server never answers in time).
		_, url := startServer(t, Options{FirstByteDelay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/generate?hfsim_fault=slow_first_byte", strings.NewReader(`{"inputs":"x"}`))
		require.NoError(t, err)
		_, err = http.DefaultClient.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// rawPost sends one HTTP/1.1 request on a fresh TCP connection and returns
// the connection for reading.
func rawPost(t *testing.T, url, path, body string, header map[string]string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	var b strings.Builder
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: hfsim\r\nContent-Type: application/json\r\n")
	for k, v := range header {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	_, err = io.WriteString(conn, b.String())
	require.NoError(t, err)
	return conn, bufio.NewReader(conn)
}

func TestFaultReset(t *testing.T) {
	_, url := startServer(t, Options{})
	for _, path := range []string{"/v1/chat/completions", "/generate", "/hf-inference/models/a/b/pipeline/feature-extraction", "/v1/videos"} {
		t.Run(path, func(t *testing.T) {
			_, r := rawPost(t, url, path, `{"inputs":"x"}`, map[string]string{"X-Hfsim-Fault": FaultReset})
			n, err := io.ReadAll(r)
			assert.Empty(t, n, "no byte before the reset")
			require.True(t, errors.Is(err, syscall.ECONNRESET), "want ECONNRESET, got %v", err)
		})
	}
}

func TestFaultStreamCut(t *testing.T) {
	_, url := startServer(t, Options{})
	t.Run("sse_chat", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "a b c", `"stream":true`),
			header: map[string]string{"X-Hfsim-Fault": FaultStreamCut}})
		require.Equal(t, 200, resp.StatusCode)
		raw, err := io.ReadAll(resp.Body)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "chunked body must end without its terminator")
		evs, perr := ReadEvents(strings.NewReader(string(raw)))
		require.ErrorIs(t, perr, ErrTruncated)
		data := dataEvents(evs)
		require.Len(t, data, 1)
		assert.Equal(t, "Echo:", gjson.Get(data[0].Data, "choices.0.delta.content").String())
		// The same request without the fault shows the event that was cut.
		whole, err := ReadEvents(send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "a b c", `"stream":true`)}).Body)
		require.NoError(t, err)
		second := "data:" + dataEvents(whole)[1].Data + "\n\n"
		assert.True(t, strings.HasSuffix(string(raw), "\n\n:\n\n"+second[:len(second)/2]), string(raw))
	})
	t.Run("sse_generate_stream", func(t *testing.T) {
		resp := send(t, url, spec{path: "/generate_stream", body: `{"inputs":"a b c"}`, header: map[string]string{"X-Hfsim-Fault": FaultStreamCut}})
		raw, err := io.ReadAll(resp.Body)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		evs, perr := ReadEvents(strings.NewReader(string(raw)))
		require.ErrorIs(t, perr, ErrTruncated)
		assert.Len(t, dataEvents(evs), 1)
	})
	for _, tc := range []struct{ name, path, body string }{
		{"json_chat", "/v1/chat/completions", chatBody(testModel, "a b c", "")},
		{"json_generate", "/generate", `{"inputs":"a b c"}`},
		{"json_embeddings", "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction", `{"inputs":"a b c"}`},
		{"mp4", "/v1/videos", `{"prompt":"p","model":"Wan-AI/Wan2.1-T2V-14B"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: tc.path, body: tc.body, header: map[string]string{"X-Hfsim-Fault": FaultStreamCut}})
			require.Equal(t, 200, resp.StatusCode)
			raw, err := io.ReadAll(resp.Body)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.Equal(t, resp.ContentLength/2, int64(len(raw)), "half of the announced body")
		})
	}
}

func TestFaultStreamError(t *testing.T) {
	_, url := startServer(t, Options{})
	for _, tc := range []struct {
		name, path, body string
		first            string // gjson path of the first event that must exist
	}{
		{"chat", "/v1/chat/completions", chatBody(testModel, "a b c", `"stream":true`), "choices.0.delta.content"},
		{"completions", "/v1/completions", `{"prompt":"a b c","stream":true}`, "choices.0.text"},
		{"generate_stream", "/generate_stream", `{"inputs":"a b c"}`, "token.text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: tc.path, body: tc.body, header: map[string]string{"X-Hfsim-Fault": FaultStreamError}})
			require.Equal(t, 200, resp.StatusCode)
			evs, err := ReadEvents(resp.Body)
			require.NoError(t, err)
			data := dataEvents(evs)
			require.Len(t, data, 2, "one good event, then the error event, no [DONE]")
			assert.True(t, gjson.Get(data[0].Data, tc.first).Exists())
			assert.Equal(t, BodyGenerationErr, data[1].Data)
		})
	}
}

func TestFaultBadJSON(t *testing.T) {
	_, url := startServer(t, Options{})
	for _, tc := range []struct{ name, path, body string }{
		{"chat", "/v1/chat/completions", chatBody(testModel, "a", "")},
		{"completions", "/v1/completions", `{"prompt":"a"}`},
		{"generate", "/generate", `{"inputs":"a"}`},
		{"text_generation", "/hf-inference/models/a/b", `{"inputs":"a"}`},
		{"embeddings", "/hf-inference/models/a/b/pipeline/feature-extraction", `{"inputs":"a"}`},
		{"tei", "/embed", `{"inputs":"a"}`},
		{"video_job", "/v1/videos", `{"prompt":"a"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: tc.path, body: tc.body, header: map[string]string{"X-Hfsim-Fault": FaultBadJSON}})
			body := readBody(t, resp)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.False(t, json.Valid(body), string(body))
		})
	}
	t.Run("stream", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "a b c", `"stream":true`),
			header: map[string]string{"X-Hfsim-Fault": FaultBadJSON}})
		evs, err := ReadEvents(resp.Body)
		require.NoError(t, err)
		data := dataEvents(evs)
		require.Len(t, data, 6) // 4 pieces + finish + [DONE], the second replaced
		assert.True(t, json.Valid([]byte(data[0].Data)))
		assert.Equal(t, BadJSONEvent, data[1].Data)
		assert.False(t, json.Valid([]byte(data[1].Data)))
		assert.Equal(t, Done, data[5].Data)
	})
}

func TestFaultHuge(t *testing.T) {
	const size = 1<<20 + 3
	_, url := startServer(t, Options{HugeSize: size})
	for _, tc := range []struct {
		name, path, body, contentType string
		header                        map[string]string
		check                         string // gjson path that must exist
	}{
		{name: "chat", path: "/v1/chat/completions", body: chatBody(testModel, "a", ""), contentType: "application/json", check: "choices.0.message.content"},
		{name: "completions", path: "/v1/completions", body: `{"prompt":"a"}`, contentType: "application/json", check: "choices.0.text"},
		{name: "generate", path: "/generate", body: `{"inputs":"a"}`, contentType: "application/json", check: "generated_text"},
		{name: "text_generation", path: "/hf-inference/models/a/b", body: `{"inputs":"a"}`, contentType: "application/json", check: "0.generated_text"},
		{name: "embeddings", path: "/hf-inference/models/a/b/pipeline/feature-extraction", body: `{"inputs":"a"}`, contentType: "application/json", check: "0"},
		{name: "tei", path: "/embed", body: `{"inputs":"a"}`, contentType: "application/json", check: "0"},
		{name: "video_job", path: "/v1/videos", body: `{"prompt":"a"}`, contentType: "application/json", check: "id"},
		{name: "video_mp4", path: "/v1/videos", body: `{"prompt":"a"}`, contentType: "video/mp4", header: map[string]string{"X-Hfsim-Video": "mp4"}},
		{name: "size_header", path: "/generate", body: `{"inputs":"a"}`, contentType: "application/json", header: map[string]string{"X-Hfsim-Size": "4096"}, check: "generated_text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"X-Hfsim-Fault": FaultHuge}
			for k, v := range tc.header {
				h[k] = v
			}
			resp := send(t, url, spec{path: tc.path, body: tc.body, header: h})
			body := readBody(t, resp)
			want := int64(size)
			if tc.name == "size_header" {
				want = 4096
			}
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tc.contentType, resp.Header.Get("Content-Type"))
			assert.Equal(t, want, resp.ContentLength)
			assert.Len(t, body, int(want))
			if tc.check != "" {
				require.True(t, json.Valid(body))
				assert.True(t, gjson.GetBytes(body, tc.check).Exists())
			}
		})
	}
}

func TestFaultHugeStreams(t *testing.T) {
	const size = 200_000
	_, url := startServer(t, Options{HugeSize: size})
	for _, tc := range []struct {
		name, path, body, textPath string
		style                      Style
		done                       bool
	}{
		{"chat_tgi", "/v1/chat/completions", chatBody(testModel, "a", `"stream":true`), "choices.0.delta.content", StyleTGI, true},
		{"chat_openai", "/v1/chat/completions", chatBody("x/y:groq", "a", `"stream":true`), "choices.0.delta.content", StyleOpenAI, true},
		{"completions", "/v1/completions", `{"prompt":"a","stream":true}`, "choices.0.text", StyleTGI, true},
		{"generate_stream", "/generate_stream", `{"inputs":"a","parameters":{"details":true}}`, "token.text", StyleTGI, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: tc.path, body: tc.body, header: map[string]string{"X-Hfsim-Fault": FaultHuge}})
			require.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			evs, err := ReadEvents(resp.Body)
			require.NoError(t, err)
			data := dataEvents(evs)
			var total int
			for _, e := range data {
				assert.Equal(t, tc.style == StyleOpenAI, e.Spaced)
				total += len(e.Data)
			}
			assert.GreaterOrEqual(t, total, size-len(data)*8, "data events add up to the huge size")
			assert.Equal(t, HugeChunk, gjson.Get(data[0].Data, tc.textPath).String())
			last := data[len(data)-1].Data
			if tc.done {
				assert.Equal(t, Done, last)
				assert.Equal(t, "length", gjson.Get(data[len(data)-2].Data, "choices.0.finish_reason").String())
				return
			}
			assert.Equal(t, `""`, gjson.Get(last, "generated_text").Raw)
			assert.Equal(t, int64(len(data)), gjson.Get(last, "details.generated_tokens").Int())
		})
	}
}

func TestBadTestHeaders(t *testing.T) {
	_, url := startServer(t, Options{})
	for _, tc := range []struct{ header, value, want string }{
		{"X-Hfsim-Delay", "5", `{"error":"hfsim: bad X-Hfsim-Delay \"5\": want a Go duration such as 50ms"}`},
		{"X-Hfsim-First-Byte-Delay", "-1s", `{"error":"hfsim: bad X-Hfsim-First-Byte-Delay \"-1s\": want a Go duration such as 2s"}`},
		{"X-Hfsim-Size", "0", `{"error":"hfsim: bad X-Hfsim-Size \"0\": want a positive byte count"}`},
		{"X-Hfsim-Dim", "x", `{"error":"hfsim: bad X-Hfsim-Dim \"x\": want a positive dimension"}`},
		{"X-Hfsim-Style", "sse", `{"error":"hfsim: bad X-Hfsim-Style \"sse\": want tgi or openai"}`},
		{"X-Hfsim-Shape", "5d", `{"error":"hfsim: bad X-Hfsim-Shape \"5d\": want pooled, token, 1d, 2d, 3d or 4d"}`},
		{"X-Hfsim-Video", "gif", `{"error":"hfsim: bad X-Hfsim-Video \"gif\": want mp4 or json"}`},
	} {
		t.Run(tc.header, func(t *testing.T) {
			resp := send(t, url, spec{path: "/v1/chat/completions", body: chatBody(testModel, "x", ""), header: map[string]string{tc.header: tc.value}})
			assert.Equal(t, 400, resp.StatusCode)
			assert.Equal(t, tc.want, string(readBody(t, resp)))
		})
	}
}
