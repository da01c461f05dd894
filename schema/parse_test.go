package schema

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const chatConfig = `{"route_type":"llm/v1/chat","model":{"provider":"huggingface","name":"m"}}`

// kongConfig is a config as Kong sends it to the plugin server: defaults
// applied, nulls dropped, bookkeeping keys added.
const kongConfig = `{
	"route_type":"llm/v1/chat","genai_category":"text/generation","llm_format":"openai",
	"response_streaming":"allow","max_request_body_size":1048576,"model_name_header":true,
	"auth":{"header_name":"Authorization","header_value":"Bearer hf_x","allow_override":false,
	        "gcp_use_service_account":false,"azure_use_managed_identity":false},
	"model":{"provider":"huggingface","name":"HuggingFaceTB/SmolVLM-Base",
	         "options":{"max_tokens":256,"temperature":0.7,"top_k":40,"azure_api_version":"2023-05-15",
	                    "huggingface":{"use_cache":false,"wait_for_model":true}}},
	"logging":{"log_statistics":true,"log_payloads":false},
	"route_id":"6f8e4c1a-0000-4000-8000-000000000001","service_id":"6f8e4c1a-0000-4000-8000-000000000002",
	"plugin_instance_name":"hf","__plugin_id":"0c1f4c4e-1b1f-4a8e-9d8e-4d0e0a5b7c11",
	"__ws_id":"0dc6f45b-8f8d-40d2-a504-473544ee190b","__seq__":3,
	"__key__":"plugins:ai-proxy-hf:6f8e4c1a-0000-4000-8000-000000000001::::0dc6f45b-8f8d-40d2-a504-473544ee190b"
}`

func TestParseKongConfig(t *testing.T) {
	cfg, err := Parse([]byte(kongConfig))
	require.NoError(t, err)
	assert.Equal(t, "0c1f4c4e-1b1f-4a8e-9d8e-4d0e0a5b7c11", cfg.PluginID)
	assert.Equal(t, RouteChat, cfg.RouteType)
	assert.Equal(t, "Bearer hf_x", cfg.Auth.HeaderValue)
	assert.Equal(t, "HuggingFaceTB/SmolVLM-Base", cfg.Model.Name)
	require.NotNil(t, cfg.Model.Options.MaxTokens)
	assert.Equal(t, 256, *cfg.Model.Options.MaxTokens)
	require.NotNil(t, cfg.Model.Options.Temperature)
	assert.InDelta(t, 0.7, *cfg.Model.Options.Temperature, 1e-12)
	assert.Nil(t, cfg.Model.Options.TopP, "unset options stay nil")
	require.NotNil(t, cfg.Model.Options.HuggingFace.WaitForModel)
	assert.True(t, *cfg.Model.Options.HuggingFace.WaitForModel)
	assert.True(t, cfg.Logging.LogStatistics)
	assert.Equal(t, DefaultMaxRequestBodySize, cfg.MaxRequestBodySize)
}

func TestParseAppliesDefaults(t *testing.T) {
	cfg, err := Parse([]byte(chatConfig))
	require.NoError(t, err)
	assert.Equal(t, Config{
		RouteType: RouteChat, GenAICategory: CategoryTextGeneration, LLMFormat: FormatOpenAI,
		ResponseStreaming: "allow", MaxRequestBodySize: DefaultMaxRequestBodySize, ModelNameHeader: true,
		Model:   Model{Provider: ProviderHuggingFace, Name: "m"},
		Derived: cfg.Derived,
	}, *cfg)
}

// An explicit null keeps Kong's validation semantics (it disables the
// default) but reads as the default in the typed Config.
func TestParseNullReadsAsDefault(t *testing.T) {
	cfg, err := Parse([]byte(`{"route_type":"preserve","llm_format":null,"model_name_header":null,
		"response_streaming":null,"genai_category":null,"model":{"provider":"huggingface"}}`))
	require.NoError(t, err)
	assert.Equal(t, FormatOpenAI, cfg.LLMFormat)
	assert.True(t, cfg.ModelNameHeader)
	assert.Equal(t, "allow", cfg.ResponseStreaming)
	assert.Equal(t, CategoryTextGeneration, cfg.GenAICategory)
}

func TestParseIntegersWrittenAsFloats(t *testing.T) {
	cfg, err := Parse([]byte(`{"route_type":"llm/v1/chat","max_request_body_size":2048.0,
		"model":{"provider":"huggingface","options":{"max_tokens":1e2,"top_k":5.0}}}`))
	require.NoError(t, err)
	assert.Equal(t, 2048, cfg.MaxRequestBodySize)
	assert.Equal(t, 100, *cfg.Model.Options.MaxTokens)
	assert.Equal(t, 5, *cfg.Model.Options.TopK)
}

// Kong decodes JSON objects and arrays to the same Lua table: `[]` is an
// empty record, `{}` an empty array, and set elements are de-duplicated.
func TestLuaTableQuirks(t *testing.T) {
	require.NoError(t, Validate([]byte(`{"route_type":"llm/v1/chat","auth":[],"model":{"provider":"huggingface","options":[]}}`)))
	var verr *ValidationError
	err := Validate([]byte(`{"route_type":"llm/v1/chat","auth":["x"],"model":{"provider":"huggingface"}}`))
	require.True(t, errors.As(err, &verr))
	assert.Equal(t, []string{"config.auth.1: unknown field"}, verr.Errors)

	entity := processRecord(declared.Fields, map[string]any{"protocols": []any{"http", "https", "http"}})
	assert.Equal(t, []any{"http", "https"}, entity["protocols"])
	tree := validateRecord(declared.Fields, nil, processRecord(declared.Fields,
		map[string]any{"protocols": []any{"http", "tcp"}, "config": map[string]any{}}))
	assert.Equal(t, "expected one of: grpc, grpcs, http, https", tree["protocols"].(errTree)["2"])
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name, raw  string
		validation bool
	}{
		{"not json", `{"route_type":`, false},
		{"trailing data", chatConfig + `{}`, false},
		{"empty", ``, false},
		{"schema violation", `{"route_type":"llm/v1/chat","model":{"provider":"openai"}}`, true},
		{"bad upstream url port", `{"route_type":"llm/v1/chat","model":{"provider":"huggingface","options":{"upstream_url":"http://h:x/"}}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.raw))
			require.Error(t, err)
			assert.Nil(t, cfg)
			var verr *ValidationError
			assert.Equal(t, tc.validation, errors.As(err, &verr), "%v", err)
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	one := &ValidationError{Errors: []string{"config.route_type: required field missing"}}
	assert.Equal(t, "schema violation (config.route_type: required field missing)", one.Error())
	two := &ValidationError{Errors: []string{"a: x", "b: y"}}
	assert.Equal(t, "2 schema violations (a: x; b: y)", two.Error())
}

func TestDerivedUpstream(t *testing.T) {
	router, err := RouterURL()
	require.NoError(t, err)
	for _, tc := range []struct {
		upstream string
		want     string
		isRouter bool
	}{
		{"", router.String(), true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"https://xyz.endpoints.huggingface.cloud/v1/chat/completions", "https://xyz.endpoints.huggingface.cloud/v1/chat/completions", false},
		{router.String(), router.String(), true},
		{router.String() + "/", router.String() + "/", true},
		{router.String() + "/v1/chat/completions", router.String() + "/v1/chat/completions", false},
	} {
		t.Run(tc.upstream, func(t *testing.T) {
			raw := chatConfig
			if tc.upstream != "" {
				raw = withValue(t, chatConfig, "model.options.upstream_url", tc.upstream)
			}
			cfg, err := Parse([]byte(raw))
			require.NoError(t, err)
			require.NotNil(t, cfg.Derived.Upstream)
			assert.Equal(t, tc.want, cfg.Derived.Upstream.String())
			assert.Equal(t, tc.isRouter, cfg.Derived.IsRouter)
		})
	}
}

// Derived is computed once, in Parse: each instance owns its values, and
// changing one instance's (or RouterURL's copy) cannot leak into another.
func TestDerivedComputedOncePerInstance(t *testing.T) {
	a, err := Parse([]byte(chatConfig))
	require.NoError(t, err)
	b, err := Parse([]byte(chatConfig))
	require.NoError(t, err)
	require.NotSame(t, a.Derived.Upstream, b.Derived.Upstream)
	before := *b.Derived.Upstream
	a.Derived.Upstream.Host = "changed.example"
	r, err := RouterURL()
	require.NoError(t, err)
	r.Path = "/changed"
	assert.Equal(t, before, *b.Derived.Upstream)
	again, err := RouterURL()
	require.NoError(t, err)
	assert.Equal(t, DefaultRouterURL, again.String())
}

// The router override is read from the environment once per process; run
// in a child process so the parent's cached value does not interfere.
func TestRouterURLFromEnvironment(t *testing.T) {
	if os.Getenv("SCHEMA_ROUTER_CHILD") == "1" {
		cfg, err := Parse([]byte(chatConfig))
		require.NoError(t, err)
		assert.Equal(t, "http://127.0.0.1:9999", cfg.Derived.Upstream.String())
		assert.True(t, cfg.Derived.IsRouter)
		require.NoError(t, os.Setenv(RouterURLEnv, "http://127.0.0.1:1"))
		cfg, err = Parse([]byte(chatConfig))
		require.NoError(t, err)
		assert.Equal(t, "http://127.0.0.1:9999", cfg.Derived.Upstream.String(), "read once")
		return
	}
	if os.Getenv("SCHEMA_ROUTER_CHILD") == "bad" {
		_, err := Parse([]byte(chatConfig))
		require.ErrorContains(t, err, RouterURLEnv)
		return
	}
	for _, mode := range []struct{ child, url string }{{"1", "http://127.0.0.1:9999"}, {"bad", "ftp://nope"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRouterURLFromEnvironment$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SCHEMA_ROUTER_CHILD="+mode.child, RouterURLEnv+"="+mode.url)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "child %s: %s", mode.child, out)
	}
}

func TestParseUpstreamKeepsQueryAndPort(t *testing.T) {
	raw := withValue(t, chatConfig, "model.options.upstream_url", "https://h.example:8443/generate?x=1")
	cfg, err := Parse([]byte(raw))
	require.NoError(t, err)
	want, _ := url.Parse("https://h.example:8443/generate?x=1")
	assert.Equal(t, want, cfg.Derived.Upstream)
}

// FuzzParse: any input yields a config or an error, never a panic, and a
// config Validate accepts always decodes into the typed Config.
func FuzzParse(f *testing.F) {
	for _, tc := range loadCases(f) {
		f.Add([]byte(tc.Config))
	}
	f.Add([]byte(kongConfig))
	f.Add([]byte(`{"auth":[1,{"a":null}],"model":{"options":{"max_tokens":1e400}}}`))
	f.Add([]byte(`{"route_type":"llm/v1/chat","model":{"provider":"huggingface","options":{"top_k":-0.0,"max_tokens":2147483647}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse(raw)
		if err != nil {
			assert.Nil(t, cfg)
			return
		}
		require.NotNil(t, cfg.Derived.Upstream)
		// What Parse accepted, Validate accepts (bookkeeping keys aside).
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			for k := range m {
				if kongBookkeeping[k] || len(k) >= 2 && k[:2] == "__" {
					delete(m, k)
				}
			}
			clean, _ := json.Marshal(m)
			assert.NoError(t, Validate(clean))
		}
	})
}

func BenchmarkParse(b *testing.B) {
	raw := []byte(kongConfig)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateInvalid(b *testing.B) {
	raw := []byte(`{"route_type":"chat","auth":{"header_name":"A"},"model":{"provider":"openai","options":{"temperature":9}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if Validate(raw) == nil {
			b.Fatal("want an error")
		}
	}
}
