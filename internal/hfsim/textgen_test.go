package hfsim

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

func TestGenerate(t *testing.T) {
	tok := func(p string) string { return string(marshal(NewToken(p))) }
	cases := []struct {
		name, path, body string
		status           int
		want             string
		headers          map[string]string
	}{
		{name: "no_details", path: "/generate", body: `{"inputs":"What are you?"}`, status: 200,
			want: `{"generated_text":"Echo: What are you?"}`,
			headers: map[string]string{"x-compute-characters": "13", "x-prompt-tokens": "3", "x-generated-tokens": "4",
				"x-total-tokens": "7", "x-inference-time": "40", "x-total-time": "41", "x-compute-type": "gpu+optimized"}},
		{name: "details_length_seed", path: "/generate", body: `{"inputs":"What are you?","parameters":{"details":true,"max_new_tokens":2,"seed":42}}`, status: 200,
			want: `{"generated_text":"Echo: What","details":{"finish_reason":"length","generated_tokens":2,"seed":42,"prefill":[],"tokens":[` + tok("Echo:") + `,` + tok(" What") + `]}}`},
		{name: "details_eos", path: "/generate", body: `{"inputs":"hi","parameters":{"details":true}}`, status: 200,
			want: `{"generated_text":"Echo: hi","details":{"finish_reason":"eos_token","generated_tokens":2,"seed":null,"prefill":[],"tokens":[` + tok("Echo:") + `,` + tok(" hi") + `]}}`},
		{name: "decoder_input_details", path: "/generate", body: `{"inputs":"a b","parameters":{"details":true,"decoder_input_details":true,"max_new_tokens":1}}`, status: 200,
			want: `{"generated_text":"Echo:","details":{"finish_reason":"length","generated_tokens":1,"seed":null,"prefill":[{"id":` +
				gjson.Get(tok("a"), "id").Raw + `,"text":"a","logprob":null},{"id":` + gjson.Get(tok(" b"), "id").Raw + `,"text":" b","logprob":` +
				gjson.Get(tok(" b"), "logprob").Raw + `}],"tokens":[` + tok("Echo:") + `]}}`},
		{name: "return_full_text", path: "/generate", body: `{"inputs":"hi","parameters":{"return_full_text":true}}`, status: 200,
			want: `{"generated_text":"hiEcho: hi"}`},
		{name: "under_model_prefix", path: "/models/org/name/generate", body: `{"inputs":"hi"}`, status: 200, want: `{"generated_text":"Echo: hi"}`},
		{name: "compat_root_array", path: "/", body: `{"inputs":"What are you?"}`, status: 200, want: `[{"generated_text":"Echo: What are you?"}]`},
		{name: "hf_inference_array", path: "/hf-inference/models/" + testModel, body: `{"inputs":"What are you?","parameters":{"max_new_tokens":256},"options":{"use_cache":false,"wait_for_model":true}}`,
			status: 200, want: `[{"generated_text":"Echo: What are you?"}]`},
		{name: "hf_inference_missing_inputs_kong_fixture", path: "/hf-inference/models/" + testModel, body: "{\n  \"prompt\": \"What are you?\",\n  \"model\": \"x\"\n}", status: 400,
			want: "{\"message\":\"Failed to deserialize the JSON body into the target type: missing field `inputs` at line 4 column 1\"}"},
		{name: "generate_missing_inputs", path: "/generate", body: `{"parameters":{}}`, status: 422,
			want: "{\"message\":\"Failed to deserialize the JSON body into the target type: missing field `inputs` at line 1 column 17\"}"},
		{name: "not_json", path: "/generate", body: `{`, status: 422,
			want: `{"message":"Failed to parse the request body as JSON: expected value at line 1 column 1"}`},
		{name: "empty_inputs", path: "/generate", body: `{"inputs":" "}`, status: 422,
			want: "{\"error\":\"Input validation error: `inputs` cannot be empty\",\"error_type\":\"validation\"}"},
		{name: "temperature", path: "/generate", body: `{"inputs":"x","parameters":{"temperature":0}}`, status: 422,
			want: "{\"error\":\"Input validation error: `temperature` must be strictly positive\",\"error_type\":\"validation\"}"},
		{name: "top_p", path: "/generate", body: `{"inputs":"x","parameters":{"top_p":1.0}}`, status: 422,
			want: "{\"error\":\"Input validation error: `top_p` must be > 0.0 and < 1.0\",\"error_type\":\"validation\"}"},
		{name: "top_k", path: "/generate", body: `{"inputs":"x","parameters":{"top_k":0}}`, status: 422,
			want: "{\"error\":\"Input validation error: `top_k` must be strictly positive\",\"error_type\":\"validation\"}"},
		{name: "max_new_tokens_zero", path: "/generate", body: `{"inputs":"x","parameters":{"max_new_tokens":0}}`, status: 422,
			want: "{\"error\":\"Input validation error: `max_new_tokens` must be strictly positive\",\"error_type\":\"validation\"}"},
		{name: "too_many_tokens", path: "/generate", body: `{"inputs":"one two three","parameters":{"max_new_tokens":10000}}`, status: 422,
			want: "{\"error\":\"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 3 `inputs` tokens and 10000 `max_new_tokens`\",\"error_type\":\"validation\"}"},
		{name: "get_not_allowed", path: "/generate", body: "", status: 405, want: "Method Not Allowed"},
	}
	_, url := startServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := spec{path: tc.path, body: tc.body}
			if tc.name == "get_not_allowed" {
				sp.method = http.MethodGet
			}
			resp := send(t, url, sp)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.want, string(readBody(t, resp)))
			for k, v := range tc.headers {
				assert.Equal(t, v, resp.Header.Get(k), k)
			}
		})
	}
}

// The Kong completions fixture request, translated as Kong 3.9 does
// ("prompt" moved to "inputs"), gets the fixture's answer shape.
func TestTextGenerationMatchesKongFixtureShape(t *testing.T) {
	_, url := startServer(t, Options{})
	prompt := gjson.Get(fixture(t, "llm-v1-completions/requests/good.json"), "prompt").String()
	resp := send(t, url, spec{path: "/", body: `{"inputs":` + string(marshal(prompt)) + `}`})
	got := map[string]bool{}
	keyPaths(gjson.ParseBytes(readBody(t, resp)), "", got)
	want := map[string]bool{}
	keyPaths(gjson.Parse(fixture(t, "llm-v1-completions/responses/good.json")), "", want)
	assert.Equal(t, sortedKeys(want), sortedKeys(got))
}

func TestGenerateStream(t *testing.T) {
	cases := []struct {
		name, path, body string
		final            string // raw JSON of the last event's details
		text             string
	}{
		{"plain", "/generate_stream", `{"inputs":"What are you?"}`, "null", "Echo: What are you?"},
		{"details", "/generate_stream", `{"inputs":"What are you?","parameters":{"details":true,"seed":7}}`,
			`{"finish_reason":"eos_token","generated_tokens":4,"input_length":3,"seed":7}`, "Echo: What are you?"},
		{"details_length", "/models/a/b/generate_stream", `{"inputs":"What are you?","parameters":{"details":true,"max_new_tokens":2}}`,
			`{"finish_reason":"length","generated_tokens":2,"input_length":3,"seed":null}`, "Echo: What"},
		{"compat_root_stream", "/", `{"inputs":"What are you?","stream":true}`, "null", "Echo: What are you?"},
		{"hf_inference_stream", "/hf-inference/models/a/b", `{"inputs":"What are you?","stream":true}`, "null", "Echo: What are you?"},
	}
	_, url := startServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, url, spec{path: tc.path, body: tc.body})
			require.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			assert.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"))
			assert.Equal(t, "gpu+optimized", resp.Header.Get("x-compute-type"))
			assert.Equal(t, "13", resp.Header.Get("x-compute-characters"))
			evs, err := ReadEvents(resp.Body)
			require.NoError(t, err)
			data := dataEvents(evs)
			pieces := Pieces(tc.text)
			require.Len(t, data, len(pieces), "one event per token, no [DONE]")
			for i, e := range data {
				assert.False(t, e.Spaced)
				ev := gjson.Parse(e.Data)
				assert.Equal(t, int64(i+1), ev.Get("index").Int())
				assert.Equal(t, string(marshal(NewToken(pieces[i]))), ev.Get("token").Raw)
				if i < len(data)-1 {
					assert.Equal(t, "null", ev.Get("generated_text").Raw)
					assert.Equal(t, "null", ev.Get("details").Raw)
					continue
				}
				assert.Equal(t, tc.text, ev.Get("generated_text").String())
				assert.Equal(t, tc.final, ev.Get("details").Raw)
			}
			assert.NotEqual(t, Done, data[len(data)-1].Data)
		})
	}
}

func TestCompletions(t *testing.T) {
	_, url := startServer(t, Options{})
	t.Run("json_two_prompts", func(t *testing.T) {
		body := `{"model":"bigcode/starcoder","prompt":["def f():","x y z"],"max_tokens":3}`
		resp := send(t, url, spec{path: "/v1/completions", body: body})
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, `{"object":"text_completion","id":"","created":1722866733,"model":"bigcode/starcoder","system_fingerprint":"3.3.6-native","choices":[`+
			`{"index":0,"text":"Echo: def f():","logprobs":null,"finish_reason":"stop"},`+
			`{"index":1,"text":"Echo: x y","logprobs":null,"finish_reason":"length"}],`+
			`"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}`, string(readBody(t, resp)))
	})
	t.Run("openai_id", func(t *testing.T) {
		body := `{"model":"a/b:together","prompt":"hi"}`
		resp := send(t, url, spec{path: "/v1/completions", body: body})
		assert.Equal(t, idOf("cmpl-", body), gjson.GetBytes(readBody(t, resp), "id").String())
	})
	t.Run("missing_prompt", func(t *testing.T) {
		resp := send(t, url, spec{path: "/v1/completions", body: `{"model":"x"}`})
		assert.Equal(t, 422, resp.StatusCode)
		assert.Equal(t, "{\"message\":\"Failed to deserialize the JSON body into the target type: missing field `prompt` at line 1 column 13\"}", string(readBody(t, resp)))
	})
	for _, style := range []Style{StyleTGI, StyleOpenAI} {
		t.Run("stream_"+string(style), func(t *testing.T) {
			resp := send(t, url, spec{path: "/v1/completions", body: `{"model":"m","prompt":"a b","stream":true,"stream_options":{"include_usage":true}}`,
				header: map[string]string{"X-Hfsim-Style": string(style)}})
			evs, err := ReadEvents(resp.Body)
			require.NoError(t, err)
			data := dataEvents(evs)
			require.Len(t, data, 3+1+1+1) // 3 pieces, finish, usage, [DONE]
			var text string
			for i, e := range data[:3] {
				assert.Equal(t, style == StyleOpenAI, e.Spaced)
				c := gjson.Parse(e.Data)
				assert.Equal(t, "text_completion", c.Get("object").String())
				assert.Equal(t, "null", c.Get("choices.0.finish_reason").Raw, i)
				text += c.Get("choices.0.text").String()
			}
			assert.Equal(t, "Echo: a b", text)
			assert.Equal(t, `"stop"`, gjson.Get(data[3].Data, "choices.0.finish_reason").Raw)
			assert.Equal(t, `{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}`, gjson.Get(data[4].Data, "usage").Raw)
			assert.Equal(t, `[]`, gjson.Get(data[4].Data, "choices").Raw)
			assert.Equal(t, Done, data[5].Data)
		})
	}
}
