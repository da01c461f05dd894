package pdk

import (
	"sort"
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// kong.service.*, kong.service.request.*, kong.service.response.*
// (kong/pdk/service.lua, service/request.lua, service/response.lua).

func svcSetUpstream(c *call) (proto.Message, error) {
	if _, err := c.argString(); err != nil {
		return nil, err
	}
	if err := c.check(PhaseAccess); err != nil {
		return nil, err
	}
	// The stand-in has no Upstream entities: get_upstream_by_name finds
	// nothing and set_upstream returns nil + "could not find an Upstream
	// named ..."; only the nil travels (an empty Bool).
	return nil, nil
}

func svcSetTarget(c *call) (proto.Message, error) {
	var t kpp.Target
	if err := c.decode(&t); err != nil {
		return nil, err
	}
	if err := c.check(phasesSetTarget); err != nil {
		return nil, err
	}
	if t.Port < 0 || t.Port > 65535 {
		return nil, &LuaError{Msg: "port must be an integer between 0 and 65535: given " + luaToString(float64(t.Port))}
	}
	if c.timer {
		return nil, errTimer()
	}
	c.st.UpstreamHost = t.Host
	if c.st.Balancer == nil {
		// ctx.balancer_data does not exist before the router ran.
		return nil, &LuaError{Msg: "attempt to index field 'balancer_data' (a nil value)"}
	}
	c.st.Balancer.Host = t.Host
	c.st.Balancer.Port = int(t.Port)
	return nil, nil
}

func srqSetScheme(c *call) (proto.Message, error) {
	scheme, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewriteBalancer); err != nil {
		return nil, err
	}
	if scheme != "http" && scheme != "https" {
		return nil, &LuaError{Msg: "invalid scheme: " + scheme}
	}
	c.st.UpstreamScheme = scheme
	return nil, nil
}

func srqSetPath(c *call) (proto.Message, error) {
	path, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewriteBalancer); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(path, "/") {
		return nil, &LuaError{Msg: "path must start with /"}
	}
	c.st.UpstreamURI = Escape(path)
	return nil, nil
}

func srqSetRawQuery(c *call) (proto.Message, error) {
	q, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewrite); err != nil {
		return nil, err
	}
	c.st.Args = q // ngx.req.set_uri_args(string): taken as is
	return nil, nil
}

var acceptedMethods = map[string]bool{
	"GET": true, "HEAD": true, "PUT": true, "POST": true, "DELETE": true, "OPTIONS": true,
	"MKCOL": true, "COPY": true, "MOVE": true, "PROPFIND": true, "PROPPATCH": true,
	"LOCK": true, "UNLOCK": true, "PATCH": true, "TRACE": true,
}

func srqSetMethod(c *call) (proto.Message, error) {
	m, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewrite); err != nil {
		return nil, err
	}
	if !acceptedMethods[m] {
		return nil, &LuaError{Msg: "invalid method: " + m}
	}
	c.st.Method = m
	return nil, nil
}

func srqSetQuery(c *call) (proto.Message, error) {
	args, err := c.argStruct()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewrite); err != nil {
		return nil, err
	}
	// make_ordered_args: one encode_args per key, sorted, joined by '&'.
	var parts []string
	for _, k := range sortedKeys(args) {
		s, err := encodeArg(k, args[k])
		if err != nil {
			return nil, &LuaError{Msg: err.Error()}
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	c.st.Args = strings.Join(parts, "&")
	return nil, nil
}

// setReqHeader is ngx.req.set_header(name, normalize_multi_header(value)).
func setReqHeader(h *Header, name string, value any) {
	switch t := value.(type) {
	case []any:
		h.Set(name, headerList(t)...)
	case map[string]any:
		h.Set(name)
	default:
		h.Set(name, nonEmpty(luaToString(t)))
	}
}

func srqSetHeader(c *call) (proto.Message, error) {
	name, value, err := c.argKV()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewriteBalancer); err != nil {
		return nil, err
	}
	if err := validateHeader(name, value); err != nil {
		return nil, err
	}
	lower := strings.ToLower(name)
	if lower == "host" {
		s, ok := value.(string)
		if !ok {
			return nil, &LuaError{Msg: "bad argument #3 to '__newindex' (string expected, got " + luaType(value) + ")"}
		}
		c.st.UpstreamHost = s
	}
	if lower == ":authority" {
		// Only for gRPC; on HTTP Kong returns nil + an error message that
		// never reaches Go.
		return nil, nil
	}
	setReqHeader(c.st.ReqHeader, name, value)
	return nil, nil
}

func srqAddHeader(c *call) (proto.Message, error) {
	name, value, err := c.argKV()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewrite); err != nil {
		return nil, err
	}
	if err := validateHeader(name, value); err != nil {
		return nil, err
	}
	if strings.EqualFold(name, "host") {
		s, ok := value.(string)
		if !ok {
			return nil, &LuaError{Msg: "bad argument #3 to '__newindex' (string expected, got " + luaType(value) + ")"}
		}
		c.st.UpstreamHost = s
	}
	existing := c.st.ReqHeader.Values(name)
	switch t := value.(type) {
	case []any:
		existing = append(existing, headerList(t)...)
	default:
		existing = append(existing, nonEmpty(luaToString(t)))
	}
	c.st.ReqHeader.Set(name, existing...)
	return nil, nil
}

func srqClearHeader(c *call) (proto.Message, error) {
	name, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewrite); err != nil {
		return nil, err
	}
	c.st.ReqHeader.Del(name)
	return nil, nil
}

func srqSetHeaders(c *call) (proto.Message, error) {
	h, err := c.argStruct()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewrite); err != nil {
		return nil, err
	}
	if err := validateHeaders(h); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(h) {
		if strings.EqualFold(k, "host") {
			// ngx_var.upstream_host = v: Go always sends lists, and an
			// nginx variable only takes a string.
			s, ok := h[k].(string)
			if !ok {
				return nil, &LuaError{Msg: "bad argument #3 to '__newindex' (string expected, got " + luaType(h[k]) + ")"}
			}
			c.st.UpstreamHost = s
		}
		setReqHeader(c.st.ReqHeader, k, h[k])
	}
	return nil, nil
}

func srqSetRawBody(c *call) (proto.Message, error) {
	var b kpp.ByteString
	if err := c.decode(&b); err != nil {
		return nil, err
	}
	if err := c.check(phasesAccessRewriteBalancer); err != nil {
		return nil, err
	}
	if _, err := c.st.ReadBody(); err != nil {
		return nil, &LuaError{Msg: "failed to read request body: " + err.Error()}
	}
	body := b.V
	if body == nil {
		body = []byte{}
	}
	c.st.SetBody(body)
	return nil, nil
}

func srsGetStatus(c *call) (proto.Message, error) {
	if err := c.check(phasesServiceResponse); err != nil {
		return nil, err
	}
	if n, ok := luaInt(c.st.Ctx["buffered_status"]); ok {
		return &kpp.Int{V: int32(n)}, nil
	}
	if c.timer {
		return nil, errTimer()
	}
	if c.st.UpstreamStatus != 0 {
		return &kpp.Int{V: int32(c.st.UpstreamStatus)}, nil
	}
	return nil, nil
}

// bufferedHeaderLookup is attach_buffered_headers_mt's __index: exact,
// lower case, then names compared lower-cased with '-' as '_'.
func bufferedHeaderLookup(h map[string]any, name string) any {
	if v, ok := h[name]; ok {
		return v
	}
	lower := strings.ToLower(name)
	if v, ok := h[lower]; ok {
		return v
	}
	under := strings.ReplaceAll(lower, "-", "_")
	if v, ok := h[under]; ok {
		return v
	}
	for _, k := range sortedKeys(h) {
		if strings.ReplaceAll(strings.ToLower(k), "-", "_") == under {
			return h[k]
		}
	}
	return nil
}

func srsGetHeaders(c *call) (proto.Message, error) {
	max, err := c.argInt()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesServiceResponse); err != nil {
		return nil, err
	}
	if err := checkMaxHeaders(max); err != nil {
		return nil, err
	}
	if _, ok := c.st.Ctx["buffered_headers"]; ok {
		// A proxy table: lookups work, pairs() sees nothing, so the
		// Struct Kong encodes is empty.
		return luaToStruct(map[string]any{}), nil
	}
	if c.timer {
		return nil, errTimer()
	}
	return luaToStruct(c.st.RespHeader.Lua(max)), nil
}

func srsGetHeader(c *call) (proto.Message, error) {
	name, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesServiceResponse); err != nil {
		return nil, err
	}
	if bh, ok := c.st.Ctx["buffered_headers"].(map[string]any); ok {
		return optStr(firstValue(bufferedHeaderLookup(bh, name)))
	}
	if c.timer {
		return nil, errTimer()
	}
	// Not buffered: ngx.resp.get_headers() limited to the headers the
	// upstream sent ($upstream_http_<name> must exist).
	if c.st.UpstreamRespHeader == nil {
		return nil, nil
	}
	if _, ok := c.st.UpstreamRespHeader.Get(name); !ok {
		return nil, nil
	}
	return optStr(firstValue(luaHeaderLookup(c.st.RespHeader.Lua(0), name)))
}

func srsGetRawBody(c *call) (proto.Message, error) {
	if err := c.check(phasesServiceResponse); err != nil {
		return nil, err
	}
	if !c.st.Buffered() {
		return nil, &LuaError{Msg: "service body is only available with buffered proxying (see: kong.service.request.enable_buffering function)"}
	}
	body, _ := c.st.Ctx["buffered_body"].(string)
	return &kpp.ByteString{V: []byte(body)}, nil
}
