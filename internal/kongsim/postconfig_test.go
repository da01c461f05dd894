package kongsim_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// postConfig sends a declarative config as raw YAML to the Admin API.
func postConfig(t *testing.T, r *rig, yaml string) (int, string) {
	t.Helper()
	res, err := http.Post(r.k.AdminURL()+"/config", "text/yaml", strings.NewReader(yaml))
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// TestPostConfigIsLive: a config loaded with POST /config serves the next
// request (routes and plugin config), every plugin config gets a new
// __seq__ and so a new instance on every load, even when the plugins did
// not change (the reload carries no plugins hash: kong/api/routes/config.lua:151,
// kong/runloop/handler.lua:719), and a refused config leaves the running
// one in place.
func TestPostConfigIsLive(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, globalPlugin))
	res, _ := r.do(t, "GET", "/r1", nil, nil)
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "global", res.Header.Get("X-Plugin-Tag"))
	seq0 := res.Header.Get("X-Plugin-Seq")
	started0 := r.k.Plugin("pdkplugin").Counters().InstancesStarted

	withTag := func(tag, extraRoute string) string {
		return fmt.Sprintf(`_format_version: "3.0"
services:
- name: echo
  url: %s/base
  routes:
  - name: r1
    paths: ["/r1"]
%splugins:
- name: pdkplugin
  config:
    tag: %s
`, up.URL, extraRoute, tag)
	}
	code, body := postConfig(t, r, withTag("v1", ""))
	require.Equal(t, 201, code, body)
	assert.Len(t, gjson.Get(body, "routes").Map(), 1)
	res, _ = r.do(t, "GET", "/r1", nil, nil)
	assert.Equal(t, "v1", res.Header.Get("X-Plugin-Tag"), "the new config serves the next request")
	seq1 := res.Header.Get("X-Plugin-Seq")
	assert.NotEqual(t, seq0, seq1, "a new __seq__ for the changed plugin config")
	assert.Greater(t, r.k.Plugin("pdkplugin").Counters().InstancesStarted, started0, "a new instance for the new config")
	res, _ = r.do(t, "GET", "/r2", nil, nil)
	assert.Equal(t, 404, res.StatusCode, "routes left out of the new config are gone")

	code, body = postConfig(t, r, withTag("v1", "  - name: r2\n    paths: [\"/r2\"]\n"))
	require.Equal(t, 201, code, body)
	res, _ = r.do(t, "GET", "/r2", nil, nil)
	assert.Equal(t, 200, res.StatusCode, "the added route serves")
	assert.NotEqual(t, seq1, res.Header.Get("X-Plugin-Seq"), "every POST /config renumbers the plugin configs, changed or not")

	code, body = postConfig(t, r, withTag("v2", "")+"  enabled: maybe\n")
	require.Equal(t, 400, code, body)
	assert.Equal(t, int64(14), gjson.Get(body, "code").Int(), body)
	res, _ = r.do(t, "GET", "/r2", nil, nil)
	assert.Equal(t, 200, res.StatusCode, "a refused config changes nothing")
	assert.Equal(t, "v1", res.Header.Get("X-Plugin-Tag"))
}
