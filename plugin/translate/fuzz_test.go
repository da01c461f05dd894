package translate

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// fuzzConfigs are the configs each request fuzzer runs against: the router
// and a dedicated upstream, with options, query auth and body auth, so that
// every branch that edits a body or a query is reached.
func fuzzConfigs(route, format string) []*schema.Config {
	mt, temp := 64, 0.5
	opts := schema.ModelOptions{MaxTokens: &mt, Temperature: &temp}
	router := &schema.Config{RouteType: route, LLMFormat: format, ResponseStreaming: "allow", MaxRequestBodySize: 1 << 20,
		Auth:  schema.Auth{HeaderName: "Authorization", HeaderValue: "Bearer hf_x", ParamName: "key", ParamValue: "v", ParamLocation: "query"},
		Model: schema.Model{Options: opts}}
	dedicated := &schema.Config{RouteType: route, LLMFormat: format, ResponseStreaming: "always",
		Auth:  schema.Auth{ParamName: "api.key", ParamValue: "v", ParamLocation: "body", AllowOverride: true},
		Model: schema.Model{Name: "org/model", Options: schema.ModelOptions{UpstreamURL: "http://tgi:8080/v1", MaxTokens: &mt}}}
	stats := *router
	stats.Logging.LogStatistics = true
	stats.ResponseStreaming = "deny"
	return []*schema.Config{router, dedicated, &stats}
}

// checkRequest is what every Request must guarantee, whatever the input.
func checkRequest(t *testing.T, capab Capability, cfg *schema.Config, in *ClientRequest) {
	up, err := capab.Request(cfg, in)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error is not an *Error: %v", err)
		}
		if e.Status < 400 || e.Status > 599 || e.Message == "" {
			t.Fatalf("bad error %d %q", e.Status, e.Message)
		}
		if !gjson.ValidBytes(e.Body()) {
			t.Fatalf("error body is not JSON: %s", e.Body())
		}
		return
	}
	// Found by the e2e bad-input battery (regression seeds "battery_*" in
	// testdata/fuzz): a JSON body that is not UTF-8, or an OpenAI body
	// whose "stream" is not a boolean, must never be accepted.
	if jsonObject(in.Body) && !utf8.Valid(in.Body) {
		t.Fatalf("accepted a JSON body that is not UTF-8: %q", in.Body)
	}
	switch capab.(type) {
	case Chat, Completions:
		if s := gjson.GetBytes(in.Body, "stream"); s.Exists() && s.Type != gjson.Null && s.Type != gjson.True && s.Type != gjson.False {
			t.Fatalf("accepted a non-boolean stream %s", s.Raw)
		}
	}
	if !strings.HasPrefix(up.Path, "/") || strings.ContainsAny(up.Path, "?#\\ \x00\n\r") || strings.Contains(up.Path, "/../") {
		t.Fatalf("unsafe upstream path %q", up.Path)
	}
	if _, ok := up.SetHeaders["host"]; ok {
		t.Fatal("host in set_headers")
	}
	if up.Body != nil && jsonObject(in.Body) && !gjson.ValidBytes(up.Body) {
		t.Fatalf("edited body is not JSON: %q", up.Body)
	}
	if up.State.Model != "" {
		if err := ValidateModelID(up.State.Model); err != nil {
			t.Fatalf("unvalidated model %q went upstream", up.State.Model)
		}
	}
}

func fuzzRequest(f *testing.F, capab Capability, route, format string, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s), "/x/generate", "a=1&apikey=k", "k")
	}
	cfgs := fuzzConfigs(route, format)
	f.Fuzz(func(t *testing.T, body []byte, path, query, header string) {
		in := &ClientRequest{Path: path, Query: query, Body: body,
			Headers: map[string][]string{"authorization": {header}, "apikey": {header}, "accept": {header}}}
		for _, cfg := range cfgs {
			checkRequest(t, capab, cfg, in)
		}
	})
}

var chatSeeds = []string{
	`{"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"org/model","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":null}`,
	`{"model":"../x","messages":[1]}`,
	`{"messages":[],"prompt":"x"}`,
	`{"messages":[{}],"messages":[{}]}`,
	`{"key":"client","api.key":"c","messages":[{"role":"user","content":[{"type":"text","text":"a b"}]}]}`,
	`[]`, `{`, ``, `{"model":1}`,
}

func FuzzChatRequest(f *testing.F) {
	fuzzRequest(f, Chat{}, RouteChat, FormatOpenAI, chatSeeds)
}

func FuzzCompletionsRequest(f *testing.F) {
	fuzzRequest(f, Completions{}, RouteCompletions, FormatOpenAI, append([]string{
		`{"prompt":"x","stop":"\n","n":1,"echo":true,"seed":1e400}`,
		`{"prompt":["a"],"stop":[1]}`,
		`{"prompt":[1,2,3],"model":"org/m:groq"}`,
	}, chatSeeds...))
}

func FuzzNativeRequest(f *testing.F) {
	// The OpenAI paths of the native route, with what newer
	// @huggingface/inference clients send there (the endpointUrl as model).
	for path, body := range map[string]string{
		"/x/v1/completions":      `{"model":"http://kong/x","stream":true,"max_tokens":8,"prompt":"Hello"}`,
		"/x/v1/chat/completions": `{"messages":[{"role":"user","content":"hi"}],"model":"HTTPS://kong/x"}`,
	} {
		f.Add([]byte(body), path, "", "k")
	}
	fuzzRequest(f, Native{}, RouteChat, FormatHuggingFace, []string{
		`{"inputs":"x","parameters":{"max_new_tokens":5}}`,
		`{"inputs":"x","stream":true,"parameters":null}`,
		`{"inputs":1}`, `{"inputs":"x","parameters":"p"}`,
	})
}

func FuzzPreserveRequest(f *testing.F) {
	fuzzRequest(f, Preserve{}, RoutePreserve, FormatOpenAI, append([]string{"binary\x00\xff", `{"stream":true}`}, chatSeeds...))
}

// FuzzResponses feeds arbitrary upstream answers to every capability's
// Response: never a panic, a failure is an *Error, a body built is JSON.
func FuzzResponses(f *testing.F) {
	for _, s := range []string{
		`{"choices":[],"model":"x"}`, `[{"generated_text":"a","details":{"generated_tokens":2}}]`,
		`{"error":"x","estimated_time":3.5}`, `{"error":{"message":1}}`, `<html><title>t`, `data: x`, ``,
	} {
		f.Add(200, []byte(s), "3")
		f.Add(503, []byte(s), "x")
	}
	caps := []struct {
		c   Capability
		cfg *schema.Config
	}{
		{Chat{}, fuzzConfigs(RouteChat, FormatOpenAI)[0]},
		{Completions{}, fuzzConfigs(RouteCompletions, FormatOpenAI)[0]},
		{Completions{}, fuzzConfigs(RouteCompletions, FormatOpenAI)[1]},
		{Native{}, fuzzConfigs(RouteChat, FormatHuggingFace)[0]},
		{Preserve{}, fuzzConfigs(RoutePreserve, FormatOpenAI)[0]},
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, tokens string) {
		in := &UpstreamResponse{Status: status, Body: body, Headers: map[string][]string{"x-generated-tokens": {tokens}}}
		for _, c := range caps {
			for _, mode := range []string{"", ModeGenerate} {
				st := &State{Model: "org/model", Mode: mode}
				out, err := c.c.Response(c.cfg, st, in)
				if err != nil {
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("error is not an *Error: %v", err)
					}
					continue
				}
				if out.Body != nil && !gjson.ValidBytes(out.Body) {
					t.Fatalf("built body is not JSON: %q", out.Body)
				}
			}
		}
	})
}
