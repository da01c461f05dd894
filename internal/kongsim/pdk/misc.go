package pdk

import (
	"encoding/json"
	"net"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// kong.client.*, kong.ctx.shared.*, kong.ip.*, kong.log.*, kong.nginx.*,
// kong.node.*, kong.router.*.

// IsTrusted is kong.ip.is_trusted over trusted_ips.
func (d *Dispatcher) IsTrusted(addr string) bool { return d.isTrusted(addr) }

func (d *Dispatcher) isTrusted(addr string) bool {
	ip := net.ParseIP(addr)
	if ip == nil {
		return false
	}
	for _, n := range d.cfg.TrustedIPs {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func cliGetIP(c *call) (proto.Message, error) {
	if c.timer {
		return nil, errTimer()
	}
	return str(c.st.RemoteAddr), nil
}

func cliGetPort(c *call) (proto.Message, error) {
	if c.timer {
		return nil, errTimer()
	}
	return &kpp.Int{V: int32(c.st.RemotePort)}, nil
}

func cliGetCredential(c *call) (proto.Message, error) {
	if err := c.check(phasesAuthAndLater); err != nil {
		return nil, err
	}
	if m, ok := c.st.Ctx["authenticated_credential"].(proto.Message); ok {
		return m, nil
	}
	return nil, nil
}

func cliGetConsumer(c *call) (proto.Message, error) {
	if err := c.check(phasesAuthAndLater); err != nil {
		return nil, err
	}
	if m, ok := c.st.Ctx["authenticated_consumer"].(proto.Message); ok {
		return m, nil
	}
	return nil, nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func cliLoadConsumer(c *call) (proto.Message, error) {
	var a kpp.ConsumerSpec
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.check(phasesAuthAndLater); err != nil {
		return nil, err
	}
	if !uuidPattern.MatchString(a.Id) && !a.ByUsername {
		return nil, &LuaError{Msg: "cannot load a consumer with an id that is not a uuid"}
	}
	// The stand-in has no consumers: select finds nothing.
	return nil, nil
}

func cliAuthenticate(c *call) (proto.Message, error) {
	var a kpp.AuthenticateArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.check(PhaseAccess); err != nil {
		return nil, err
	}
	if a.Consumer == nil && a.Credential == nil {
		return nil, &LuaError{Msg: "either credential or consumer must be provided"}
	}
	if a.Consumer != nil {
		c.st.Ctx["authenticated_consumer"] = a.Consumer
	} else {
		delete(c.st.Ctx, "authenticated_consumer")
	}
	if a.Credential != nil {
		c.st.Ctx["authenticated_credential"] = a.Credential
	} else {
		delete(c.st.Ctx, "authenticated_credential")
	}
	return nil, nil
}

func cliGetProtocol(c *call) (proto.Message, error) {
	var a kpp.Bool
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.check(phasesAuthAndLater); err != nil {
		return nil, err
	}
	route, ok := c.st.Ctx["route"].(map[string]any)
	if !ok {
		return nil, nil // nil, "No active route found"
	}
	protocols, _ := route["protocols"].([]any)
	if len(protocols) == 1 {
		return optStr(protocols[0])
	}
	if c.timer {
		return nil, errTimer()
	}
	// kong.tools.http check_https
	if strings.EqualFold(c.st.Scheme, "https") {
		return str("https"), nil
	}
	if a.V && c.d.isTrusted(c.st.RemoteAddr) {
		vals := c.st.ReqHeader.Values("X-Forwarded-Proto")
		if len(vals) > 1 {
			return nil, nil // nil, "Only one X-Forwarded-Proto header allowed"
		}
		if len(vals) == 1 && strings.EqualFold(vals[0], "https") {
			return str("https"), nil
		}
	}
	return str("http"), nil
}

func ctxSharedSet(c *call) (proto.Message, error) {
	k, v, err := c.argKV()
	if err != nil {
		return nil, err
	}
	if v == nil {
		delete(c.st.Shared, k)
	} else {
		c.st.Shared[k] = v
	}
	return nil, nil
}

func ctxSharedGet(c *call) (proto.Message, error) {
	k, err := c.argString()
	if err != nil {
		return nil, err
	}
	return luaToValue(c.st.Shared[k]), nil
}

func ipIsTrusted(c *call) (proto.Message, error) {
	addr, err := c.argString()
	if err != nil {
		return nil, err
	}
	return &kpp.Bool{V: c.d.isTrusted(addr)}, nil
}

func logAt(level errlog.Level) handler {
	return func(c *call) (proto.Message, error) {
		l := &structpb.ListValue{}
		if err := c.decode(l); err != nil {
			return nil, err
		}
		vals := listToLua(l)
		for len(vals) > 0 && vals[len(vals)-1] == nil {
			vals = vals[:len(vals)-1] // #t stops before trailing nils
		}
		var b strings.Builder
		for _, v := range vals {
			b.WriteString(luaToString(v))
		}
		c.logNS(level, "pb_rpc.lua:233", b.String())
		return nil, nil
	}
}

func logSetSerializeValue(c *call) (proto.Message, error) {
	k, v, err := c.argKV()
	if err != nil {
		return nil, err
	}
	if err := c.check(phasesWithCtx); err != nil {
		return nil, err
	}
	entry := map[string]any{"key": k, "mode": "set"}
	if v != nil {
		entry["value"] = v
	}
	list, _ := c.st.Ctx["serialize_values"].([]any)
	c.st.Ctx["serialize_values"] = append(list, entry)
	return nil, nil
}

func logSerialize(c *call) (proto.Message, error) {
	if c.timer {
		return str(string(c.st.Saved.SerializeJSON)), nil
	}
	if err := c.check(PhaseLog); err != nil {
		return nil, err
	}
	return nil, &LuaError{Msg: "kong.log.serialize outside the log timer"}
}

func ngxGetVar(c *call) (proto.Message, error) {
	name, err := c.argString()
	if err != nil {
		return nil, err
	}
	if c.timer {
		return nil, errTimer()
	}
	v, ok := c.st.Var(name)
	if !ok {
		return nil, nil
	}
	return str(v), nil
}

func ngxGetTLS1VersionStr(c *call) (proto.Message, error) {
	if c.timer {
		return nil, errTimer()
	}
	return nil, nil // plain HTTP: nil, "failed to get TLS1 version"
}

func ngxSetCtx(c *call) (proto.Message, error) {
	k, v, err := c.argKV()
	if err != nil {
		return nil, err
	}
	if v == nil {
		delete(c.st.Ctx, k)
	} else {
		c.st.Ctx[k] = v
	}
	return nil, nil
}

func ngxGetCtx(c *call) (proto.Message, error) {
	k, err := c.argString()
	if err != nil {
		return nil, err
	}
	return luaToValue(luaView(c.st.Ctx[k])), nil
}

// luaView turns Go-held ctx values that are not plain Lua values (proto
// messages stored by kong.client.authenticate) into tables.
func luaView(v any) any {
	m, ok := v.(proto.Message)
	if !ok {
		return v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

func ngxReqStartTime(c *call) (proto.Message, error) {
	if c.timer {
		return &kpp.Number{V: c.st.Saved.ReqStartTime}, nil
	}
	return &kpp.Number{V: ReqStartSeconds(c.st.StartTime.UnixMilli())}, nil
}

// ReqStartSeconds is ngx.req.start_time(): seconds with millisecond
// precision.
func ReqStartSeconds(ms int64) float64 { return float64(ms) / 1000 }

func ngxGetSubsystem(*call) (proto.Message, error) { return str("http"), nil }

func nodeGetID(c *call) (proto.Message, error) { return str(c.d.cfg.NodeID), nil }

func nodeGetMemoryStats(*call) (proto.Message, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// The stand-in's own figures in Kong's shape: the "kong" and
	// "kong_db_cache" shared dicts at their default sizes, one worker.
	return &kpp.MemoryStats{
		LuaSharedDicts: &kpp.MemoryStats_LuaSharedDicts{
			Kong:        &kpp.MemoryStats_LuaSharedDicts_DictStats{AllocatedSlabs: 40960, Capacity: 5242880},
			KongDbCache: &kpp.MemoryStats_LuaSharedDicts_DictStats{AllocatedSlabs: 794624, Capacity: 134217728},
		},
		WorkersLuaVms: []*kpp.MemoryStats_WorkerLuaVm{{HttpAllocatedGc: int64(ms.HeapAlloc), Pid: int64(os.Getpid())}},
	}, nil
}

func routerGetRoute(c *call) (proto.Message, error) {
	if err := c.check(phasesRouter); err != nil {
		return nil, err
	}
	r, ok := c.st.Ctx["route"].(map[string]any)
	if !ok {
		return nil, nil
	}
	return RouteProto(r), nil
}

func routerGetService(c *call) (proto.Message, error) {
	if err := c.check(phasesRouter); err != nil {
		return nil, err
	}
	s, ok := c.st.Ctx["service"].(map[string]any)
	if !ok {
		return nil, nil
	}
	return ServiceProto(s), nil
}

func strList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func strField(m map[string]any, k string) string { s, _ := m[k].(string); return s }
func intField(m map[string]any, k string) int64  { f, _ := m[k].(float64); return int64(f) }
func boolField(m map[string]any, k string) bool  { b, _ := m[k].(bool); return b }

// RouteProto encodes a route entity table into the proto Route as
// lua-protobuf does: known keys only; route.headers is a map in Kong, not
// a list, so it encodes as nothing.
func RouteProto(r map[string]any) *kpp.Route {
	out := &kpp.Route{
		Id: strField(r, "id"), CreatedAt: intField(r, "created_at"), UpdatedAt: intField(r, "updated_at"),
		Name: strField(r, "name"), Protocols: strList(r["protocols"]), Methods: strList(r["methods"]),
		Hosts: strList(r["hosts"]), Paths: strList(r["paths"]), Headers: strList(r["headers"]),
		HttpsRedirectStatusCode: int32(intField(r, "https_redirect_status_code")),
		RegexPriority:           int32(intField(r, "regex_priority")),
		StripPath:               boolField(r, "strip_path"), PreserveHost: boolField(r, "preserve_host"),
		Snis: strList(r["snis"]), Tags: strList(r["tags"]),
	}
	if svc, ok := r["service"].(map[string]any); ok {
		out.Service = &kpp.ServiceKey{Id: strField(svc, "id")}
	}
	return out
}

// ServiceProto encodes a service entity table into the proto Service.
func ServiceProto(s map[string]any) *kpp.Service {
	out := &kpp.Service{
		Id: strField(s, "id"), CreatedAt: intField(s, "created_at"), UpdatedAt: intField(s, "updated_at"),
		Name: strField(s, "name"), Retries: int32(intField(s, "retries")), Protocol: strField(s, "protocol"),
		Host: strField(s, "host"), Port: int32(intField(s, "port")), Path: strField(s, "path"),
		ConnectTimeout: int32(intField(s, "connect_timeout")), WriteTimeout: int32(intField(s, "write_timeout")),
		ReadTimeout: int32(intField(s, "read_timeout")), Tags: strList(s["tags"]),
	}
	if cc, ok := s["client_certificate"].(map[string]any); ok {
		out.ClientCertificate = &kpp.CertificateKey{Id: strField(cc, "id")}
	}
	return out
}

// Var is ngx.var[name] for the variables a plugin can sensibly read.
func (s *State) Var(name string) (string, bool) {
	switch name {
	case "scheme":
		return s.Scheme, true
	case "host":
		return s.Host(), true
	case "request_uri":
		return s.RequestURI, true
	case "uri":
		return Normalize(StripQuery(s.RequestURI), true), true
	case "args", "query_string":
		return s.Args, true
	case "is_args":
		if s.Args != "" {
			return "?", true
		}
		return "", true
	case "request_method":
		return s.Method, true
	case "request":
		return s.RequestLine, true
	case "server_protocol":
		switch s.HTTPVersion {
		case 1.0:
			return "HTTP/1.0", true
		case 2:
			return "HTTP/2.0", true
		}
		return "HTTP/1.1", true
	case "remote_addr", "realip_remote_addr":
		return s.RemoteAddr, true
	case "remote_port", "realip_remote_port":
		return strconv.Itoa(s.RemotePort), true
	case "server_addr":
		return s.ServerAddr, true
	case "server_port":
		return strconv.Itoa(s.ServerPort), true
	case "server_name":
		return "kong", true
	case "hostname":
		h, _ := os.Hostname()
		return h, true
	case "kong_request_id", "request_id":
		return s.RequestID, true
	case "upstream_scheme":
		return s.UpstreamScheme, true
	case "upstream_uri":
		return s.UpstreamURI, true
	case "upstream_host":
		return s.UpstreamHost, true
	case "content_type":
		return s.ReqHeader.Get("Content-Type")
	case "content_length":
		return s.ReqHeader.Get("Content-Length")
	case "status":
		return strconv.Itoa(s.Status), true
	case "upstream_status":
		if s.UpstreamStatus == 0 {
			return "", false
		}
		return strconv.Itoa(s.UpstreamStatus), true
	}
	switch {
	case strings.HasPrefix(name, "http_"):
		vals := s.ReqHeader.Values(name[len("http_"):])
		if len(vals) == 0 {
			return "", false
		}
		return strings.Join(vals, ", "), true
	case strings.HasPrefix(name, "arg_"):
		v, ok := DecodeArgs(s.Args, 0)[name[len("arg_"):]]
		if !ok {
			return "", false
		}
		if str, ok := firstValue(v).(string); ok {
			return str, true
		}
		return "", true
	case strings.HasPrefix(name, "cookie_"):
		want := name[len("cookie_"):]
		for _, line := range s.ReqHeader.Values("Cookie") {
			for _, kv := range strings.Split(line, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
				if k == want {
					return v, true
				}
			}
		}
		return "", false
	case strings.HasPrefix(name, "upstream_http_"):
		if s.UpstreamRespHeader == nil {
			return "", false
		}
		return s.UpstreamRespHeader.Get(name[len("upstream_http_"):])
	case strings.HasPrefix(name, "sent_http_"):
		return s.RespHeader.Get(name[len("sent_http_"):])
	}
	return "", false
}
