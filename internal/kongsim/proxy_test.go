package kongsim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProxyBufferedReportAndGetters(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, `plugins:
- name: pdkplugin
  config:
    tag: global
`))

	res, body := r.do(t, "GET", "/r1/x?a=1&a=2&b", nil, map[string]string{"X-Test-Access": "getters", "X-Custom-Header": "cv"})
	require.Equal(t, 200, res.StatusCode, "body: %s", body)
	rep := jsonMap(t, body)
	assert.Equal(t, "global", rep["tag"])
	assert.Equal(t, "http", rep["scheme"])
	assert.Equal(t, "127.0.0.1", rep["host"])
	assert.Equal(t, "GET", rep["method"])
	assert.Equal(t, "/r1/x", rep["path"])
	assert.Equal(t, "/r1/x?a=1&a=2&b", rep["path_with_query"])
	assert.Equal(t, "a=1&a=2&b", rep["raw_query"])
	assert.Equal(t, "1", rep["query_arg_a"])
	assert.Equal(t, "cv", rep["header_custom"])
	assert.Equal(t, "", rep["header_missing"])
	assert.Equal(t, "http", rep["subsystem"])
	assert.Equal(t, true, rep["ctx_buffered_proxying"])
	t.Logf("report: %s", body)
}

func TestProxyStreamingSetters(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	r := startRig(t, kongYAML(up.URL, `plugins:
- name: pdkplugin
  config:
    tag: global
`))
	res, body := r.do(t, "POST", "/r1/x?q=1", strings.NewReader("orig"), map[string]string{
		"X-Test-Access": "stream,setters", "X-Set-Path": "/new path?z", "X-Set-Raw-Query": "k=v", "X-Set-Method": "PUT",
		"X-Set-Body": "newbody", "X-Remove-Me": "x",
	})
	require.Equal(t, 200, res.StatusCode, "body: %s", body)
	e := decodeEcho(t, body)
	assert.Equal(t, "PUT", e.Method)
	assert.Equal(t, "/new%20path?z?k=v", e.URI)
	assert.Equal(t, "newbody", e.Body)
	assert.Equal(t, []string{"yes"}, e.Headers["X-Set-By-Plugin"])
	assert.Equal(t, []string{"a1", "a2"}, e.Headers["X-Added"])
	assert.Nil(t, e.Headers["X-Remove-Me"])
	t.Logf("echo: %s", body)
}
