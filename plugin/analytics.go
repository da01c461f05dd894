package plugin

import (
	"fmt"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"google.golang.org/protobuf/types/known/structpb"
)

// recordKey is where the plugin's log record goes: Kong's ai-proxy
// namespace ("ai.proxy", kong/llm/plugin/observability.lua). One key, one
// call: Kong's serializer creates the "ai" table from the dotted key.
const recordKey = "ai.proxy"

// logPrefix starts the lines the plugin writes to Kong's error log. It is
// empty: Kong already namespaces a plugin's kong.log with its name, so every
// line reads "[ai-proxy-hf] <message>" (a prefix of our own would show
// twice). Operators grep for "[ai-proxy-hf]".
const logPrefix = ""

// writeRecord sends the ai.proxy record with one
// kong.log.set_serialize_value call; a nil record costs nothing. Kong
// serializes the value when its log plugins run, so it must be set in
// access or response: the log phase of a Go plugin runs in a timer, after
// Kong has serialized the record.
func (i *Instance) writeRecord(kong *pdk.PDK, rec map[string]any) error {
	if rec == nil {
		return nil
	}
	return setSerializeValue(kong, recordKey, rec)
}

// setSerializeValue is kong.log.set_serialize_value, which go-pdk does not
// wrap. Values must hold no false and no nil (see translate's analytics).
func setSerializeValue(kong *pdk.PDK, key string, v any) error {
	val, err := structpb.NewValue(v)
	if err != nil {
		return internalError("could not encode the log value "+key, err)
	}
	if err := kong.Log.Ask("kong.log.set_serialize_value", &kong_plugin_protocol.KV{K: key, V: val}, nil); err != nil {
		return internalError("could not set the log value "+key, err)
	}
	return nil
}

// redactKongRecord overwrites the fields of Kong's own log record that
// would hold a credential (translate.LogEdits): one call per field, and
// none at all for the usual request (auth in the Authorization header, which
// Kong redacts itself, and no credential in the query). up is nil for a
// rejected request.
func (i *Instance) redactKongRecord(kong *pdk.PDK, in *translate.ClientRequest, up *translate.UpstreamRequest) error {
	e := translate.LogEdits(i.cfg, in, up)
	edits := e.Edits
	if e.URI != "" {
		edits = append(edits, translate.LogEdit{Key: "request.url", Value: requestURL(kong, e.URI)})
	}
	if e.UpstreamQuery != "" {
		v := translate.Redacted
		if p, err := kong.Nginx.GetVar("upstream_uri"); err == nil && p != "" {
			v = p + "?" + e.UpstreamQuery
		}
		edits = append(edits, translate.LogEdit{Key: "upstream_uri", Value: v})
	}
	for _, e := range edits {
		if err := setSerializeValue(kong, e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

// requestURL is Kong's request.url (scheme://host:port followed by the
// request URI) with a redacted URI. It costs three reads, made only when a
// client sent a credential in the query; if one fails the whole URL is
// redacted.
func requestURL(kong *pdk.PDK, uri string) string {
	scheme, err := kong.Request.GetScheme()
	if err != nil {
		return translate.Redacted
	}
	host, err := kong.Request.GetHost()
	if err != nil {
		return translate.Redacted
	}
	port, err := kong.Request.GetPort()
	if err != nil {
		return translate.Redacted
	}
	return fmt.Sprintf("%s://%s:%d%s", scheme, host, port, uri)
}

// logError writes an error line an operator can grep for (Kong prefixes it
// with "[ai-proxy-hf]").
// Messages name fields, not values; redact removes any secret value that an
// upstream message might still echo.
func logError(kong *pdk.PDK, redact *translate.Redactor, e *translate.Error) {
	_ = kong.Log.Err(logPrefix + redact.String(e.Error()))
}

// logWarn writes a warning line: upstream errors, rejected requests.
func logWarn(kong *pdk.PDK, redact *translate.Redactor, msg string) {
	_ = kong.Log.Warn(logPrefix + redact.String(msg))
}
