// Command pdkplugin is a tiny go-pdk plugin the kongsim tests build and run
// as a real plugin server: its handlers call the PDK methods a test asks for
// (request headers select the behaviour) and report what they saw, so the
// tests see Kong's side of every call through the real protocol.
//
// Request headers read in access (X-Test-Access), response
// (X-Test-Response), rewrite (X-Test-Rewrite) and log (X-Test-Log) name the
// scenario; config.tag is echoed so tests can tell configs apart, and
// config.log_file receives one JSON line per log event.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server"
	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/types/known/structpb"
)

// Config is the plugin config.
type Config struct {
	Tag     string `json:"tag"`
	LogFile string `json:"log_file"`
	// meta holds Kong's keys, which stay out of the reflected schema.
	meta struct {
		Seq      int    `json:"__seq__"`
		Key      string `json:"__key__"`
		PluginID string `json:"__plugin_id"`
		RouteID  string `json:"route_id"`
	}
}

// UnmarshalJSON keeps Kong's keys next to the config.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = Config(p)
	return json.Unmarshal(b, &c.meta)
}

// New is the go-pdk constructor.
func New() interface{} { return &Config{} }

func main() {
	prio := 1000
	if v := os.Getenv("PDKPLUGIN_PRIORITY"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			prio = n
		}
	}
	if err := server.StartServer(New, "0.1.0", prio); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type report map[string]any

func (r report) note(key string, v any, err error) {
	if err != nil {
		r[key] = map[string]any{"error": err.Error()}
		return
	}
	r[key] = v
}

func (c *Config) common(kong *pdk.PDK, r report) {
	r["tag"] = c.Tag
	r["seq"] = c.meta.Seq
	r["key"] = c.meta.Key
	r["plugin_id"] = c.meta.PluginID
}

func (c *Config) exitJSON(kong *pdk.PDK, status int, r report) {
	b, _ := json.Marshal(r)
	kong.Response.Exit(status, b, map[string][]string{"Content-Type": {"application/json"}, "X-Plugin-Tag": {c.Tag}})
}

// Rewrite runs for global instances only.
func (c *Config) Rewrite(kong *pdk.PDK) {
	action, _ := kong.Request.GetHeader("X-Test-Rewrite")
	switch action {
	case "exit":
		kong.Response.Exit(403, []byte("rewrite exit"), map[string][]string{"X-Rewrite": {"yes"}})
	case "violation":
		_, _ = kong.Router.GetRoute() // not allowed in rewrite
	case "mark":
		_ = kong.ServiceRequest.SetHeader("X-Rewrite-Mark", c.Tag)
	}
}

// Access runs the scenario named by X-Test-Access.
func (c *Config) Access(kong *pdk.PDK) {
	_ = kong.Response.SetHeader("X-Plugin-Tag", c.Tag)
	_ = kong.Response.SetHeader("X-Plugin-Seq", strconv.Itoa(c.meta.Seq))
	action, _ := kong.Request.GetHeader("X-Test-Access")
	for _, a := range strings.Split(action, ",") {
		if c.access(kong, strings.TrimSpace(a)) {
			return
		}
	}
}

// access runs one action and reports whether the handler must stop.
func (c *Config) access(kong *pdk.PDK, action string) bool {
	r := report{}
	c.common(kong, r)
	switch action {
	case "getters":
		c.getters(kong, r)
		c.exitJSON(kong, 200, r)
		return true
	case "exit":
		kong.Response.Exit(418, []byte(`{"teapot":true}`), map[string][]string{"Content-Type": {"application/json"}, "X-Exit": {"a", "b"}})
		return true
	case "exit-status":
		kong.Response.ExitStatus(204)
		return true
	case "exit-bad-status":
		kong.Response.Exit(700, nil, nil)
		return true
	case "stream":
		_ = kong.Nginx.SetCtx("buffered_proxying", false)
	case "stream-nil":
		_ = kong.Nginx.SetCtx("buffered_proxying", nil)
	case "setters":
		c.setters(kong)
	case "set-target":
		host, _ := kong.Request.GetHeader("X-Target-Host")
		port, _ := strconv.Atoi(headerOr(kong, "X-Target-Port", "0"))
		_ = kong.Service.SetTarget(host, port)
	case "resp-headers":
		_ = kong.Response.SetHeader("X-Access-Set", "from-access")
		_ = kong.Response.AddHeader("X-Access-Added", "one")
		_ = kong.Response.AddHeader("X-Access-Added", "two")
		_ = kong.Response.SetHeader("X-Upstream-Same", "from-access")
		_ = kong.Response.SetHeader("X-To-Clear", "x")
		_ = kong.Response.ClearHeader("X-To-Clear")
		_ = kong.Response.SetHeaders(map[string][]string{"X-Multi": {"m1", "m2"}})
		_ = kong.Response.SetStatus(299) // overwritten by the upstream status
	case "violation":
		_, err := kong.ServiceResponse.GetRawBody()
		r["err"] = errString(err)
	case "violation-response-get-status":
		_, _ = kong.Response.GetStatus()
	case "unknown-method":
		_ = kong.Log.Ask("kong.no.such_method", nil, nil)
	case "headers-zero":
		_, _ = kong.Request.GetHeaders(0)
	case "query-arg-bool":
		_, _ = kong.Request.GetQueryArg("flag")
	case "panic":
		panic("pdkplugin: panic requested by X-Test-Access")
	case "shared":
		_ = kong.Ctx.SetShared("s_string", "hello")
		_ = kong.Ctx.SetShared("s_number", 42.5)
		_ = kong.Ctx.SetShared("s_true", true)
		_ = kong.Ctx.SetShared("s_false", false)
		_ = kong.Ctx.SetShared("s_nil", nil)
		_ = kong.Ctx.SetShared("s_list", []interface{}{"a", "b"})
		_ = kong.Ctx.SetShared("s_map", map[string]interface{}{"k": "v"})
		_ = kong.Nginx.SetCtx("c_false", false)
		_ = kong.Nginx.SetCtx("c_nil", nil)
		_ = kong.Nginx.SetCtx("c_str", "ctx-value")
		for _, k := range []string{"s_string", "s_number", "s_true", "s_false", "s_nil", "s_list", "s_map"} {
			v, err := kong.Ctx.GetSharedAny(k)
			r.note(k, v, err)
		}
		for _, k := range []string{"c_false", "c_nil", "c_str", "buffered_proxying", "KONG_PHASE"} {
			v, err := kong.Nginx.GetCtxAny(k)
			r.note(k, v, err)
		}
		c.exitJSON(kong, 200, r)
		return true
	case "serialize":
		_ = kong.Log.Ask("kong.log.set_serialize_value", &kpp.KV{K: "ai.proxy.model", V: structpb.NewStringValue("m1")}, nil)
		_ = kong.Log.Ask("kong.log.set_serialize_value", &kpp.KV{K: "ai.proxy.usage.total", V: structpb.NewNumberValue(12)}, nil)
		_ = kong.Log.Ask("kong.log.set_serialize_value", &kpp.KV{K: "ai.dropped", V: structpb.NewBoolValue(false)}, nil)
		_ = kong.Log.Ask("kong.log.set_serialize_value", &kpp.KV{K: "ai.null", V: structpb.NewNullValue()}, nil)
		_ = kong.Ctx.SetShared("for_log", "shared-in-access")
	case "body":
		b, err := kong.Request.GetRawBody()
		r.note("len", len(b), err)
		if len(b) > 0 {
			r["first"] = string(b[:1])
			r["last"] = string(b[len(b)-1:])
		}
		c.exitJSON(kong, 200, r)
		return true
	case "logs":
		_ = kong.Log.Err("err line ", 1, " ", true)
		_ = kong.Log.Warn("warn line")
		_ = kong.Log.Notice("notice line")
		_ = kong.Log.Info("info line")
		_ = kong.Log.Debug("debug line")
		_ = kong.Log.Alert("alert line")
		_ = kong.Log.Crit("crit line")
	case "sleep":
		ms, _ := strconv.Atoi(headerOr(kong, "X-Sleep-Ms", "50"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case "serialize-in-access":
		_, err := kong.Log.Serialize()
		r["err"] = errString(err)
	}
	return false
}

func headerOr(kong *pdk.PDK, name, def string) string {
	v, err := kong.Request.GetHeader(name)
	if err != nil || v == "" {
		return def
	}
	return v
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (c *Config) getters(kong *pdk.PDK, r report) {
	s := func(k string, f func() (string, error)) { v, err := f(); r.note(k, v, err) }
	i := func(k string, f func() (int, error)) { v, err := f(); r.note(k, v, err) }
	s("scheme", kong.Request.GetScheme)
	s("host", kong.Request.GetHost)
	i("port", kong.Request.GetPort)
	s("forwarded_scheme", kong.Request.GetForwardedScheme)
	s("forwarded_host", kong.Request.GetForwardedHost)
	i("forwarded_port", kong.Request.GetForwardedPort)
	v, err := kong.Request.GetHttpVersion()
	r.note("http_version", v, err)
	s("method", kong.Request.GetMethod)
	s("path", kong.Request.GetPath)
	s("path_with_query", kong.Request.GetPathWithQuery)
	s("raw_query", kong.Request.GetRawQuery)
	qa, err := kong.Request.GetQueryArg("a")
	r.note("query_arg_a", qa, err)
	q, err := kong.Request.GetQuery(-1)
	r.note("query", q, err)
	h, err := kong.Request.GetHeader("x-custom_header")
	r.note("header_custom", h, err)
	missing, err := kong.Request.GetHeader("X-Missing")
	r.note("header_missing", missing, err)
	hs, err := kong.Request.GetHeaders(-1)
	r.note("headers", hs, err)
	s("client_ip", kong.Client.GetIp)
	s("client_forwarded_ip", kong.Client.GetForwardedIp)
	i("client_port", kong.Client.GetPort)
	p, err := kong.Client.GetProtocol(false)
	r.note("client_protocol", p, err)
	s("node_id", kong.Node.GetId)
	route, err := kong.Router.GetRoute()
	r.note("route", map[string]any{"id": route.Id, "paths": route.Paths, "strip_path": route.StripPath, "service": route.Service}, err)
	svc, err := kong.Router.GetService()
	r.note("service", map[string]any{"id": svc.Id, "host": svc.Host, "port": svc.Port, "path": svc.Path, "protocol": svc.Protocol}, err)
	gv, err := kong.Nginx.GetVar("request_uri")
	r.note("var_request_uri", gv, err)
	gv, err = kong.Nginx.GetVar("no_such_var")
	r.note("var_missing", gv, err)
	s("subsystem", kong.Nginx.GetSubsystem)
	st, err := kong.Nginx.ReqStartTime()
	r.note("req_start_time", st, err)
	bp, err := kong.Nginx.GetCtxAny("buffered_proxying")
	r.note("ctx_buffered_proxying", bp, err)
	trusted, err := kong.IP.IsTrusted("127.0.0.1")
	r.note("ip_trusted", trusted, err)
	ms, err := kong.Node.GetMemoryStats()
	r.note("memory_workers", len(ms.WorkersLuaVms), err)
}

func (c *Config) setters(kong *pdk.PDK) {
	if v := headerOr(kong, "X-Set-Scheme", ""); v != "" {
		_ = kong.ServiceRequest.SetScheme(v)
	}
	if v := headerOr(kong, "X-Set-Path", ""); v != "" {
		_ = kong.ServiceRequest.SetPath(v)
	}
	if v := headerOr(kong, "X-Set-Raw-Query", ""); v != "" {
		_ = kong.ServiceRequest.SetRawQuery(v)
	}
	if headerOr(kong, "X-Set-Query", "") != "" {
		_ = kong.ServiceRequest.SetQuery(map[string][]string{"z": {"1"}, "a b": {"x y", "2"}})
	}
	if v := headerOr(kong, "X-Set-Method", ""); v != "" {
		_ = kong.ServiceRequest.SetMethod(v)
	}
	if v := headerOr(kong, "X-Set-Host", ""); v != "" {
		_ = kong.ServiceRequest.SetHeader("Host", v)
	}
	if v := headerOr(kong, "X-Set-Body", ""); v != "" {
		_ = kong.ServiceRequest.SetRawBody(v)
	}
	_ = kong.ServiceRequest.SetHeader("X-Set-By-Plugin", "yes")
	_ = kong.ServiceRequest.AddHeader("X-Added", "a1")
	_ = kong.ServiceRequest.AddHeader("X-Added", "a2")
	_ = kong.ServiceRequest.ClearHeader("X-Remove-Me")
	_ = kong.ServiceRequest.SetHeaders(map[string][]string{"X-Bulk": {"b1", "b2"}})
	_ = kong.ServiceRequest.SetHeader("X-Empty", "")
	// The shared-state rule: the client request reflects the changes.
	seen, _ := kong.Request.GetHeader("X-Set-By-Plugin")
	removed, _ := kong.Request.GetHeader("X-Remove-Me")
	q, _ := kong.Request.GetRawQuery()
	m, _ := kong.Request.GetMethod()
	p, _ := kong.Request.GetPath()
	b, _ := kong.Request.GetRawBody()
	_ = kong.ServiceRequest.SetHeader("X-Seen", fmt.Sprintf("header=%s removed=%q query=%s method=%s path=%s body=%s", seen, removed, q, m, p, b))
	if headerOr(kong, "X-Set-Headers-Host", "") != "" {
		_ = kong.ServiceRequest.SetHeaders(map[string][]string{"Host": {"bad.example"}})
	}
}

// Response runs in buffered mode.
func (c *Config) Response(kong *pdk.PDK) {
	action, _ := kong.Request.GetHeader("X-Test-Response")
	r := report{}
	c.common(kong, r)
	switch action {
	case "report":
		st, err := kong.ServiceResponse.GetStatus()
		r.note("service_status", st, err)
		h, err := kong.ServiceResponse.GetHeader("x-upstream_header")
		r.note("service_header", h, err)
		hs, err := kong.ServiceResponse.GetHeaders(-1)
		r.note("service_headers_len", len(hs), err)
		b, err := kong.ServiceResponse.GetRawBody()
		r.note("service_body", string(b), err)
		rs, err := kong.Response.GetStatus()
		r.note("response_status", rs, err)
		rh, err := kong.Response.GetHeader("X-Upstream-Header")
		r.note("response_header", rh, err)
		rhs, err := kong.Response.GetHeaders(-1)
		r.note("response_headers", rhs, err)
		src, err := kong.Response.GetSource()
		r.note("source", src, err)
		shared, err := kong.Ctx.GetSharedAny("from_access")
		r.note("shared_from_access", shared, err)
		body, err := kong.Request.GetRawBody()
		r.note("request_body", string(body), err)
		c.exitJSON(kong, 201, r)
	case "set-status":
		_ = kong.Response.SetStatus(202)
		_ = kong.Response.SetHeader("X-Response-Phase", "yes")
	case "violation":
		_ = kong.ServiceRequest.SetPath("/nope")
	case "panic":
		panic("pdkplugin: panic requested by X-Test-Response")
	}
}

type logLine struct {
	Tag         string            `json:"tag"`
	Serialize   json.RawMessage   `json:"serialize"`
	Status      int               `json:"status"`
	Source      string            `json:"source"`
	Shared      any               `json:"shared"`
	Errors      map[string]string `json:"errors"`
	Header      string            `json:"header"`
	RespHeaders []string          `json:"resp_headers"`
	RouteID     string            `json:"route_id"`
	Path        string            `json:"path"`
	StartTime   float64           `json:"start_time"`
}

// Log runs in Kong's timer, on saved data.
func (c *Config) Log(kong *pdk.PDK) {
	if c.LogFile == "" {
		return
	}
	l := logLine{Tag: c.Tag, Errors: map[string]string{}}
	if s, err := kong.Log.Serialize(); err == nil {
		l.Serialize = json.RawMessage(s)
	} else {
		l.Errors["serialize"] = err.Error()
	}
	l.Status, _ = kong.Response.GetStatus()
	l.Source, _ = kong.Response.GetSource()
	l.Shared, _ = kong.Ctx.GetSharedAny("for_log")
	l.Header, _ = kong.Request.GetHeader("X-Test-Access")
	if h, err := kong.Response.GetHeaders(-1); err == nil {
		for k := range h {
			l.RespHeaders = append(l.RespHeaders, k)
		}
		sort.Strings(l.RespHeaders)
	}
	if route, err := kong.Router.GetRoute(); err == nil {
		l.RouteID = route.Id
	}
	l.Path, _ = kong.Request.GetPath()
	l.StartTime, _ = kong.Nginx.ReqStartTime()
	// Allowed in the timer (its ngx.ctx is the clone saved in the log
	// phase), but too late: Kong serialized the record before scheduling
	// this handler, and file-log already wrote it.
	if err := kong.Log.Ask("kong.log.set_serialize_value", &kpp.KV{K: "ai.proxy.from_log_phase", V: structpb.NewStringValue("late")}, nil); err != nil {
		l.Errors["set_serialize_value"] = err.Error()
	} else {
		l.Errors["set_serialize_value"] = ""
	}
	// Not backed by saved data: Kong fails these in the timer.
	if _, err := kong.Request.GetMethod(); err != nil {
		l.Errors["get_method"] = err.Error()
	} else {
		l.Errors["get_method"] = ""
	}
	if _, err := kong.Nginx.GetVar("request_uri"); err != nil {
		l.Errors["get_var"] = err.Error()
	} else {
		l.Errors["get_var"] = ""
	}
	b, err := json.Marshal(l)
	if err != nil {
		return
	}
	f, err := os.OpenFile(c.LogFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(b, '\n'))
}

var _ = errors.New
