package declarative

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/store"
)

const echoSchema = `{"name":"echo","fields":[{"config":{"type":"record","fields":[
	{"message":{"type":"string","default":"hi"}},
	{"count":{"type":"integer","default":1,"between":[1,5]}}]}}]}`

func registry(t *testing.T) *kongschema.Registry {
	t.Helper()
	echo, err := kongschema.Parse([]byte(echoSchema))
	require.NoError(t, err)
	fileLog, _ := kongschema.Builtin("file-log")
	return kongschema.NewRegistry(echo, fileLog)
}

func TestLoadYAML(t *testing.T) {
	reg := registry(t)
	cfg, err := Load("testdata/kong.yaml", reg)
	require.NoError(t, err)
	assert.Equal(t, "3.0", cfg.FormatVersion)
	require.Len(t, cfg.Content.Services, 1)
	require.Len(t, cfg.Content.Routes, 3)
	require.Len(t, cfg.Content.Consumers, 1)
	require.Len(t, cfg.Content.Plugins, 4)

	st := store.New(reg)
	require.Nil(t, st.Replace(cfg.Content))
	sn := st.Snapshot()
	svc, ok := sn.Service("upstream")
	require.True(t, ok)
	assert.Equal(t, "/base", svc.Path)
	chat, ok := sn.Route("chat")
	require.True(t, ok)
	assert.Equal(t, svc.ID, chat.ServiceID)
	assert.Equal(t, []string{"POST"}, chat.Methods)
	plain, _ := sn.Route("plain")
	assert.False(t, plain.StripPath)
	loose, _ := sn.Route("loose")
	assert.Equal(t, svc.ID, loose.ServiceID)

	byMsg := func(ps []*store.Plugin) map[string]string {
		m := map[string]string{}
		for _, p := range ps {
			m[p.Name] = string(p.Config)
		}
		return m
	}
	assert.Equal(t, map[string]string{
		"echo":     `{"count":1,"message":"on-route"}`,
		"file-log": `{"path":"/tmp/kongsim-file.log","reopen":false}`,
	}, byMsg(sn.PluginsFor(chat.ID, svc.ID, "http")))
	// The route-level instance on "loose" is disabled: the service's applies.
	assert.Equal(t, `{"count":1,"message":"on-service"}`, byMsg(sn.PluginsFor(loose.ID, svc.ID, "http"))["echo"])

	// Same file, same ids.
	again, err := Load("testdata/kong.yaml", reg)
	require.NoError(t, err)
	assert.Equal(t, cfg.Content, again.Content)
}

func TestApplyJSON(t *testing.T) {
	reg := registry(t)
	st := store.New(reg)
	data, err := os.ReadFile("testdata/kong.json")
	require.NoError(t, err)
	_, errV := Apply(st, data)
	require.Nil(t, errV)
	sn := st.Snapshot()
	assert.Equal(t, uint64(1), sn.Version)
	require.Len(t, sn.Plugins(), 1)
	assert.Equal(t, sn.Services()[0].ID, sn.Plugins()[0].ServiceID)
}

func TestErrors(t *testing.T) {
	reg := registry(t)
	tests := []struct {
		name   string
		doc    string
		fields string
	}{
		{"no format version", `services: []`, `{"_format_version":"required field missing"}`},
		{"number format version", `_format_version: 3.0`, `{"_format_version":"expected a string"}`},
		{"bad format version", `_format_version: "9.9"`, `{"_format_version":"expected one of: 1.1, 2.1, 3.0"}`},
		{"unknown key", "_format_version: \"3.0\"\nfoo: 1", `{"foo":"unknown field"}`},
		{"unsupported entity", "_format_version: \"3.0\"\nupstreams: []", `{"upstreams":"'upstreams' entities are not supported by kongsim"}`},
		{"unknown plugin", "_format_version: \"3.0\"\nplugins:\n  - name: nope",
			`{"plugins":[{"name":"plugin 'nope' not enabled; add it to the 'plugins' configuration property"}]}`},
		{"nested plugin config", `_format_version: "3.0"
services:
  - name: s
    host: h
    routes:
      - name: r
        paths: [/r]
        plugins:
          - name: echo
            config: {count: 9, bogus: true}`,
			`{"services":[{"routes":[{"plugins":[{"config":{"count":"value should be between 1 and 5","bogus":"unknown field"}}]}]}]}`},
		{"bad reference", "_format_version: \"3.0\"\nroutes:\n  - name: r\n    paths: [/]\n    service: ghost",
			`{"routes":[["invalid reference 'service: ghost' (no such entry in 'services')"]]}`},
		{"duplicate name", "_format_version: \"3.0\"\nservices:\n  - {name: s, host: a}\n  - {name: s, host: b}",
			`{"services":[null,"uniqueness violation: 'services' entity with name set to 's' already declared"]}`},
		{"route without paths", "_format_version: \"3.0\"\nroutes:\n  - name: r",
			`{"routes":[{"@entity":["must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]}]}`},
		{"not yaml", "_format_version: [", ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errV := Parse([]byte(tc.doc), reg)
			require.NotNil(t, errV)
			assert.Equal(t, 14, errV.Code)
			assert.Equal(t, "invalid declarative configuration", errV.Name)
			assert.Contains(t, errV.Message, "declarative config is invalid: ")
			if tc.fields != "" {
				assert.JSONEq(t, tc.fields, string(errV.Fields))
			}
		})
	}
}

// The message is Kong's pretty.write of the error tree.
func TestErrorMessage(t *testing.T) {
	_, errV := Parse([]byte("_format_version: \"3.0\"\nplugins:\n  - name: echo\n    config: {count: 0}"), registry(t))
	require.NotNil(t, errV)
	assert.Equal(t, `declarative config is invalid: {plugins={{config={count="value should be between 1 and 5"}}}}`, errV.Message)
}

func TestRepoKongYAMLShape(t *testing.T) {
	// kong/kong.yaml needs the ai-proxy-hf schema, which this registry
	// lacks: everything else in it must load, so the only errors are the
	// plugin's "not enabled".
	path := filepath.Join("..", "..", "..", "kong", "kong.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	fileLog, _ := kongschema.Builtin("file-log")
	_, errV := Parse(data, kongschema.NewRegistry(fileLog))
	require.NotNil(t, errV, "ai-proxy-hf is not in this registry")
	var fields map[string]any
	require.NoError(t, json.Unmarshal(errV.Fields, &fields))
	assert.Contains(t, string(errV.Fields), "plugin 'ai-proxy-hf' not enabled")
	assert.NotContains(t, fields, "plugins", "the global file-log plugin is valid")
}
