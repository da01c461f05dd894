package kongconf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadFixture(t *testing.T) {
	c, err := Load("testdata/kong.conf", nil)
	require.NoError(t, err)
	assert.Equal(t, "/tmp/kongsim-prefix", c.Prefix)
	assert.Equal(t, "debug", c.LogLevel)
	assert.Equal(t, "off", c.Database)
	assert.Equal(t, "/tmp/kongsim-prefix/kong.yaml", c.DeclarativeConfig)
	assert.Equal(t, []string{"bundled", "ai-proxy-hf"}, c.Plugins)
	assert.Equal(t, []string{"ai-proxy-hf", "file-log"}, c.EnabledPlugins([]string{"file-log"}))
	assert.Equal(t, "/dev/stdout", c.ProxyAccessLog)
	assert.Equal(t, "/tmp/kongsim-prefix/logs/error.log", c.ProxyErrorLog)
	assert.Equal(t, "a#b, c", c.Properties["headers"])
	assert.Equal(t, int64(8192), c.ClientBodyBufferSize)

	require.Len(t, c.ProxyListeners, 2)
	assert.Equal(t, Listener{Host: "0.0.0.0", Port: 9000, Flags: []string{"reuseport", "backlog=16384"},
		Listener: "0.0.0.0:9000 reuseport backlog=16384"}, c.ProxyListeners[0])
	assert.True(t, c.ProxyListeners[1].SSL)
	assert.True(t, c.ProxyListeners[1].HTTP2)
	assert.Equal(t, "0.0.0.0:9443 ssl reuseport backlog=16384", c.ProxyListeners[1].Listener)

	addr, note, ok := c.ProxyAddr()
	require.True(t, ok)
	assert.Equal(t, "127.0.0.1:9000", addr)
	assert.Contains(t, note, "loopback only")
	assert.Equal(t, []string{note}, c.Notes)
	addr, note, ok = c.AdminAddr()
	require.True(t, ok)
	assert.Equal(t, "127.0.0.1:9001", addr)
	assert.Empty(t, note)

	require.Len(t, c.PluginServers, 2)
	assert.Equal(t, PluginServer{
		Name:     "ai-proxy-hf",
		Socket:   "/tmp/kongsim-prefix/ai-proxy-hf.socket",
		StartCmd: "/opt/bin/ai-proxy-hf -kong-prefix /tmp/kongsim-prefix",
		QueryCmd: "/opt/bin/ai-proxy-hf -dump",
	}, c.PluginServers[0])
	other, ok := c.PluginServer("other-server")
	require.True(t, ok)
	assert.Equal(t, "/tmp/kongsim-prefix/other-server.socket", other.Socket)
	assert.Empty(t, other.StartCmd)
	assert.Equal(t, []string{"start_command undefined for pluginserver other-server; assuming external process management"}, c.Warnings)
}

// The environment of docker-compose.yml must configure the stand-in as is.
func TestEnvironmentWinsOverFile(t *testing.T) {
	env := []string{
		"KONG_DATABASE=off",
		"KONG_DECLARATIVE_CONFIG=/kong/declarative/kong.yaml",
		"KONG_PROXY_LISTEN=0.0.0.0:8000",
		"KONG_ADMIN_LISTEN=0.0.0.0:8001",
		"KONG_PROXY_ACCESS_LOG=/dev/stdout",
		"KONG_PLUGINS=bundled,ai-proxy-hf",
		"KONG_PLUGINSERVER_NAMES=ai-proxy-hf",
		"KONG_PLUGINSERVER_AI_PROXY_HF_SOCKET=/usr/local/kong/ai-proxy-hf.socket",
		"KONG_PLUGINSERVER_AI_PROXY_HF_START_CMD=/usr/local/bin/ai-proxy-hf",
		"KONG_PLUGINSERVER_AI_PROXY_HF_QUERY_CMD=/usr/local/bin/ai-proxy-hf -dump",
		"KONG_log_level=error", // not upper-case: Kong ignores it
		"HOME=/root",
	}
	c, err := Load("testdata/kong.conf", env)
	require.NoError(t, err)
	assert.Equal(t, "/kong/declarative/kong.yaml", c.DeclarativeConfig)
	assert.Equal(t, "debug", c.LogLevel)
	addr, _, ok := c.ProxyAddr()
	require.True(t, ok)
	assert.Equal(t, "127.0.0.1:8000", addr)
	addr, _, _ = c.AdminAddr()
	assert.Equal(t, "127.0.0.1:8001", addr)
	ps, ok := c.PluginServer("ai-proxy-hf")
	require.True(t, ok)
	assert.Equal(t, PluginServer{Name: "ai-proxy-hf", Socket: "/usr/local/kong/ai-proxy-hf.socket",
		StartCmd: "/usr/local/bin/ai-proxy-hf", QueryCmd: "/usr/local/bin/ai-proxy-hf -dump"}, ps)

	// Without a file, defaults apply.
	c, err = Load("", env)
	require.NoError(t, err)
	assert.Equal(t, "/usr/local/kong", c.Prefix)
	assert.Equal(t, "notice", c.LogLevel)
	assert.Equal(t, "/usr/local/kong/logs/error.log", c.ProxyErrorLog)
}

func TestDefaults(t *testing.T) {
	c, err := Load("", []string{"KONG_DATABASE=off"})
	require.NoError(t, err)
	addr, note, ok := c.ProxyAddr()
	require.True(t, ok)
	assert.Equal(t, "127.0.0.1:8000", addr)
	assert.NotEmpty(t, note)
	addr, _, _ = c.AdminAddr()
	assert.Equal(t, "127.0.0.1:8001", addr)
	assert.Equal(t, []string{"bundled"}, c.Plugins)
	assert.Empty(t, c.PluginServers)
	assert.Empty(t, c.DeclarativeConfig)
}

func TestPluginServerDefaultsFromDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "my-plugin"), []byte("#!/bin/sh\n"), 0o755))
	c, err := LoadWith(Options{PluginServerDir: dir, Environ: []string{
		"KONG_DATABASE=off", "KONG_PLUGINSERVER_NAMES=my-plugin,missing", "KONG_PREFIX=/p",
		"KONG_PLUGINSERVER_MISSING_QUERY_CMD=/x -dump",
	}})
	require.NoError(t, err)
	ps, _ := c.PluginServer("my-plugin")
	assert.Equal(t, PluginServer{Name: "my-plugin", Socket: "/p/my-plugin.socket",
		StartCmd: filepath.Join(dir, "my-plugin"), QueryCmd: filepath.Join(dir, "my-plugin") + " -dump"}, ps)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		path    string
		wantErr string
	}{
		{name: "no query command", env: []string{"KONG_DATABASE=off", "KONG_PLUGINSERVER_NAMES=nothing-here"},
			wantErr: "query_command undefined for pluginserver nothing-here"},
		{name: "database on", env: nil, wantErr: "database has an invalid value for kongsim: 'postgres'"},
		{name: "missing file", env: []string{"KONG_DATABASE=off"}, path: "testdata/nope.conf", wantErr: "no file at: testdata/nope.conf"},
		{name: "bad listen", env: []string{"KONG_DATABASE=off", "KONG_PROXY_LISTEN=8000"}, wantErr: "proxy_listen must be of form: [off] | <ip>:<port>"},
		{name: "bad flag", env: []string{"KONG_DATABASE=off", "KONG_PROXY_LISTEN=127.0.0.1:8000 turbo"}, wantErr: "proxy_listen must be of form"},
		{name: "bad log level", env: []string{"KONG_DATABASE=off", "KONG_LOG_LEVEL=loud"}, wantErr: "log_level has an invalid value: 'loud'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path, tc.env)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestListenOff(t *testing.T) {
	c, err := Load("", []string{"KONG_DATABASE=off", "KONG_ADMIN_LISTEN=off", "KONG_PROXY_LISTEN=[::]:8000, 127.0.0.1:8443 ssl"})
	require.NoError(t, err)
	_, _, ok := c.AdminAddr()
	assert.False(t, ok)
	addr, note, ok := c.ProxyAddr()
	require.True(t, ok)
	assert.Equal(t, "[::1]:8000", addr)
	assert.Contains(t, note, "[::]:8000")
}

func TestLoopbackAddr(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"0.0.0.0", "127.0.0.1:80"}, {"127.0.0.2", "127.0.0.2:80"}, {"localhost", "localhost:80"},
		{"10.1.2.3", "127.0.0.1:80"}, {"[::1]", "[::1]:80"}, {"*", "127.0.0.1:80"},
	} {
		got, _ := LoopbackAddr(tc.host, 80)
		assert.Equal(t, tc.want, got, tc.host)
	}
}

func FuzzParseConf(f *testing.F) {
	f.Add([]byte("a = b # c\nd = e\\#f\\\n g\n[x]\n"))
	f.Add([]byte("proxy_listen = 0.0.0.0:8000 reuseport, off"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseConf(data)
		if err != nil {
			return
		}
		for _, v := range m {
			ls, err := parseListeners(v)
			if err == nil {
				for _, l := range ls {
					if l.Port < 0 || l.Port > 65535 {
						t.Fatalf("port out of range in %q", v)
					}
				}
			}
		}
	})
}
