package pdk

import (
	"fmt"
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// kong.response.* (kong/pdk/response.lua and plugin.lua's exposed_api).

// validateHeader is checks.validate_header for a KV value.
func validateHeader(name string, value any) error {
	switch t := value.(type) {
	case string, float64, bool:
		return nil
	case []any:
		return validateHeaderArray(name, t)
	case map[string]any:
		return nil // ipairs over a hash table sees nothing
	}
	return &LuaError{Msg: fmt.Sprintf("invalid header value for %q: got %s, expected array of string, string, number or boolean", name, luaType(value))}
}

// validateHeaderArray checks an array header value as ipairs sees it: up
// to the first nil, strings only.
func validateHeaderArray(name string, values []any) error {
	for _, e := range values {
		if e == nil {
			break
		}
		if _, ok := e.(string); !ok {
			return &LuaError{Msg: fmt.Sprintf("invalid header value in array %q: got %s, expected string", name, luaType(e))}
		}
	}
	return nil
}

// validateHeaders is checks.validate_headers.
func validateHeaders(h map[string]any) error {
	for _, k := range sortedKeys(h) {
		switch t := h[k].(type) {
		case string, float64, bool, map[string]any:
		case []any:
			if err := validateHeaderArray(k, t); err != nil {
				return err
			}
		default:
			return &LuaError{Msg: fmt.Sprintf("invalid header value for %q: got %s, expected string, number, boolean or array of strings", k, luaType(h[k]))}
		}
	}
	return nil
}

func (c *call) argKV() (string, any, error) {
	var kv kpp.KV
	if err := c.decode(&kv); err != nil {
		return "", nil, err
	}
	return kv.K, valueToLua(kv.V), nil
}

// headersModifiable is the guard every response setter and exit starts
// with: the phase check, then ngx.headers_sent.
func (c *call) headersModifiable() error {
	if err := c.check(phasesRewriteAccessHeader); err != nil {
		return err
	}
	if c.st.HeadersSent {
		return &LuaError{Msg: "headers have already been sent"}
	}
	return nil
}

func (c *call) warn(msg string) {
	c.logNS(errlog.Warn, "response.lua:433", msg)
}

func checkStatus(status int) error {
	if status < 100 || status > 599 {
		return &LuaError{Msg: "code must be a number between 100 and 599"}
	}
	return nil
}

func respGetStatus(c *call) (proto.Message, error) {
	if c.timer {
		return &kpp.Int{V: int32(c.st.Saved.ResponseStatus)}, nil
	}
	if err := c.check(phasesHeaderBodyLog); err != nil {
		return nil, err
	}
	return &kpp.Int{V: int32(c.st.Status)}, nil
}

func respGetHeader(c *call) (proto.Message, error) {
	name, err := c.argString()
	if err != nil {
		return nil, err
	}
	if c.timer {
		return optStr(firstValue(luaHeaderLookup(c.st.Saved.ResponseHeaders, name)))
	}
	if err := c.check(phasesHeaderBodyLog); err != nil {
		return nil, err
	}
	return optStr(firstValue(luaHeaderLookup(c.st.RespHeader.Lua(0), name)))
}

func respGetHeaders(c *call) (proto.Message, error) {
	max, err := c.argInt()
	if err != nil {
		return nil, err
	}
	if c.timer {
		return luaToStruct(c.st.Saved.ResponseHeaders), nil
	}
	if err := c.check(phasesHeaderBodyLog); err != nil {
		return nil, err
	}
	if err := checkMaxHeaders(max); err != nil {
		return nil, err
	}
	return luaToStruct(c.st.RespHeader.Lua(max)), nil
}

// ResponseSource is response.get_source(ctx).
func ResponseSource(ctx map[string]any) string {
	switch {
	case truthy(ctx["KONG_UNEXPECTED"]):
		return "error"
	case truthy(ctx["KONG_EXITED"]):
		return "exit"
	case truthy(ctx["KONG_PROXIED"]):
		return "service"
	}
	return "error"
}

func respGetSource(c *call) (proto.Message, error) {
	if !c.timer {
		if err := c.check(phasesHeaderBodyLog); err != nil {
			return nil, err
		}
	}
	return str(ResponseSource(c.st.Ctx)), nil
}

func respSetStatus(c *call) (proto.Message, error) {
	status, err := c.argInt()
	if err != nil {
		return nil, err
	}
	if err := c.headersModifiable(); err != nil {
		return nil, err
	}
	if err := checkStatus(status); err != nil {
		return nil, err
	}
	c.st.Status = status
	return nil, nil
}

func isTransferEncoding(name string) bool {
	l := strings.ToLower(name)
	return l == "transfer-encoding" || l == "transfer_encoding"
}

// argHeader reads set_header's and add_header's (name, value) and runs
// their common checks, in Kong's order.
func (c *call) argHeader() (string, any, error) {
	name, value, err := c.argKV()
	if err != nil {
		return "", nil, err
	}
	if err := c.headersModifiable(); err != nil {
		return "", nil, err
	}
	if err := validateHeader(name, value); err != nil {
		return "", nil, err
	}
	return name, value, nil
}

func respSetHeader(c *call) (proto.Message, error) {
	name, value, err := c.argHeader()
	if err != nil {
		return nil, err
	}
	if isTransferEncoding(name) {
		c.warn("manually setting Transfer-Encoding. Ignored.")
		return nil, nil
	}
	setRespHeader(c.st.RespHeader, name, value)
	return nil, nil
}

func respAddHeader(c *call) (proto.Message, error) {
	name, value, err := c.argHeader()
	if err != nil {
		return nil, err
	}
	name = strings.ReplaceAll(name, "_", "-")
	if l, ok := value.([]any); ok {
		for _, v := range headerList(l) {
			c.st.RespHeader.Add(name, v)
		}
		return nil, nil
	}
	c.st.RespHeader.Add(name, nonEmpty(luaToString(value)))
	return nil, nil
}

func respClearHeader(c *call) (proto.Message, error) {
	name, err := c.argString()
	if err != nil {
		return nil, err
	}
	if err := c.headersModifiable(); err != nil {
		return nil, err
	}
	c.st.RespHeader.Del(strings.ReplaceAll(name, "_", "-"))
	return nil, nil
}

func (c *call) argStruct() (map[string]any, error) {
	s := &structpb.Struct{}
	if err := c.decode(s); err != nil {
		return nil, err
	}
	return structToLua(s), nil
}

func respSetHeaders(c *call) (proto.Message, error) {
	h, err := c.argStruct()
	if err != nil {
		return nil, err
	}
	if err := c.headersModifiable(); err != nil {
		return nil, err
	}
	if err := validateHeaders(h); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(h) {
		if isTransferEncoding(name) {
			c.warn("manually setting Transfer-Encoding. Ignored.")
			continue
		}
		setRespHeader(c.st.RespHeader, name, h[name])
	}
	return nil, nil
}

func respExit(c *call) (proto.Message, error) {
	var a kpp.ExitArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.headersModifiable(); err != nil {
		return nil, err
	}
	status := int(a.Status)
	if err := checkStatus(status); err != nil {
		return nil, err
	}
	var headers map[string]any
	if a.Headers != nil {
		headers = structToLua(a.Headers)
		if err := validateHeaders(headers); err != nil {
			return nil, err
		}
	}
	body := a.Body
	if body == nil {
		body = []byte{} // proto3 default: Lua sees ""
	}
	c.st.Ctx["KONG_EXITED"] = true
	if truthy(c.st.Ctx["delay_response"]) && c.st.Delayed == nil {
		c.st.Delayed = &DelayedResponse{Status: status, Body: body, Headers: headers, Callback: true, Content: true}
		return nil, ErrExit // coroutine.yield(): never resumed
	}
	c.st.Send(status, body, headers, c.warn)
	return nil, ErrExit // ngx.exit(status)
}
