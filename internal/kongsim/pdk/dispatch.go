package pdk

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
	"google.golang.org/protobuf/proto"
)

// Config is what the PDK implementation needs from kong.conf and the node.
type Config struct {
	NodeID string
	// TrustedIPs is trusted_ips; nil trusts nobody (Kong's default NONE).
	TrustedIPs []*net.IPNet
	// ErrorDefaultType is error_default_type (text/plain by default).
	ErrorDefaultType string
	// Route and Service protocols default for get_protocol.
	Log func(st *State, level errlog.Level, msg string)
}

// Dispatcher runs PDK calls with Kong's semantics and counts them.
type Dispatcher struct {
	cfg   Config
	stats *Stats
}

// NewDispatcher returns a dispatcher.
func NewDispatcher(cfg Config) *Dispatcher {
	if cfg.ErrorDefaultType == "" {
		cfg.ErrorDefaultType = "text/plain"
	}
	return &Dispatcher{cfg: cfg, stats: newStats()}
}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() *Stats { return d.stats }

// Config returns the dispatcher's configuration.
func (d *Dispatcher) Config() Config { return d.cfg }

// call carries one PDK call.
type call struct {
	d      *Dispatcher
	st     *State
	phase  Phase
	plugin string
	method string
	args   []byte
	timer  bool // running in the log timer, on saved data
}

type handler func(c *call) (proto.Message, error)

// Call answers one PDK call frame: it decodes args with the method's input
// type, runs Kong's function and encodes the reply. The error is one of
// *MethodNotFound (returned by Kong), *LuaError (raised) or ErrExit.
func (d *Dispatcher) Call(st *State, phase Phase, plugin, method string, args []byte) ([]byte, error) {
	st.Acquire()
	defer st.Release()
	c := &call{d: d, st: st, phase: phase, plugin: plugin, method: method, args: args, timer: st.Saved != nil}
	phaseName := phase.String()
	if c.timer {
		phaseName = "log"
	}
	st.CountCall(phaseName, method)
	if _, ok := pluginserver.Methods()[method]; !ok {
		d.stats.unknown(method)
		return nil, &MethodNotFound{Name: method}
	}
	h, ok := handlers[method]
	if !ok {
		// In the proto but without a Lua function behind it: index_table
		// found nothing, and calling nil is a Lua error.
		d.stats.count(method, phaseName)
		return nil, d.stats.fail(method, phaseName, &LuaError{Msg: fmt.Sprintf("attempt to call field '%s' (a nil value)", method)})
	}
	d.stats.count(method, phaseName)
	msg, err := h(c)
	if err != nil {
		if err == ErrExit {
			return nil, err
		}
		if _, ok := err.(*LuaError); !ok {
			err = &LuaError{Msg: err.Error()}
		}
		return nil, d.stats.fail(method, phaseName, err)
	}
	if msg == nil {
		return []byte{}, nil
	}
	out, err := proto.Marshal(msg)
	if err != nil {
		// pb.encode refuses the value (e.g. a non-UTF-8 string).
		return nil, d.stats.fail(method, phaseName, &LuaError{Msg: err.Error()})
	}
	return out, nil
}

func (c *call) decode(m proto.Message) error {
	if err := proto.Unmarshal(c.args, m); err != nil {
		// assert(pb.decode(method.input_type, arg))
		return &LuaError{Msg: "assertion failed! (" + err.Error() + ")"}
	}
	return nil
}

func (c *call) check(accepted Phase) error { return checkPhase(c.phase, accepted) }

// logNS writes a line the way Kong's namespaced kong.log does while a
// plugin runs: "[kong] <file:line> [<plugin>] <msg>".
func (c *call) logNS(level errlog.Level, src, msg string) {
	if c.d.cfg.Log != nil {
		c.d.cfg.Log(c.st, level, fmt.Sprintf("[kong] %s [%s] %s", src, c.plugin, msg))
	}
}

// Stats counts PDK calls and their failures across requests.
type Stats struct {
	mu         sync.Mutex
	calls      map[string]map[string]int64 // method → phase → n
	violations map[string]map[string]int64 // phase violations
	luaErrors  map[string]map[string]int64 // other Lua errors
	unknownMs  map[string]int64
}

func newStats() *Stats {
	return &Stats{
		calls:      map[string]map[string]int64{},
		violations: map[string]map[string]int64{},
		luaErrors:  map[string]map[string]int64{},
		unknownMs:  map[string]int64{},
	}
}

func inc(m map[string]map[string]int64, a, b string) {
	if m[a] == nil {
		m[a] = map[string]int64{}
	}
	m[a][b]++
}

func (s *Stats) count(method, phase string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc(s.calls, method, phase)
}

func (s *Stats) unknown(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unknownMs[method]++
}

func (s *Stats) fail(method, phase string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if le, ok := err.(*LuaError); ok && le.PhaseViolation {
		inc(s.violations, method, phase)
	} else {
		inc(s.luaErrors, method, phase)
	}
	return err
}

// StatsSnapshot is the JSON shape of the PDK counters.
type StatsSnapshot struct {
	Calls           map[string]map[string]int64 `json:"calls"`
	PhaseViolations map[string]map[string]int64 `json:"phase_violations"`
	LuaErrors       map[string]map[string]int64 `json:"lua_errors"`
	UnknownMethods  map[string]int64            `json:"unknown_methods"`
	TotalCalls      int64                       `json:"total_calls"`
	TotalViolations int64                       `json:"total_phase_violations"`
	TotalUnknown    int64                       `json:"total_unknown_methods"`
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]map[string]int64) (map[string]map[string]int64, int64) {
		out := map[string]map[string]int64{}
		var total int64
		for k, v := range m {
			out[k] = map[string]int64{}
			for p, n := range v {
				out[k][p] = n
				total += n
			}
		}
		return out, total
	}
	snap := StatsSnapshot{UnknownMethods: map[string]int64{}}
	snap.Calls, snap.TotalCalls = cp(s.calls)
	snap.PhaseViolations, snap.TotalViolations = cp(s.violations)
	snap.LuaErrors, _ = cp(s.luaErrors)
	for k, v := range s.unknownMs {
		snap.UnknownMethods[k] = v
		snap.TotalUnknown += v
	}
	return snap
}

// CallsByPhase regroups a request's "phase method" counts as
// phase → method → n, the shape of the log record's kongsim.pdk_calls.
func CallsByPhase(calls map[string]int) map[string]map[string]int {
	out := map[string]map[string]int{}
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		phase, method, _ := strings.Cut(k, " ")
		if out[phase] == nil {
			out[phase] = map[string]int{}
		}
		out[phase][method] = calls[k]
	}
	return out
}
