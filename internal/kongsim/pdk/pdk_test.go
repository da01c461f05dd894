package pdk

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/", "/"},
		{"", ""},
		{"/a/b", "/a/b"},
		{"/a//b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/a/b/..", "/a/"},
		{"/../a", "/a"},
		{"/%41%62c", "/Abc"},  // unreserved decoded
		{"/a%2fb", "/a%2Fb"},  // reserved kept, hex upper-cased
		{"/a%20b", "/a b"},    // "others" decoded
		{"/a/%2e%2e/b", "/b"}, // %2e%2e is ".."
		{"/a%3Fb", "/a%3Fb"},  // '?' is reserved
		{"//x//y", "/x/y"},    //
		{"/a/b/", "/a/b/"},    //
		{"/v1/chat/completions", "/v1/chat/completions"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Normalize(c.in, true), c.in)
	}
	assert.Equal(t, "/a//b", Normalize("/a//b", false))
}

func TestEscape(t *testing.T) {
	cases := map[string]string{
		"/a b":                 "/a%20b",
		"/a?x=1":               "/a?x=1",
		"/a%20b":               "/a%20b",
		"/ü":                   "/%C3%BC",
		"/a\"<>{}|":            "/a%22%3C%3E%7B%7D%7C",
		"/!$&'()*+,;=:@[]~-_.": "/!$&'()*+,;=:@[]~-_.",
	}
	for in, want := range cases {
		assert.Equal(t, want, Escape(in), in)
	}
}

func TestDecodeArgs(t *testing.T) {
	got := DecodeArgs("a=1&a=2&b&c=&=x&d=%20+y&&e=f=g", 0)
	assert.Equal(t, map[string]any{
		"a": []any{"1", "2"}, "b": true, "c": "", "d": "  y", "e": "f=g",
	}, got)
	assert.Equal(t, map[string]any{"a": "1"}, DecodeArgs("a=1&b=2", 1), "max_args")
}

func TestEncodeArg(t *testing.T) {
	s, err := encodeArg("a b", []any{"x y", "2"})
	require.NoError(t, err)
	assert.Equal(t, "a%20b=x%20y&a%20b=2", s)
	s, err = encodeArg("flag", true)
	require.NoError(t, err)
	assert.Equal(t, "flag", s)
}

func TestResponseType(t *testing.T) {
	cases := map[string]string{
		"":                                  mimeJSON,
		"*/*":                               mimeJSON,
		"text/html":                         mimeHTML,
		"text/*":                            mimePlain,
		"application/xml":                   mimeXML,
		"text/html;q=0.5, text/plain":       mimePlain,
		"text/html;q=0.9, text/plain;q=0.1": mimeHTML,
		"image/png":                         mimeJSON,
		"text/plain":                        mimePlain,
	}
	for in, want := range cases {
		assert.Equal(t, want, responseType(in), in)
	}
}

func TestValueQuirks(t *testing.T) {
	// wire → Lua (pb_rpc.lua unwrap)
	assert.Nil(t, valueToLua(structpb.NewBoolValue(false)), "false becomes nil")
	assert.Equal(t, true, valueToLua(structpb.NewBoolValue(true)))
	assert.Equal(t, "NULL_VALUE", valueToLua(structpb.NewNullValue()))
	assert.Equal(t, float64(0), valueToLua(structpb.NewNumberValue(0)))
	assert.Equal(t, "", valueToLua(structpb.NewStringValue("")))
	l, _ := structpb.NewList([]any{"a", false, "c"})
	assert.Equal(t, []any{"a", nil, "c"}, valueToLua(structpb.NewListValue(l)))
	// Lua → wire (pb_rpc.lua wrap)
	n := luaToValue(nil)
	assert.Equal(t, structpb.NullValue(1), n.GetNullValue(), "null_value = 1")
	assert.Nil(t, n.AsInterface())
	assert.Equal(t, []any{"a"}, luaToValue([]any{"a", nil, "c"}).AsInterface(), "ipairs stops at the first hole")
	assert.Equal(t, map[string]any{"2": "b"}, luaToValue([]any{nil, "b"}).AsInterface(), "no [1]: a hash")
	assert.Equal(t, map[string]any{}, luaToValue([]any{}).AsInterface(), "an empty table is a struct")
}

func TestHeader(t *testing.T) {
	h := &Header{}
	h.Add("X-A", "1")
	h.Add("x-a", "2")
	h.Add("X_B", "3")
	v, ok := h.Get("x_a")
	assert.True(t, ok)
	assert.Equal(t, "1", v)
	v, _ = h.Get("x-b")
	assert.Equal(t, "3", v, "nginx's $http_ matches '-' and '_' alike")
	assert.Equal(t, map[string]any{"x-a": []any{"1", "2"}, "x_b": "3"}, h.Lua(0))
	assert.Equal(t, map[string]any{"x-a": "1"}, h.Lua(1))
	h.Set("X-A", "9")
	assert.Equal(t, []string{"9"}, h.Values("x-a"))
	assert.Equal(t, "X-A", h.Fields[0].Name, "set keeps the position")
	h.Del("x-a")
	assert.False(t, h.Has("X-A"))
}

// pdkCall runs one PDK call with a state in the given phase (timer: the log
// timer with saved data).
func pdkCall(t *testing.T, st *State, phase Phase, method string, args proto.Message) ([]byte, error) {
	t.Helper()
	var raw []byte
	if args != nil {
		var err error
		raw, err = proto.Marshal(args)
		require.NoError(t, err)
	}
	d := NewDispatcher(Config{NodeID: "node"})
	return d.Call(st, phase, "test", method, raw)
}

func newTestState(phase Phase, timer bool) *State {
	st := NewState(func() (*Body, error) { return &Body{Data: []byte("body"), Size: 4}, nil })
	st.Method, st.RequestURI, st.Scheme, st.HTTPVersion = "GET", "/p?a=1", "http", 1.1
	st.RequestLine = "GET /p?a=1 HTTP/1.1"
	st.Args = "a=1"
	st.ReqHeader.Add("Host", "example.com")
	st.StartTime = time.Unix(1700000000, 0)
	st.Balancer = &Balancer{Host: "up", Port: 80}
	st.SetPhase(phase)
	if phase == PhaseResponse || timer {
		st.Ctx["buffered_proxying"] = true
		st.Ctx["buffered_status"] = float64(200)
		st.Ctx["buffered_headers"] = map[string]any{"Content-Type": "text/plain"}
		st.Ctx["buffered_body"] = "up"
	}
	if phase != PhaseRewrite {
		st.Ctx["request_uri"] = st.RequestURI
		st.Ctx["route"] = map[string]any{"id": "r"}
	}
	if timer {
		return st.TimerCopy(&Saved{PluginName: "test", SerializeJSON: []byte("{}"), RequestHeaders: map[string]any{}, ResponseHeaders: map[string]any{}, ResponseStatus: 200})
	}
	return st
}

// defaultArgs are valid arguments for every method that takes some.
func defaultArgs(m *pluginserver.Method) proto.Message {
	switch m.Input.FullName() {
	case "kong_plugin_protocol.String":
		v := "x"
		switch m.Name {
		case "kong.service.request.set_scheme":
			v = "https"
		case "kong.service.request.set_path":
			v = "/x"
		case "kong.service.request.set_method":
			v = "POST"
		}
		return &kpp.String{V: v}
	case "kong_plugin_protocol.Int":
		if m.Name == "kong.response.set_status" {
			return &kpp.Int{V: 201}
		}
		return &kpp.Int{V: 100}
	case "kong_plugin_protocol.KV":
		return &kpp.KV{K: "X-K", V: structpb.NewStringValue("v")}
	case "kong_plugin_protocol.ExitArgs":
		return &kpp.ExitArgs{Status: 200}
	case "kong_plugin_protocol.Target":
		return &kpp.Target{Host: "h", Port: 80}
	case "kong_plugin_protocol.ConsumerSpec":
		return &kpp.ConsumerSpec{Id: "00000000-0000-0000-0000-000000000000"}
	case "kong_plugin_protocol.AuthenticateArgs":
		return &kpp.AuthenticateArgs{Consumer: &kpp.Consumer{Id: "c"}}
	case "kong_plugin_protocol.ByteString":
		return &kpp.ByteString{V: []byte("b")}
	case "google.protobuf.Struct":
		s, _ := structpb.NewStruct(map[string]any{"X-K": []any{"v"}})
		return s
	case "google.protobuf.ListValue":
		l, _ := structpb.NewList([]any{"m"})
		return l
	}
	return nil
}

// TestPhaseMatrix records, for every proto method and the phases a Go
// plugin runs in, whether Kong answers or fails the call, in a golden
// file (go test -update rewrites it).
func TestPhaseMatrix(t *testing.T) {
	phases := []struct {
		name  string
		phase Phase
		timer bool
	}{{"rewrite", PhaseRewrite, false}, {"access", PhaseAccess, false}, {"response", PhaseResponse, false}, {"log", PhaseLog, true}}
	names := make([]string, 0, len(pluginserver.Methods()))
	for n := range pluginserver.Methods() {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		m := pluginserver.Methods()[n]
		fmt.Fprintf(&b, "%s\n", n)
		for _, p := range phases {
			st := newTestState(p.phase, p.timer)
			_, err := pdkCall(t, st, p.phase, n, defaultArgs(m))
			res := "ok"
			var le *LuaError
			switch {
			case err == nil:
			case errors.Is(err, ErrExit):
				res = "exit"
			case errors.As(err, &le):
				res = "error: " + le.Msg
			default:
				res = "returned: " + err.Error()
			}
			fmt.Fprintf(&b, "  %-8s %s\n", p.name, res)
		}
	}
	golden := filepath.Join("testdata", "phase_matrix.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), b.String())
}

// TestPhaseRules checks the rules read from Kong's source, independently
// of the golden file.
func TestPhaseRules(t *testing.T) {
	cases := []struct {
		method string
		phase  Phase
		timer  bool
		ok     bool
	}{
		{"kong.response.get_status", PhaseAccess, false, false},
		{"kong.response.get_status", PhaseResponse, false, true},
		{"kong.response.get_status", PhaseLog, true, true}, // saved data
		{"kong.service.response.get_raw_body", PhaseAccess, false, false},
		{"kong.service.response.get_raw_body", PhaseResponse, false, true},
		{"kong.request.get_raw_body", PhaseAccess, false, true},
		{"kong.request.get_raw_body", PhaseResponse, false, true},
		{"kong.request.get_raw_body", PhaseLog, true, false},
		{"kong.request.get_method", PhaseLog, true, false}, // ngx.req in a timer
		{"kong.request.get_path", PhaseLog, true, true},    // ctx.request_uri
		{"kong.request.get_header", PhaseLog, true, true},  // saved headers
		{"kong.router.get_route", PhaseRewrite, false, false},
		{"kong.router.get_route", PhaseAccess, false, true},
		{"kong.service.set_target", PhaseRewrite, false, true},
		{"kong.service.request.set_raw_query", PhaseResponse, false, false},
		{"kong.service.request.set_raw_body", PhaseResponse, false, false},
		{"kong.response.set_header", PhaseLog, true, false},
		{"kong.log.serialize", PhaseAccess, false, false},
		{"kong.log.serialize", PhaseLog, true, true},
		{"kong.log.set_serialize_value", PhaseResponse, false, true},
		{"kong.nginx.get_var", PhaseLog, true, false},
		{"kong.nginx.get_ctx", PhaseLog, true, true},
		{"kong.ctx.shared.get", PhaseLog, true, true},
		{"kong.client.get_consumer", PhaseRewrite, false, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/%v", c.method, c.phase, c.timer), func(t *testing.T) {
			st := newTestState(c.phase, c.timer)
			if c.method == "kong.service.set_target" {
				st.Balancer = nil // no balancer data before the router
			}
			_, err := pdkCall(t, st, c.phase, c.method, defaultArgs(pluginserver.Methods()[c.method]))
			if c.method == "kong.service.set_target" {
				// Allowed by check_phase, then ctx.balancer_data is nil.
				require.Error(t, err)
				assert.Contains(t, err.Error(), "balancer_data")
				return
			}
			if c.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestGetHeadersInBufferedResponseIsEmpty(t *testing.T) {
	st := newTestState(PhaseResponse, false)
	out, err := pdkCall(t, st, PhaseResponse, "kong.service.response.get_headers", &kpp.Int{V: 100})
	require.NoError(t, err)
	var s structpb.Struct
	require.NoError(t, proto.Unmarshal(out, &s))
	assert.Empty(t, s.Fields)
	out, err = pdkCall(t, st, PhaseResponse, "kong.service.response.get_header", &kpp.String{V: "content_type"})
	require.NoError(t, err)
	var v kpp.String
	require.NoError(t, proto.Unmarshal(out, &v))
	assert.Equal(t, "text/plain", v.V, "lookups still work")
}

func TestRawBodyFilePath(t *testing.T) {
	st := NewState(func() (*Body, error) { return &Body{File: "/tmp/client_body_temp/0000000001", Size: 9000}, nil })
	st.SetPhase(PhaseAccess)
	out, err := pdkCall(t, st, PhaseAccess, "kong.request.get_raw_body", nil)
	require.NoError(t, err)
	var r kpp.RawBodyResult
	require.NoError(t, proto.Unmarshal(out, &r))
	assert.Equal(t, "/tmp/client_body_temp/0000000001", r.GetBodyFilepath())
	// After set_raw_body the body is in memory, whatever its size.
	_, err = pdkCall(t, st, PhaseAccess, "kong.service.request.set_raw_body", &kpp.ByteString{V: []byte("new")})
	require.NoError(t, err)
	out, err = pdkCall(t, st, PhaseAccess, "kong.request.get_raw_body", nil)
	require.NoError(t, err)
	require.NoError(t, proto.Unmarshal(out, &r))
	assert.Equal(t, []byte("new"), r.GetContent())
	v, _ := st.ReqHeader.Get("Content-Length")
	assert.Equal(t, "3", v)
}

func TestExitInAccessIsDelayed(t *testing.T) {
	st := newTestState(PhaseAccess, false)
	st.Ctx["delay_response"] = true
	h, _ := structpb.NewStruct(map[string]any{"X-A": []any{"1"}})
	_, err := pdkCall(t, st, PhaseAccess, "kong.response.exit", &kpp.ExitArgs{Status: 403, Body: []byte("no"), Headers: h})
	require.ErrorIs(t, err, ErrExit)
	require.NotNil(t, st.Delayed)
	assert.False(t, st.Answered, "flushed later, after the access iterator")
	st.FlushDelayed(nil)
	assert.True(t, st.Answered)
	assert.Equal(t, 403, st.Status)
	assert.Equal(t, []byte("no"), st.OutBody)
	v, _ := st.RespHeader.Get("Content-Length")
	assert.Equal(t, "2", v)
	assert.Equal(t, "exit", ResponseSource(st.Ctx))
}

func TestSetSerializeValueKeepsOrder(t *testing.T) {
	st := newTestState(PhaseAccess, false)
	_, err := pdkCall(t, st, PhaseAccess, "kong.log.set_serialize_value", &kpp.KV{K: "a.b", V: structpb.NewStringValue("1")})
	require.NoError(t, err)
	_, err = pdkCall(t, st, PhaseAccess, "kong.log.set_serialize_value", &kpp.KV{K: "a.c", V: structpb.NewBoolValue(false)})
	require.NoError(t, err)
	assert.Equal(t, []any{
		map[string]any{"key": "a.b", "value": "1", "mode": "set"},
		map[string]any{"key": "a.c", "mode": "set"},
	}, st.Ctx["serialize_values"])
	assert.Equal(t, 2, st.Calls["access kong.log.set_serialize_value"])
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2E/x", "//a//b/./c", "/a%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Normalize(s, true)
		if strings.HasPrefix(s, "/") && out != "" && !strings.HasPrefix(out, "/") {
			t.Fatalf("Normalize(%q) = %q lost the leading slash", s, out)
		}
		if strings.Contains(out, "//") && !strings.Contains(s, "%") {
			t.Fatalf("Normalize(%q) = %q kept //", s, out)
		}
	})
}

func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{"a=1&b", "=&&=", "%zz=1", "a=1&a=2&a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for k, v := range DecodeArgs(s, 0) {
			if k == "" {
				t.Fatalf("empty key from %q", s)
			}
			if v == nil {
				t.Fatalf("nil value for %q from %q", k, s)
			}
		}
	})
}

func BenchmarkDispatcherGetHeader(b *testing.B) {
	st := newTestState(PhaseAccess, false)
	d := NewDispatcher(Config{})
	args, _ := proto.Marshal(&kpp.String{V: "host"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Call(st, PhaseAccess, "bench", "kong.request.get_header", args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Normalize("/v1/chat/../chat/completions//x%41", true)
	}
}
