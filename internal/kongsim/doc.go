// Package kongsim is the Kong Gateway stand-in. It runs external plugin
// servers the way Kong 3.x does (query command, start command, ProtoBuf:1
// over a unix socket), routes requests, runs the plugins' phases with
// Kong's PDK semantics and proxies to the upstream, buffered or streamed,
// then runs the log phase. Its layout follows Kong's source:
//
//   - runloop: the proxying path (kong/runloop, kong/init.lua's phases):
//     router, plugins iterator, phases and events, upstream call, log
//     phase and file-log, counters and records. Entry point runloop.New.
//   - controlplane: the control plane (kong/db, kong/api): schemas in a
//     registry (kongschema), the store (store), kong.yaml (declarative),
//     the Admin API with POST /config (admin). Entry point
//     controlplane.New.
//   - this package: the lifecycle around them (kong.conf through
//     kongconf, logs, plugin server processes, listeners). Entry point
//     Start.
//
// API:
//
//	Start(ctx, Options{ConfPath, Environ, Config, Declarative, ProxyAddr,
//	    AdminAddr, ErrorLog, Stderr, NoWaitForSockets, StartTimeout,
//	    PluginTimeout, MaxEventRetries, NoPDKCallsInLog, KongVersion}) (*Kong, error)
//	(*Kong).ProxyAddr/AdminAddr/ProxyURL/AdminURL, ReadyLine, Close
//	(*Kong).Stats() Stats        also GET /kongsim/stats on the admin listener
//	(*Kong).Records() / WaitRecords(ctx, n)   the serialized log record of
//	    every request (kong.log.serialize's shape plus "kongsim.pdk_calls");
//	    also GET /kongsim/records
//	(*Kong).Plugin(name) *pluginserver.Plugin      instance counters
//	(*Kong).Supervisor(name) *pluginserver.Supervisor   the server process
//	ConfigSource / StaticConfig / Snapshot{Services, Routes, Plugins}
//	    a configuration without the control plane (tests)
//
// Other subpackages: pluginserver (dump, process supervision, RPC client,
// instance bookkeeping: kong/runloop/plugin_servers), pdk (the PDK methods
// of the proto with Kong's phase checks and value conversions), errlog
// (nginx error.log lines), luajson (lua-cjson encoding).
//
// Kong behaviour reproduced (read from Kong 3.10's source; docker-compose
// runs 3.9, which does not differ on these points):
//   - start-up: the query command through a shell, stdout decoded like
//     cjson, Protocol/Plugins[1]/Name/Version (x.y.z, at most three
//     parts)/Priority (integer)/Phases checked with Kong's messages; the
//     start command as "exec <cmd>" with stderr merged, each output line
//     logged at info as "[<name>:<pid>] <line>", respawned at most once a
//     second whatever the exit (status 127 is logged as "command not
//     found" and respawned too: process.lua:169-172 breaks only the
//     inner loop); SIGTERM on stop.
//   - RPC: 4-byte little-endian frames, sequence numbers msg_id+1 checked
//     on the reply, lazy CmdStartInstance with the config (defaults
//     applied, nulls left out, cjson-encoded with "\/") plus route_id,
//     service_id, __plugin_id, __ws_id, __key__, __seq__; a new __seq__ for
//     every config when the plugin entities change; start the new
//     instance, then close the old and ignore the answer; pooled
//     connections, abandoned (closed at request end) after exit or errors.
//   - "closed" / "no plugin instance" errors: every instance of the plugin
//     forgotten, a warning logged, the event rerun (capped, counted).
//   - PDK: the 74 proto methods with Kong's phase checks, argument checks,
//     Value quirks (false → nil, nil → "NULL_VALUE", null_value 1 back),
//     nil → empty reply, first return value only, the log timer's saved
//     data and "API disabled in the current context" for nginx APIs there;
//     the shared request state (service.request.* visible through
//     kong.request.*, except the path).
//   - failures: unknown method → "pluginserver error" + kong.response.error
//     (500); Lua errors in access → 500 "An unexpected error occurred"
//     (delayed), in rewrite/response → Kong's error handler (Accept, then
//     Content-Type, then error_default_type); counted and reported on
//     Stderr.
//   - phases: rewrite for global plugins only; access with lazy
//     collection (buffered_proxying set just before a response-phase
//     plugin's access handler); exit delayed in access, immediate in
//     rewrite/response; Kong.response's subrequest (set_status +
//     set_headers over access headers, response handlers, original body
//     unless exit); streaming with a flush per read; the log phase after
//     the response, global plugins when access never collected.
//   - proxy: prefix routes with strip_path (path_handling v0/v1), methods
//     and hosts; Kong's proxy_set_header values (Host, X-Forwarded-*, Via,
//     X-Real-IP, X-Kong-Request-Id); set_target/set_header("Host") as
//     upstream Host and SNI; retries of connection failures; 502/504 with
//     Kong's messages; Kong's response headers (Via, Server,
//     X-Kong-*-Latency, X-Kong-Request-Id per the headers property);
//     client bodies above client_body_buffer_size in
//     <prefix>/client_body_temp; the access log line.
//   - buffered upstream failures: the error page is produced inside Kong's
//     subrequest (Kong.handle_error on the shared ctx: KONG_UNEXPECTED,
//     buffered_proxying cleared), so the response handlers run with the
//     502/504 and kong.service.response.get_raw_body raises; a body cut
//     after the headers is "truncated": ngx.status = res.status (the
//     upstream's, e.g. 200) or 502, then Kong's error handler.
//   - log record: kong.log.serialize's fields (authorization REDACTED,
//     upstream_status a string of every try when streamed, the captured
//     status as a number when buffered), set_serialize_value's dotted
//     keys; the bundled file-log plugin (config.path, reopen) appends one
//     cjson line per request, plus "kongsim": {"pdk_calls": ...} unless
//     Options.NoPDKCallsInLog; plugins' kong.log.serialize never has it.
//   - POST /config (admin): the DB-less reload of kong/api/routes/config.lua
//     (JSON, "config" string or raw YAML body; flatten_errors, check_hash),
//     live for the next request; the e2e suite's external-Kong mode uses
//     it against the stand-in and against real Kong alike.
//
// Knowingly not reproduced: TLS listeners, HTTP/2, gRPC, websockets,
// regex route paths (and so uri captures), header-based routing,
// consumers and authentication, Upstream entities (set_upstream always
// fails), Kong's other bundled plugins, file-log's custom_fields_by_lua,
// nginx's Connection/Keep-Alive response headers and chunking choices,
// multiple workers (one worker's view: one instance table, one pool).
//
// Where the stand-in and Kong may differ, with Kong's source lines for
// each behaviour the plugin relies on: README.md in this directory.
package kongsim
