package runloop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pluginserver"
)

// outcome is how an event ended, from Kong's point of view.
type outcome int

const (
	eventOK       outcome = iota
	eventExit             // kong.response.exit (or error) produced the response
	eventRaised           // a Lua error escaped the handler
	eventReturned         // Rpc:call returned an error: "pluginserver error"
)

// bridge answers the PDK calls of one event through the dispatcher.
type bridge struct {
	k      *Runloop
	st     *pdk.State
	phase  pdk.Phase
	plugin string
}

// Call implements pluginserver.Bridge. Errors Kong raises are wrapped so
// that the retry logic (which only looks at returned errors) leaves them
// alone.
func (b *bridge) Call(method string, args []byte) ([]byte, error) {
	reply, err := b.k.pdk.Call(b.st, b.phase, b.plugin, method, args)
	if err == nil {
		return reply, nil
	}
	var mnf *pdk.MethodNotFound
	var le *pdk.LuaError
	switch {
	case errors.Is(err, pdk.ErrExit):
		return nil, &pluginserver.Raised{Err: err}
	case errors.As(err, &mnf):
		b.k.loud(b.st, "UNKNOWN PDK METHOD", b.plugin, method, b.phaseName(), err)
		return nil, err
	case errors.As(err, &le):
		if le.PhaseViolation || le.TimerContext {
			b.k.loud(b.st, "PHASE VIOLATION", b.plugin, method, b.phaseName(), err)
		} else {
			b.k.loud(b.st, "LUA ERROR", b.plugin, method, b.phaseName(), err)
		}
		return nil, &pluginserver.Raised{Err: err}
	}
	return nil, &pluginserver.Raised{Err: err}
}

func (b *bridge) phaseName() string {
	if b.st.Saved != nil {
		return "log (timer)"
	}
	return b.phase.String()
}

// loud reports a call Kong refuses on the stand-in's stderr, on top of the
// counters, so that no test can miss it.
func (k *Runloop) loud(st *pdk.State, kind, plugin, method, phase string, err error) {
	k.counters.violationsReported.Add(1)
	fmt.Fprintf(k.stderr, "kongsim: %s: plugin %q called %s in phase %s: %v (request %s)\n", kind, plugin, method, phase, err, st.RequestID)
}

// runEvent is the phase closure of an external plugin followed by
// Rpc:handle_event: it sets the plugin context, runs the event over the
// socket and classifies the result.
func (rc *reqCtx) runEvent(cfg *configured, phase string) (outcome, error) {
	ext := cfg.plugin.ext
	ph, _ := pdk.ParsePhase(phase)
	rc.st.Acquire()
	rc.st.Ctx["plugin_id"] = cfg.entity.ID // setup_plugin_context
	rc.st.Release()
	b := &bridge{k: rc.k, st: rc.st, phase: ph, plugin: cfg.plugin.name}
	logf := func(level errlog.Level, msg string) { rc.k.errlog.Write(level, rc.logReq(false), msg) }
	err := ext.HandleEvent(rc.ctx, cfg.conf, phase, b, rc.abandon, logf)
	rc.st.Acquire()
	delete(rc.st.Ctx, "plugin_id") // reset_plugin_context
	rc.st.Release()
	return classify(err), err
}

func classify(err error) outcome {
	if err == nil {
		return eventOK
	}
	if errors.Is(err, pdk.ErrExit) {
		return eventExit
	}
	var raised *pluginserver.Raised
	if errors.As(err, &raised) {
		return eventRaised
	}
	return eventReturned
}

func (rc *reqCtx) abandon(c io.Closer) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.abandoned = append(rc.abandoned, c)
}

// handleAccessFailure applies Kong's access-phase failure paths: a Lua
// error is caught by the collecting iterator's coroutine (log + delayed
// 500); a returned error is "pluginserver error" + kong.response.error(500),
// which in access is delayed too.
func (rc *reqCtx) handleAccessFailure(o outcome, err error) {
	st := rc.st
	switch o {
	case eventRaised:
		rc.k.errlog.Write(errlog.Err, rc.logReq(false), "[kong] init.lua:413 "+luaErrText(err))
		st.Acquire()
		st.Delayed = &pdk.DelayedResponse{Status: 500, Message: "An unexpected error occurred"}
		st.Ctx["KONG_UNEXPECTED"] = true
		st.Release()
	case eventReturned:
		rc.k.errlog.Write(errlog.Err, rc.logReq(false), "[kong] pb_rpc.lua:382 pluginserver error: "+err.Error())
		st.Acquire()
		st.Ctx["KONG_EXITED"] = true
		st.Delayed = &pdk.DelayedResponse{Status: 500, Callback: true}
		st.Release()
	}
}

// runEvents runs a rewrite or response phase: the external plugins of
// cfgs in order, until one exits or fails (handleFailure).
func (rc *reqCtx) runEvents(cfgs []*configured, phase string) {
	for _, cfg := range cfgs {
		if cfg.plugin.ext == nil {
			continue
		}
		o, err := rc.runEvent(cfg, phase)
		if o == eventExit {
			return
		}
		if o != eventOK {
			rc.handleFailure(o, err)
			return
		}
	}
}

// handleFailure applies the rewrite/response failure paths: a Lua error
// aborts the nginx handler (500 through the error page and Kong's error
// handler); a returned error sends kong.response.error(500) at once.
func (rc *reqCtx) handleFailure(o outcome, err error) {
	st := rc.st
	switch o {
	case eventRaised:
		rc.k.errlog.Write(errlog.Err, rc.logReq(false), "lua entry thread aborted: runtime error: "+luaErrText(err))
		st.Acquire()
		st.ErrorHandler(500, rc.k.set.errorDefaultType, true)
		st.Release()
	case eventReturned:
		rc.k.errlog.Write(errlog.Err, rc.logReq(false), "[kong] pb_rpc.lua:382 pluginserver error: "+err.Error())
		st.Acquire()
		st.KongError(500, "", nil)
		st.Release()
	}
}

func luaErrText(err error) string {
	var raised *pluginserver.Raised
	if errors.As(err, &raised) {
		err = raised.Err
	}
	return strings.TrimSpace(err.Error())
}

// runLogTimer runs one plugin's log event in its own goroutine, as Kong's
// ngx.timer.at(0) does, on the saved data.
func (k *Runloop) runLogTimer(rc *reqCtx, cfg *configured, saved *pdk.Saved) {
	rc.st.Acquire()
	tst := rc.st.TimerCopy(saved)
	rc.st.Release()
	k.timers.Add(1)
	go func() {
		defer k.timers.Done()
		var conns []io.Closer
		abandon := func(c io.Closer) { conns = append(conns, c) }
		defer func() {
			for _, c := range conns {
				_ = c.Close() // the timer ends: its cosockets close
			}
		}()
		b := &bridge{k: k, st: tst, phase: pdk.PhaseLog, plugin: cfg.plugin.name}
		logf := func(level errlog.Level, msg string) { k.errlog.Write(level, rc.logReq(true), msg) }
		ctx, cancel := context.WithTimeout(context.Background(), k.opts.PluginTimeout*2)
		defer cancel()
		err := cfg.plugin.ext.HandleEvent(ctx, cfg.conf, "log", b, abandon, logf)
		switch classify(err) {
		case eventRaised, eventExit:
			k.errlog.Write(errlog.Err, rc.logReq(true), "lua entry thread aborted: runtime error: "+luaErrText(err))
		case eventReturned:
			// "pluginserver error", then kong.response.error(500) is itself
			// refused in the timer.
			k.errlog.Write(errlog.Err, rc.logReq(true), "[kong] pb_rpc.lua:382 pluginserver error: "+err.Error())
			k.errlog.Write(errlog.Err, rc.logReq(true), "lua entry thread aborted: runtime error: function cannot be called in log phase (only in: rewrite, access, response, balancer, header_filter, error, admin_api)")
		}
	}()
}
