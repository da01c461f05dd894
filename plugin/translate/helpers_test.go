package translate

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateModelID(t *testing.T) {
	good := []string{
		"mistralai/Mistral-7B-Instruct-v0.2",
		"meta-llama/Llama-3.1-8B-Instruct:fastest",
		"openai/gpt-oss-120b:groq",
		"deepseek-ai/DeepSeek-R1:fireworks-ai",
		"Qwen/Qwen2.5-7B-Instruct:cheapest",
		"org_x/name.with.dots",
	}
	for _, id := range good {
		assert.NoError(t, ValidateModelID(id), id)
	}
	bad := []string{
		"", "gpt2", "/name", "org/", "org/name/extra", "../x", "org/..", "org/a..b", "org/.hidden",
		"org/name?x=1", "org/name#frag", "org/name%2f..", "org/na me", "org/name\n", "org/name\x00",
		"org/name:", "org/name:a/b", "org/name:a:b", "org\\name", "org/name:../../x", "org/näme",
		strings.Repeat("a", 200) + "/" + strings.Repeat("b", 100),
	}
	for _, id := range bad {
		err := ValidateModelID(id)
		require.Error(t, err, "%q", id)
		e := AsError(err)
		assert.Equal(t, 400, e.Status)
		assert.NotContains(t, e.Message, "\n", "messages never echo control characters")
	}
}

// TestResolveModelURL: a "model" that is an http(s) URL (what
// @huggingface/inference sends when given an endpointUrl and no model) is no
// model at all: the config's model serves it, and without one the error
// names the fix. Anything else keeps Kong's rules.
func TestResolveModelURL(t *testing.T) {
	const configured = "mistralai/Mistral-7B-Instruct-v0.2"
	tests := []struct {
		name, config, body, want, err string
	}{
		{name: "http url, model configured", config: configured, body: `{"model":"http://127.0.0.1:8000/native"}`, want: configured},
		{name: "https url, scheme in capitals", config: configured, body: `{"model":"HTTPS://kong.example/native/"}`, want: configured},
		{name: "url, no model configured", body: `{"model":"https://kong.example/chat"}`, err: msgNoModel + msgModelIsURL},
		{name: "not a url: another scheme", config: configured, body: `{"model":"ftp://x/y"}`, err: msgOwnModelStart + configured},
		{name: "not a url: no slashes", config: configured, body: `{"model":"http:x"}`, err: msgOwnModelStart + configured},
		{name: "other model still conflicts", config: configured, body: `{"model":"openai/gpt-oss-120b"}`, err: msgOwnModelStart + configured},
		{name: "same model", config: configured, body: `{"model":"` + configured + `"}`, want: configured},
		{name: "body model, none configured", body: `{"model":"` + configured + `"}`, want: configured},
		{name: "url is not a model id anywhere", body: `{"model":"http://"}`, err: msgNoModel + msgModelIsURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &schema.Config{Model: schema.Model{Name: tc.config}}
			got, err := ResolveModel(cfg, []byte(tc.body))
			if tc.err != "" {
				require.Error(t, err)
				e := AsError(err)
				assert.Equal(t, 400, e.Status)
				assert.Equal(t, tc.err, e.Message)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestNativeOpenAIMode: the client paths of a native route that carry
// OpenAI requests (TGI's /v1/completions and /v1/chat/completions, as
// @huggingface/inference appends them to endpointUrl) and those that stay
// TGI's native API.
func TestNativeOpenAIMode(t *testing.T) {
	for path, want := range map[string]string{
		"/native/v1/completions":                 ModeCompletions,
		"/native/v1/completions/":                ModeCompletions,
		"/native/generate/v1/completions":        ModeCompletions,
		"/native/completions":                    ModeCompletions,
		"/native/v1/chat/completions":            ModeChat,
		"/native/generate/v1/chat/completions//": ModeChat,
		"/native":                                "",
		"/native/":                               "",
		"/native/generate":                       "",
		"/native/generate_stream":                "",
		"/native/v1/completions/x":               "",
		"/native/completionsx":                   "",
		"/":                                      "",
		"":                                       "",
	} {
		assert.Equal(t, want, nativeOpenAIMode(path), path)
	}
}

func TestUpstreamPath(t *testing.T) {
	tests := []struct{ base, capPath, want string }{
		{"", PathChat, "/v1/chat/completions"},
		{"/", PathChat, "/v1/chat/completions"},
		{"/v1", PathChat, "/v1/chat/completions"},
		{"/v1/", PathChat, "/v1/chat/completions"},
		{"/v1/chat", PathChat, "/v1/chat/completions"},
		{"/v1/chat/completions", PathChat, "/v1/chat/completions"},
		{"/v1/chat/completions/", PathChat, "/v1/chat/completions"},
		{"/tgi", PathChat, "/tgi/v1/chat/completions"},
		{"/tgi/v1", PathChat, "/tgi/v1/chat/completions"},
		{"/xv1", PathChat, "/xv1/v1/chat/completions"}, // overlap only on segment boundaries
		{"/proxy/v1/v1/chat/completions", PathChat, "/proxy/v1/v1/chat/completions"},
		{"", PathCompletions, "/v1/completions"},
		{"/v1", PathCompletions, "/v1/completions"},
		{"", "", "/"},
		{"/base/", "", "/base"},
		{"", PathGenerate, "/generate"},
		{"/generate", PathGenerate, "/generate"},
		{"/ep", PathStream, "/ep/generate_stream"},
		{"", "/hf-inference/models/org/m", "/hf-inference/models/org/m"},
		{"/hf-inference/models/org/m", "/hf-inference/models/org/m", "/hf-inference/models/org/m"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, UpstreamPath(tc.base, tc.capPath), "base %q cap %q", tc.base, tc.capPath)
	}
}

func TestTargetFromUpstreamURL(t *testing.T) {
	tests := []struct {
		url                string
		scheme, host, path string
		port               int
		router             bool
	}{
		{"", "https", "router.huggingface.co", "/v1/chat/completions", 443, true},
		{"https://router.huggingface.co", "https", "router.huggingface.co", "/v1/chat/completions", 443, true},
		{"http://127.0.0.1:9000", "http", "127.0.0.1", "/v1/chat/completions", 9000, false},
		{"http://tgi", "http", "tgi", "/v1/chat/completions", 80, false},
		{"https://[::1]:8443/v1", "https", "::1", "/v1/chat/completions", 8443, false},
	}
	for _, tc := range tests {
		cfg := &schema.Config{Model: schema.Model{Options: schema.ModelOptions{UpstreamURL: tc.url}}}
		_, router, err := Upstream(cfg)
		require.NoError(t, err)
		assert.Equal(t, tc.router, router, tc.url)
		up, err := Target(cfg, PathChat)
		require.NoError(t, err, tc.url)
		assert.Equal(t, []any{tc.scheme, tc.host, tc.port, tc.path}, []any{up.Scheme, up.Host, up.Port, up.Path}, tc.url)
	}
	// Parse's derived values win over the raw field.
	u, _ := url.Parse("http://fake-router:1234")
	cfg := &schema.Config{Derived: schema.Derived{Upstream: u, IsRouter: true}}
	_, router, err := Upstream(cfg)
	require.NoError(t, err)
	assert.True(t, router)

	for _, bad := range []string{"ftp://x", "http://", "http://x:99999"} {
		cfg := &schema.Config{Model: schema.Model{Options: schema.ModelOptions{UpstreamURL: bad}}}
		_, err := Target(cfg, PathChat)
		require.Error(t, err, bad)
		assert.Equal(t, 500, AsError(err).Status)
		assert.Contains(t, AsError(err).Message, "upstream_url")
	}
}

func TestUpstreamQuery(t *testing.T) {
	tests := []struct {
		raw, name, value string
		override         bool
		want             string
		changed          bool
	}{
		{"", "", "", false, "", false},
		{"beta=true", "", "", false, "", false},
		{"apikey=k&beta=true", "", "", false, "beta=true", true},
		{"APIKEY=k&jwt=x&access_token=y", "", "", false, "", true},
		{"beta=true", "key", "s3cret", false, "beta=true&key=s3cret", true},
		{"key=client&beta=true", "key", "s3cret", false, "beta=true&key=s3cret", true},
		{"key=client&beta=true", "key", "s3cret", true, "", false},
		{"beta=true", "key", "a b&c", true, "beta=true&key=a+b%26c", true},
		{"a=1&&b=2", "", "", false, "", false},
		{"api_key=x", "api_key", "mine", false, "api_key=mine", true},
	}
	for _, tc := range tests {
		got, changed := upstreamQuery(tc.raw, tc.name, tc.value, tc.override)
		assert.Equal(t, tc.changed, changed, "%+v", tc)
		if changed {
			assert.Equal(t, tc.want, got, "%+v", tc)
		}
	}
}

func TestParseObject(t *testing.T) {
	ok := []string{`{}`, `{"a":1,"b":{"a":2,"a":3}}`, ` {"x":[1,2]} `}
	for _, b := range ok {
		assert.NoError(t, ParseObject([]byte(b)), b)
	}
	many := `{` + strings.Repeat(`"k":1,`, 0)
	for i := 0; i < 40; i++ {
		many += `"k` + strings.Repeat("x", i) + `":1,`
	}
	assert.NoError(t, ParseObject([]byte(many+`"last":1}`)), "more keys than the small set")
	assert.Error(t, ParseObject([]byte(many+`"kxxxxx":2}`)), "duplicate found after switching to the map")

	bad := []string{``, `[]`, `"s"`, `1`, `{`, `{"a":1}x`, `{"a":1,"a":2}`, `{"model":"a","m\u006fdel":"b"}`}
	for _, b := range bad {
		err := ParseObject([]byte(b))
		require.Error(t, err, b)
		assert.Equal(t, 400, AsError(err).Status)
	}
}

func TestFor(t *testing.T) {
	tests := []struct {
		route, format string
		want          Capability
	}{
		{RouteChat, "", Chat{}},
		{RouteChat, FormatOpenAI, Chat{}},
		{RouteChat, FormatHuggingFace, Native{}},
		{RouteCompletions, FormatOpenAI, Completions{}},
		{RoutePreserve, FormatOpenAI, Preserve{}},
	}
	for _, tc := range tests {
		got, err := For(&schema.Config{RouteType: tc.route, LLMFormat: tc.format})
		require.NoError(t, err)
		assert.IsType(t, tc.want, got)
	}
	for _, c := range [][2]string{{RouteChat, "bedrock"}, {"llm/v1/responses", FormatOpenAI}, {RouteCompletions, FormatHuggingFace}, {"", ""}} {
		_, err := For(&schema.Config{RouteType: c[0], LLMFormat: c[1]})
		require.Error(t, err, c)
		assert.Contains(t, err.Error(), "route_type")
	}
}

func TestUpstreamErrorShapes(t *testing.T) {
	long := strings.Repeat("é", 2000)
	e := UpstreamError(500, []byte(`{"error":"`+long+`"}`))
	assert.LessOrEqual(t, len(e.Message), maxErrorMessage+len("…"))
	assert.True(t, strings.HasSuffix(e.Message, "…"))
	assert.NotContains(t, e.Message, "\uFFFD", "cut on a rune boundary")

	e = UpstreamError(503, []byte(`{"error":"loading","estimated_time":0.2}`))
	assert.Equal(t, "1", e.Headers["Retry-After"], "at least one second")
	e = UpstreamError(503, []byte(`{"error":"loading","estimated_time":1e12}`))
	assert.Equal(t, "86400", e.Headers["Retry-After"], "capped at a day")

	e = UpstreamError(400, []byte(`{"error":{"message":"m","code":400}}`))
	assert.Equal(t, "400", e.Code, "numeric codes become strings")

	e = UpstreamError(404, []byte(`<!DOCTYPE html><html><head><title>Not &amp; Found</title>`))
	assert.Equal(t, "upstream answered 404 Not Found with an HTML page: Not & Found", e.Message)
}
