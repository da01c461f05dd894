package pluginserver

import (
	"regexp"
	"strings"
	"sync"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Method is one PDK function reachable over the socket: the proto rpc of
// the Kong service with its Lua-side name.
type Method struct {
	Name   string // e.g. "kong.service.request.set_raw_body"
	RPC    string // e.g. "Service_Request_SetRawBody"
	Input  protoreflect.MessageDescriptor
	Output protoreflect.MessageDescriptor
}

var (
	methodsOnce sync.Once
	methods     map[string]*Method
)

// Methods returns the method table Kong builds once from the proto's
// `service Kong` (pb_rpc.lua load_service). Only these names exist for a Go
// plugin; any other name is "method %q not found".
func Methods() map[string]*Method {
	methodsOnce.Do(func() {
		methods = map[string]*Method{}
		fd := kpp.File_server_kong_plugin_protocol_pluginsocket_proto
		svcs := fd.Services()
		for i := 0; i < svcs.Len(); i++ {
			svc := svcs.Get(i)
			ms := svc.Methods()
			for j := 0; j < ms.Len(); j++ {
				m := ms.Get(j)
				name := LuaMethodName(string(svc.Name()), string(m.Name()))
				if opts, ok := m.Options().(*descriptorpb.MethodOptions); ok && opts != nil {
					if v, ok := proto.GetExtension(opts, kpp.E_MethodName).(string); ok && v != "" {
						name = v
					}
				}
				methods[name] = &Method{Name: name, RPC: string(m.Name()), Input: m.Input(), Output: m.Output()}
			}
		}
	})
	return methods
}

var camelBoundary = regexp.MustCompile(`([a-z][0-9]*)([A-Z])`)

// LuaMethodName applies pb_rpc.lua's rule to "<Service>.<Rpc>":
// gsub('_', '.'), gsub('([a-z]%d*)([A-Z])', '%1_%2'), lower().
// Kong.Nginx_GetTls1VersionStr → kong.nginx.get_tls1_version_str.
func LuaMethodName(service, rpc string) string {
	s := strings.ReplaceAll(service+"."+rpc, "_", ".")
	s = camelBoundary.ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(s)
}
