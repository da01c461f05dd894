package kongsim_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadDumps runs Kong's start-up against query commands printing what
// a broken plugin server could print.
func TestBadDumps(t *testing.T) {
	info := func(fields string) string {
		return `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"bad","Phases":["access"],` + fields + `,"Schema":{"name":"bad","fields":[{"config":{"type":"record","fields":[]}}]}}]}`
	}
	cases := []struct {
		name, dump, want string
	}{
		{"not JSON", "not json", "failed loading external plugins: failed decoding plugin info: Expected value but found invalid token at character 1"},
		{"empty", "", "failed loading external plugins: failed decoding plugin info: Expected value but found T_END at character 1"},
		{"trailing garbage", `{"Protocol":"ProtoBuf:1"} x`, "failed decoding plugin info: Expected the end but found invalid token"},
		{"not a table", `"str"`, "failed loading external plugins: not a plugin info table: \n"},
		{"MsgPack", `{"Protocol":"MsgPack:1","Plugins":[]}`, `unsupported protocol "MsgPack:1"`},
		{"no Protocol", `[{"Name":"bad"}]`, `unsupported protocol "MsgPack:1"`},
		{"no plugins", `{"Protocol":"ProtoBuf:1","Plugins":[]}`, "attempt to index local 'info' (a nil value)"},
		{"version with four parts", info(`"Version":"1.2.3.4","Priority":1`), `Plugin "bad" cannot be loaded because its VERSION field does not follow the "x.y.z" format, got: "1.2.3.4".`},
		{"version not a string", info(`"Version":1,"Priority":1`), `its VERSION field does not follow the "x.y.z" format, got: "1"`},
		{"version without digits", info(`"Version":"abc","Priority":1`), `its VERSION field does not follow the "x.y.z" format, got: "abc"`},
		{"priority not integer", info(`"Version":"1.0.0","Priority":1.5`), `Plugin "bad" cannot be loaded because its PRIORITY field is not a valid integer number, got: "1.5".`},
		{"priority a string", info(`"Version":"1.0.0","Priority":"10"`), `its PRIORITY field is not a valid integer number, got: "10"`},
		{"no priority", info(`"Version":"1.0.0"`), "bad plugin is enabled but not installed;\nno plugin found"},
		{"response and body_filter", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"bad","Phases":["response","body_filter"],"Version":"1.0.0","Priority":1}]}`,
			"can't be loaded because it implements both `response` and `header_filter` or `body_filter` methods."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := t.TempDir()
			dumpFile := filepath.Join(prefix, "dump.json")
			require.NoError(t, os.WriteFile(dumpFile, []byte(c.dump), 0o644))
			env := []string{
				"KONG_PREFIX=" + prefix,
				"KONG_DATABASE=off",
				"KONG_PROXY_LISTEN=127.0.0.1:0",
				"KONG_ADMIN_LISTEN=off",
				"KONG_PROXY_ACCESS_LOG=off",
				"KONG_PLUGINS=bundled,bad",
				"KONG_PLUGINSERVER_NAMES=bad",
				"KONG_PLUGINSERVER_BAD_QUERY_CMD=cat " + dumpFile,
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			k, err := kongsim.Start(ctx, kongsim.Options{Environ: env, ErrorLog: &syncBuffer{}, Stderr: &syncBuffer{}})
			if k != nil {
				k.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestStartWithoutWaitingAndExternalServer(t *testing.T) {
	// No start command: Kong only warns and assumes an external process.
	prefix := t.TempDir()
	errlog := &syncBuffer{}
	env := []string{
		"KONG_PREFIX=" + prefix,
		"KONG_DATABASE=off",
		"KONG_PROXY_LISTEN=127.0.0.1:0",
		"KONG_ADMIN_LISTEN=127.0.0.1:0",
		"KONG_PROXY_ACCESS_LOG=off",
		"KONG_PLUGINS=bundled,pdkplugin",
		"KONG_PLUGINSERVER_NAMES=pdkplugin",
		"KONG_PLUGINSERVER_PDKPLUGIN_QUERY_CMD=" + pluginBin + " -dump",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	k, err := kongsim.Start(ctx, kongsim.Options{Environ: env, ErrorLog: errlog, Stderr: &syncBuffer{},
		Declarative: []byte(`_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9
  routes:
  - paths: ["/"]
plugins:
- name: pdkplugin
`)})
	require.NoError(t, err)
	defer k.Close()
	assert.Nil(t, k.Supervisor("pdkplugin"))
	assert.Contains(t, errlog.String(), "start_command undefined for pluginserver pdkplugin; assuming external process management")
	assert.True(t, strings.HasPrefix(k.ReadyLine(), "kongsim ready proxy=127.0.0.1:"), k.ReadyLine())

	// Nothing listens: the instance cannot start, Kong answers 500.
	r := &rig{k: k, errlog: errlog}
	res, body := r.do(t, "GET", "/", nil, map[string]string{"Accept": "application/json"})
	assert.Equal(t, 500, res.StatusCode, "body: %s", body)
	assert.Contains(t, errlog.String(), "starting instance: no such file or directory")
}

func TestConfigErrorsAtStart(t *testing.T) {
	prefix := t.TempDir()
	env := pluginEnv(prefix, pluginBin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := kongsim.Start(ctx, kongsim.Options{Environ: env, ErrorLog: &syncBuffer{}, Stderr: &syncBuffer{},
		Declarative: []byte(`_format_version: "3.0"
plugins:
- name: pdkplugin
  config:
    tag: 12
`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expected a string")
}
