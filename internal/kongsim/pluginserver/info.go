package pluginserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// Server is one pluginserver as kong.conf describes it
// (kong/conf_loader/init.lua: pluginserver_names and the per-name keys).
type Server struct {
	Name     string // the pluginserver name, lower-cased
	Socket   string // pluginserver_<name>_socket
	StartCmd string // pluginserver_<name>_start_cmd; empty = managed externally
	QueryCmd string // pluginserver_<name>_query_cmd
}

// Info is what Kong keeps from the query command's output
// (kong/runloop/plugin_servers/process.lua query_external_plugin_info).
type Info struct {
	Protocol string          // dump.Protocol, "MsgPack:1" when absent
	Name     string          // Plugins[1].Name: the name the plugin is registered under
	Version  string          // Plugins[1].Version, cleaned to its x.y.z part
	Priority int             // Plugins[1].Priority
	Phases   []string        // Plugins[1].Phases
	Schema   json.RawMessage // Plugins[1].Schema, a Kong schema DSL document
}

// HasPhase reports whether the dump lists phase; Kong builds a handler only
// for the listed phases (plugin.lua build_phases).
func (i Info) HasPhase(phase string) bool {
	for _, p := range i.Phases {
		if p == phase {
			return true
		}
	}
	return false
}

// ProtocolProtoBuf is the only protocol the stand-in speaks: go-pdk's.
const ProtocolProtoBuf = "ProtoBuf:1"

// Query runs the server's query command through /bin/sh like io.popen,
// reads stdout only (stderr goes to ours, as Kong leaves it alone) and
// decodes the dump with Kong's checks and messages.
func Query(ctx context.Context, s Server, stderr io.Writer) (Info, error) {
	if s.QueryCmd == "" {
		return Info{}, fmt.Errorf("no info query for %s", s.Name)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.QueryCmd)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = stderr
	// io.popen + fd:close() ignores the exit status: only stdout matters.
	if err := cmd.Run(); err != nil && !isExitError(err) {
		return Info{}, fmt.Errorf("error loading plugins info from [%s]: %w", s.Name, err)
	}
	return ParseDump(s, out.Bytes())
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// ParseDump applies process.lua's decoding and dao/plugins.lua's handler
// checks to the dump bytes.
func ParseDump(s Server, dump []byte) (Info, error) {
	var top any
	if err := decodeJSON(dump, &top); err != nil {
		return Info{}, fmt.Errorf("failed decoding plugin info: %w", err)
	}
	var entry any
	switch t := top.(type) {
	case map[string]any:
		protocol := "MsgPack:1"
		if p, ok := t["Protocol"].(string); ok {
			protocol = p
		}
		if protocol != ProtocolProtoBuf {
			// Kong would pick mp_rpc for anything else; go-pdk never says
			// anything but ProtoBuf:1, and the stand-in speaks nothing else.
			return Info{}, fmt.Errorf("pluginserver %s: unsupported protocol %q (only %q is supported)", s.Name, protocol, ProtocolProtoBuf)
		}
		plugins, ok := t["Plugins"].([]any)
		if ok && len(plugins) > 0 {
			entry = plugins[0]
		}
		return infoFromEntry(s, protocol, entry)
	case []any:
		// (dump.Plugins or dump)[1] with no Protocol: MsgPack:1.
		return Info{}, fmt.Errorf("pluginserver %s: unsupported protocol %q (only %q is supported)", s.Name, "MsgPack:1", ProtocolProtoBuf)
	default:
		return Info{}, fmt.Errorf("not a plugin info table: \n%s\n%s", s.QueryCmd, dump)
	}
}

func infoFromEntry(s Server, protocol string, entry any) (Info, error) {
	m, ok := entry.(map[string]any)
	if !ok {
		// Kong indexes a nil "info" and dies with a Lua error.
		return Info{}, fmt.Errorf("failed loading external plugins: pluginserver %s: attempt to index local 'info' (a nil value)", s.Name)
	}
	name, _ := m["Name"].(string)
	if name == "" {
		return Info{}, fmt.Errorf("failed loading external plugins: pluginserver %s: plugin info has no Name", s.Name)
	}
	info := Info{Protocol: protocol, Name: name}

	// plugin_servers/init.lua load_plugin: no PRIORITY means "no plugin found".
	prio, present := m["Priority"]
	if !present || prio == nil {
		return Info{}, fmt.Errorf("%s plugin is enabled but not installed;\nno plugin found", name)
	}
	p, ok := prio.(float64)
	if !ok || math.IsNaN(p) || math.IsInf(p, 0) || math.Floor(p) != p {
		return Info{}, fmt.Errorf("Plugin %q cannot be loaded because its PRIORITY field is not a valid integer number, got: %q.\n", name, luaToString(prio)) //nolint:staticcheck // Kong's exact message
	}
	info.Priority = int(p)

	v, ok := m["Version"].(string)
	cleaned, valid := cleanVersion(v)
	if !ok || !valid {
		return Info{}, fmt.Errorf("Plugin %q cannot be loaded because its VERSION field does not follow the \"x.y.z\" format, got: %q.\n", name, luaToString(m["Version"])) //nolint:staticcheck // Kong's exact message
	}
	info.Version = cleaned

	phases, _ := m["Phases"].([]any)
	hasResponse, hasFilter := false, false
	for _, ph := range phases {
		s, ok := ph.(string)
		if !ok {
			continue
		}
		info.Phases = append(info.Phases, s)
		switch s {
		case "response":
			hasResponse = true
		case "header_filter", "body_filter":
			hasFilter = true
		}
	}
	if hasResponse && hasFilter {
		return Info{}, fmt.Errorf("Plugin %q can't be loaded because it implements both `response` and `header_filter` or `body_filter` methods.\n", name) //nolint:staticcheck // Kong's exact message
	}
	if raw, ok := m["Schema"]; ok && raw != nil {
		b, err := json.Marshal(raw)
		if err != nil {
			return Info{}, fmt.Errorf("pluginserver %s: re-encoding schema: %w", s.Name, err)
		}
		info.Schema = b
	}
	return info, nil
}

// cleanVersion is dao/plugins.lua valid_version over the "version" rock
// (non-strict): take the first run of digits and dots, split on dots, every
// element must be a number, at most three elements; the cleaned string is
// the numbers joined with dots.
func cleanVersion(v string) (string, bool) {
	start := strings.IndexAny(v, "0123456789.")
	if start < 0 {
		return "", false
	}
	end := start
	for end < len(v) && (v[end] == '.' || (v[end] >= '0' && v[end] <= '9')) {
		end++
	}
	parts := luaSplitDots(v[start:end])
	if len(parts) == 0 || len(parts) > 3 {
		return "", false
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return "", false
		}
		out[i] = strconv.FormatFloat(n, 'f', -1, 64)
	}
	return strings.Join(out, "."), true
}

// luaSplitDots mirrors version.lua's split(str, "%."): an empty first
// element is skipped, empty inner elements are kept (and then fail
// tonumber), a trailing separator adds nothing.
func luaSplitDots(s string) []string {
	var out []string
	rest := s
	first := true
	for {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			break
		}
		capt := rest[:i]
		if !(first && capt == "") {
			out = append(out, capt)
		}
		first = false
		rest = rest[i+1:]
	}
	if rest != "" {
		out = append(out, rest)
	}
	return out
}

// luaToString renders a decoded JSON value the way Lua's tostring would.
func luaToString(v any) string {
	switch t := v.(type) {
	case nil:
		return "nil"
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return FormatLuaNumber(t)
	default:
		return "table: 0x00000000"
	}
}

// FormatLuaNumber is LuaJIT's tostring for numbers ("%.14g", integers
// without a fraction).
func FormatLuaNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', 14, 64)
	// %.14g never prints trailing zeros in the mantissa; Go's 'g' with a
	// precision keeps them out too, but uses e+06 style like C: same.
	return s
}

// tokenStart turns Go's syntax error offset (bytes read, the bad byte
// last) into cjson's 1-based position of the start of the bad token.
func tokenStart(b []byte, offset int) int {
	i := offset - 1
	if i >= len(b) {
		i = len(b) - 1
	}
	for i > 0 && !strings.ContainsRune(" \t\r\n{}[],:\"", rune(b[i-1])) {
		i--
	}
	return i + 1
}

// decodeJSON decodes one JSON document like cjson.decode, with messages
// shaped like cjson's ("Expected value but found T_END at character 1").
func decodeJSON(b []byte, v any) error {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return errors.New("Expected value but found T_END at character 1") //nolint:staticcheck // cjson's message
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("Expected value but found invalid token at character %d", tokenStart(b, int(se.Offset))) //nolint:staticcheck // cjson's message
		}
		return fmt.Errorf("Expected value but found invalid token at character 1: %w", err) //nolint:staticcheck // cjson's message
	}
	if dec.More() {
		off := dec.InputOffset() + 1
		return fmt.Errorf("Expected the end but found invalid token at character %d", off) //nolint:staticcheck // cjson's message
	}
	return nil
}
