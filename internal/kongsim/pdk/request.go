package pdk

import (
	"fmt"
	"strconv"
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// kong.request.* (kong/pdk/request.lua and plugin.lua's exposed_api).

func str(s string) *kpp.String { return &kpp.String{V: s} }

// optStr wraps a Lua string-or-nil result: nil gives the empty reply.
func optStr(v any) (proto.Message, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return str(t), nil
	default:
		// pb.encode: a String's v must be a Lua string.
		return nil, &LuaError{Msg: fmt.Sprintf("string expected for field 'v', got %s", luaType(v))}
	}
}

func (c *call) argString() (string, error) {
	var a kpp.String
	if err := c.decode(&a); err != nil {
		return "", err
	}
	return a.V, nil
}

func (c *call) argInt() (int, error) {
	var a kpp.Int
	if err := c.decode(&a); err != nil {
		return 0, err
	}
	return int(a.V), nil
}

// ctxOrVar reads ngx.ctx[key] or, when unset, an nginx variable, which
// the log timer cannot read.
func (c *call) ctxOrVar(key string, v func() string) (proto.Message, error) {
	if s, ok := c.st.Ctx[key].(string); ok {
		return str(s), nil
	}
	if c.timer {
		return nil, errTimer()
	}
	return str(v()), nil
}

func reqGetScheme(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	return c.ctxOrVar("scheme", func() string { return c.st.Scheme })
}

func reqGetHost(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	return c.ctxOrVar("host", c.st.Host)
}

func reqGetPort(c *call) (proto.Message, error) {
	if err := checkNotPhase(c.phase, PhaseInitWorker); err != nil {
		return nil, err
	}
	if c.timer {
		return nil, errTimer()
	}
	return &kpp.Int{V: int32(c.st.ServerPort)}, nil
}

// forwardedTrusted is how the get_forwarded_* functions start: their phase
// check, then is_trusted_ip(): kong.ip.is_trusted(kong.client.get_ip()).
func (c *call) forwardedTrusted() (bool, error) {
	if err := c.check(phasesRequest); err != nil {
		return false, err
	}
	if c.timer {
		return false, errTimer()
	}
	return c.d.isTrusted(c.st.RemoteAddr), nil
}

func reqGetForwardedScheme(c *call) (proto.Message, error) {
	trusted, err := c.forwardedTrusted()
	if err != nil {
		return nil, err
	}
	if trusted {
		if v, ok := c.st.ReqHeader.Get("X-Forwarded-Proto"); ok {
			return str(strings.ToLower(v)), nil
		}
	}
	return reqGetScheme(c)
}

// forwardedHostPort splits an X-Forwarded-Host value: userinfo dropped,
// then host and port at the first ':' (port is "" without one).
func forwardedHostPort(v string) (host, port string) {
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.IndexByte(v, ':'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

func reqGetForwardedHost(c *call) (proto.Message, error) {
	trusted, err := c.forwardedTrusted()
	if err != nil {
		return nil, err
	}
	if trusted {
		if v, ok := c.st.ReqHeader.Get("X-Forwarded-Host"); ok {
			host, _ := forwardedHostPort(v)
			return str(strings.ToLower(host)), nil
		}
	}
	return reqGetHost(c)
}

func reqGetForwardedPort(c *call) (proto.Message, error) {
	trusted, err := c.forwardedTrusted()
	if err != nil {
		return nil, err
	}
	valid := func(s string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil && n >= 1 && n <= 65535
	}
	if trusted {
		if v, ok := c.st.ReqHeader.Get("X-Forwarded-Port"); ok {
			if n, ok := valid(v); ok {
				return &kpp.Int{V: int32(n)}, nil
			}
		}
		if v, ok := c.st.ReqHeader.Get("X-Forwarded-Host"); ok {
			if _, port := forwardedHostPort(v); port != "" {
				if n, ok := valid(port); ok {
					return &kpp.Int{V: int32(n)}, nil
				}
			}
		}
	}
	if hp, ok := luaInt(c.st.Ctx["host_port"]); ok {
		return &kpp.Int{V: int32(hp)}, nil
	}
	return &kpp.Int{V: int32(c.st.ServerPort)}, nil
}

func reqGetHTTPVersion(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	if c.timer {
		return nil, errTimer()
	}
	return &kpp.Number{V: c.st.HTTPVersion}, nil
}

func reqGetMethod(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	if c.timer {
		return nil, errTimer()
	}
	if c.st.Flag("KONG_UNEXPECTED") && c.st.HTTPVersion < 2 {
		if i := strings.IndexByte(c.st.RequestLine, ' '); i >= 0 {
			return str(c.st.RequestLine[:i]), nil
		}
	}
	return str(c.st.Method), nil
}

// requestURI is ngx.ctx.request_uri or var.request_uri.
func (c *call) requestURI() (string, error) {
	if s, ok := c.st.Ctx["request_uri"].(string); ok {
		return s, nil
	}
	if c.timer {
		return "", errTimer()
	}
	return c.st.RequestURI, nil
}

func reqGetPath(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	uri, err := c.requestURI()
	if err != nil {
		return nil, err
	}
	return str(Normalize(StripQuery(uri), true)), nil
}

func reqGetPathWithQuery(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	uri, err := c.requestURI()
	if err != nil {
		return nil, err
	}
	return str(uri), nil
}

func reqGetRawQuery(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	if c.timer {
		return nil, errTimer()
	}
	return str(c.st.Args), nil
}

// query is _REQUEST.get_query(max_args) after its checks.
func (c *call) query(max int, checkMax bool) (map[string]any, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	if checkMax {
		if max < 1 {
			return nil, &LuaError{Msg: "max_args must be >= 1"}
		}
		if max > 1000 {
			return nil, &LuaError{Msg: "max_args must be <= 1000"}
		}
	}
	if c.timer {
		return nil, errTimer()
	}
	args := c.st.Args
	if c.st.Flag("KONG_UNEXPECTED") && c.st.HTTPVersion < 2 {
		// The original query from the request line.
		line := c.st.RequestLine
		q := strings.IndexByte(line, '?')
		if q < 0 {
			return map[string]any{}, nil
		}
		e := strings.IndexByte(line[q+1:], ' ')
		if e < 0 {
			return map[string]any{}, nil
		}
		args = line[q+1 : q+1+e]
	}
	return DecodeArgs(args, max), nil
}

func reqGetQueryArg(c *call) (proto.Message, error) {
	name, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	q, err := c.query(0, false)
	if err != nil {
		return nil, err
	}
	return optStr(firstValue(q[name]))
}

func reqGetQuery(c *call) (proto.Message, error) {
	max, err := c.argInt()
	if err != nil {
		return nil, err
	}
	q, err := c.query(max, true)
	if err != nil {
		return nil, err
	}
	return luaToStruct(q), nil
}

func reqGetHeader(c *call) (proto.Message, error) {
	name, err := c.argString()
	if err != nil {
		return nil, err
	}
	if c.timer {
		// exposed_api: saved.request_headers[name], first value.
		return optStr(firstValue(luaHeaderLookup(c.st.Saved.RequestHeaders, name)))
	}
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	v, ok := c.st.ReqHeader.Get(name)
	if !ok {
		return nil, nil
	}
	return str(v), nil
}

func checkMaxHeaders(max int) error {
	if max < 1 {
		return &LuaError{Msg: "max_headers must be >= 1"}
	}
	if max > 1000 {
		return &LuaError{Msg: "max_headers must be <= 1000"}
	}
	return nil
}

func reqGetHeaders(c *call) (proto.Message, error) {
	max, err := c.argInt()
	if err != nil {
		return nil, err
	}
	if c.timer {
		return luaToStruct(c.st.Saved.RequestHeaders), nil
	}
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	if err := checkMaxHeaders(max); err != nil {
		return nil, err
	}
	return luaToStruct(c.st.ReqHeader.Lua(max)), nil
}

func reqGetRawBody(c *call) (proto.Message, error) {
	if err := c.check(phasesBeforeContent); err != nil {
		return nil, err
	}
	if c.timer {
		return nil, errTimer()
	}
	b, err := c.st.ReadBody()
	if err != nil {
		return &kpp.RawBodyResult{Kind: &kpp.RawBodyResult_Error{Error: err.Error()}}, nil
	}
	if b.File != "" {
		// get_raw_body returns nil + "did not fit into client body
		// buffer"; pb_rpc's wrapper then sends the temp file's path.
		return &kpp.RawBodyResult{Kind: &kpp.RawBodyResult_BodyFilepath{BodyFilepath: b.File}}, nil
	}
	data := b.Data
	if data == nil {
		data = []byte{}
	}
	return &kpp.RawBodyResult{Kind: &kpp.RawBodyResult_Content{Content: data}}, nil
}

func reqGetURICaptures(c *call) (proto.Message, error) {
	if err := c.check(phasesRequest); err != nil {
		return nil, err
	}
	out := &kpp.UriCapturesResult{}
	m, _ := c.st.Ctx["router_matches"].(map[string]any)
	caps, _ := m["uri_captures"].(map[string]any)
	for i := 1; ; i++ {
		v, ok := caps[strconv.Itoa(i)].(string)
		if !ok {
			break
		}
		out.Unnamed = append(out.Unnamed, []byte(v))
	}
	for k, v := range caps {
		if _, err := strconv.Atoi(k); err == nil {
			continue
		}
		if s, ok := v.(string); ok {
			if out.Named == nil {
				out.Named = map[string][]byte{}
			}
			out.Named[k] = []byte(s)
		}
	}
	return out, nil
}

// StripQuery cuts uri at the first '?' after its first byte
// (find(uri, "?", 2, true) in Kong).
func StripQuery(uri string) string {
	if len(uri) > 1 {
		if i := strings.IndexByte(uri[1:], '?'); i >= 0 {
			return uri[:i+1]
		}
	}
	return uri
}
