package pdk

import (
	"fmt"
	"strings"
)

// Phase is Kong's phase bitmask (kong/pdk/private/phases.lua); the
// current phase is ngx.ctx.KONG_PHASE.
type Phase uint32

// Kong's phases, with the values of phases.lua.
const (
	PhaseInitWorker   Phase = 0x00000001
	PhaseCertificate  Phase = 0x00000002
	PhaseRewrite      Phase = 0x00000010
	PhaseAccess       Phase = 0x00000020
	PhaseBalancer     Phase = 0x00000040
	PhaseResponse     Phase = 0x00000080
	PhaseClusterLis   Phase = 0x00000100
	PhaseHeaderFilter Phase = 0x00000200
	PhaseBodyFilter   Phase = 0x00000400
	PhaseLog          Phase = 0x00002000
	PhasePreread      Phase = 0x00004000
	PhaseError        Phase = 0x01000000
	PhaseAdminAPI     Phase = 0x10000000
)

var phaseNames = []struct {
	p    Phase
	name string
}{
	{PhaseInitWorker, "init_worker"},
	{PhaseCertificate, "certificate"},
	{PhaseRewrite, "rewrite"},
	{PhaseAccess, "access"},
	{PhaseBalancer, "balancer"},
	{PhaseResponse, "response"},
	{PhaseClusterLis, "cluster_listener"},
	{PhaseHeaderFilter, "header_filter"},
	{PhaseBodyFilter, "body_filter"},
	{PhaseLog, "log"},
	{PhasePreread, "preread"},
	{PhaseError, "error"},
	{PhaseAdminAPI, "admin_api"},
}

// String is the phase's Kong name ("access"); for a set, the names joined
// by ", " in bit order, as get_phases_names prints them.
func (p Phase) String() string {
	var names []string
	for _, n := range phaseNames {
		if p&n.p != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "'unknown phase'"
	}
	return strings.Join(names, ", ")
}

// ParsePhase maps an event name ("access") to its phase.
func ParsePhase(name string) (Phase, bool) {
	for _, n := range phaseNames {
		if n.name == name {
			return n.p, true
		}
	}
	return 0, false
}

// Phase sets used by the PDK modules (names as in Kong's source).
const (
	// phases.lua "request"
	phasesRequest = PhaseRewrite | PhaseAccess | PhaseBalancer | PhaseResponse | PhaseHeaderFilter |
		PhaseBodyFilter | PhaseLog | PhaseError | PhaseAdminAPI | PhaseClusterLis
	// request.lua before_content
	phasesBeforeContent = PhaseRewrite | PhaseAccess | PhaseResponse | PhaseError | PhaseAdminAPI
	// response.lua header_body_log
	phasesHeaderBodyLog = PhaseResponse | PhaseHeaderFilter | PhaseBodyFilter | PhaseLog | PhaseError | PhaseAdminAPI
	// response.lua rewrite_access_header
	phasesRewriteAccessHeader = PhaseRewrite | PhaseAccess | PhaseResponse | PhaseBalancer | PhaseHeaderFilter |
		PhaseError | PhaseAdminAPI
	// service/response.lua header_body_log
	phasesServiceResponse = PhaseResponse | PhaseHeaderFilter | PhaseBodyFilter | PhaseLog
	// service/request.lua
	phasesAccessRewrite         = PhaseRewrite | PhaseAccess
	phasesAccessRewriteBalancer = PhaseRewrite | PhaseAccess | PhaseBalancer
	// service.lua set_target
	phasesSetTarget = PhaseRewrite | PhaseAccess | PhaseBalancer | PhasePreread
	// client.lua AUTH_AND_LATER
	phasesAuthAndLater = PhaseAccess | PhaseHeaderFilter | PhaseResponse | PhaseBodyFilter | PhaseLog
	// router.lua ROUTER_PHASES
	phasesRouter = PhaseAccess | PhaseHeaderFilter | PhaseResponse | PhaseBodyFilter | PhaseLog
	// log.lua phases_with_ctx
	phasesWithCtx = PhaseRewrite | PhaseAccess | PhaseHeaderFilter | PhaseResponse | PhaseBodyFilter | PhaseLog
)

// checkPhase is phase_checker.check: a Lua error naming the current phase
// and the accepted ones.
func checkPhase(current, accepted Phase) error {
	if current&accepted != 0 {
		return nil
	}
	name := "'unknown phase'"
	for _, n := range phaseNames {
		if n.p == current {
			name = n.name
		}
	}
	return &LuaError{
		Msg:            fmt.Sprintf("function cannot be called in %s phase (only in: %s)", name, accepted),
		PhaseViolation: true,
	}
}

// checkNotPhase is phase_checker.check_not.
func checkNotPhase(current, rejected Phase) error {
	if current&rejected == 0 {
		return nil
	}
	return &LuaError{
		Msg:            fmt.Sprintf("function cannot be called in %s phase (can be called in any phases except: %s)", current, rejected),
		PhaseViolation: true,
	}
}
