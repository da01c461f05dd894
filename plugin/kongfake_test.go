package plugin

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// fakeKong answers a handler's PDK calls over go-pdk's real framing (a
// net.Pipe), the way Kong's pb_rpc does, and records every call, so tests
// can assert the exact calls and their count. It is deliberately small:
// the end-to-end harness (internal/kongsim) covers Kong's phase rules.
type fakeKong struct {
	// Inputs.
	body       []byte
	bodyFile   string
	headers    map[string][]string
	pathQuery  string
	shared     map[string]any
	status     int
	respHdrs   map[string][]string
	upstreamBd []byte
	// kongAnswered: Kong's error handler answered (upstream reset or
	// timed out) and cleared buffered_proxying.
	kongAnswered bool
	scheme       string // kong.request.get_scheme; host, port likewise
	host         string
	port         int
	vars         map[string]string // kong.nginx.get_var

	// Recorded.
	calls    []string
	target   *kong_plugin_protocol.Target
	upScheme string
	path     string
	setHdrs  map[string][]string
	cleared  []string
	rawQuery *string
	rawBody  []byte
	ctxSet   map[string]any
	respSet  map[string]string
	exit     *kong_plugin_protocol.ExitArgs
	logs     []string
	// serialized holds kong.log.set_serialize_value calls: key → value.
	serialized map[string]any
}

// run calls handler with a PDK wired to the fake and returns when the
// handler returned (or exited). It fails the test on a protocol error.
func (f *fakeKong) run(t *testing.T, handler func(*pdk.PDK)) {
	t.Helper()
	if f.shared == nil {
		f.shared = map[string]any{}
	}
	f.ctxSet, f.respSet, f.serialized = map[string]any{}, map[string]string{}, map[string]any{}
	plugSide, kongSide := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- f.serve(kongSide) }()
	handler(pdk.Init(plugSide))
	plugSide.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fake kong: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fake kong: handler did not finish")
	}
}

func (f *fakeKong) serve(conn net.Conn) error {
	defer conn.Close()
	for {
		method, err := readFrame(conn)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return err
		}
		args, err := readFrame(conn)
		if err != nil {
			return err
		}
		name := string(method)
		f.calls = append(f.calls, name)
		reply, stop, err := f.handle(name, args)
		if err != nil {
			return err
		}
		if stop { // kong.response.exit: Kong never replies.
			return nil
		}
		if err := writeFrame(conn, reply); err != nil {
			return err
		}
	}
}

func (f *fakeKong) handle(name string, args []byte) (reply []byte, stop bool, err error) {
	out := func(m proto.Message) ([]byte, bool, error) {
		b, err := proto.Marshal(m)
		return b, false, err
	}
	switch name {
	case "kong.request.get_raw_body":
		if f.bodyFile != "" {
			return out(&kong_plugin_protocol.RawBodyResult{Kind: &kong_plugin_protocol.RawBodyResult_BodyFilepath{BodyFilepath: f.bodyFile}})
		}
		return out(&kong_plugin_protocol.RawBodyResult{Kind: &kong_plugin_protocol.RawBodyResult_Content{Content: f.body}})
	case "kong.request.get_headers", "kong.response.get_headers":
		h := f.headers
		if name == "kong.response.get_headers" {
			h = f.respHdrs
		}
		return out(headerStruct(h))
	case "kong.request.get_path_with_query":
		return out(&kong_plugin_protocol.String{V: f.pathQuery})
	case "kong.service.set_target":
		f.target = new(kong_plugin_protocol.Target)
		return nil, false, proto.Unmarshal(args, f.target)
	case "kong.service.request.set_scheme", "kong.service.request.set_path",
		"kong.service.request.clear_header", "kong.service.request.set_raw_query":
		var s kong_plugin_protocol.String
		if err := proto.Unmarshal(args, &s); err != nil {
			return nil, false, err
		}
		switch name {
		case "kong.service.request.set_scheme":
			f.upScheme = s.V
		case "kong.service.request.set_path":
			f.path = s.V
		case "kong.service.request.clear_header":
			f.cleared = append(f.cleared, s.V)
		default:
			v := s.V
			f.rawQuery = &v
		}
		return nil, false, nil
	case "kong.service.request.set_headers":
		var st structpb.Struct
		if err := proto.Unmarshal(args, &st); err != nil {
			return nil, false, err
		}
		f.setHdrs = map[string][]string{}
		for k, v := range st.AsMap() {
			for _, s := range v.([]any) {
				f.setHdrs[k] = append(f.setHdrs[k], s.(string))
			}
		}
		return nil, false, nil
	case "kong.service.request.set_raw_body":
		var b kong_plugin_protocol.ByteString
		if err := proto.Unmarshal(args, &b); err != nil {
			return nil, false, err
		}
		f.rawBody = b.V
		return nil, false, nil
	case "kong.nginx.set_ctx", "kong.ctx.shared.set":
		var kv kong_plugin_protocol.KV
		if err := proto.Unmarshal(args, &kv); err != nil {
			return nil, false, err
		}
		if name == "kong.ctx.shared.set" {
			f.shared[kv.K] = kv.V.AsInterface()
			return nil, false, nil
		}
		f.ctxSet[kv.K] = kv.V.AsInterface()
		return out(&kong_plugin_protocol.String{})
	case "kong.ctx.shared.get":
		var k kong_plugin_protocol.String
		if err := proto.Unmarshal(args, &k); err != nil {
			return nil, false, err
		}
		v, err := structpb.NewValue(f.shared[k.V])
		if err != nil {
			return nil, false, err
		}
		return out(v)
	case "kong.response.set_header":
		var kv kong_plugin_protocol.KV
		if err := proto.Unmarshal(args, &kv); err != nil {
			return nil, false, err
		}
		f.respSet[kv.K] = kv.V.GetStringValue()
		return nil, false, nil
	case "kong.log.set_serialize_value":
		var kv kong_plugin_protocol.KV
		if err := proto.Unmarshal(args, &kv); err != nil {
			return nil, false, err
		}
		f.serialized[kv.K] = kv.V.AsInterface()
		return nil, false, nil
	case "kong.nginx.get_var":
		var k kong_plugin_protocol.String
		if err := proto.Unmarshal(args, &k); err != nil {
			return nil, false, err
		}
		return out(&kong_plugin_protocol.String{V: f.vars[k.V]})
	case "kong.request.get_scheme":
		return out(&kong_plugin_protocol.String{V: f.scheme})
	case "kong.request.get_host":
		return out(&kong_plugin_protocol.String{V: f.host})
	case "kong.request.get_port":
		return out(&kong_plugin_protocol.Int{V: int32(f.port)})
	case "kong.nginx.get_ctx":
		var k kong_plugin_protocol.String
		if err := proto.Unmarshal(args, &k); err != nil {
			return nil, false, err
		}
		if k.V == "buffered_proxying" && !f.kongAnswered {
			return out(structpb.NewBoolValue(true))
		}
		return out(structpb.NewNullValue())
	case "kong.service.response.get_status":
		return out(&kong_plugin_protocol.Int{V: int32(f.status)})
	case "kong.service.response.get_raw_body":
		return out(&kong_plugin_protocol.ByteString{V: f.upstreamBd})
	case "kong.response.exit":
		f.exit = new(kong_plugin_protocol.ExitArgs)
		return nil, true, proto.Unmarshal(args, f.exit)
	case "kong.log.err", "kong.log.warn", "kong.log.info", "kong.log.notice":
		var l structpb.ListValue
		if err := proto.Unmarshal(args, &l); err != nil {
			return nil, false, err
		}
		for _, v := range l.Values {
			f.logs = append(f.logs, name+" "+v.GetStringValue())
		}
		return nil, false, nil
	}
	return nil, false, errors.New("unexpected PDK call " + name)
}

func headerStruct(h map[string][]string) *structpb.Struct {
	m := make(map[string]any, len(h))
	for k, vs := range h {
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		if len(l) == 1 {
			m[k] = l[0] // Kong sends a single value as a string
		} else {
			m[k] = l
		}
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return st
}

func readFrame(r io.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func writeFrame(w io.Writer, b []byte) error {
	if err := binary.Write(w, binary.LittleEndian, uint32(len(b))); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	_, err := w.Write(b)
	return err
}
