package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// configCase is one plugin entity the Admin API must refuse with Kong's
// schema violation: 400, {"code":2,"name":"schema violation","fields":…},
// and in fields, at path, a message holding msg.
type configCase struct {
	name string
	// config is the plugin's config (the "config" of the entity), or the
	// whole entity when entity is set.
	config string
	entity bool
	// path is where fields holds the message: dotted, "config.model.name";
	// a record's entity checks are under its "@entity" ("config.@entity").
	path string
	msg  string
}

// validConfig is a config the Admin API accepts; cases edit it. Its token
// is none of the suite's secrets: the Admin API answers a created plugin
// with its config as stored, credential included, as Kong's does.
func validConfig() string {
	return `{"route_type":"llm/v1/chat","auth":` + authConfig("hf_config_battery_token") + `,"model":{"provider":"huggingface","name":"` + chatModel + `"}}`
}

// edited is validConfig with sjson edits: path, raw value pairs; "-" deletes.
func edited(kv ...string) string {
	out := validConfig()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "-" {
			out, _ = sjson.Delete(out, kv[i])
		} else {
			out, _ = sjson.SetRaw(out, kv[i], kv[i+1])
		}
	}
	return out
}

// TestBatteryConfig: invalid plugin configs through the stand-in's Admin
// API (POST /services/{name}/plugins, POST /plugins), each refused with
// Kong's schema violation naming the field, with the plugin server running
// (the schema is the one the stand-in read from the plugin's dump).
func TestBatteryConfig(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/cfg-chat", config: chatConf(t)})
	const (
		routeTypes = "expected one of: llm/v1/chat, llm/v1/completions, llm/v1/embeddings, video/v1/videos/generations, preserve"
		headerPair = "all or none of these fields must be set: 'auth.header_name', 'auth.header_value'"
		paramTrio  = "all or none of these fields must be set: 'auth.param_name', 'auth.param_value', 'auth.param_location'"
	)
	cases := []configCase{
		// route_type, genai_category, llm_format
		{"route_type unknown", edited("route_type", `"llm/v1/responses"`), false, "config.route_type", routeTypes},
		{"route_type empty", edited("route_type", `""`), false, "config.route_type", routeTypes},
		{"route_type number", edited("route_type", `5`), false, "config.route_type", "expected a string"},
		{"route_type array", edited("route_type", `["llm/v1/chat"]`), false, "config.route_type", "expected a string"},
		{"route_type missing", edited("route_type", "-"), false, "config.route_type", "field required for entity check"},
		{"route_type case", edited("route_type", `"LLM/V1/CHAT"`), false, "config.route_type", routeTypes},
		{"genai_category unknown", edited("genai_category", `"text/nonsense"`), false, "config.genai_category", "value must be text/generation"},
		{"genai_category of embeddings on chat", edited("genai_category", `"text/embeddings"`), false, "config.genai_category", "value must be text/generation"},
		{"embeddings without its category", edited("route_type", `"llm/v1/embeddings"`), false, "config.genai_category", "value must be text/embeddings"},
		{"video with text category", edited("route_type", `"video/v1/videos/generations"`, "genai_category", `"text/generation"`), false, "config.genai_category", "value must be video/generation"},
		{"genai_category conditional", edited("genai_category", `"text/embeddings"`), false, "config.@entity", "failed conditional validation given value of field 'route_type'"},
		{"llm_format unknown", edited("llm_format", `"anthropic"`), false, "config.llm_format", "expected one of: openai, huggingface"},
		{"llm_format number", edited("llm_format", `1`), false, "config.llm_format", "expected a string"},
		{"llm_format huggingface on embeddings", edited("route_type", `"llm/v1/embeddings"`, "genai_category", `"text/embeddings"`, "llm_format", `"huggingface"`), false, "config.route_type", "value must be llm/v1/chat"},
		{"llm_format huggingface on preserve", edited("route_type", `"preserve"`, "llm_format", `"huggingface"`), false, "@entity", "failed conditional validation given value of field 'config.llm_format'"},
		// model
		{"provider openai", edited("model.provider", `"openai"`), false, "config.model.provider", "expected one of: huggingface"},
		{"provider missing", edited("model.provider", "-"), false, "config.model.provider", "required field missing"},
		{"provider number", edited("model.provider", `1`), false, "config.model.provider", "expected a string"},
		{"model missing", edited("model", "-"), false, "config.model.provider", "required field missing"},
		{"model null", edited("model", `null`), false, "config.model", "required field missing"},
		{"model string", edited("model", `"huggingface"`), false, "config.model", "expected a record"},
		{"model boolean", edited("model", `true`), false, "config.model", "expected a record"},
		{"model name empty", edited("model.name", `""`), false, "config.model.name", "length must be at least 1"},
		{"model name number", edited("model.name", `7`), false, "config.model.name", "expected a string"},
		{"model unknown field", edited("model.nickname", `"x"`), false, "config.model.nickname", "unknown field"},
		// model.options
		{"options string", edited("model.options", `"fast"`), false, "config.model.options", "expected a record"},
		{"temperature 6", edited("model.options.temperature", `6`), false, "config.model.options.temperature", "value should be between 0 and 5"},
		{"temperature negative", edited("model.options.temperature", `-0.1`), false, "config.model.options.temperature", "value should be between 0 and 5"},
		{"temperature string", edited("model.options.temperature", `"0.7"`), false, "config.model.options.temperature", "expected a number"},
		{"top_p 1.5", edited("model.options.top_p", `1.5`), false, "config.model.options.top_p", "value should be between 0 and 1"},
		{"top_p boolean", edited("model.options.top_p", `true`), false, "config.model.options.top_p", "expected a number"},
		{"top_k fraction", edited("model.options.top_k", `0.5`), false, "config.model.options.top_k", "expected an integer"},
		{"top_k 501", edited("model.options.top_k", `501`), false, "config.model.options.top_k", "value should be between 0 and 500"},
		{"max_tokens 0", edited("model.options.max_tokens", `0`), false, "config.model.options.max_tokens", "value should be between 1 and 2147483647"},
		{"max_tokens string", edited("model.options.max_tokens", `"256"`), false, "config.model.options.max_tokens", "expected an integer"},
		{"max_tokens huge", edited("model.options.max_tokens", `2147483648`), false, "config.model.options.max_tokens", "value should be between 1 and 2147483647"},
		{"input_cost 0", edited("model.options.input_cost", `0`), false, "config.model.options.input_cost", "value must be greater than 0"},
		{"output_cost negative", edited("model.options.output_cost", `-1`), false, "config.model.options.output_cost", "value must be greater than 0"},
		{"upstream_url not a url", edited("model.options.upstream_url", `"not a url"`), false, "config.model.options.upstream_url", "invalid value: not a url"},
		{"upstream_url ftp", edited("model.options.upstream_url", `"ftp://example.com/m"`), false, "config.model.options.upstream_url", "invalid value: ftp://example.com/m"},
		{"upstream_url no host", edited("model.options.upstream_url", `"http:///v1"`), false, "config.model.options.upstream_url", "invalid value: http:///v1"},
		{"upstream_url space", edited("model.options.upstream_url", `"http://host/a b"`), false, "config.model.options.upstream_url", "invalid value: http://host/a b"},
		{"upstream_url number", edited("model.options.upstream_url", `80`), false, "config.model.options.upstream_url", "expected a string"},
		{"options unknown field", edited("model.options.seconds", `4`), false, "config.model.options.seconds", "unknown field"},
		{"use_cache string", edited("model.options.huggingface", `{"use_cache":"no"}`), false, "config.model.options.huggingface.use_cache", "expected a boolean"},
		{"wait_for_model number", edited("model.options.huggingface", `{"wait_for_model":1}`), false, "config.model.options.huggingface.wait_for_model", "expected a boolean"},
		{"huggingface options number", edited("model.options.huggingface", `1`), false, "config.model.options.huggingface", "expected a record"},
		{"llama2_format unknown", edited("model.options.llama2_format", `"gguf"`), false, "config.model.options.llama2_format", "expected one of: raw, openai, ollama"},
		// auth
		{"auth string", edited("auth", `"Bearer x"`), false, "config.auth", "expected a record"},
		{"header_name without value", edited("auth", `{"header_name":"Authorization"}`), false, "config.@entity", headerPair},
		{"header_value without name", edited("auth", `{"header_value":"Bearer x"}`), false, "config.@entity", headerPair},
		{"header_name empty", edited("auth", `{"header_name":"","header_value":"Bearer x"}`), false, "config.auth.header_name", "length must be at least 1"},
		{"header_value number", edited("auth.header_value", `42`), false, "config.auth.header_value", "expected a string"},
		{"param trio incomplete", edited("auth", `{"param_name":"api_key","param_value":"x"}`), false, "config.@entity", paramTrio},
		{"param_location header", edited("auth", `{"param_name":"k","param_value":"x","param_location":"header"}`), false, "config.auth.param_location", "expected one of: query, body"},
		{"allow_override string", edited("auth.allow_override", `"no"`), false, "config.auth.allow_override", "expected a boolean"},
		{"auth unknown field", edited("auth.token", `"x"`), false, "config.auth.token", "unknown field"},
		// body size, streaming, headers, logging
		{"max_request_body_size negative", edited("max_request_body_size", `-1`), false, "config.max_request_body_size", "value should be between 0 and 2147483647"},
		{"max_request_body_size too large", edited("max_request_body_size", `4294967296`), false, "config.max_request_body_size", "value should be between 0 and 2147483647"},
		{"max_request_body_size fraction", edited("max_request_body_size", `1.5`), false, "config.max_request_body_size", "expected an integer"},
		{"max_request_body_size string", edited("max_request_body_size", `"1024"`), false, "config.max_request_body_size", "expected an integer"},
		{"response_streaming boolean", edited("response_streaming", `true`), false, "config.response_streaming", "expected a string"},
		{"response_streaming unknown", edited("response_streaming", `"sometimes"`), false, "config.response_streaming", "expected one of: allow, deny, always"},
		{"model_name_header string", edited("model_name_header", `"yes"`), false, "config.model_name_header", "expected a boolean"},
		{"logging null", edited("logging", `null`), false, "config.logging", "required field missing"},
		{"logging string", edited("logging", `"on"`), false, "config.logging", "expected a record"},
		{"log_payloads null", edited("logging", `{"log_payloads":null}`), false, "config.logging.log_payloads", "required field missing"},
		{"log_statistics string", edited("logging", `{"log_statistics":"true"}`), false, "config.logging.log_statistics", "expected a boolean"},
		{"unknown top-level field", edited("foo", `1`), false, "config.foo", "unknown field"},
		// config itself, and the plugin entity around it
		{"config string", `"llm/v1/chat"`, false, "config", "expected a record"},
		{"config number", `42`, false, "config", "expected a record"},
		{"config null", `null`, false, "config", "required field missing"},
		{"enabled string", `{"name":"ai-proxy-hf","enabled":"yes","config":` + validConfig() + `}`, true, "enabled", "expected a boolean"},
		{"protocols unknown", `{"name":"ai-proxy-hf","protocols":["gopher"],"config":` + validConfig() + `}`, true, "protocols", "expected one of"},
		{"tags not strings", `{"name":"ai-proxy-hf","tags":[1],"config":` + validConfig() + `}`, true, "tags", "expected a string"},
		{"entity unknown field", `{"name":"ai-proxy-hf","colour":"red","config":` + validConfig() + `}`, true, "colour", "unknown field"},
	}
	require.GreaterOrEqual(t, len(cases), 50)
	needStandIn(t, "plugins are created through the Admin API's /plugins endpoints, which a DB-less Kong refuses (only POST /config)")
	pid, spawns := pluginPID(t, r)
	// The endpoint is live: the valid config is accepted (201), so the
	// refusals below are the schema's, not a dead Admin API.
	t.Run("valid config accepted", func(t *testing.T) {
		status, body := adminPost(t, r, "/services/hf/plugins", `{"name":"ai-proxy-hf","config":`+validConfig()+`}`)
		require.Equal(t, http.StatusCreated, status, "body: %s", body)
		assert.Equal(t, "ai-proxy-hf", gjson.GetBytes(body, "name").String())
	})
	t.Run("cases", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				entity := c.config
				if !c.entity {
					entity = `{"name":"ai-proxy-hf","config":` + c.config + `}`
				}
				// Alternate the two endpoints a plugin is created on.
				path := "/services/hf/plugins"
				if i%2 == 1 {
					path = "/plugins"
				}
				status, body := adminPost(t, r, path, entity)
				requireSchemaViolation(t, status, body, c.path, c.msg)
			})
		}
	})
	requirePluginServerHealthy(t, r, pid, spawns)
}

// adminPost posts a JSON body to the stand-in's Admin API.
func adminPost(t *testing.T, r *rig, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.k.AdminURL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	keep(b)
	return res.StatusCode, b
}

// requireSchemaViolation asserts Kong's schema-violation answer with a
// message holding msg at path in "fields" (a string, or one of a list's).
func requireSchemaViolation(t *testing.T, status int, body []byte, path, msg string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, status, "body: %s", body)
	require.True(t, gjson.ValidBytes(body), "body: %s", body)
	assert.Equal(t, "schema violation", gjson.GetBytes(body, "name").String(), "body: %s", body)
	assert.Equal(t, int64(2), gjson.GetBytes(body, "code").Int(), "body: %s", body)
	at := gjson.GetBytes(body, "fields."+strings.ReplaceAll(path, "@", `\@`))
	require.True(t, at.Exists(), "no fields.%s in %s", path, body)
	var msgs []string
	if at.IsArray() {
		for _, m := range at.Array() {
			msgs = append(msgs, m.String())
		}
	} else {
		msgs = []string{at.String()}
	}
	found := false
	for _, m := range msgs {
		found = found || strings.Contains(m, msg)
	}
	assert.True(t, found, "fields.%s = %v, want a message holding %q", path, msgs, msg)
	// Kong's summary message carries every field's message too.
	assert.Contains(t, gjson.GetBytes(body, "message").String(), msg, "body: %s", body)
	requireNoSecrets(t, "the Admin API's answer", bytes.Clone(body))
}
