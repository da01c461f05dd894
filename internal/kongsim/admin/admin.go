package admin

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/declarative"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/store"
)

// DefaultVersion is what GET / reports as Kong's version.
const DefaultVersion = "3.9.1-kongsim"

// PluginInfo is what GET / lists under plugins.available_on_server.
type PluginInfo struct {
	Version  string `json:"version"`
	Priority int    `json:"priority"`
}

// Options tunes the handler.
type Options struct {
	// Version reported by GET / (DefaultVersion if empty).
	Version string
	// NodeID and Hostname reported by GET /.
	NodeID   string
	Hostname string
	// Plugins are the available plugins' versions and priorities (from
	// their dumps); plugins of the registry missing here are listed with
	// an empty version.
	Plugins map[string]PluginInfo
	// Configuration is shown under "configuration" in GET /.
	Configuration map[string]any
	// ReadOnly refuses entity writes with 405 as a real DB-less Kong does
	// ("cannot create 'plugins' entities when not using a database");
	// POST /config still works. Off by default: the stand-in lets users
	// try plugins through the Admin API as with a database.
	ReadOnly bool
	// ServerStatus, if set, fills GET /status "server".
	ServerStatus func() map[string]int64
}

type handler struct {
	st   *store.Store
	reg  *kongschema.Registry
	opts Options

	hashMu      sync.Mutex
	hash        string // of the last config POST /config loaded
	hashVersion uint64 // the store version it loaded (later writes void it)
}

// NewHandler returns Kong's Admin API over st, validating plugins with reg.
func NewHandler(st *store.Store, reg *kongschema.Registry) http.Handler {
	return NewHandlerWith(st, reg, Options{})
}

// NewHandlerWith is NewHandler with options.
func NewHandlerWith(st *store.Store, reg *kongschema.Registry, opts Options) http.Handler {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.NodeID == "" {
		opts.NodeID = store.NewUUID()
	}
	return &handler{st: st, reg: reg, opts: opts}
}

// ---- responses ------------------------------------------------------------

func writeJSON(w http.ResponseWriter, status int, body any) {
	var data []byte
	switch b := body.(type) {
	case json.RawMessage:
		data = b
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(body); err != nil {
			status, data = http.StatusInternalServerError, []byte(`{"message":"An unexpected error occurred"}`)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func message(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func notFound(w http.ResponseWriter) { message(w, http.StatusNotFound, "Not found") }

func methodNotAllowed(w http.ResponseWriter) {
	message(w, http.StatusMethodNotAllowed, "Method not allowed")
}

// writeErr renders a DAO error as Kong's endpoints do: 404 entities get a
// plain {"message":"Not found"}, the rest their error table.
func writeErr(w http.ResponseWriter, e *kongschema.Error) {
	status := e.HTTPStatus()
	if status == http.StatusNotFound {
		notFound(w)
		return
	}
	writeJSON(w, status, e)
}

func (h *handler) readOnly(w http.ResponseWriter, verb, entity string) bool {
	if !h.opts.ReadOnly {
		return false
	}
	writeJSON(w, http.StatusMethodNotAllowed, map[string]any{
		"code": 12, "name": "operation unsupported",
		"message": fmt.Sprintf("cannot %s '%s' entities when not using a database", verb, entity),
	})
	return true
}

// ---- routing --------------------------------------------------------------

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	switch {
	case len(segs) == 0:
		h.only(w, r, http.MethodGet, h.root)
	case segs[0] == "status" && len(segs) == 1:
		h.only(w, r, http.MethodGet, h.status)
	case segs[0] == "config" && len(segs) == 1:
		h.only(w, r, http.MethodPost, h.postConfig)
	case segs[0] == "plugins":
		h.plugins(w, r, segs[1:], scope{})
	case segs[0] == "schemas":
		h.schemas(w, r, segs[1:])
	case segs[0] == "services":
		h.services(w, r, segs[1:])
	case segs[0] == "routes":
		h.routes(w, r, segs[1:], "")
	case segs[0] == "consumers":
		h.consumers(w, r, segs[1:])
	default:
		notFound(w)
	}
}

func (h *handler) only(w http.ResponseWriter, r *http.Request, method string, fn func(http.ResponseWriter, *http.Request)) {
	if r.Method != method {
		methodNotAllowed(w)
		return
	}
	fn(w, r)
}

// ---- / and /status ----------------------------------------------------------

func (h *handler) root(w http.ResponseWriter, _ *http.Request) {
	available := map[string]PluginInfo{}
	for _, n := range h.reg.Names() {
		available[n] = h.opts.Plugins[n]
	}
	inUse := map[string]bool{}
	for _, p := range h.st.Snapshot().Plugins() {
		inUse[p.Name] = true
	}
	enabled := make([]string, 0, len(inUse))
	for n := range inUse {
		enabled = append(enabled, n)
	}
	sort.Strings(enabled)
	conf := h.opts.Configuration
	if conf == nil {
		conf = map[string]any{"database": "off"}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"version":  h.opts.Version,
		"tagline":  "Welcome to kong",
		"node_id":  h.opts.NodeID,
		"hostname": h.opts.Hostname,
		"plugins": map[string]any{
			"available_on_server": available,
			"enabled_in_cluster":  enabled,
		},
		"configuration": conf,
	})
}

func (h *handler) status(w http.ResponseWriter, _ *http.Request) {
	server := map[string]int64{
		"connections_accepted": 0, "connections_active": 0, "connections_handled": 0,
		"connections_reading": 0, "connections_writing": 0, "connections_waiting": 0, "total_requests": 0,
	}
	if h.opts.ServerStatus != nil {
		for k, v := range h.opts.ServerStatus() {
			server[k] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"database":           map[string]any{"reachable": true},
		"server":             server,
		"configuration_hash": h.currentHash(),
	})
}

// configHash stands in for Kong's declarative config hash: 32 zeros when
// nothing is loaded, else an md5 over the entities.
func configHash(sn *store.Snapshot) string {
	if sn.Version == 0 {
		return strings.Repeat("0", 32)
	}
	sum := md5.New()
	for _, s := range sn.Services() {
		sum.Write(s.Entity)
	}
	for _, r := range sn.Routes() {
		sum.Write(r.Entity)
	}
	for _, c := range sn.Consumers() {
		sum.Write(c.Entity)
	}
	for _, p := range sn.Plugins() {
		sum.Write(p.Entity)
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// ---- POST /config -----------------------------------------------------------

// postConfig is kong/api/routes/config.lua POST: the declarative config is
// the JSON body itself when it has _format_version, else the "config"
// parameter (a YAML or JSON string, in a JSON body or a form), else the
// raw body (e.g. Content-Type text/yaml) (hydrate_config_from_request,
// :42-67). flatten_errors (truthy: true/1/on/yes) and check_hash=1 are
// read from the query or the body and taken out of the config (:70-83).
// A valid config replaces every entity at once and answers 201 with them
// by type and id; an invalid one changes nothing and answers 400 with the
// declarative error (code 14), flattened on request (:139-149).
func (h *handler) postConfig(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		message(w, http.StatusBadRequest, "failed reading the request body")
		return
	}
	params := r.URL.Query()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var config []byte
	switch {
	case mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(data))
		obj, _, err := readBody(r)
		if err != nil {
			message(w, http.StatusBadRequest, err.Error())
			return
		}
		for _, k := range []string{"flatten_errors", "check_hash"} {
			if v, ok := obj[k].(string); ok && !params.Has(k) {
				params.Set(k, v)
			}
		}
		if cfg, ok := obj["config"].(string); ok {
			config = []byte(cfg)
		}
	case mt == "application/json" || (mt == "" && gjson.ValidBytes(data)):
		for _, k := range []string{"flatten_errors", "check_hash"} {
			if v := gjson.GetBytes(data, k); v.Exists() && !params.Has(k) {
				params.Set(k, v.String())
			}
			data, _ = sjson.DeleteBytes(data, k)
		}
		if g := gjson.GetBytes(data, "config"); g.Type == gjson.String && !gjson.GetBytes(data, "_format_version").Exists() {
			config = []byte(g.String())
		}
	}
	if config == nil {
		if len(bytes.TrimSpace(data)) == 0 {
			message(w, http.StatusBadRequest, "expected a declarative configuration")
			return
		}
		config = data
	}
	sum := md5.Sum(config)
	hash := hex.EncodeToString(sum[:])
	if params.Get("check_hash") == "1" && hash == h.currentHash() {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if _, errV := declarative.Apply(h.st, config); errV != nil {
		if truthy(params.Get("flatten_errors")) {
			writeJSON(w, http.StatusBadRequest, declarative.Flatten(config, errV))
			return
		}
		writeJSON(w, http.StatusBadRequest, errV)
		return
	}
	sn := h.st.Snapshot()
	h.hashMu.Lock()
	h.hash, h.hashVersion = hash, sn.Version
	h.hashMu.Unlock()
	writeJSON(w, http.StatusCreated, entitiesByID(sn))
}

// truthy is config.lua's truthy() for a parameter's text.
func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "true", "1", "on", "yes":
		return true
	}
	return false
}

// currentHash is the hash of the config POST /config loaded last (Kong:
// md5 of the posted text, declarative.get_current_hash), else one over
// the entities.
func (h *handler) currentHash() string {
	sn := h.st.Snapshot()
	h.hashMu.Lock()
	defer h.hashMu.Unlock()
	if h.hash != "" && h.hashVersion == sn.Version {
		return h.hash
	}
	return configHash(sn)
}

// entitiesByID is POST /config's answer: every entity by type and id.
func entitiesByID(sn *store.Snapshot) map[string]map[string]json.RawMessage {
	out := map[string]map[string]json.RawMessage{}
	add := func(kind, id string, doc json.RawMessage) {
		if out[kind] == nil {
			out[kind] = map[string]json.RawMessage{}
		}
		out[kind][id] = doc
	}
	for _, s := range sn.Services() {
		add("services", s.ID, s.Entity)
	}
	for _, r := range sn.Routes() {
		add("routes", r.ID, r.Entity)
	}
	for _, c := range sn.Consumers() {
		add("consumers", c.ID, c.Entity)
	}
	for _, p := range sn.Plugins() {
		add("plugins", p.ID, p.Entity)
	}
	return out
}

// ---- lists --------------------------------------------------------------------

// page renders Kong's paginated list: {"data":[...],"next":...,"offset":...}.
// The offset is an opaque token (here the base64 of the next index).
func page(w http.ResponseWriter, r *http.Request, docs []json.RawMessage) {
	size, ok := queryInt(r, "size", 100)
	if !ok || size > 1000 {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000",
		})
		return
	}
	start := 0
	if off := r.URL.Query().Get("offset"); off != "" {
		raw, err := base64.StdEncoding.DecodeString(off)
		n, convErr := strconv.Atoi(string(raw))
		if err != nil || convErr != nil || n < 0 || n > len(docs) {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"code": 7, "name": "invalid offset", "message": fmt.Sprintf("'%s' is not a valid offset: bad base64 encoding", off),
			})
			return
		}
		start = n
	}
	end := min(start+size, len(docs))
	data := docs[start:end]
	if data == nil {
		data = []json.RawMessage{}
	}
	body := map[string]any{"data": data, "next": nil}
	if end < len(docs) {
		token := base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		q := r.URL.Query()
		q.Set("offset", token)
		body["offset"] = token
		body["next"] = r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

// ---- plugins ------------------------------------------------------------------

// scope restricts plugin endpoints nested under a service, route or
// consumer.
type scope struct {
	field string // "service", "route", "consumer" or ""
	id    string
}

func (s scope) owns(p *store.Plugin) bool {
	switch s.field {
	case "service":
		return p.ServiceID == s.id
	case "route":
		return p.RouteID == s.id
	case "consumer":
		return p.ConsumerID == s.id
	}
	return true
}

func (h *handler) plugins(w http.ResponseWriter, r *http.Request, rest []string, sc scope) {
	switch {
	case len(rest) == 0:
		collection[*store.Plugin]{
			kind: "plugins",
			list: func() []json.RawMessage {
				var docs []json.RawMessage
				for _, p := range h.st.Snapshot().Plugins() {
					if sc.owns(p) && matchesName(r, p.Name) {
						docs = append(docs, p.Entity)
					}
				}
				return docs
			},
			body: func(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
				return h.pluginBody(w, r, "", sc)
			},
			create: h.st.CreatePlugin,
			doc:    func(e *store.Plugin) json.RawMessage { return e.Entity },
		}.serve(h, w, r)
	case len(rest) == 1 && sc.field == "" && rest[0] == "enabled":
		h.only(w, r, http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
			names := h.reg.Names()
			writeJSON(w, http.StatusOK, map[string]any{"enabled_plugins": names})
		})
	case len(rest) == 1:
		h.plugin(w, r, rest[0], sc)
	default:
		notFound(w)
	}
}

func matchesName(r *http.Request, name string) bool {
	want := r.URL.Query().Get("name")
	return want == "" || want == name
}

func (h *handler) plugin(w http.ResponseWriter, r *http.Request, key string, sc scope) {
	sn := h.st.Snapshot()
	existing, found := sn.Plugin(key)
	if found && !sc.owns(existing) {
		existing, found = nil, false
	}
	switch r.Method {
	case http.MethodGet:
		if !found {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, existing.Entity)
	case http.MethodPatch:
		if h.readOnly(w, "update", "plugins") {
			return
		}
		if !found {
			notFound(w)
			return
		}
		body, ok := h.pluginBody(w, r, existing.Name, scope{})
		if !ok {
			return
		}
		p, errV := h.st.UpdatePlugin(existing.ID, body)
		if errV != nil {
			writeErr(w, errV)
			return
		}
		writeJSON(w, http.StatusOK, p.Entity)
	case http.MethodPut:
		if h.readOnly(w, "create", "plugins") {
			return
		}
		body, ok := h.pluginBody(w, r, "", sc)
		if !ok {
			return
		}
		id := key
		switch {
		case found:
			id = existing.ID
		case !isUUID(key):
			// PUT by endpoint key creates the entity under that name.
			id = store.NewUUID()
			body, _ = sjson.SetBytes(body, "instance_name", key)
		}
		p, errV := h.st.UpsertPlugin(id, body)
		if errV != nil {
			writeErr(w, errV)
			return
		}
		writeJSON(w, http.StatusOK, p.Entity)
	case http.MethodDelete:
		if h.readOnly(w, "delete", "plugins") {
			return
		}
		if found {
			h.st.DeletePlugin(existing.ID)
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w)
	}
}

var uuidRe = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func isUUID(s string) bool { return uuidRe.MatchString(s) }

// pluginBody reads a plugin body, types form values with the plugin's
// schema, and applies the nesting scope.
func (h *handler) pluginBody(w http.ResponseWriter, r *http.Request, name string, sc scope) (json.RawMessage, bool) {
	obj, form, err := readBody(r)
	if !h.bodyOK(w, err) {
		return nil, false
	}
	if form {
		if n, ok := obj["name"].(string); ok {
			name = n
		}
		if schema, ok := h.reg.Get(name); ok {
			obj = schema.Infer(obj)
		}
	}
	return scopedBody(w, obj, sc)
}

func (h *handler) bodyOK(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, errUnsupportedType):
		message(w, http.StatusUnsupportedMediaType, "Unsupported Content-Type")
	case errors.Is(err, errTooLarge):
		message(w, http.StatusRequestEntityTooLarge, "Request size limit exceeded")
	default:
		message(w, http.StatusBadRequest, err.Error())
	}
	return false
}

// ---- schemas ------------------------------------------------------------------

func (h *handler) schemas(w http.ResponseWriter, r *http.Request, rest []string) {
	switch {
	case len(rest) == 2 && rest[0] == "plugins" && rest[1] == "validate":
		h.only(w, r, http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			body, ok := h.pluginBody(w, r, "", scope{})
			if !ok {
				return
			}
			if _, errV := h.reg.ProcessPlugin(body); errV != nil {
				writeErr(w, errV)
				return
			}
			message(w, http.StatusOK, "schema validation successful")
		})
	case len(rest) == 2 && rest[0] == "plugins":
		h.only(w, r, http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
			s, ok := h.reg.Get(rest[1])
			if !ok {
				message(w, http.StatusNotFound, fmt.Sprintf("No plugin named '%s'", rest[1]))
				return
			}
			writeJSON(w, http.StatusOK, s.Source())
		})
	default:
		notFound(w)
	}
}

// ---- services, routes, consumers ---------------------------------------------------

func (h *handler) services(w http.ResponseWriter, r *http.Request, rest []string) {
	sn := h.st.Snapshot()
	switch {
	case len(rest) == 0:
		collection[*store.Service]{
			kind: "services",
			list: func() []json.RawMessage {
				var docs []json.RawMessage
				for _, s := range sn.Services() {
					docs = append(docs, s.Entity)
				}
				return docs
			},
			body:   h.entityBody(kongschema.Services(), scope{}),
			create: h.st.CreateService,
			doc:    func(e *store.Service) json.RawMessage { return e.Entity },
		}.serve(h, w, r)
		return
	}
	svc, ok := sn.Service(rest[0])
	if !ok {
		notFound(w)
		return
	}
	switch {
	case len(rest) == 1:
		h.only(w, r, http.MethodGet, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, svc.Entity) })
	case rest[1] == "plugins":
		h.plugins(w, r, rest[2:], scope{"service", svc.ID})
	case rest[1] == "routes":
		h.routes(w, r, rest[2:], svc.ID)
	default:
		notFound(w)
	}
}

func (h *handler) routes(w http.ResponseWriter, r *http.Request, rest []string, serviceID string) {
	sn := h.st.Snapshot()
	switch {
	case len(rest) == 0:
		sc := scope{}
		if serviceID != "" {
			sc = scope{"service", serviceID}
		}
		collection[*store.Route]{
			kind: "routes",
			list: func() []json.RawMessage {
				var docs []json.RawMessage
				for _, rt := range sn.Routes() {
					if serviceID == "" || rt.ServiceID == serviceID {
						docs = append(docs, rt.Entity)
					}
				}
				return docs
			},
			body:   h.entityBody(kongschema.Routes(), sc),
			create: h.st.CreateRoute,
			doc:    func(e *store.Route) json.RawMessage { return e.Entity },
		}.serve(h, w, r)
		return
	}
	rt, ok := sn.Route(rest[0])
	if !ok || (serviceID != "" && rt.ServiceID != serviceID) {
		notFound(w)
		return
	}
	switch {
	case len(rest) == 1:
		h.only(w, r, http.MethodGet, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, rt.Entity) })
	case rest[1] == "plugins" && serviceID == "":
		h.plugins(w, r, rest[2:], scope{"route", rt.ID})
	default:
		notFound(w)
	}
}

func (h *handler) consumers(w http.ResponseWriter, r *http.Request, rest []string) {
	sn := h.st.Snapshot()
	switch {
	case len(rest) == 0:
		collection[*store.Consumer]{
			kind: "consumers",
			list: func() []json.RawMessage {
				var docs []json.RawMessage
				for _, c := range sn.Consumers() {
					docs = append(docs, c.Entity)
				}
				return docs
			},
			body:   h.entityBody(kongschema.Consumers(), scope{}),
			create: h.st.CreateConsumer,
			doc:    func(e *store.Consumer) json.RawMessage { return e.Entity },
		}.serve(h, w, r)
		return
	}
	c, ok := sn.Consumer(rest[0])
	if !ok {
		notFound(w)
		return
	}
	switch {
	case len(rest) == 1:
		h.only(w, r, http.MethodGet, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, c.Entity) })
	case rest[1] == "plugins":
		h.plugins(w, r, rest[2:], scope{"consumer", c.ID})
	default:
		notFound(w)
	}
}

// collection is an entity collection endpoint (/services, /routes,
// /services/{x}/routes, /plugins, ...): GET pages through list(), POST
// reads a body and creates the entity, answering 201 with its document.
type collection[E any] struct {
	kind   string // "services", ...: named in the read-only refusal
	list   func() []json.RawMessage
	body   func(http.ResponseWriter, *http.Request) (json.RawMessage, bool)
	create func(json.RawMessage) (E, *kongschema.Error)
	doc    func(E) json.RawMessage
}

func (c collection[E]) serve(h *handler, w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		page(w, r, c.list())
	case http.MethodPost:
		if h.readOnly(w, "create", c.kind) {
			return
		}
		body, ok := c.body(w, r)
		if !ok {
			return
		}
		e, errV := c.create(body)
		if errV != nil {
			writeErr(w, errV)
			return
		}
		writeJSON(w, http.StatusCreated, c.doc(e))
	default:
		methodNotAllowed(w)
	}
}

// entityBody reads the body of a service, route or consumer, typing form
// values with the entity's schema and applying the nesting scope.
func (h *handler) entityBody(e *kongschema.Entity, sc scope) func(http.ResponseWriter, *http.Request) (json.RawMessage, bool) {
	return func(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
		obj, form, err := readBody(r)
		if !h.bodyOK(w, err) {
			return nil, false
		}
		if form {
			obj = e.Infer(obj)
		}
		return scopedBody(w, obj, sc)
	}
}

// scopedBody sets the nesting scope's reference (the {x} of
// /services/{x}/routes) on a read body and encodes it.
func scopedBody(w http.ResponseWriter, obj map[string]any, sc scope) (json.RawMessage, bool) {
	if sc.field != "" {
		obj[sc.field] = map[string]any{"id": sc.id}
	}
	body, err := json.Marshal(obj)
	if err != nil {
		message(w, http.StatusBadRequest, errBadJSON.Error())
		return nil, false
	}
	return body, true
}
