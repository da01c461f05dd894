package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The bad-input battery (issue 10 item 3): hundreds of requests no route
// may forward, each answered with a 4xx in the OpenAI error shape whose
// message names the problem, nothing reaching the fake upstream, no panic
// and no credential in any output. Cases are grouped by rig: one rig per
// test, every case a parallel subtest on it.

// Kong's own wording for the two commonest refusals.
const (
	msgBadJSON   = "bad JSON formatting"
	msgNoPrompts = "request body doesn't contain valid prompts"
	msgNotModel  = "is not a valid Hugging Face model id"
)

// batteryRoutes are the routes of every route_type the battery sends to.
func batteryRoutes(t *testing.T) []route {
	native := conf(t, baseConf("llm/v1/chat", tgModel), "llm_format", `"huggingface"`)
	return []route{
		{path: "/b-chat", config: chatConf(t)},
		{path: "/b-chat-any", config: chatConf(t, "model.name", "-")},
		{path: "/b-chat-nostream", config: chatConf(t, "response_streaming", `"deny"`)},
		{path: "/b-chat-small", config: chatConf(t, "max_request_body_size", "1024")},
		{path: "/b-cmpl", config: baseConf("llm/v1/completions", tgModel)},
		{path: "/b-cmpl-any", config: conf(t, baseConf("llm/v1/completions", tgModel), "model.name", "-")},
		{path: "/b-native", config: native},
		{path: "/b-emb", config: embedConfig(hfToken, "", "")},
		{path: "/b-video", config: videoConfig(hfToken, videoModel, "")},
		{path: "/b-video-any", config: videoConfig(hfToken, "", "")},
		{path: "/b-pres", config: conf(t, baseConf("preserve", chatModel), "model.name", "-")},
		{path: "/b-pres-nostream", config: conf(t, baseConf("preserve", chatModel), "model.name", "-", "response_streaming", `"deny"`)},
		{path: "/b-pres-bodyauth", config: conf(t, baseConf("preserve", chatModel), "auth",
			`{"param_name":"api_key","param_value":"`+paramSecret+`","param_location":"body"}`)},
	}
}

const okMsgs = `"messages":[{"role":"user","content":"hi"}]`

// TestBatteryJSON: malformed, truncated and non-object JSON, invalid UTF-8,
// NUL bytes, huge and deeply nested bodies and duplicate keys on the JSON
// routes.
func TestBatteryJSON(t *testing.T) {
	t.Parallel()
	r := startRig(t, batteryRoutes(t)...)
	good := `{` + okMsgs + `}`
	var cases []badCase
	add := func(name, path, body string, status int, want string, h ...string) {
		cases = append(cases, bc(name, path, body, status, want, h...))
	}
	// Malformed and truncated JSON: every prefix of a good body is refused.
	for i := 1; i < len(good); i += 3 {
		add(fmt.Sprintf("chat truncated at %d", i), "/b-chat", good[:i], 400, msgBadJSON)
	}
	for name, body := range map[string]string{
		"trailing garbage":      good + ` x`,
		"two objects":           good + good,
		"extra closing brace":   good + `}`,
		"single quotes":         `{'messages':[{'role':'user','content':'hi'}]}`,
		"unquoted keys":         `{messages:[{role:"user",content:"hi"}]}`,
		"trailing comma":        `{` + okMsgs + `,}`,
		"trailing comma array":  `{"messages":[{"role":"user","content":"hi"},]}`,
		"missing colon":         `{"messages" [{"role":"user","content":"hi"}]}`,
		"missing comma":         `{"model":"` + chatModel + `" ` + okMsgs + `}`,
		"NaN":                   `{` + okMsgs + `,"temperature":NaN}`,
		"Infinity":              `{` + okMsgs + `,"temperature":Infinity}`,
		"leading zero":          `{` + okMsgs + `,"max_tokens":012}`,
		"hex number":            `{` + okMsgs + `,"max_tokens":0x10}`,
		"plus sign":             `{` + okMsgs + `,"max_tokens":+1}`,
		"bare dot":              `{` + okMsgs + `,"temperature":.5}`,
		"comment":               `{/* hi */` + okMsgs + `}`,
		"line comment":          "{// hi\n" + okMsgs + `}`,
		"unterminated string":   `{"messages":[{"role":"user","content":"hi}]}`,
		"bad escape":            `{"messages":[{"role":"user","content":"\x41"}]}`,
		"short unicode escape":  `{"messages":[{"role":"user","content":"\u12"}]}`,
		"raw newline in string": "{\"messages\":[{\"role\":\"user\",\"content\":\"a\nb\"}]}",
		"raw tab in string":     "{\"messages\":[{\"role\":\"user\",\"content\":\"a\tb\"}]}",
		"NUL in string":         "{\"messages\":[{\"role\":\"user\",\"content\":\"a\x00b\"}]}",
		"NUL after body":        good + "\x00",
		"NUL before body":       "\x00" + good,
		"NUL only":              "\x00",
		"byte order mark":       "\xef\xbb\xbf" + good,
		"null":                  `null`,
		"true":                  `true`,
		"number":                `42`,
		"string":                `"hi"`,
		"array":                 `[` + good + `]`,
		"empty":                 ``,
		"whitespace":            " \r\n\t ",
		"invalid utf-8 value":   "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
		"invalid utf-8 key":     "{\"\xc3\x28\":1," + okMsgs + "}",
		"overlong utf-8 slash":  "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}",
		"utf-16 body":           "\xff\xfe{\x00}\x00",
		"lone continuation":     "{\"messages\":[{\"role\":\"user\",\"content\":\"\x80\"}]}",
		"truncated utf-8":       "{\"messages\":[{\"role\":\"user\",\"content\":\"\xe2\x82\"}]}",
	} {
		add("chat "+name, "/b-chat", body, 400, msgBadJSON)
	}
	// The same on every other JSON route.
	for _, p := range []struct{ route, path string }{
		{"completions", "/b-cmpl"}, {"native", "/b-native/generate"}, {"embeddings", "/b-emb"}, {"video", "/b-video"},
		{"preserve", "/b-pres/v1/chat/completions"},
	} {
		for name, body := range map[string]string{
			"truncated":      `{"inputs":"hi","prompt":"hi","input":"hi"`,
			"trailing comma": `{"inputs":"hi","prompt":"hi",}`,
			"invalid utf-8":  "{\"inputs\":\"\xff\",\"prompt\":\"\xff\",\"input\":\"\xff\"}",
			"NUL in string":  "{\"inputs\":\"a\x00\",\"prompt\":\"a\x00\",\"input\":\"a\x00\"}",
		} {
			if p.route == "preserve" && (name == "truncated" || name == "trailing comma") {
				continue // not an object to preserve: passed through as bytes
			}
			add(p.route+" "+name, p.path, body, 400, msgBadJSON)
		}
	}
	// Duplicate keys, escaped spellings of the same key included.
	dup := `the request body has the key "%s" more than once`
	for _, c := range []struct{ name, path, body, key string }{
		{"chat model", "/b-chat-any", `{"model":"` + chatModel + `",` + okMsgs + `,"model":"evil/model"}`, "model"},
		{"chat model escaped", "/b-chat-any", `{"model":"` + chatModel + `",` + okMsgs + `,"mod\u0065l":"evil/model"}`, "model"},
		{"chat stream", "/b-chat", `{"stream":false,` + okMsgs + `,"stream":true}`, "stream"},
		{"chat messages", "/b-chat", `{` + okMsgs + `,` + okMsgs + `}`, "messages"},
		{"completions prompt", "/b-cmpl", `{"prompt":"a","prompt":"b"}`, "prompt"},
		{"native inputs", "/b-native/generate", `{"inputs":"a","inputs":"b"}`, "inputs"},
		{"embeddings input", "/b-emb", `{"model":"` + pooledModel + `","input":"a","input":"b"}`, "input"},
		{"embeddings model", "/b-emb", `{"model":"` + pooledModel + `","input":"a","model":"evil/x"}`, "model"},
		{"video prompt", "/b-video", `{"prompt":"a cat","prompt":"a dog"}`, "prompt"},
		{"video model", "/b-video-any", `{"model":"` + videoModel + `","prompt":"a cat","model":"evil/x"}`, "model"},
		{"preserve model", "/b-pres/v1/chat/completions", `{"model":"` + chatModel + `",` + okMsgs + `,"model":"evil/x"}`, "model"},
	} {
		add("duplicate "+c.name, c.path, c.body, 400, fmt.Sprintf(dup, c.key))
	}
	// Huge and deep bodies.
	big := `{` + okMsgs + `,"pad":"` + strings.Repeat("x", 2<<20) + `"}`
	add("chat over max_request_body_size", "/b-chat", big, 413, "max_request_body_size")
	add("chat over a small max_request_body_size", "/b-chat-small", `{`+okMsgs+`,"pad":"`+strings.Repeat("y", 2000)+`"}`, 413, "max_request_body_size")
	add("completions over max_request_body_size", "/b-cmpl", `{"prompt":"`+strings.Repeat("x", 2<<20)+`"}`, 413, "max_request_body_size")
	add("embeddings over max_request_body_size", "/b-emb", `{"model":"`+pooledModel+`","input":"`+strings.Repeat("x", 2<<20)+`"}`, 413, "max_request_body_size")
	add("native over max_request_body_size", "/b-native/generate", `{"inputs":"`+strings.Repeat("x", 2<<20)+`"}`, 413, "max_request_body_size")
	add("video over max_request_body_size", "/b-video", `{"prompt":"`+strings.Repeat("x", 2<<20)+`"}`, 413, "max_request_body_size")
	deep := strings.Repeat("[", 400000) + strings.Repeat("]", 400000)
	add("chat deeply nested array", "/b-chat", `{"messages":`+deep+`}`, 400, `"messages" must be an array of message objects; item 0 is an array`)
	add("chat deeply nested unclosed", "/b-chat", `{"messages":`+strings.Repeat(`[{"a":`, 100000)+`}`, 400, msgBadJSON)
	add("chat deeply nested objects", "/b-chat", `{"x":`+strings.Repeat(`{"a":`, 100000)+`1`+strings.Repeat(`}`, 100000)+`}`, 400, msgNoPrompts)
	add("chat many keys", "/b-chat", `{`+manyKeys(20000)+`}`, 400, msgNoPrompts)
	add("chat many keys duplicate late", "/b-chat", `{`+manyKeys(5000)+`,"k17":0,`+okMsgs+`}`, 400, `the request body has the key "k17" more than once`)
	add("chat huge number", "/b-chat", `{`+okMsgs+`,"max_tokens":1`+strings.Repeat("0", 100000)+`}`, 400, "max_tokens")
	runBadCases(t, r, cases, goodChat(r, "/b-chat"))
	require.GreaterOrEqual(t, len(cases), 80)
}

// manyKeys is n distinct "kN": N pairs.
func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	return b.String()
}

// TestBatteryFields: wrong types and out-of-range values for every field
// the translators read, and every route_type given a body of the wrong kind.
func TestBatteryFields(t *testing.T) {
	t.Parallel()
	r := startRig(t, batteryRoutes(t)...)
	var cases []badCase
	add := func(name, path, body string, status int, want string, h ...string) {
		cases = append(cases, bc(name, path, body, status, want, h...))
	}
	// Chat: messages, model, stream, and the options the plugin fills in.
	for name, v := range map[string]string{
		"string": `"hi"`, "number": `1`, "object": `{"role":"user","content":"hi"}`, "true": `true`,
		"empty array": `[]`, "null": `null`,
	} {
		add("chat messages "+name, "/b-chat", `{"messages":`+v+`}`, 400, msgNoPrompts)
	}
	for name, v := range map[string]string{
		"array of strings": `["hi"]`, "array of numbers": `[1,2]`, "array with null": `[{"role":"user","content":"hi"},null]`,
		"array of arrays": `[[{"role":"user","content":"hi"}]]`,
	} {
		add("chat messages "+name, "/b-chat", `{"messages":`+v+`}`, 400, `"messages"`)
	}
	for name, v := range map[string]string{
		"number": `42`, "true": `true`, "object": `{"name":"` + chatModel + `"}`, "array": `["` + chatModel + `"]`,
	} {
		add("chat model "+name, "/b-chat-any", `{"model":`+v+`,`+okMsgs+`}`, 400, `"model" must be a string`)
	}
	for name, v := range map[string]string{
		"string": `"true"`, "number": `1`, "object": `{}`, "array": `[true]`,
	} {
		add("chat stream "+name, "/b-chat", `{"stream":`+v+`,`+okMsgs+`}`, 400, `"stream" must be a boolean`)
	}
	for _, f := range []string{"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k"} {
		for name, v := range map[string]string{"string": `"5"`, "true": `true`, "object": `{}`, "array": `[1]`} {
			add("chat "+f+" "+name, "/b-chat", `{`+okMsgs+`,"`+f+`":`+v+`}`, 400, `"`+f+`" must be a`)
		}
	}
	// Numbers out of range.
	for _, c := range []struct{ f, v string }{
		{"max_tokens", "0"}, {"max_tokens", "-1"}, {"max_tokens", "1.5"}, {"max_tokens", "1e400"}, {"max_tokens", "4294967296"},
		{"max_completion_tokens", "-5"}, {"top_k", "-1"}, {"top_k", "2.5"},
		{"temperature", "-0.5"}, {"temperature", "1e400"}, {"top_p", "1.5"}, {"top_p", "-1"},
	} {
		add("chat "+c.f+" "+c.v, "/b-chat", `{`+okMsgs+`,"`+c.f+`":`+c.v+`}`, 400, `"`+c.f+`"`)
	}
	add("chat stream on a deny route", "/b-chat-nostream", `{"stream":true,`+okMsgs+`}`, 400, "response streaming is not enabled")
	// Completions on the router (translated to text-generation).
	for name, v := range map[string]string{"number": `1`, "object": `{}`, "true": `true`, "null": `null`, "empty array": `[]`} {
		add("completions prompt "+name, "/b-cmpl", `{"prompt":`+v+`}`, 400, msgNoPrompts)
	}
	for name, v := range map[string]string{"token ids": `[1,2,3]`, "two prompts": `["a","b"]`, "nested": `[["a"]]`} {
		add("completions prompt "+name, "/b-cmpl", `{"prompt":`+v+`}`, 400, "one prompt string")
	}
	for name, v := range map[string]string{"2": `2`, "0": `0`, "string": `"x"`, "huge": `1e400`} {
		add("completions n "+name, "/b-cmpl", `{"prompt":"a","n":`+v+`}`, 400, `"n" must be 1`)
	}
	for name, v := range map[string]string{"number": `5`, "array of numbers": `[1,2]`, "object": `{}`, "mixed": `["a",1]`} {
		add("completions stop "+name, "/b-cmpl", `{"prompt":"a","stop":`+v+`}`, 400, `"stop" must be`)
	}
	for _, f := range []string{"max_tokens", "temperature", "top_p", "top_k", "seed", "frequency_penalty"} {
		add("completions "+f+" string", "/b-cmpl", `{"prompt":"a","`+f+`":"3"}`, 400, `"`+f+`" must be a`)
	}
	add("completions echo string", "/b-cmpl", `{"prompt":"a","echo":"yes"}`, 400, `"echo" must be a boolean`)
	add("completions seed out of range", "/b-cmpl", `{"prompt":"a","seed":-3}`, 400, `"seed"`)
	add("completions stream string", "/b-cmpl", `{"prompt":"a","stream":"yes"}`, 400, `"stream" must be a boolean`)
	// Native TGI.
	for name, v := range map[string]string{"number": `1`, "array": `["a"]`, "object": `{}`, "null": `null`} {
		add("native inputs "+name, "/b-native/generate", `{"inputs":`+v+`}`, 400, `"inputs" must be a string`)
	}
	for name, v := range map[string]string{"array": `[1]`, "string": `"x"`, "number": `3`} {
		add("native parameters "+name, "/b-native/generate", `{"inputs":"a","parameters":`+v+`}`, 400, `"parameters" must be an object`)
	}
	// Embeddings.
	m := `"model":"` + pooledModel + `",`
	for name, c := range map[string]struct{ body, want string }{
		"input number":           {`{` + m + `"input":42}`, "token ids"},
		"input object":           {`{` + m + `"input":{"text":"a"}}`, "must be a string or an array of strings"},
		"input bool":             {`{` + m + `"input":true}`, "input"},
		"input nested":           {`{` + m + `"input":[["a"]]}`, "input"},
		"input mixed":            {`{` + m + `"input":["a",1]}`, "input"},
		"encoding_format num":    {`{` + m + `"input":"a","encoding_format":1}`, "encoding_format"},
		"encoding_format b64":    {`{` + m + `"input":"a","encoding_format":"BASE64"}`, "encoding_format"},
		"encoding_format b64 ":   {`{` + m + `"input":"a","encoding_format":"base64 "}`, "encoding_format"},
		"encoding_format b64url": {`{` + m + `"input":"a","encoding_format":"base64url"}`, "encoding_format"},
		"dimensions string":      {`{` + m + `"input":"a","dimensions":"8"}`, "dimensions"},
		"dimensions negative":    {`{` + m + `"input":"a","dimensions":-8}`, "dimensions"},
		"dimensions fraction":    {`{` + m + `"input":"a","dimensions":1.5}`, "dimensions"},
		"dimensions huge":        {`{` + m + `"input":"a","dimensions":1e400}`, "dimensions"},
		"normalize string":       {`{` + m + `"input":"a","normalize":"yes"}`, "normalize"},
		"truncate string":        {`{` + m + `"input":"a","truncate":"yes"}`, "truncate"},
		"truncation_direction":   {`{` + m + `"input":"a","truncation_direction":"up"}`, "truncation_direction"},
		"prompt_name number":     {`{` + m + `"input":"a","prompt_name":1}`, "prompt_name"},
		"stream":                 {`{` + m + `"input":"a","stream":true}`, "cannot be streamed"},
		"model number":           {`{"model":1,"input":"a"}`, `"model" must be a string`},
	} {
		add("embeddings "+name, "/b-emb", c.body, 400, c.want)
	}
	// Video (JSON).
	for name, v := range map[string]string{"number": `1`, "empty": `""`, "blank": `"   "`, "array": `["a cat"]`, "null": `null`} {
		add("video prompt "+name, "/b-video", `{"prompt":`+v+`}`, 400, `"prompt"`)
	}
	add("video model number", "/b-video-any", `{"model":1,"prompt":"a cat"}`, 400, `"model" must be a string`)
	// Every route_type given another route's body, or none that fits.
	chat, cmpl, native, emb, video := `{`+okMsgs+`}`, `{"prompt":"hi"}`, `{"inputs":"hi"}`, `{`+m+`"input":"hi"}`, `{"prompt":"a cat","seconds":"4"}`
	for _, c := range []struct{ name, path, body, want string }{
		{"chat given completions", "/b-chat", cmpl, "message format is not compatible with [llm/v1/chat]"},
		{"chat given native", "/b-chat", native, msgNoPrompts},
		{"chat given embeddings", "/b-chat", emb, msgNoPrompts},
		{"chat given video", "/b-chat", video, "message format is not compatible with [llm/v1/chat]"},
		{"chat given both formats", "/b-chat", `{` + okMsgs + `,"prompt":"hi"}`, "request matches multiple LLM request formats"},
		{"completions given chat", "/b-cmpl", chat, "message format is not compatible with [llm/v1/completions]"},
		{"completions given native", "/b-cmpl", native, msgNoPrompts},
		{"completions given embeddings", "/b-cmpl", emb, msgNoPrompts},
		{"native given chat", "/b-native/generate", chat, `"inputs" must be a string`},
		{"native given completions", "/b-native/generate", cmpl, `"inputs" must be a string`},
		{"native given embeddings", "/b-native/generate", emb, `"inputs" must be a string`},
		{"native stream given chat", "/b-native/generate_stream", chat, `"inputs" must be a string`},
		{"embeddings given chat", "/b-emb", `{` + m + okMsgs + `}`, `no "input"`},
		{"embeddings given completions", "/b-emb", `{` + m + `"prompt":"hi"}`, `no "input"`},
		{"embeddings given native", "/b-emb", `{` + m + `"inputs":"hi"}`, `no "input"`},
		{"embeddings given video", "/b-emb", `{` + m + `"prompt":"a cat","seconds":"4"}`, `no "input"`},
		{"video given chat", "/b-video", chat, `"prompt"`},
		{"video given native", "/b-video", native, `"prompt"`},
		{"video given embeddings", "/b-video", emb, `"prompt"`},
		{"video empty", "/b-video", ``, "needs a JSON or multipart/form-data body"},
	} {
		add("route "+c.name, c.path, c.body, 400, c.want)
	}
	runBadCases(t, r, cases, goodChat(r, "/b-chat"))
	require.GreaterOrEqual(t, len(cases), 100)
}

// TestBatteryModelsAndPaths: unknown and path-injecting model ids on every
// route that takes one from the body, and client paths that would climb out
// of the upstream base on preserve.
func TestBatteryModelsAndPaths(t *testing.T) {
	t.Parallel()
	r := startRig(t, batteryRoutes(t)...)
	var cases []badCase
	add := func(name, path, body string, status int, want string, h ...string) {
		cases = append(cases, bc(name, path, body, status, want, h...))
	}
	bad := map[string]string{
		"dot dot":            "../../admin",
		"dot dot in org":     "../x",
		"dot dot after org":  "org/../../x",
		"encoded dot dot":    "%2e%2e/%2e%2e",
		"encoded slash":      "org%2Fname",
		"question mark":      "org/name?x=1",
		"hash":               "org/name#frag",
		"double slash":       "org//name",
		"leading slash":      "/org/name",
		"trailing slash":     "org/name/",
		"three parts":        "org/name/extra",
		"space":              "org/na me",
		"leading space":      " org/name",
		"newline":            "org/name\r\nX-Injected: 1",
		"nul":                "org/name\x00",
		"unicode letters":    "org/modèle",
		"fullwidth slash":    "org／name",
		"right-to-left mark": "org/name\u202e",
		"zero width space":   "org/na\u200bme",
		"emoji":              "org/🤗",
		"backslash":          `org\..\name`,
		"no org":             "gpt2",
		"only slash":         "/",
		"suffix traversal":   "org/name:../x",
		"suffix empty":       "org/name:",
		"suffix slash":       "org/name:a/b",
		"two suffixes":       "org/name:a:b",
		"at sign":            "org/name@main",
		"too long":           "org/" + strings.Repeat("n", 300),
	}
	for name, id := range bad {
		mj := jsonString(id)
		add("chat "+name, "/b-chat-any", `{"model":`+mj+`,`+okMsgs+`}`, 400, msgNotModel)
	}
	for _, name := range []string{"dot dot", "encoded dot dot", "question mark", "hash", "double slash", "unicode letters", "newline", "suffix traversal"} {
		mj := jsonString(bad[name])
		add("completions "+name, "/b-cmpl-any", `{"model":`+mj+`,"prompt":"x"}`, 400, msgNotModel)
		add("embeddings "+name, "/b-emb", `{"model":`+mj+`,"input":"a"}`, 400, msgNotModel)
		add("video "+name, "/b-video-any", `{"model":`+mj+`,"prompt":"a cat"}`, 400, msgNotModel)
		add("preserve "+name, "/b-pres/v1/chat/completions", `{"model":`+mj+`,`+okMsgs+`}`, 400, msgNotModel)
	}
	// A model other than the configured one.
	add("chat other model", "/b-chat", `{"model":"`+otherModel+`",`+okMsgs+`}`, 400, "cannot use own model - must be: "+chatModel)
	add("video other model", "/b-video", `{"model":"`+otherModel+`","prompt":"a cat"}`, 400, videoModel)
	add("chat no model anywhere", "/b-chat-any", `{`+okMsgs+`}`, 400, "model parameter not found")
	add("embeddings no model", "/b-emb", `{"input":"a"}`, 400, "model")
	// Preserve: client paths that would leave the upstream base, a stream
	// on a deny route, a body that cannot carry the body credential.
	// Kong normalises the path before routing (dot segments, %2e
	// included), so these climb out of the route's prefix and match no
	// route: Kong's own 404, and nothing reaches any upstream.
	for name, p := range map[string]string{
		"dot segment":         "/b-pres/../../admin",
		"encoded dot segment": "/b-pres/%2e%2e/%2e%2e/admin",
		"mixed dot segment":   "/b-pres/.%2e/admin",
	} {
		c := bc("preserve path "+name, p, `{`+okMsgs+`}`, 404, "no Route matched")
		c.kong = true
		cases = append(cases, c)
	}
	// Dot segments that stay inside the route reach the plugin, which
	// refuses a client path with any.
	add("preserve path dot segment at end", "/b-pres/v1/..", `{`+okMsgs+`}`, 400, "path")
	add("preserve stream on deny", "/b-pres-nostream/v1/chat/completions", `{"stream":true,`+okMsgs+`}`, 400, "response streaming is not enabled")
	add("preserve accept stream on deny", "/b-pres-nostream/v1/chat/completions", `{`+okMsgs+`}`, 400, "response streaming is not enabled", "Accept", "text/event-stream")
	add("preserve generate_stream on deny", "/b-pres-nostream/generate_stream", `{"inputs":"x"}`, 400, "response streaming is not enabled")
	add("preserve body auth on text", "/b-pres-bodyauth/v1/chat/completions", `hello`, 400, "not a JSON object", "Content-Type", "text/plain")
	runBadCases(t, r, cases, goodChat(r, "/b-chat"))
	require.GreaterOrEqual(t, len(cases), 60)
}

// TestBatteryContentTypes: wrong and oversized headers, wrong content
// types, and multipart bodies with broken boundaries on the video route
// (the one route that reads multipart/form-data).
func TestBatteryContentTypes(t *testing.T) {
	t.Parallel()
	r := startRig(t, batteryRoutes(t)...)
	var cases []badCase
	add := func(name, path, body string, status int, want string, h ...string) {
		cases = append(cases, bc(name, path, body, status, want, h...))
	}
	const form = "multipart/form-data; boundary=BOUND"
	part := func(name, value string) string {
		return "--BOUND\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	good := part("prompt", "a cat") + "--BOUND--\r\n"
	for _, c := range []struct{ name, ctype, body, want string }{
		{"text/plain", "text/plain", "a cat", "text/plain"},
		{"xml", "application/xml", "<prompt>a cat</prompt>", "application/xml"},
		{"urlencoded", "application/x-www-form-urlencoded", "prompt=a+cat", "application/x-www-form-urlencoded"},
		{"octet-stream", "application/octet-stream", "\x00\x01", "application/octet-stream"},
		{"multipart/mixed", "multipart/mixed; boundary=BOUND", good, "multipart/mixed"},
		{"unparsable content type", "multipart/form-data; boundary", good, "cannot be parsed"},
		{"unparsable content type quote", `multipart/form-data; boundary="BOUND`, good, "cannot be parsed"},
		{"no boundary", "multipart/form-data", good, "boundary"},
		{"empty boundary", `multipart/form-data; boundary=""`, good, "boundary"},
		{"boundary too long", "multipart/form-data; boundary=" + strings.Repeat("b", 71), strings.ReplaceAll(good, "BOUND", strings.Repeat("b", 71)), "boundary"},
		{"boundary mismatch", "multipart/form-data; boundary=OTHER", good, "boundary"},
		{"json body as form", form, `{"prompt":"a cat"}`, "boundary"},
		{"no close delimiter", form, part("prompt", "a cat"), "close delimiter"},
		{"close delimiter only", form, "--BOUND--\r\n", "prompt"},
		{"part headers never end", form, "--BOUND\r\nContent-Disposition: form-data; name=\"prompt\"\r\na cat", "headers do not end"},
		{"no content-disposition", form, "--BOUND\r\nContent-Type: text/plain\r\n\r\na cat\r\n--BOUND--\r\n", "Content-Disposition"},
		{"content-disposition without name", form, "--BOUND\r\nContent-Disposition: form-data\r\n\r\na cat\r\n--BOUND--\r\n", "Content-Disposition"},
		{"content-disposition broken", form, "--BOUND\r\nContent-Disposition: form-data; name=\"prompt\r\n\r\na cat\r\n--BOUND--\r\n", "Content-Disposition"},
		{"LF line endings", form, strings.ReplaceAll(good, "\r\n", "\n"), "CRLF"},
		{"boundary line garbage", form, "--BOUNDxyz\r\n" + good, "boundary"},
		{"empty form prompt", form, part("prompt", "") + "--BOUND--\r\n", "prompt"},
		{"two prompts", form, part("prompt", "a") + part("prompt", "b") + "--BOUND--\r\n", "prompt"},
		{"no prompt", form, part("seconds", "4") + "--BOUND--\r\n", "prompt"},
		{"two models", form, part("prompt", "a") + part("model", videoModel) + part("model", videoModel) + "--BOUND--\r\n", `"model" more than once`},
		{"model with line break", form, part("prompt", "a") + part("model", "org/name\r\nX: 1") + "--BOUND--\r\n", "model"},
		{"model other", form, part("prompt", "a") + part("model", otherModel) + "--BOUND--\r\n", videoModel},
		{"too many parts", form, strings.Repeat(part("x", "1"), 2000) + part("prompt", "a") + "--BOUND--\r\n", "parts"},
		{"boundary of spaces", `multipart/form-data; boundary="   "`, strings.ReplaceAll(good, "BOUND", "   "), "boundary"},
	} {
		add("video "+c.name, "/b-video", c.body, 400, c.want, "Content-Type", c.ctype)
	}
	add("video form bad model id", "/b-video-any", part("prompt", "a")+part("model", "../../x")+"--BOUND--\r\n", 400, msgNotModel, "Content-Type", form)
	// Wrong content types on the JSON routes: the body is read as JSON
	// whatever the header says (as Kong's ai-proxy does), so a form or text
	// body is bad JSON.
	for _, c := range []struct{ route, path string }{{"chat", "/b-chat"}, {"completions", "/b-cmpl"}, {"embeddings", "/b-emb"}, {"native", "/b-native/generate"}} {
		add(c.route+" urlencoded body", c.path, "messages=hi&prompt=hi&input=hi&inputs=hi", 400, msgBadJSON, "Content-Type", "application/x-www-form-urlencoded")
		add(c.route+" multipart body", c.path, good, 400, msgBadJSON, "Content-Type", form)
		add(c.route+" text body", c.path, "hello", 400, msgBadJSON, "Content-Type", "text/plain")
	}
	// Oversized headers (under nginx's 8 KiB line limit, so they reach the
	// plugin) alongside a bad body: the answer names the body's problem.
	long := strings.Repeat("a", 7000)
	add("video long content type", "/b-video", "a cat", 400, "video generation takes an application/json or multipart/form-data body", "Content-Type", "text/"+long)
	add("video long boundary", "/b-video", good, 400, "boundary", "Content-Type", "multipart/form-data; boundary="+long)
	add("chat long accept", "/b-chat-nostream", `{"stream":true,`+okMsgs+`}`, 400, "response streaming is not enabled", "Accept", "text/event-stream, "+long)
	add("chat long client authorization", "/b-chat", `{"messages":1}`, 400, msgNoPrompts, "Authorization", "Bearer "+long)
	add("chat many headers", "/b-chat", `nope`, 400, msgBadJSON, manyHeaders(60)...)
	add("chat long hf option header", "/b-chat", `nope`, 400, msgBadJSON, "X-Use-Cache", long)
	runBadCases(t, r, cases, goodChat(r, "/b-chat"))
	require.GreaterOrEqual(t, len(cases), 40)
}

// manyHeaders is n X-Pad-<i> headers of 100 bytes each, as key/value pairs.
func manyHeaders(n int) []string {
	out := make([]string, 0, 2*n)
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("X-Pad-%d", i), strings.Repeat("p", 100))
	}
	return out
}
