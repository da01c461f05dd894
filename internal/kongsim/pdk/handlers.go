package pdk

import "github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"

// handlers maps every proto method name (pluginserver.Methods) to Kong's
// function behind it.
var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"kong.client.get_ip":             cliGetIP,
		"kong.client.get_forwarded_ip":   cliGetIP,
		"kong.client.get_port":           cliGetPort,
		"kong.client.get_forwarded_port": cliGetPort,
		"kong.client.get_credential":     cliGetCredential,
		"kong.client.load_consumer":      cliLoadConsumer,
		"kong.client.get_consumer":       cliGetConsumer,
		"kong.client.authenticate":       cliAuthenticate,
		"kong.client.get_protocol":       cliGetProtocol,

		"kong.ctx.shared.set": ctxSharedSet,
		"kong.ctx.shared.get": ctxSharedGet,

		"kong.ip.is_trusted": ipIsTrusted,

		"kong.log.alert":               logAt(errlog.Alert),
		"kong.log.crit":                logAt(errlog.Crit),
		"kong.log.err":                 logAt(errlog.Err),
		"kong.log.warn":                logAt(errlog.Warn),
		"kong.log.notice":              logAt(errlog.Notice),
		"kong.log.info":                logAt(errlog.Info),
		"kong.log.debug":               logAt(errlog.Debug),
		"kong.log.set_serialize_value": logSetSerializeValue,
		"kong.log.serialize":           logSerialize,

		"kong.nginx.get_var":              ngxGetVar,
		"kong.nginx.get_tls1_version_str": ngxGetTLS1VersionStr,
		"kong.nginx.set_ctx":              ngxSetCtx,
		"kong.nginx.get_ctx":              ngxGetCtx,
		"kong.nginx.req_start_time":       ngxReqStartTime,
		"kong.nginx.get_subsystem":        ngxGetSubsystem,

		"kong.node.get_id":           nodeGetID,
		"kong.node.get_memory_stats": nodeGetMemoryStats,

		"kong.request.get_scheme":            reqGetScheme,
		"kong.request.get_host":              reqGetHost,
		"kong.request.get_port":              reqGetPort,
		"kong.request.get_forwarded_scheme":  reqGetForwardedScheme,
		"kong.request.get_forwarded_host":    reqGetForwardedHost,
		"kong.request.get_forwarded_port":    reqGetForwardedPort,
		"kong.request.get_http_version":      reqGetHTTPVersion,
		"kong.request.get_method":            reqGetMethod,
		"kong.request.get_path":              reqGetPath,
		"kong.request.get_path_with_query":   reqGetPathWithQuery,
		"kong.request.get_raw_query":         reqGetRawQuery,
		"kong.request.get_query_arg":         reqGetQueryArg,
		"kong.request.get_query":             reqGetQuery,
		"kong.request.get_header":            reqGetHeader,
		"kong.request.get_headers":           reqGetHeaders,
		"kong.request.get_raw_body":          reqGetRawBody,
		"kong.request.get_uri_captures":      reqGetURICaptures,
		"kong.response.get_status":           respGetStatus,
		"kong.response.get_header":           respGetHeader,
		"kong.response.get_headers":          respGetHeaders,
		"kong.response.get_source":           respGetSource,
		"kong.response.set_status":           respSetStatus,
		"kong.response.set_header":           respSetHeader,
		"kong.response.add_header":           respAddHeader,
		"kong.response.clear_header":         respClearHeader,
		"kong.response.set_headers":          respSetHeaders,
		"kong.response.exit":                 respExit,
		"kong.router.get_route":              routerGetRoute,
		"kong.router.get_service":            routerGetService,
		"kong.service.set_upstream":          svcSetUpstream,
		"kong.service.set_target":            svcSetTarget,
		"kong.service.request.set_scheme":    srqSetScheme,
		"kong.service.request.set_path":      srqSetPath,
		"kong.service.request.set_raw_query": srqSetRawQuery,
		"kong.service.request.set_method":    srqSetMethod,
		"kong.service.request.set_query":     srqSetQuery,
		"kong.service.request.set_header":    srqSetHeader,
		"kong.service.request.add_header":    srqAddHeader,
		"kong.service.request.clear_header":  srqClearHeader,
		"kong.service.request.set_headers":   srqSetHeaders,
		"kong.service.request.set_raw_body":  srqSetRawBody,
		"kong.service.response.get_status":   srsGetStatus,
		"kong.service.response.get_headers":  srsGetHeaders,
		"kong.service.response.get_header":   srsGetHeader,
		"kong.service.response.get_raw_body": srsGetRawBody,
	}
}
