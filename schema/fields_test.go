package schema

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// dumpedField finds a config field in the dumped JSON by dotted path
// ("model.options.top_k"), the way Kong would resolve it.
func dumpedField(s gjson.Result, path string) (gjson.Result, bool) {
	cur := s.Get(`fields.#(config).config`)
	for _, name := range strings.Split(path, ".") {
		next := cur.Get(`fields.#(` + gjsonEscape(name) + `).` + gjsonEscape(name))
		if !next.Exists() {
			return next, false
		}
		cur = next
	}
	return cur, true
}

func gjsonEscape(s string) string {
	return strings.NewReplacer(".", `\.`, "*", `\*`, "?", `\?`).Replace(s)
}

// specField is one row of section A of the shared spec
// (docs/huggingface-and-ai-proxy.md), with Kong 3.13 semantics.
type specField struct {
	path     string
	typ      Type
	required bool
	def      any // nil: no default
}

var specA = []specField{
	// A.1
	{"route_type", String, true, nil},
	{"genai_category", String, false, "text/generation"},
	{"llm_format", String, false, "openai"},
	{"response_streaming", String, false, "allow"},
	{"max_request_body_size", Integer, false, float64(1048576)},
	{"model_name_header", Boolean, false, true},
	{"auth", Record, false, nil},
	{"model", Record, true, nil},
	{"logging", Record, true, nil},
	// A.2
	{"auth.header_name", String, false, nil},
	{"auth.header_value", String, false, nil},
	{"auth.param_name", String, false, nil},
	{"auth.param_value", String, false, nil},
	{"auth.param_location", String, false, nil},
	{"auth.allow_override", Boolean, false, false},
	{"auth.gcp_use_service_account", Boolean, false, false},
	{"auth.gcp_service_account_json", String, false, nil},
	{"auth.aws_access_key_id", String, false, nil},
	{"auth.aws_secret_access_key", String, false, nil},
	{"auth.azure_use_managed_identity", Boolean, false, false},
	{"auth.azure_client_id", String, false, nil},
	{"auth.azure_client_secret", String, false, nil},
	{"auth.azure_tenant_id", String, false, nil},
	// A.3
	{"model.provider", String, true, nil},
	{"model.name", String, false, nil},
	{"model.options", Record, false, nil},
	{"model.options.max_tokens", Integer, false, nil},
	{"model.options.temperature", Number, false, nil},
	{"model.options.top_p", Number, false, nil},
	{"model.options.top_k", Integer, false, nil},
	{"model.options.input_cost", Number, false, nil},
	{"model.options.output_cost", Number, false, nil},
	{"model.options.upstream_url", String, false, nil},
	{"model.options.upstream_path", String, false, nil},
	{"model.options.huggingface", Record, false, nil},
	{"model.options.huggingface.use_cache", Boolean, false, nil},
	{"model.options.huggingface.wait_for_model", Boolean, false, nil},
	{"model.options.anthropic_version", String, false, nil},
	{"model.options.azure_instance", String, false, nil},
	{"model.options.azure_api_version", String, false, "2023-05-15"},
	{"model.options.azure_deployment_id", String, false, nil},
	{"model.options.llama2_format", String, false, nil},
	{"model.options.mistral_format", String, false, nil},
	{"model.options.gemini", Record, false, nil},
	{"model.options.bedrock", Record, false, nil},
	{"model.options.cohere", Record, false, nil},
	{"model.options.embeddings_dimensions", Integer, false, nil},
	{"model.options.dashscope", Record, false, nil},
	// A.4
	{"logging.log_statistics", Boolean, true, false},
	{"logging.log_payloads", Boolean, true, false},
}

// TestSpecFieldsPresent checks every field named in section A in the dump
// Kong reads: type, required and default.
func TestSpecFieldsPresent(t *testing.T) {
	s := dumpedJSON(t)
	for _, sf := range specA {
		f, ok := dumpedField(s, sf.path)
		if !assert.True(t, ok, "config.%s missing from the dump", sf.path) {
			continue
		}
		assert.Equal(t, string(sf.typ), f.Get("type").String(), "config.%s type", sf.path)
		assert.Equal(t, sf.required, f.Get("required").Bool(), "config.%s required", sf.path)
		if sf.def == nil {
			assert.False(t, f.Get("default").Exists(), "config.%s has no default", sf.path)
		} else {
			assert.Equal(t, sf.def, f.Get("default").Value(), "config.%s default", sf.path)
		}
	}
}

// TestSpecRanges checks the ranges and enumerations section A names.
func TestSpecRanges(t *testing.T) {
	s := dumpedJSON(t)
	get := func(path, attr string) string {
		f, ok := dumpedField(s, path)
		require.True(t, ok, path)
		return f.Get(attr).Raw
	}
	assert.Equal(t, `[0,5]`, get("model.options.temperature", "between"))
	assert.Equal(t, `[0,1]`, get("model.options.top_p", "between"))
	assert.Equal(t, `[0,500]`, get("model.options.top_k", "between"))
	assert.Equal(t, `0`, get("model.options.input_cost", "gt"))
	assert.Equal(t, `0`, get("model.options.output_cost", "gt"))
	assert.Equal(t, `[0,2147483647]`, get("max_request_body_size", "between"))
	assert.Equal(t, `["huggingface"]`, get("model.provider", "one_of"))
	assert.Equal(t, `["llm/v1/chat","llm/v1/completions","llm/v1/embeddings","video/v1/videos/generations","preserve"]`,
		get("route_type", "one_of"))
	assert.Equal(t, `["openai","huggingface"]`, get("llm_format", "one_of"))
	assert.Equal(t, `["allow","deny","always"]`, get("response_streaming", "one_of"))
	assert.Equal(t, `["query","body"]`, get("auth.param_location", "one_of"))
	assert.Equal(t, `"^https?://[^%s/?#][^%s]*$"`, get("model.options.upstream_url", "match"))
	for _, secret := range []string{"header_value", "param_value"} {
		assert.Equal(t, "true", get("auth."+secret, "encrypted"), secret)
		assert.Equal(t, "true", get("auth."+secret, "referenceable"), secret)
	}
	for _, name := range []string{"header_name", "param_name"} {
		assert.Equal(t, "true", get("auth."+name, "referenceable"), name)
	}
}

// TestDefaultsApplied checks the defaults land where Kong puts them for a
// minimal config.
func TestDefaultsApplied(t *testing.T) {
	out, err := ApplyDefaults([]byte(`{"route_type":"llm/v1/chat","model":{"provider":"huggingface"}}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"route_type":"llm/v1/chat","genai_category":"text/generation","llm_format":"openai",
		"response_streaming":"allow","max_request_body_size":1048576,"model_name_header":true,
		"auth":null,
		"model":{"provider":"huggingface","name":null,"options":null},
		"logging":{"log_statistics":false,"log_payloads":false}
	}`, string(out))

	// A present record gets its own defaults; an explicit null stays null
	// (it disables the default, as in Kong).
	out, err = ApplyDefaults([]byte(`{"auth":{},"llm_format":null,"model":{"options":{}}}`))
	require.NoError(t, err)
	r := gjson.ParseBytes(out)
	assert.Equal(t, false, r.Get("auth.allow_override").Value())
	assert.Equal(t, false, r.Get("auth.azure_use_managed_identity").Value())
	assert.Equal(t, gjson.Null, r.Get("llm_format").Type)
	assert.True(t, r.Get("llm_format").Exists())
	assert.Equal(t, "2023-05-15", r.Get("model.options.azure_api_version").String())
	assert.Equal(t, gjson.Null, r.Get("model.options.huggingface").Type)
}
