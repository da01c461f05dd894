package controlplane

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/runloop"
)

const echoSchema = `{"name":"echo","fields":[{"config":{"type":"record","fields":[{"tag":{"type":"string","default":"d"}}]}}]}`

func config(doc string) Config {
	return Config{
		Enabled: map[string]bool{"file-log": true, "echo": true},
		Loaded: []runloop.Loaded{
			{Name: "file-log", Priority: 9},
			{Name: "echo", Priority: 10, External: &pluginserver.Info{Name: "echo", Version: "1.2.3", Schema: []byte(echoSchema)}},
		},
		Declarative: []byte(doc),
		KongVersion: "3.9.1", NodeID: "node", WorkspaceID: "ws",
	}
}

// TestSourceFollowsTheAdminAPI: the declarative config is the first
// snapshot (defaults applied by the dumped schema), and a POST /config on
// the handler publishes the next one, marked as a reload.
func TestSourceFollowsTheAdminAPI(t *testing.T) {
	cp, err := New(config("_format_version: \"3.0\"\nplugins:\n- name: echo\n"))
	require.NoError(t, err)
	cur := cp.Source().Current()
	require.Len(t, cur.Plugins, 1)
	assert.Equal(t, "d", gjson.GetBytes(cur.Plugins[0].Config, "tag").String(), "the dump's default")
	assert.Equal(t, "ws", cur.WorkspaceID)

	var got []*runloop.Snapshot
	cp.Source().OnChange(func(s *runloop.Snapshot) { got = append(got, s) })
	srv := httptest.NewServer(cp.Handler())
	defer srv.Close()
	res, err := http.Post(srv.URL+"/config", "text/yaml", strings.NewReader("_format_version: \"3.0\"\nplugins:\n- name: echo\n  config: {tag: x}\n- name: file-log\n  config: {path: /tmp/x.log}\n"))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 201, res.StatusCode)
	require.Len(t, got, 1)
	assert.True(t, got[0].Reloaded)
	assert.Len(t, got[0].Plugins, 2)

	res, err = http.Get(srv.URL + "/")
	require.NoError(t, err)
	defer res.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, res.Body)
	assert.Equal(t, "1.2.3", gjson.Get(b.String(), "plugins.available_on_server.echo.version").String())
	assert.Equal(t, "3.9.1", gjson.Get(b.String(), "plugins.available_on_server.file-log.version").String(), "bundled plugins carry Kong's version")
}

func TestNewRefuses(t *testing.T) {
	c := config("")
	c.Declarative = nil
	c.Loaded[1].External = &pluginserver.Info{Name: "echo"}
	_, err := New(c)
	assert.ErrorContains(t, err, "on plugin 'echo': no schema in the plugin server's dump")

	_, err = New(config("_format_version: \"3.0\"\nplugins:\n- name: nope\n"))
	assert.ErrorContains(t, err, "error parsing declarative config file")
}
