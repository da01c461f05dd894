package admin

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// doCT sends a request with the given Content-Type ("" = none).
func (e *env) doCT(method, path, contentType, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(data)
}

const configYAML = "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n      - name: r\n        paths: [/r]\n        plugins:\n          - name: echo\n            config: {message: yaml}\n"

// TestPostConfigBodyForms sends one config in each form Kong's
// hydrate_config_from_request accepts (kong/api/routes/config.lua:42-67).
func TestPostConfigBodyForms(t *testing.T) {
	jsonDoc := `{"_format_version":"3.0","services":[{"name":"s","url":"http://127.0.0.1:1","routes":[{"name":"r","paths":["/r"],"plugins":[{"name":"echo","config":{"message":"yaml"}}]}]}]}`
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"json body with _format_version", "application/json", jsonDoc},
		{"json body, config as a yaml string", "application/json", `{"config":` + jsonQuote(configYAML) + `}`},
		{"json body, config as a json string", "application/json", `{"config":` + jsonQuote(jsonDoc) + `}`},
		{"form field config (yaml)", "application/x-www-form-urlencoded", "config=" + url.QueryEscape(configYAML)},
		{"raw yaml, text/yaml", "text/yaml", configYAML},
		{"raw yaml, application/x-yaml", "application/x-yaml", configYAML},
		{"raw yaml, no content type", "", configYAML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{ReadOnly: true})
			code, body := e.doCT("POST", "/config", tc.contentType, tc.body)
			require.Equal(t, 201, code, body)
			plugins := gjson.Get(body, "plugins").Map()
			require.Len(t, plugins, 1, body)
			for id, p := range plugins {
				assert.Equal(t, id, p.Get("id").String())
				assert.Equal(t, "yaml", p.Get("config.message").String())
			}
			assert.Len(t, gjson.Get(body, "services").Map(), 1)
			assert.Len(t, gjson.Get(body, "routes").Map(), 1)
			assert.False(t, gjson.Get(body, "workspaces").Exists(), "sanitize_output drops workspaces")
			sn := e.st.Snapshot()
			require.Len(t, sn.Plugins(), 1)
			assert.Equal(t, "yaml", gjson.GetBytes(sn.Plugins()[0].Config, "message").String())
		})
	}
}

func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestPostConfigErrors checks the refusals against Kong's shapes
// (kong/db/errors.lua:495 declarative_config, :1170 the flattened form).
func TestPostConfigErrors(t *testing.T) {
	e := newEnv(t, Options{ReadOnly: true})
	code, body := e.doCT("POST", "/config", "text/yaml", configYAML)
	require.Equal(t, 201, code, body)

	code, body = e.doCT("POST", "/config", "application/json", "")
	assert.Equal(t, 400, code)
	assert.JSONEq(t, `{"message":"expected a declarative configuration"}`, body)

	// unserialize's failure: {error = "failed parsing ..."}, not an entity error.
	code, body = e.doCT("POST", "/config", "text/yaml", "services: [")
	assert.Equal(t, 400, code)
	assert.Equal(t, int64(14), gjson.Get(body, "code").Int())
	assert.Equal(t, "invalid declarative configuration", gjson.Get(body, "name").String())
	assert.True(t, strings.HasPrefix(gjson.Get(body, "fields.error").String(), "failed parsing declarative configuration: "), body)
	assert.True(t, strings.HasPrefix(gjson.Get(body, "message").String(), `declarative config is invalid: {error="failed parsing declarative configuration: `), body)

	code, body = e.doCT("POST", "/config", "text/yaml", "just a string")
	assert.Equal(t, 400, code)
	assert.Equal(t, "failed parsing declarative configuration: expected an object", gjson.Get(body, "fields.error").String(), body)

	invalid := `{"_format_version":"3.0","services":[{"name":"s","url":"http://127.0.0.1:1","tags":["t-svc"],` +
		`"routes":[{"name":"r","paths":["/r"],"plugins":[{"name":"echo","tags":["t-plugin"],"config":{"tags":[1],"nope":true}}]}]}]}`
	code, body = e.doCT("POST", "/config", "application/json", invalid)
	require.Equal(t, 400, code)
	golden(t, "config_nested_invalid", body)
	assert.False(t, gjson.Get(body, "flattened_errors").Exists())

	for _, q := range []string{"?flatten_errors=1", "?flatten_errors=true", "?flatten_errors=YES"} {
		code, body = e.doCT("POST", "/config"+q, "application/json", invalid)
		require.Equal(t, 400, code)
		golden(t, "config_flattened", body)
	}
	// The flag in the body is read and taken out of the config.
	code, body = e.doCT("POST", "/config", "application/json", `{"flatten_errors":true,`+invalid[1:])
	require.Equal(t, 400, code)
	golden(t, "config_flattened", body)
	code, body = e.doCT("POST", "/config?flatten_errors=off", "application/json", invalid)
	require.Equal(t, 400, code)
	golden(t, "config_nested_invalid", body)

	// Top-level problems have no entity: they stay in fields.
	code, body = e.doCT("POST", "/config?flatten_errors=1", "application/json", `{"_format_version":"3.0","bogus":1}`)
	require.Equal(t, 400, code)
	assert.JSONEq(t, `{"code":14,"name":"invalid declarative configuration","message":"declarative config is invalid: {bogus=\"unknown field\"}",`+
		`"fields":{"bogus":"unknown field"},"flattened_errors":[]}`, body)

	require.Len(t, e.st.Snapshot().Plugins(), 1, "rejected configs change nothing")
	assert.Equal(t, "yaml", gjson.GetBytes(e.st.Snapshot().Plugins()[0].Config, "message").String())
}

// TestPostConfigCheckHash: check_hash=1 answers 304 to the config already
// loaded (config.lua:132), and /status reports its hash.
func TestPostConfigCheckHash(t *testing.T) {
	e := newEnv(t, Options{ReadOnly: true})
	code, body := e.doCT("POST", "/config?check_hash=1", "text/yaml", configYAML)
	require.Equal(t, 201, code, body)
	_, status := e.doCT("GET", "/status", "", "")
	hash := gjson.Get(status, "configuration_hash").String()
	assert.Len(t, hash, 32)
	assert.NotEqual(t, strings.Repeat("0", 32), hash)

	code, _ = e.doCT("POST", "/config?check_hash=1", "text/yaml", configYAML)
	assert.Equal(t, 304, code)
	code, _ = e.doCT("POST", "/config", "text/yaml", configYAML)
	assert.Equal(t, 201, code, "without check_hash the same config loads again")
	code, _ = e.doCT("POST", "/config?check_hash=1", "text/yaml", strings.Replace(configYAML, "yaml}", "other}", 1))
	assert.Equal(t, 201, code)
	_, status = e.doCT("GET", "/status", "", "")
	assert.NotEqual(t, hash, gjson.Get(status, "configuration_hash").String())
}
