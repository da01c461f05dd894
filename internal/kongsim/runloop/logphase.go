package runloop

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/luajson"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
)

// logPhase is Kong.log, run once the client has the whole response: the
// log handlers of the collected plugins (or the global ones when access
// never collected), in priority order. Bundled file-log runs inline; an
// external plugin's log handler only schedules a timer with saved data.
func (k *Runloop) logPhase(rc *reqCtx) {
	st := rc.st
	end := time.Now()
	st.Acquire()
	st.SetPhase(pdk.PhaseLog)
	st.Ctx["KONG_LOG_START"] = nowMS(end)
	if !rc.bodyStart.IsZero() && !rc.bodyEnd.IsZero() {
		st.Ctx["KONG_RECEIVE_TIME"] = float64(rc.bodyEnd.Sub(rc.bodyStart).Milliseconds())
	}
	st.Release()
	k.writeAccessLog(rc, end)

	fns := rc.logFns
	if !rc.collected {
		fns = rc.it.globalsFor("log")
	}
	for _, cfg := range fns {
		root, err := k.serialize(rc, end)
		if err != nil {
			// edit_result raises inside kong.log.serialize: the log phase
			// handler aborts, and with it the remaining plugins.
			k.errlog.Write(errlog.Err, rc.logReq(false), "failed to run log_by_lua*: "+err.Error())
			break
		}
		if cfg.plugin.ext == nil {
			if !k.opts.NoPDKCallsInLog {
				// The stand-in's addition to Kong's record, outside any
				// namespace a plugin writes: the request's PDK calls.
				st.Acquire()
				root["kongsim"] = map[string]any{"pdk_calls": callsTable(st.Calls)}
				st.Release()
			}
			k.fileLog(rc, cfg, root)
			continue
		}
		js, err := luajson.Encode(root)
		if err != nil {
			k.errlog.Write(errlog.Err, rc.logReq(false), "failed to run log_by_lua*: "+err.Error())
			break
		}
		st.Acquire()
		saved := &pdk.Saved{
			PluginName:      cfg.plugin.name,
			SerializeJSON:   js,
			RequestHeaders:  st.ReqHeader.Lua(100),
			ResponseHeaders: st.RespHeader.Lua(100),
			ResponseStatus:  st.Status,
			ReqStartTime:    pdk.ReqStartSeconds(st.StartTime.UnixMilli()),
		}
		st.Release()
		k.runLogTimer(rc, cfg, saved)
	}
	// The stand-in's own record of every request, with its PDK calls; it
	// is published once the request has ended.
	var rec []byte
	if root, err := k.serialize(rc, end); err == nil {
		st.Acquire()
		root["kongsim"] = map[string]any{"pdk_calls": callsTable(st.Calls)}
		st.Release()
		rec, _ = luajson.Encode(root)
	}
	rc.cleanup()
	if rec != nil {
		k.records.add(rec)
	}
}

func callsTable(calls map[string]int) map[string]any {
	out := map[string]any{}
	for phase, m := range pdk.CallsByPhase(calls) {
		t := map[string]any{}
		for method, n := range m {
			t[method] = float64(n)
		}
		out[phase] = t
	}
	return out
}

// cleanup ends the request: the cosockets Kong abandoned close, and the
// client body temp file goes.
func (rc *reqCtx) cleanup() {
	rc.mu.Lock()
	conns := rc.abandoned
	rc.abandoned = nil
	rc.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	rc.st.Acquire()
	rc.st.CleanupBody()
	rc.st.Release()
}

// serialize is kong.log.serialize() (kong/pdk/log.lua) for this request,
// with the values plugins set through kong.log.set_serialize_value.
func (k *Runloop) serialize(rc *reqCtx, end time.Time) (map[string]any, error) {
	st := rc.st
	st.Acquire()
	defer st.Release()
	requestURI := st.RequestURI
	if s, ok := st.Ctx["request_uri"].(string); ok {
		requestURI = s
	}
	upstreamURI := st.UpstreamURI
	if upstreamURI != "" && !strings.Contains(upstreamURI, "?") {
		if strings.HasSuffix(requestURI, "?") {
			upstreamURI += "?"
		} else if st.Args != "" {
			upstreamURI += "?" + st.Args
		}
	}
	reqHeaders := st.ReqHeader.Lua(100)
	if _, ok := reqHeaders["authorization"]; ok {
		reqHeaders["authorization"] = "REDACTED"
	}
	if _, ok := reqHeaders["proxy-authorization"]; ok {
		reqHeaders["proxy-authorization"] = "REDACTED"
	}
	hostPort := st.ServerPort
	if hp, ok := st.Ctx["host_port"].(float64); ok {
		hostPort = int(hp)
	}
	method := st.Method
	if st.Flag("KONG_UNEXPECTED") && st.HTTPVersion < 2 {
		if i := strings.IndexByte(st.RequestLine, ' '); i >= 0 {
			method = st.RequestLine[:i]
		}
	}
	var bodySize int64
	if b := st.Body(); b != nil {
		bodySize = b.Size
	}
	request := map[string]any{
		"id":          st.RequestID,
		"uri":         requestURI,
		"url":         fmt.Sprintf("%s://%s:%d%s", st.Scheme, st.Host(), hostPort, requestURI),
		"querystring": pdk.DecodeArgs(st.Args, 100),
		"method":      method,
		"headers":     reqHeaders,
		"size":        float64(rc.reqLength + bodySize),
	}
	// var.upstream_status or ctx.buffered_status or "": a string of every
	// try's status when nginx proxied the main request, the captured
	// subrequest's status (a number) when Kong buffered.
	var upstreamStatus any = ""
	if len(rc.tryStatuses) > 0 && !rc.subrequest {
		parts := make([]string, len(rc.tryStatuses))
		for i, s := range rc.tryStatuses {
			parts[i] = strconv.Itoa(s)
		}
		upstreamStatus = strings.Join(parts, ", ")
	} else if bs, ok := st.Ctx["buffered_status"]; ok {
		upstreamStatus = bs
	}
	kongLatency := 0.0
	if v, ok := st.Ctx["KONG_PROXY_LATENCY"].(float64); ok {
		kongLatency = v
	} else if v, ok := st.Ctx["KONG_RESPONSE_LATENCY"].(float64); ok {
		kongLatency = v
	}
	proxyLatency := -1.0
	if v, ok := st.Ctx["KONG_WAITING_TIME"].(float64); ok {
		proxyLatency = v
	}
	receive := 0.0
	if v, ok := st.Ctx["KONG_RECEIVE_TIME"].(float64); ok {
		receive = v
	}
	root := map[string]any{
		"request":         request,
		"upstream_uri":    upstreamURI,
		"upstream_status": upstreamStatus,
		"response": map[string]any{
			"status":  float64(st.Status),
			"headers": st.RespHeader.Lua(100),
			"size":    float64(rc.bytesSent + rc.bodySent),
		},
		"latencies": map[string]any{
			"kong":    kongLatency,
			"proxy":   proxyLatency,
			"request": float64(end.Sub(rc.start).Milliseconds()),
			"receive": receive,
		},
		"client_ip":      st.RemoteAddr,
		"started_at":     ctxFloat(st, "KONG_PROCESSING_START"),
		"source":         map[string]string{"error": "kong", "exit": "kong", "service": "upstream"}[pdk.ResponseSource(st.Ctx)],
		"workspace":      rc.it.snapshot.WorkspaceID,
		"workspace_name": "default",
	}
	if st.Balancer != nil && len(st.Balancer.Tries) > 0 {
		tries := make([]any, len(st.Balancer.Tries))
		for i, t := range st.Balancer.Tries {
			tries[i] = pdk.CloneLua(map[string]any(t))
		}
		root["tries"] = tries
	}
	if r, ok := st.Ctx["route"].(map[string]any); ok {
		root["route"] = pdk.CloneLua(r)
	}
	if s, ok := st.Ctx["service"].(map[string]any); ok {
		root["service"] = pdk.CloneLua(s)
	}
	if values, ok := st.Ctx["serialize_values"].([]any); ok {
		if err := editResult(root, values); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// editResult is log.lua edit_result: dotted keys (a backslash escapes a
// dot) walk or create sub-tables; mode "set" always writes.
func editResult(root map[string]any, values []any) error {
	for _, item := range values {
		m, _ := item.(map[string]any)
		key, _ := m["key"].(string)
		value := m["value"]
		if !validSerializeValue(value, 0) {
			return fmt.Errorf("value must be nil, a number, string, boolean or a non-self-referencial table containing numbers, string and booleans")
		}
		node := root
		parts := splitSerializeKey(key)
		for _, sub := range parts[:len(parts)-1] {
			next, exists := node[sub]
			if !exists || next == nil {
				t := map[string]any{}
				node[sub] = t
				node = t
				continue
			}
			t, ok := next.(map[string]any)
			if !ok {
				return fmt.Errorf("The key '%s' could not be used as a serialize value. Subkey '%s' is not a table. It's %v", key, sub, next) //nolint:staticcheck // Kong's message
			}
			node = t
		}
		last := parts[len(parts)-1]
		if value == nil {
			delete(node, last)
		} else {
			node[last] = pdk.CloneLua(value)
		}
	}
	return nil
}

func splitSerializeKey(key string) []string {
	var parts []string
	start := 0
	for i := 1; i < len(key); i++ {
		if key[i] == '.' && key[i-1] != '\\' {
			parts = append(parts, strings.ReplaceAll(key[start:i], `\.`, "."))
			start = i + 1
		}
	}
	return append(parts, strings.ReplaceAll(key[start:], `\.`, "."))
}

func validSerializeValue(v any, depth int) bool {
	if depth > 100 {
		return false
	}
	switch t := v.(type) {
	case nil, bool, float64, string:
		return true
	case []any:
		for _, e := range t {
			if !validSerializeValue(e, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range t {
			if !validSerializeValue(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// fileLog is the bundled file-log plugin: one cjson line per request,
// appended with a single write.
func (k *Runloop) fileLog(rc *reqCtx, cfg *configured, root map[string]any) {
	path, _ := cfg.lua["path"].(string)
	reopen, _ := cfg.lua["reopen"].(bool)
	if _, ok := cfg.lua["custom_fields_by_lua"]; ok {
		k.errlog.Write(errlog.Warn, rc.logReq(false), "[kong] handler.lua:69 [file-log] custom_fields_by_lua is Lua code; the stand-in ignores it")
	}
	msg, err := luajson.Encode(root)
	if err != nil {
		k.errlog.Write(errlog.Err, rc.logReq(false), "failed to run log_by_lua*: "+err.Error())
		return
	}
	msg = append(msg, '\n')
	k.fileLogMu.Lock()
	defer k.fileLogMu.Unlock()
	f := k.fileLogFDs[path]
	if f != nil && reopen {
		_ = f.Close()
		delete(k.fileLogFDs, path)
		f = nil
	}
	if f == nil {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			k.errlog.Write(errlog.Err, rc.logReq(false), "[kong] handler.lua:46 [file-log] failed to open the file: "+strerror(err))
			return
		}
		k.fileLogFDs[path] = f
	}
	if _, err := f.Write(msg); err != nil {
		k.errlog.Write(errlog.Err, rc.logReq(false), "[kong] handler.lua:52 [file-log] failed to write the file: "+strerror(err))
	}
}

func strerror(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		s := pe.Err.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}

// writeAccessLog writes nginx's kong_log_format line.
func (k *Runloop) writeAccessLog(rc *reqCtx, end time.Time) {
	if k.accessLog == nil {
		return
	}
	st := rc.st
	st.Acquire()
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	ref, _ := st.ReqHeader.Get("Referer")
	ua, _ := st.ReqHeader.Get("User-Agent")
	line := fmt.Sprintf("%s - - [%s] %q %d %d %q %q kong_request_id: %q\n",
		st.RemoteAddr, rc.start.Format("02/Jan/2006:15:04:05 -0700"), st.RequestLine, st.Status, rc.bodySent,
		dash(ref), dash(ua), st.RequestID)
	st.Release()
	k.accessLogMu.Lock()
	defer k.accessLogMu.Unlock()
	_, _ = k.accessLog.Write([]byte(line))
}
