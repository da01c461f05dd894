package translate

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestFieldTypes: a field the plugin reads, of the wrong type or out
// of range, is a 400 naming it (found by the e2e bad-input battery: these
// bodies used to be forwarded, the value misread or dropped); the right
// types, null and absence still pass.
func TestRequestFieldTypes(t *testing.T) {
	chatCfg := mustParse(t, `{"route_type":"llm/v1/chat","model":{"provider":"huggingface","name":"org/m","options":{"max_tokens":7,"temperature":0.5}}}`)
	cmplCfg := mustParse(t, `{"route_type":"llm/v1/completions","model":{"provider":"huggingface","name":"org/m"}}`)
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name string
		cfg  *schema.Config
		cap  Capability
		body string
		want string // "" = accepted
	}{
		{"stream string", chatCfg, Chat{}, `{` + msgs + `,"stream":"true"}`, `"stream" must be a boolean, not a string`},
		{"stream number", chatCfg, Chat{}, `{` + msgs + `,"stream":1}`, `"stream" must be a boolean, not a number`},
		{"stream null", chatCfg, Chat{}, `{` + msgs + `,"stream":null}`, ""},
		{"stream false", chatCfg, Chat{}, `{` + msgs + `,"stream":false}`, ""},
		{"messages of strings", chatCfg, Chat{}, `{"messages":["hi"]}`, `"messages" must be an array of message objects; item 0 is a string`},
		{"messages with null", chatCfg, Chat{}, `{"messages":[{"role":"user","content":"a"},null]}`, `item 1 is null`},
		{"messages nested", chatCfg, Chat{}, `{"messages":[[{"role":"user"}]]}`, `item 0 is an array`},
		{"max_tokens string", chatCfg, Chat{}, `{` + msgs + `,"max_tokens":"5"}`, `"max_tokens" must be an integer from 1 to 2147483647, not a string`},
		{"max_tokens zero", chatCfg, Chat{}, `{` + msgs + `,"max_tokens":0}`, `not 0`},
		{"max_tokens fraction", chatCfg, Chat{}, `{` + msgs + `,"max_tokens":1.5}`, `not 1.5`},
		{"max_tokens exponent", chatCfg, Chat{}, `{` + msgs + `,"max_tokens":1e400}`, `not 1e400`},
		{"max_tokens huge", chatCfg, Chat{}, `{` + msgs + `,"max_tokens":1` + strings.Repeat("0", 50) + `}`, "not 1" + strings.Repeat("0", 31) + "…"},
		{"max_tokens null", chatCfg, Chat{}, `{` + msgs + `,"max_tokens":null}`, ""},
		{"max_tokens ok", chatCfg, Chat{}, `{` + msgs + `,"max_tokens":2147483647}`, ""},
		{"max_completion_tokens negative", chatCfg, Chat{}, `{` + msgs + `,"max_completion_tokens":-1}`, `"max_completion_tokens" must be an integer`},
		{"top_k fraction", chatCfg, Chat{}, `{` + msgs + `,"top_k":2.5}`, `"top_k" must be an integer from 0`},
		{"temperature infinite", chatCfg, Chat{}, `{` + msgs + `,"temperature":1e400}`, `"temperature" must be a number from 0 to 5, not 1e400`},
		{"temperature negative", chatCfg, Chat{}, `{` + msgs + `,"temperature":-0.1}`, `"temperature" must be a number`},
		{"temperature ok", chatCfg, Chat{}, `{` + msgs + `,"temperature":1.25e0}`, ""},
		{"top_p over one", chatCfg, Chat{}, `{` + msgs + `,"top_p":1.01}`, `"top_p" must be a number from 0 to 1`},
		{"top_p object", chatCfg, Chat{}, `{` + msgs + `,"top_p":{}}`, `not an object`},
		{"completions seed string", cmplCfg, Completions{}, `{"prompt":"a","seed":"3"}`, `"seed" must be an integer`},
		{"completions seed negative", cmplCfg, Completions{}, `{"prompt":"a","seed":-3}`, `"seed" must be an integer`},
		{"completions frequency_penalty string", cmplCfg, Completions{}, `{"prompt":"a","frequency_penalty":"1"}`, `"frequency_penalty" must be a number from -2 to 2`},
		{"completions echo string", cmplCfg, Completions{}, `{"prompt":"a","echo":"yes"}`, `"echo" must be a boolean`},
		{"completions stop number", cmplCfg, Completions{}, `{"prompt":"a","stop":5}`, `"stop" must be a string or an array of strings`},
		{"completions stream string", cmplCfg, Completions{}, `{"prompt":"a","stream":"yes"}`, `"stream" must be a boolean`},
		{"completions all good", cmplCfg, Completions{}, `{"prompt":"a","seed":3,"frequency_penalty":-1.5,"echo":false,"stop":null,"top_k":0}`, ""},
		{"invalid utf-8", chatCfg, Chat{}, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", msgBadJSON + ": the body is not valid UTF-8"},
		{"invalid utf-8 key", cmplCfg, Completions{}, "{\"prompt\":\"a\",\"\xc0\xaf\":1}", "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cap.Request(tc.cfg, &ClientRequest{Path: "/", Body: []byte(tc.body)})
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			e := AsError(err)
			assert.Equal(t, http.StatusBadRequest, e.Status)
			assert.Contains(t, e.Message, tc.want)
		})
	}
}

func mustParse(t *testing.T, raw string) *schema.Config {
	t.Helper()
	cfg, err := schema.Parse([]byte(raw))
	require.NoError(t, err)
	return cfg
}

// TestValidBoundary: RFC 2046 boundaries only (found by the e2e battery: a
// boundary of spaces was accepted and the form forwarded).
func TestValidBoundary(t *testing.T) {
	for _, b := range []string{"BOUND", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a b", "x'()+_,-./:=?", strings.Repeat("b", 70)} {
		assert.True(t, validBoundary(b), "%q", b)
	}
	for _, b := range []string{"", "   ", "a ", strings.Repeat("b", 71), "a\x00b", "a\"b", "a;b", "ü", "a\r\nb"} {
		assert.False(t, validBoundary(b), "%q", b)
	}
	cfg := mustParse(t, `{"route_type":"video/v1/videos/generations","genai_category":"video/generation","model":{"provider":"huggingface","name":"org/m"}}`)
	body := "--   \r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n--   --\r\n"
	_, err := Video{}.Request(cfg, &ClientRequest{Path: "/", Headers: map[string][]string{"content-type": {`multipart/form-data; boundary="   "`}}, Body: []byte(body)})
	require.Error(t, err)
	assert.Equal(t, http.StatusBadRequest, AsError(err).Status)
	assert.Contains(t, AsError(err).Message, "boundary")
}
