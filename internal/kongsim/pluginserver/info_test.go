package pluginserver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDumpGoPDK(t *testing.T) {
	// What go-pdk's -dump prints for a plugin "my-plugin" (notes §1.3).
	dump := `{"Protocol":"ProtoBuf:1","SocketPath":"/usr/local/kong/my-plugin.socket","Plugins":[{"Name":"my-plugin","Phases":["access","response"],"Version":"1.0.0","Priority":10,"Schema":{"name":"my-plugin","fields":[{"config":{"type":"record","fields":[{"message":{"type":"string"}}]}}]}}]}` + "\n"
	info, err := ParseDump(Server{Name: "my-plugin"}, []byte(dump))
	require.NoError(t, err)
	assert.Equal(t, "my-plugin", info.Name)
	assert.Equal(t, "1.0.0", info.Version)
	assert.Equal(t, 10, info.Priority)
	assert.Equal(t, []string{"access", "response"}, info.Phases)
	assert.True(t, info.HasPhase("response"))
	assert.False(t, info.HasPhase("log"))
	assert.JSONEq(t, `{"name":"my-plugin","fields":[{"config":{"type":"record","fields":[{"message":{"type":"string"}}]}}]}`, string(info.Schema))
}

func TestCleanVersion(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"1.0.0", "1.0.0", true},
		{"1.0", "1.0", true},
		{"2", "2", true},
		{"v1.2.3", "1.2.3", true},
		{"1.2.3-beta", "1.2.3", true},
		{"01.2.3", "1.2.3", true},
		{"1.0.", "1.0", true},
		{"1.2.3.4", "", false},
		{"1..2", "", false},
		{"abc", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, ok := cleanVersion(c.in)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestFormatLuaNumber(t *testing.T) {
	for in, want := range map[float64]string{1: "1", 1.5: "1.5", 1.1: "1.1", 100000: "100000", 1e20: "1e+20", -3: "-3", 0.1: "0.1"} {
		assert.Equal(t, want, FormatLuaNumber(in), "%v", in)
	}
}

func TestLuaMethodName(t *testing.T) {
	cases := map[string]string{
		"Service_Request_SetRawBody": "kong.service.request.set_raw_body",
		"Nginx_GetTls1VersionStr":    "kong.nginx.get_tls1_version_str",
		"Request_GetHttpVersion":     "kong.request.get_http_version",
		"Client_GetForwardedIp":      "kong.client.get_forwarded_ip",
		"Log_SetSerializeValue":      "kong.log.set_serialize_value",
	}
	for rpc, want := range cases {
		assert.Equal(t, want, LuaMethodName("Kong", rpc))
	}
}

func TestMethodsTable(t *testing.T) {
	m := Methods()
	assert.Len(t, m, 74, "the proto's service Kong has 74 rpcs")
	shared, ok := m["kong.ctx.shared.set"]
	require.True(t, ok, "the MethodName option wins over the derived name")
	assert.Equal(t, "Ctx_SetShared", shared.RPC)
	_, derived := m["kong.ctx.set_shared"]
	assert.False(t, derived)
	body := m["kong.service.request.set_raw_body"]
	require.NotNil(t, body)
	assert.Equal(t, "kong_plugin_protocol.ByteString", string(body.Input.FullName()))
	assert.Equal(t, "google.protobuf.Empty", string(body.Output.FullName()))
	for name := range m {
		assert.True(t, strings.HasPrefix(name, "kong."), name)
	}
}

func FuzzParseDump(f *testing.F) {
	f.Add([]byte(`{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"a","Phases":["access"],"Version":"1.0.0","Priority":1,"Schema":{}}]}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"a","Priority":"x"}]}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseDump(Server{Name: "fuzz", QueryCmd: "q"}, b)
		if err != nil {
			return
		}
		if info.Protocol != ProtocolProtoBuf || info.Name == "" {
			t.Fatalf("accepted a dump without protocol or name: %+v", info)
		}
		if _, ok := cleanVersion(info.Version); !ok {
			t.Fatalf("accepted version %q", info.Version)
		}
	})
}
