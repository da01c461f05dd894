package e2e

import (
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// faultWant is what a client gets for one fault of the upstream. A msg or
// code of "*" accepts any (the plugin words its own errors).
type faultWant struct {
	status int
	// OpenAI error shape (status >= 400, buffered): type, code ("" = null)
	// and the message (exact, or prefix when it ends with "…").
	typ, code, msg string
	// passthrough: the upstream's body reaches the client unchanged.
	passthrough bool
	// headers the client must get.
	headers map[string]string
	// kong: the answer is Kong's own error page (no upstream answer for
	// the plugin to see), {"message": msg, "request_id"}.
	kong bool
	// check runs extra assertions.
	check func(t *testing.T, res response, readErr error)
}

// TestTextgenFaults: issue 4 rows 8 and 9 against every fault mode of the
// fake upstream, on chat through the router, buffered and streamed: the
// exact status, the error shape, Hugging Face's message kept, headers
// passed, and no request left hanging (every call has a client timeout
// and must come back with an answer or a closed connection).
func TestTextgenFaults(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/f-chat", config: chatConf(t)},
		route{path: "/f-slow", config: chatConf(t), readTimeoutMS: 300},
		route{path: "/f-slow-logged", config: chatConf(t, "logging", `{"log_statistics":true}`), readTimeoutMS: 300},
	)
	loadingMsg := "Model " + chatModel + " is currently loading"
	generationMsg := gjson.Get(hfsim.BodyGenerationErr, "error").String()
	rateLimitMsg := gjson.Get(hfsim.BodyRateLimit, "error").String()
	creditsMsg := gjson.Get(hfsim.BodyCredits, "error").String()
	buffered := map[string]faultWant{
		hfsim.FaultLoading: {status: 503, typ: "server_error", code: "model_loading", msg: loadingMsg,
			headers: map[string]string{"Retry-After": "306"}},
		hfsim.FaultRateLimit: {status: 429, typ: "rate_limit_error", msg: rateLimitMsg,
			headers: map[string]string{"RateLimit": hfsim.RateLimitHeader, "RateLimit-Policy": hfsim.RateLimitPolicyHeader}},
		hfsim.FaultOverloaded:        {status: 429, typ: "rate_limit_error", code: "overloaded", msg: "Model is overloaded"},
		hfsim.FaultCredits:           {status: 402, typ: "insufficient_quota", msg: creditsMsg},
		hfsim.FaultPermission:        {status: 403, passthrough: true, typ: "permission_error", msg: "This authentication method does not have sufficient permissions…"},
		hfsim.FaultModelNotSupported: {status: 400, passthrough: true, typ: "invalid_request_error", code: "model_not_supported", msg: "The requested model '" + chatModel + "' is not supported by any provider you have enabled."},
		hfsim.FaultTemplateError:     {status: 400, typ: "invalid_request_error", code: "template_error", msg: "Template error: undefined value (in <string>:1)"},
		hfsim.FaultValidation:        {status: 422, typ: "invalid_request_error", code: "validation", msg: "Input validation error…"},
		hfsim.FaultHTML500:           {status: 500, typ: "server_error", msg: "upstream answered 500 Internal Server Error with an HTML page: 500 Internal Server Error"},
		hfsim.FaultTimeout:           {status: 504, typ: "server_error", msg: "Model " + chatModel + " time out"},
		hfsim.FaultStreamError:       {status: 424, typ: "invalid_request_error", code: "generation", msg: generationMsg},
		hfsim.FaultBadJSON:           {status: 502, typ: "server_error", code: "bad_upstream_response", msg: "the upstream answered 200 with a body that is not JSON; expected an OpenAI chat.completion"},
		hfsim.FaultWrongShape:        {status: 502, typ: "server_error", code: "bad_upstream_response", msg: `the upstream answered 200 without "choices"; expected an OpenAI chat.completion`},
		// The upstream resets the connection: the relay answers a 502 in
		// the OpenAI shape (the PDK path does the same from its response
		// phase, after Kong's error handler cleared buffered_proxying).
		hfsim.FaultReset: {status: 502, typ: "server_error", code: "upstream_unreachable", msg: "*"},
		// A body cut short: the relay's read fails before it answered
		// anything, so the client gets a 502 in the OpenAI shape (through
		// Kong alone the status stayed the upstream's 200 with Kong's page).
		hfsim.FaultStreamCut: {status: 502, typ: "server_error", code: "upstream_incomplete", msg: "*"},
		hfsim.FaultSlowFirstByte: {status: 200, check: func(t *testing.T, res response, _ error) {
			assert.Equal(t, hfsim.Reply("fault?"), gjson.GetBytes(res.body, "choices.0.message.content").String())
		}},
		// Transport faults, bounded to a fraction of a second here (the
		// faults_*_test.go files run them long): a trickled head is just
		// slow; a body that never ends is cut by hfsim, as stream_cut.
		hfsim.FaultSlowHeaders: {status: 200, check: func(t *testing.T, res response, _ error) {
			assert.Equal(t, hfsim.Reply("fault?"), gjson.GetBytes(res.body, "choices.0.message.content").String())
		}},
		// Cut by hfsim after X-Hfsim-Trickle-For, like stream_cut: the
		// relay's read fails before it answered, a 502 in the OpenAI shape.
		hfsim.FaultEndless: {status: 502, typ: "server_error", code: "upstream_incomplete", msg: "*"},
		hfsim.FaultHuge: {status: 200, check: func(t *testing.T, res response, _ error) {
			assert.Len(t, res.body, 3<<20)
			assert.True(t, gjson.ValidBytes(res.body))
			assert.Equal(t, chatModel, gjson.GetBytes(res.body, "model").String())
		}},
	}
	// Streamed, through the relay: an upstream error before the first byte
	// gets exactly the buffered answer (OpenAI shape, Retry-After); a 2xx
	// stream passes untouched, and a stream that breaks ends with one
	// OpenAI error event and a clean end of the response.
	streamed := map[string]faultWant{
		hfsim.FaultWrongShape:    {status: 200, passthrough: true},
		hfsim.FaultSlowFirstByte: {status: 200, passthrough: true},
		hfsim.FaultHuge:          {status: 200, passthrough: true},
		hfsim.FaultSlowHeaders:   {status: 200, passthrough: true},
		// hfsim cuts the never-ending body after X-Hfsim-Trickle-For:
		// the relay ends the stream with an error event, cleanly.
		hfsim.FaultEndless: {status: 200, check: func(t *testing.T, res response, readErr error) {
			assert.NoError(t, readErr, "the relay ends the stream cleanly")
			assert.Contains(t, string(res.body), hfsim.EndlessEvent)
			assert.NotContains(t, string(res.body), "[DONE]")
			data := dataEvents(sseEvents(t, res.body))
			require.NotEmpty(t, data)
			assert.Equal(t, "server_error", gjson.Get(data[len(data)-1], "error.type").String(), "%s", data[len(data)-1])
		}},
		hfsim.FaultStreamError: {status: 200, check: func(t *testing.T, res response, _ error) {
			data := dataEvents(sseEvents(t, res.body))
			require.Len(t, data, 3, "%s", res.body)
			assert.Equal(t, hfsim.BodyGenerationErr, data[1], "the upstream's event, copied as it came")
			assert.Equal(t, "server_error", gjson.Get(data[2], "error.type").String(), "then the OpenAI error event: %s", data[2])
			assert.Equal(t, "generation", gjson.Get(data[2], "error.code").String())
			assert.Contains(t, gjson.Get(data[2], "error.message").String(), generationMsg)
			assert.NotContains(t, data, hfsim.Done)
		}},
		hfsim.FaultBadJSON: {status: 200, passthrough: true, check: func(t *testing.T, res response, _ error) {
			data := dataEvents(sseEvents(t, res.body))
			assert.Equal(t, hfsim.BadJSONEvent, data[1])
			assert.Equal(t, hfsim.Done, data[len(data)-1])
		}},
		hfsim.FaultStreamCut: {status: 200, check: func(t *testing.T, res response, readErr error) {
			// The client sees the first event, the cut one as far as it
			// came, then an error event, and a response that ends cleanly.
			assert.NoError(t, readErr, "the relay ends the stream cleanly")
			data := dataEvents(sseEvents(t, res.body))
			require.NotEmpty(t, data)
			assert.Equal(t, "upstream_stream_truncated", gjson.Get(data[len(data)-1], "error.code").String(), "%s", res.body)
			assert.NotContains(t, string(res.body), "[DONE]")
		}},
		hfsim.FaultReset: {status: 502, typ: "server_error", code: "upstream_unreachable", msg: "*"},
	}
	for mode, want := range buffered {
		if _, ok := streamed[mode]; !ok && mode != hfsim.FaultStreamError {
			streamed[mode] = want // before the first byte: as buffered
		}
	}
	for _, mode := range hfsim.Faults() {
		for _, stream := range []bool{false, true} {
			want, ok := buffered[mode]
			name := mode
			body := chatBody("fault?")
			if stream {
				want, ok = streamed[mode]
				name += " stream"
				body = withStream(body)
			}
			require.True(t, ok, "no expectation for fault %s (stream %v)", mode, stream)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				h := with(id(t), "X-Hfsim-Fault", mode)
				switch mode {
				case hfsim.FaultSlowFirstByte:
					h["X-Hfsim-First-Byte-Delay"] = "50ms"
				case hfsim.FaultHuge:
					h["X-Hfsim-Size"] = "3145728"
				case hfsim.FaultSlowHeaders, hfsim.FaultEndless:
					h["X-Hfsim-Trickle-Interval"], h["X-Hfsim-Trickle-For"] = "2ms", "200ms"
				}
				res, readErr := r.sendLoose(t, "/f-chat", body, h)
				if mode != hfsim.FaultStreamCut && (mode != hfsim.FaultEndless || !stream) {
					require.NoError(t, readErr)
				}
				checkFault(t, res, readErr, want)
				if want.passthrough {
					direct := replay(t, router, oneUpstream(t, router, e2eID(t)))
					assert.Equal(t, direct.status, res.status)
					assert.Equal(t, string(direct.body), string(res.body), "the upstream's answer reaches the client unchanged")
				}
				if res.status >= 400 {
					assert.Empty(t, res.header.Values("X-Kong-LLM-Model"), "no model header on errors")
				}
			})
		}
	}

	// slow_first_byte past the service's read_timeout: Kong's read timeout
	// is on its connection to the relay, so Kong times out first and
	// answers its own 504 page, buffered or streamed (the relay's upstream
	// timeout is its own, 60 s). With logging on, a buffered request keeps
	// the PDK path, whose response phase answers a 504 in the OpenAI shape
	// after Kong's page (the case after this one).
	t.Run("slow first byte past read_timeout", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/f-slow", chatBody("slow"), with(id(t), "X-Hfsim-Fault", hfsim.FaultSlowFirstByte, "X-Hfsim-First-Byte-Delay", "3s"))
		checkFault(t, res, nil, faultWant{status: 504, kong: true, msg: "The upstream server is timing out"})
	})
	t.Run("slow first byte past read_timeout, logging on", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/f-slow-logged", chatBody("slow"), with(id(t), "X-Hfsim-Fault", hfsim.FaultSlowFirstByte, "X-Hfsim-First-Byte-Delay", "3s"))
		checkFault(t, res, nil, faultWant{status: 504, typ: "server_error", code: "upstream_timeout", msg: "*"})
	})
	t.Run("slow first byte past read_timeout stream", func(t *testing.T) {
		t.Parallel()
		res := r.send(t, "/f-slow", withStream(chatBody("slow")), with(id(t), "X-Hfsim-Fault", hfsim.FaultSlowFirstByte, "X-Hfsim-First-Byte-Delay", "3s"))
		checkFault(t, res, nil, faultWant{status: 504, kong: true, msg: "The upstream server is timing out"})
	})
}

// checkFault asserts one fault's answer.
func checkFault(t *testing.T, res response, readErr error, want faultWant) {
	t.Helper()
	require.Equal(t, want.status, res.status, "body: %s", res.body)
	for k, v := range want.headers {
		assert.Equal(t, v, res.header.Get(k), "header %s", k)
	}
	switch {
	case want.kong:
		assert.Equal(t, want.msg, gjson.GetBytes(res.body, "message").String(), "body: %s", res.body)
		assert.True(t, gjson.GetBytes(res.body, "request_id").Exists(), "body: %s", res.body)
	case want.typ != "" && !want.passthrough:
		msg := requireOpenAIErrorShape(t, res, want.status, want.typ, want.code)
		assertMessage(t, want.msg, msg)
	case want.typ != "":
		// An OpenAI-shaped upstream error goes through as it is.
		assert.Equal(t, want.typ, gjson.GetBytes(res.body, "error.type").String(), "body: %s", res.body)
		if want.code != "" {
			assert.Equal(t, want.code, gjson.GetBytes(res.body, "error.code").String())
		}
		assertMessage(t, want.msg, gjson.GetBytes(res.body, "error.message").String())
	}
	if want.check != nil {
		want.check(t, res, readErr)
	}
}

func assertMessage(t *testing.T, want, got string) {
	t.Helper()
	if want == "*" {
		return
	}
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		assert.True(t, strings.HasPrefix(got, prefix), "message %q should start with %q", got, prefix)
		return
	}
	assert.Equal(t, want, got)
}

// TestTextgenFaultsOtherRoutes: the faults that matter for the translated
// and native routes (completions on the router, native /generate on the
// router and on a TGI, completions passed through to a TGI), buffered and
// streamed where the route streams.
func TestTextgenFaultsOtherRoutes(t *testing.T) {
	t.Parallel()
	tgi := startHF(t, hfsim.Options{Token: hfToken})
	onTGI := func(c string) string { return conf(t, c, "model.options.upstream_url", jsonString(tgi.URL())) }
	native := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
	r := startRig(t,
		route{path: "/fo-cmpl-router", config: baseConf("llm/v1/completions", tgModel)},
		route{path: "/fo-cmpl-tgi", config: onTGI(baseConf("llm/v1/completions", tgModel))},
		route{path: "/fo-native-router", config: native},
		route{path: "/fo-native-tgi", config: onTGI(native)},
	)
	for _, tc := range []struct {
		route, path, body string
		onTGI             bool
		streams           bool
		expected          string // object the route answers
	}{
		{route: "completions router", path: "/fo-cmpl-router", body: `{"prompt":"x"}`, expected: "[{\"generated_text\": ...}]"},
		{route: "completions tgi", path: "/fo-cmpl-tgi", body: `{"prompt":"x"}`, onTGI: true, streams: true, expected: "an OpenAI text_completion"},
		{route: "native router", path: "/fo-native-router/generate", body: `{"inputs":"x"}`, streams: true, expected: "TGI's {\"generated_text\": ...}"},
		{route: "native tgi", path: "/fo-native-tgi/generate", body: `{"inputs":"x"}`, onTGI: true, streams: true, expected: "TGI's {\"generated_text\": ...}"},
	} {
		srv := router
		if tc.onTGI {
			srv = tgi
		}
		for _, mode := range []string{hfsim.FaultLoading, hfsim.FaultValidation, hfsim.FaultHTML500, hfsim.FaultBadJSON, hfsim.FaultWrongShape, hfsim.FaultStreamError, hfsim.FaultReset, hfsim.FaultCredits} {
			for _, stream := range []bool{false, true} {
				if stream && !tc.streams {
					continue
				}
				name := tc.route + " " + mode
				path, body := tc.path, tc.body
				if stream {
					name += " stream"
					path = strings.Replace(path, "/generate", "/generate_stream", 1)
					body = withStream(body)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					res, readErr := r.sendLoose(t, path, body, with(id(t), "X-Hfsim-Fault", mode))
					require.NoError(t, readErr)
					if mode == hfsim.FaultReset {
						// Buffered or streamed, the relay answers.
						checkFault(t, res, nil, faultWant{status: 502, typ: "server_error", code: "upstream_unreachable", msg: "*"})
						return
					}
					direct := replay(t, srv, oneUpstream(t, srv, e2eID(t)))
					// Hugging Face's own message, as the upstream wrote it.
					hfMsg := gjson.GetBytes(direct.body, "error").String()
					switch {
					case stream && mode == hfsim.FaultStreamError:
						// The upstream's error event as it came, then the
						// error event that ends the stream (OpenAI's shape,
						// or TGI's for a native client).
						require.Equal(t, 200, res.status)
						data := dataEvents(sseEvents(t, res.body))
						require.NotEmpty(t, data)
						last := data[len(data)-1]
						if strings.HasPrefix(tc.route, "native") {
							// A native client reads TGI's own error shape.
							assert.Equal(t, "generation", gjson.Get(last, "error_type").String(), "%s", res.body)
							assert.Contains(t, gjson.Get(last, "error").String(), hfMsg)
						} else {
							assert.Equal(t, "server_error", gjson.Get(last, "error.type").String(), "%s", res.body)
							assert.Contains(t, gjson.Get(last, "error.message").String(), hfMsg)
						}
						assert.NotContains(t, data, hfsim.Done)
						return
					case stream && (mode == hfsim.FaultBadJSON || mode == hfsim.FaultWrongShape):
						// A 2xx stream passes as the upstream wrote it.
						assert.Equal(t, direct.status, res.status)
						assert.Equal(t, string(direct.body), string(res.body))
						return
					}
					// An error before the first byte: streamed or not, the
					// same answer.
					switch mode {
					case hfsim.FaultLoading:
						checkFault(t, res, nil, faultWant{status: 503, typ: "server_error", code: "model_loading", msg: hfMsg, headers: map[string]string{"Retry-After": "306"}})
					case hfsim.FaultValidation:
						checkFault(t, res, nil, faultWant{status: 422, typ: "invalid_request_error", code: "validation", msg: hfMsg})
					case hfsim.FaultHTML500:
						checkFault(t, res, nil, faultWant{status: 500, typ: "server_error", msg: "upstream answered 500 Internal Server Error with an HTML page: 500 Internal Server Error"})
					case hfsim.FaultBadJSON:
						checkFault(t, res, nil, faultWant{status: 502, typ: "server_error", code: "bad_upstream_response", msg: "*"})
						msg := gjson.GetBytes(res.body, "error.message").String()
						assert.Contains(t, msg, "answered 200 with a body that is not JSON")
						assert.Contains(t, msg, tc.expected)
					case hfsim.FaultWrongShape:
						checkFault(t, res, nil, faultWant{status: 502, typ: "server_error", code: "bad_upstream_response", msg: "the upstream answered 200…"})
					case hfsim.FaultStreamError:
						checkFault(t, res, nil, faultWant{status: 424, typ: "invalid_request_error", code: "generation", msg: hfMsg})
					case hfsim.FaultCredits:
						checkFault(t, res, nil, faultWant{status: 402, typ: "insufficient_quota", msg: hfMsg})
					}
				})
			}
		}
	}
}
