package pdk

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"google.golang.org/protobuf/types/known/structpb"
)

// LuaError is an error Kong raises inside a PDK call (check_phase,
// argument checks, pb.encode of a value of the wrong type, an ngx API used
// in a timer). It is not caught anywhere on the call path: the event fails.
type LuaError struct {
	Msg string
	// PhaseViolation marks phase_checker failures: a method Kong refuses
	// in the current phase.
	PhaseViolation bool
	// TimerContext marks an nginx API that does not exist in the log
	// timer ("API disabled in the current context").
	TimerContext bool
}

func (e *LuaError) Error() string { return e.Msg }

// MethodNotFound is call_pdk's returned (not raised) error for a name that
// is not in the proto's service.
type MethodNotFound struct{ Name string }

func (e *MethodNotFound) Error() string { return fmt.Sprintf("method %q not found", e.Name) }

// ErrExit is returned by kong.response.exit (and by any call that made
// Kong produce the response, such as kong.response.error): Kong never
// answers the call; the event is over for Kong.
var ErrExit = errors.New("kong.response.exit: the request was answered")

// errTimer is the error of an nginx request API called from the log timer.
func errTimer() error {
	return &LuaError{Msg: "API disabled in the current context", TimerContext: true}
}

// Lua values in Go: nil, bool, float64, string, []any (a sequence; nil
// elements are holes), map[string]any (a hash table).

// nullValue is what pb_rpc.lua's wrap sends for a Lua nil: null_value = 1
// (not the enum's only member 0); Go's structpb still reads it as null.
func nullValue() *structpb.Value {
	return &structpb.Value{Kind: &structpb.Value_NullValue{NullValue: structpb.NullValue(1)}}
}

// valueToLua is pb_rpc.lua's unwrap structpb_value: bool_value or
// string_value or number_value or null_value. Because of Lua's `or`, false
// becomes nil, and a null becomes the enum's name, the string "NULL_VALUE".
func valueToLua(v *structpb.Value) any {
	if v == nil {
		return nil
	}
	switch k := v.Kind.(type) {
	case *structpb.Value_ListValue:
		return listToLua(k.ListValue)
	case *structpb.Value_StructValue:
		return structToLua(k.StructValue)
	case *structpb.Value_BoolValue:
		if k.BoolValue {
			return true
		}
		return nil
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		return k.NumberValue
	case *structpb.Value_NullValue:
		// lua-protobuf decodes enums to their names; an unknown number
		// stays a number.
		if name, ok := structpb.NullValue_name[int32(k.NullValue)]; ok {
			return name
		}
		return float64(k.NullValue)
	}
	return nil
}

func listToLua(l *structpb.ListValue) []any {
	out := make([]any, 0, len(l.GetValues()))
	for _, e := range l.GetValues() {
		out = append(out, valueToLua(e))
	}
	return out
}

func structToLua(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	out := make(map[string]any, len(s.GetFields()))
	for k, e := range s.GetFields() {
		if lv := valueToLua(e); lv != nil {
			out[k] = lv
		}
	}
	return out
}

// luaToValue is pb_rpc.lua's wrap structpb_value: nil → null_value 1; a
// table whose [1] is set is a list (ipairs: up to the first hole), any
// other table a struct.
func luaToValue(v any) *structpb.Value {
	switch t := v.(type) {
	case nil:
		return nullValue()
	case bool:
		return structpb.NewBoolValue(t)
	case float64:
		return structpb.NewNumberValue(t)
	case int:
		return structpb.NewNumberValue(float64(t))
	case string:
		return structpb.NewStringValue(t)
	case []any:
		if len(t) > 0 && t[0] != nil {
			return structpb.NewListValue(luaToList(t))
		}
		return structpb.NewStructValue(luaToStruct(seqAsMap(t)))
	case []string:
		l := make([]any, len(t))
		for i, s := range t {
			l[i] = s
		}
		return luaToValue(l)
	case map[string]any:
		return structpb.NewStructValue(luaToStruct(t))
	}
	// userdata, functions: an empty Value, which Go reads as nil.
	return &structpb.Value{}
}

func luaToList(l []any) *structpb.ListValue {
	out := &structpb.ListValue{}
	for _, e := range l {
		if e == nil {
			break // ipairs stops at the first nil
		}
		out.Values = append(out.Values, luaToValue(e))
	}
	return out
}

func luaToStruct(m map[string]any) *structpb.Struct {
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(m))}
	for k, e := range m {
		if e == nil {
			continue
		}
		out.Fields[k] = luaToValue(e)
	}
	return out
}

// seqAsMap turns a sequence with a hole at [1] into the hash Lua's pairs
// would see (integer keys, rendered as strings by the map<string,...>).
func seqAsMap(l []any) map[string]any {
	m := map[string]any{}
	for i, e := range l {
		if e != nil {
			m[strconv.Itoa(i+1)] = e
		}
	}
	return m
}

// luaToString is Lua's tostring, used where Kong concatenates values
// (kong.log.*, header normalisation).
func luaToString(v any) string {
	switch t := v.(type) {
	case nil:
		return "nil"
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return pluginserver.FormatLuaNumber(t)
	case string:
		return t
	default:
		return "table: 0x00000000"
	}
}

// luaType is Lua's type() of a Go-held Lua value.
func luaType(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "boolean"
	case float64, int:
		return "number"
	case string:
		return "string"
	default:
		return "table"
	}
}

// truthy is Lua truthiness: everything but nil and false.
func truthy(v any) bool {
	if v == nil {
		return false
	}
	if b, ok := v.(bool); ok {
		return b
	}
	return true
}

// luaInt reads an integer-valued Lua number.
func luaInt(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Floor(f) != f {
		return 0, false
	}
	return int(f), true
}

// sortedKeys returns m's keys in order (Lua's pairs order is unspecified;
// sorting makes the stand-in deterministic).
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CloneLua deep-copies a Lua value so that saved log data does not alias
// tables a request may still change.
func CloneLua(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = CloneLua(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = CloneLua(e)
		}
		return out
	default:
		return v
	}
}
