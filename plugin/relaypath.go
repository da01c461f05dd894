package plugin

import (
	"net/http"
	"time"

	"github.com/Kong/go-pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/relay"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
)

// activeRelay is the plugin server's relay (cmd/ai-proxy-hf starts it
// before serving Kong). Nil: every request takes the PDK-only path.
var activeRelay *relay.Relay

// UseRelay makes r the data path of streams and, with logging off, of
// every request. Call it before the server serves Kong.
func UseRelay(r *relay.Relay) { activeRelay = r }

// accessMinimal is the data path with logging off: access reads only the
// headers (for the credentials that must leave Kong's request and record)
// and the path, and points Kong at the relay, which reads the body Kong
// forwards, validates and translates it (the same Capability.Request), and
// answers. It returns the request it read and false when the request
// needs edits of Kong's log record (a credential in the query, an auth
// header other than Authorization that the client sent itself): those
// need the translated request in access, and take accessRelayed.
func (i *Instance) accessMinimal(kong *pdk.PDK, r *relay.Relay, start time.Time) (*translate.ClientRequest, bool) {
	in := &translate.ClientRequest{StreamRelay: true}
	if err := readHeadersAndPath(kong, in); err != nil {
		i.reject(kong, in, err)
		return nil, true
	}
	cleared := translate.ClearedHeaders(i.cfg, in.Headers)
	if e := translate.LogEdits(i.cfg, in, kongView(cleared)); len(e.Edits) > 0 || e.URI != "" {
		return in, false
	}
	t := &relay.Ticket{Config: i.cfg, Capability: i.capability, Redact: i.redact, In: in, Start: start}
	if _, err := i.pointAtRelay(kong, r, t, cleared); err != nil {
		i.reject(kong, in, err)
	}
	return in, true
}

// accessRelayed sends a request access has translated through the relay:
// streams always (the relay sees the answer; Kong's response phase would
// not run), and, with logging off, requests that needed record edits.
// Kong's request keeps the client's headers but the cleared credentials;
// the relay sends the translated one.
func (i *Instance) accessRelayed(kong *pdk.PDK, r *relay.Relay, in *translate.ClientRequest, up *translate.UpstreamRequest, start time.Time) error {
	t := &relay.Ticket{Config: i.cfg, Capability: i.capability, Redact: i.redact, In: in, Upstream: up, Start: start}
	path, err := i.pointAtRelay(kong, r, t, up.ClearHeaders)
	if err != nil {
		return err
	}
	view := kongView(up.ClearHeaders)
	view.Path = path
	if err := i.redactKongRecord(kong, in, view); err != nil {
		return err
	}
	if !up.Stream || !translate.Logged(i.cfg) {
		return nil
	}
	// Kong serializes the record before any later step of this plugin
	// runs (plugin/ANALYTICS.md): what access knows is what it holds.
	rec := translate.AccessRecord(i.cfg, in, &up.State, nil, i.redact.WithRequest(i.cfg, in))
	return i.writeRecord(kong, rec)
}

// kongView is the request Kong itself forwards to the relay, for the
// record edits: the client's, minus the cleared credential headers (the
// relay, not Kong, adds the real credential and the translated query), on
// the relay's path (set by the caller when known).
func kongView(cleared []string) *translate.UpstreamRequest {
	return &translate.UpstreamRequest{Path: relay.PathPrefix, SetHeaders: map[string]string{}, ClearHeaders: cleared}
}

// pointAtRelay registers t and points Kong's upstream at the relay:
// target, scheme, the ticket's path, the client credentials cleared, and
// buffering off (the relay's answer is final: Kong's response phase must
// not run, and a stream must flow).
func (i *Instance) pointAtRelay(kong *pdk.PDK, r *relay.Relay, t *relay.Ticket, cleared []string) (string, error) {
	path, err := r.Register(t)
	if err != nil {
		return "", &translate.Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "relay_busy", Message: "ai-proxy-hf: too many requests in flight", Err: err}
	}
	if err := kong.Service.SetTarget(r.Host(), r.Port()); err != nil {
		return "", internalError("could not set the upstream target", err)
	}
	if err := kong.ServiceRequest.SetScheme("http"); err != nil {
		return "", internalError("could not set the upstream scheme", err)
	}
	if err := kong.ServiceRequest.SetPath(path); err != nil {
		return "", internalError("could not set the upstream path", err)
	}
	for _, name := range cleared {
		if err := kong.ServiceRequest.ClearHeader(name); err != nil {
			return "", internalError("could not clear a client credential header", err)
		}
	}
	// false, not nil: a Go nil reaches Lua as the truthy string
	// "NULL_VALUE", and buffering would stay on.
	if err := kong.Nginx.SetCtx("buffered_proxying", false); err != nil {
		return "", internalError("could not switch Kong's response buffering off", err)
	}
	return path, nil
}
