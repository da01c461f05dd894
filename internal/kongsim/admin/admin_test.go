package admin

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

const echoSchema = `{"name":"echo","fields":[
	{"protocols":{"type":"set","default":["grpc","grpcs","http","https"],"required":true,
		"elements":{"type":"string","one_of":["grpc","grpcs","http","https"]}}},
	{"config":{"type":"record","fields":[
		{"message":{"type":"string","default":"hi"}},
		{"enabled_flag":{"type":"boolean","default":false}},
		{"tags":{"type":"array","elements":{"type":"string"}}},
		{"model":{"type":"record","fields":[
			{"name":{"type":"string"}},
			{"options":{"type":"record","fields":[
				{"temperature":{"type":"number","between":[0,5]}},
				{"max_tokens":{"type":"integer"}}]}}]}}],
		"entity_checks":[{"conditional":{"if_field":"model.name","if_match":{"eq":"strict"},
			"then_field":"model.options.max_tokens","then_match":{"required":true}}}]}}]}`

type env struct {
	t   *testing.T
	srv *httptest.Server
	st  *store.Store
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	echo, err := kongschema.Parse([]byte(echoSchema))
	require.NoError(t, err)
	fileLog, _ := kongschema.Builtin("file-log")
	reg := kongschema.NewRegistry(echo, fileLog)
	st := store.New(reg)
	opts.NodeID, opts.Hostname = "node-1", "test-host"
	srv := httptest.NewServer(NewHandlerWith(st, reg, opts))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, st: st}
}

// do sends a request; a body starting with "{" is JSON, otherwise form.
func (e *env) do(method, path, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if body != "" {
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(data)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	if *update {
		var v any
		require.NoError(t, json.Unmarshal([]byte(got), &v))
		pretty, _ := json.MarshalIndent(v, "", "  ")
		require.NoError(t, os.WriteFile(path, append(pretty, '\n'), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.JSONEq(t, string(want), got)
}

func TestRootAndStatus(t *testing.T) {
	e := newEnv(t, Options{Plugins: map[string]PluginInfo{"echo": {Version: "1.2.3", Priority: 10}}})
	code, body := e.do("GET", "/", "")
	require.Equal(t, 200, code)
	assert.Equal(t, DefaultVersion, gjson.Get(body, "version").String())
	assert.Equal(t, "1.2.3", gjson.Get(body, "plugins.available_on_server.echo.version").String())
	assert.True(t, gjson.Get(body, "plugins.available_on_server.file-log").Exists())
	assert.Equal(t, "[]", gjson.Get(body, "plugins.enabled_in_cluster").Raw)

	code, body = e.do("GET", "/status", "")
	require.Equal(t, 200, code)
	assert.Equal(t, strings.Repeat("0", 32), gjson.Get(body, "configuration_hash").String())
	assert.True(t, gjson.Get(body, "database.reachable").Bool())

	code, body = e.do("POST", "/status", "{}")
	assert.Equal(t, 405, code)
	assert.JSONEq(t, `{"message":"Method not allowed"}`, body)
	code, body = e.do("GET", "/nowhere", "")
	assert.Equal(t, 404, code)
	assert.JSONEq(t, `{"message":"Not found"}`, body)
}

func TestServicesRoutesAndNestedPlugins(t *testing.T) {
	e := newEnv(t, Options{})
	code, body := e.do("POST", "/services", `{"name":"svc","url":"http://127.0.0.1:9/v1"}`)
	require.Equal(t, 201, code, body)
	svcID := gjson.Get(body, "id").String()
	assert.Equal(t, "/v1", gjson.Get(body, "path").String())

	// Form-encoded, Kong style.
	code, body = e.do("POST", "/services/svc/routes", "name=chat&paths[]=/chat&methods=POST&strip_path=false")
	require.Equal(t, 201, code, body)
	routeID := gjson.Get(body, "id").String()
	assert.Equal(t, svcID, gjson.Get(body, "service.id").String())
	assert.Equal(t, `["/chat"]`, gjson.Get(body, "paths").Raw)
	assert.False(t, gjson.Get(body, "strip_path").Bool())

	code, body = e.do("POST", "/routes", `{"name":"other","paths":["/o"],"service":{"name":"svc"}}`)
	require.Equal(t, 201, code, body)

	code, body = e.do("GET", "/services/svc/routes", "")
	require.Equal(t, 200, code)
	assert.Len(t, gjson.Get(body, "data").Array(), 2)

	// Dotted form keys for a nested record, typed by the plugin's schema.
	code, body = e.do("POST", "/routes/chat/plugins",
		"name=echo&config.model.name=m&config.model.options.temperature=0.5&config.model.options.max_tokens=7&config.enabled_flag=true&config.tags=a&config.tags=b")
	require.Equal(t, 201, code, body)
	pluginID := gjson.Get(body, "id").String()
	assert.Equal(t, routeID, gjson.Get(body, "route.id").String())
	assert.JSONEq(t, `{"message":"hi","enabled_flag":true,"tags":["a","b"],
		"model":{"name":"m","options":{"temperature":0.5,"max_tokens":7}}}`, gjson.Get(body, "config").Raw)

	code, body = e.do("GET", "/services/svc/plugins", "")
	require.Equal(t, 200, code)
	assert.Empty(t, gjson.Get(body, "data").Array())
	code, body = e.do("GET", "/routes/"+routeID+"/plugins/"+pluginID, "")
	require.Equal(t, 200, code, body)
	code, _ = e.do("GET", "/services/svc/plugins/"+pluginID, "")
	assert.Equal(t, 404, code, "the plugin is not the service's")

	code, body = e.do("POST", "/services/svc/plugins", `{"name":"echo","config":{"message":"svc"}}`)
	require.Equal(t, 201, code, body)
	assert.Equal(t, svcID, gjson.Get(body, "service.id").String())

	code, body = e.do("GET", "/plugins?size=1", "")
	require.Equal(t, 200, code)
	assert.Len(t, gjson.Get(body, "data").Array(), 1)
	next := gjson.Get(body, "next").String()
	require.NotEmpty(t, next)
	code, body = e.do("GET", next, "")
	require.Equal(t, 200, code)
	assert.Len(t, gjson.Get(body, "data").Array(), 1)
	assert.Equal(t, "null", gjson.Get(body, "next").Raw)

	code, _ = e.do("GET", "/services/ghost/plugins", "")
	assert.Equal(t, 404, code)
}

func TestPluginLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	code, body := e.do("POST", "/plugins", `{"name":"echo","config":{"model":{"name":"m","options":{"temperature":1}}}}`)
	require.Equal(t, 201, code, body)
	id := gjson.Get(body, "id").String()
	assert.Equal(t, "null", gjson.Get(body, "route").Raw)
	assert.Equal(t, `["grpc","grpcs","http","https"]`, gjson.Get(body, "protocols").Raw)
	assert.True(t, gjson.Get(body, "enabled").Bool())

	// PATCH merges records: model.name survives a change of one option.
	code, body = e.do("PATCH", "/plugins/"+id, `{"config":{"model":{"options":{"max_tokens":3}}}}`)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "m", gjson.Get(body, "config.model.name").String())
	assert.Equal(t, int64(1), gjson.Get(body, "config.model.options.temperature").Int())
	assert.Equal(t, int64(3), gjson.Get(body, "config.model.options.max_tokens").Int())

	code, body = e.do("PATCH", "/plugins/"+id, "config.model.options.temperature=9")
	require.Equal(t, 400, code)
	golden(t, "patch_out_of_range", body)

	code, body = e.do("PUT", "/plugins/"+id, `{"name":"echo"}`)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "null", gjson.Get(body, "config.model.name").Raw)

	code, body = e.do("PUT", "/plugins/my-log", `{"name":"file-log","config":{"path":"/tmp/x.log"}}`)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "my-log", gjson.Get(body, "instance_name").String())
	code, _ = e.do("GET", "/plugins/my-log", "")
	assert.Equal(t, 200, code)

	code, body = e.do("DELETE", "/plugins/"+id, "")
	assert.Equal(t, 204, code)
	assert.Empty(t, body)
	code, _ = e.do("DELETE", "/plugins/"+id, "")
	assert.Equal(t, 204, code, "Kong answers 204 for a missing entity too")
	code, body = e.do("GET", "/plugins/"+id, "")
	assert.Equal(t, 404, code)
	assert.JSONEq(t, `{"message":"Not found"}`, body)
	code, _ = e.do("PATCH", "/plugins/"+id, `{}`)
	assert.Equal(t, 404, code)
}

func TestPluginErrorBodies(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		name, body string
		status     int
	}{
		{"nested_between", `{"name":"echo","config":{"model":{"name":"m","options":{"temperature":7}}}}`, 400},
		{"unknown_plugin", `{"name":"ai-proxy"}`, 400},
		{"entity_check", `{"name":"echo","config":{"model":{"name":"strict"},"message":""}}`, 400},
		{"unknown_field_and_type", `{"name":"echo","config":{"nope":1,"tags":["a",2]},"enabled":"yes"}`, 400},
		{"file_log_path", `{"name":"file-log","config":{"path":"/tmp/a&b"}}`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("POST", "/plugins", tc.body)
			assert.Equal(t, tc.status, code)
			golden(t, tc.name, body)
		})
	}
	code, body := e.do("POST", "/plugins", `{"name":"echo"}`)
	require.Equal(t, 201, code, body)
	code, body = e.do("POST", "/plugins", `{"name":"echo"}`)
	assert.Equal(t, 409, code)
	golden(t, "unique_violation", body)

	code, body = e.do("POST", "/plugins", `{"name":`)
	assert.Equal(t, 400, code)
	assert.JSONEq(t, `{"message":"Cannot parse JSON body"}`, body)
}

func TestPostConfig(t *testing.T) {
	e := newEnv(t, Options{ReadOnly: true})
	yaml := "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n      - name: r\n        paths: [/r]\n        plugins:\n          - name: echo\n"
	code, body := e.do("POST", "/config", "config="+url.QueryEscape(yaml))
	require.Equal(t, 201, code, body)
	assert.Len(t, gjson.Get(body, "plugins").Map(), 1)
	require.Len(t, e.st.Snapshot().Plugins(), 1)

	code, body = e.do("POST", "/config", `{"_format_version":"3.0","plugins":[{"name":"echo","config":{"tags":[1]}}]}`)
	require.Equal(t, 400, code)
	golden(t, "config_invalid", body)
	require.Len(t, e.st.Snapshot().Plugins(), 1, "a rejected config changes nothing")

	code, body = e.do("POST", "/config", `{"_format_version":"3.0"}`)
	require.Equal(t, 201, code, body)
	assert.Empty(t, e.st.Snapshot().Plugins())

	// Read-only (real DB-less) mode refuses entity writes.
	code, body = e.do("POST", "/plugins", `{"name":"echo"}`)
	assert.Equal(t, 405, code)
	assert.JSONEq(t, `{"code":12,"name":"operation unsupported","message":"cannot create 'plugins' entities when not using a database"}`, body)
}

func TestSchemasEndpoints(t *testing.T) {
	e := newEnv(t, Options{})
	code, body := e.do("GET", "/schemas/plugins/file-log", "")
	require.Equal(t, 200, code)
	assert.Equal(t, "file-log", gjson.Get(body, "name").String())
	code, body = e.do("POST", "/schemas/plugins/validate", `{"name":"file-log","config":{"path":"/tmp/x"}}`)
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"message":"schema validation successful"}`, body)
	code, _ = e.do("POST", "/schemas/plugins/validate", `{"name":"file-log","config":{}}`)
	assert.Equal(t, 400, code)
	code, body = e.do("GET", "/plugins/enabled", "")
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"enabled_plugins":["echo","file-log"]}`, body)
}

func FuzzNestForm(f *testing.F) {
	f.Add("name=echo&config.a.b=1&tags[]=x&tags[]=y&config.l[2]=b&config.l[1]=a")
	f.Add("a.b=1&a=2&a.b.c=3")
	f.Fuzz(func(t *testing.T, q string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		obj := nestForm(vals)
		if _, err := json.Marshal(obj); err != nil {
			t.Fatalf("nested form is not JSON: %v", err)
		}
	})
}
