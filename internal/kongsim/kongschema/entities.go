package kongschema

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Entity is a core Kong entity schema (services, routes, consumers) the
// stand-in validates the way Kong's DAO does. The definitions below are
// kong/db/schema/entities/*.lua transcribed to JSON, with the typedefs'
// Lua custom validators reproduced in Go (attribute "x_custom", internal).
type Entity struct {
	name string
	rec  *field
	// variant picks a different compiled record for an entity (the routes
	// protocol subschemas); nil means rec.
	variant func(entity map[string]any) *field
	// shorthand rewrites sugar fields (a service's url) before processing.
	shorthand func(entity map[string]any) *errTable
}

// Name is the entity name ("services", "routes", "consumers").
func (e *Entity) Name() string { return e.name }

const protocolsJSON = `["grpc","grpcs","http","https","tcp","tls","tls_passthrough","udp"]`

const tagsJSON = `{"type":"set","elements":{"type":"string","required":true}}`

const servicesJSON = `[
	{"id":{"type":"string","uuid":true,"auto":true}},
	{"created_at":{"type":"integer","timestamp":true,"auto":true}},
	{"updated_at":{"type":"integer","timestamp":true,"auto":true}},
	{"name":{"type":"string","unique":true}},
	{"retries":{"type":"integer","default":5,"between":[0,32767]}},
	{"protocol":{"type":"string","one_of":` + protocolsJSON + `,"required":true,"default":"http"}},
	{"host":{"type":"string","required":true,"x_custom":"host"}},
	{"port":{"type":"integer","between":[0,65535],"required":true,"default":80}},
	{"path":{"type":"string","starts_with":"/","match_none":[{"pattern":"//","err":"must not have empty segments"}],"x_custom":"path"}},
	{"connect_timeout":{"type":"integer","between":[1,2147483646],"default":60000}},
	{"write_timeout":{"type":"integer","between":[1,2147483646],"default":60000}},
	{"read_timeout":{"type":"integer","between":[1,2147483646],"default":60000}},
	{"tags":` + tagsJSON + `},
	{"client_certificate":{"type":"foreign","reference":"certificates"}},
	{"tls_verify":{"type":"boolean"}},
	{"tls_verify_depth":{"type":"integer","default":null,"between":[0,64]}},
	{"ca_certificates":{"type":"array","elements":{"type":"string","uuid":true}}},
	{"enabled":{"type":"boolean","required":true,"default":true}}
]`

const servicesChecksJSON = `[
	{"conditional":{"if_field":"protocol","if_match":{"one_of":["tcp","tls","udp","grpc","grpcs"]},"then_field":"path","then_match":{"eq":null}}},
	{"conditional":{"if_field":"protocol","if_match":{"not_one_of":["https","tls"]},"then_field":"client_certificate","then_match":{"eq":null}}},
	{"conditional":{"if_field":"protocol","if_match":{"not_one_of":["https","tls"]},"then_field":"tls_verify","then_match":{"eq":null}}},
	{"conditional":{"if_field":"protocol","if_match":{"not_one_of":["https","tls"]},"then_field":"tls_verify_depth","then_match":{"eq":null}}},
	{"conditional":{"if_field":"protocol","if_match":{"not_one_of":["https","tls"]},"then_field":"ca_certificates","then_match":{"eq":null}}}
]`

const sourcesJSON = `{"type":"set","elements":{"type":"record","fields":[
	{"ip":{"type":"string"}},{"port":{"type":"integer","between":[0,65535]}}],
	"entity_checks":[{"at_least_one_of":["ip","port"]}]}}`

// routesJSON has "%s" slots for the fields the http subschema replaces.
const routesJSON = `[
	{"id":{"type":"string","uuid":true,"auto":true}},
	{"created_at":{"type":"integer","timestamp":true,"auto":true}},
	{"updated_at":{"type":"integer","timestamp":true,"auto":true}},
	{"name":{"type":"string","unique":true}},
	{"protocols":{"type":"set","len_min":1,"required":true,
		"elements":{"type":"string","one_of":` + protocolsJSON + `},
		"mutually_exclusive_subsets":[["http","https"],["tcp","tls","udp"],["tls_passthrough"],["grpc","grpcs"]],
		"default":["http","https"]}},
	{"https_redirect_status_code":{"type":"integer","one_of":[426,301,302,307,308],"default":426,"required":true}},
	{"strip_path":{"type":"boolean","required":true,"default":true}},
	{"preserve_host":{"type":"boolean","required":true,"default":false}},
	{"request_buffering":{"type":"boolean","required":true,"default":true}},
	{"response_buffering":{"type":"boolean","required":true,"default":true}},
	{"tags":` + tagsJSON + `},
	{"service":{"type":"foreign","reference":"services"}},
	{"snis":{"type":"set","elements":{"type":"string"}}},
	{"sources":%s},
	{"destinations":%s},
	{"methods":{"type":"set","elements":{"type":"string","match":"^%%u+$"}}},
	{"hosts":{"type":"array","elements":{"type":"string",
		"match_all":[{"pattern":"^[^*]*%%*?[^*]*$","err":"invalid wildcard: must have at most one wildcard"}],
		"match_any":{"patterns":["^%%*%%.","%%.%%*$","^[^*]*$"],"err":"invalid wildcard: must be placed at leftmost or rightmost label"},
		"x_custom":"wildcard_host"}}},
	{"paths":{"type":"array","elements":{"type":"string",
		"match_any":{"patterns":["^/","^~/"],"err":"should start with: / (fixed path) or ~/ (regex path)"},
		"match_none":[{"pattern":"//","err":"must not have empty segments"}],
		"x_custom":"router_path"}}},
	{"headers":{"type":"map","keys":{"type":"string","match_none":[{"pattern":"^[Hh][Oo][Ss][Tt]$","err":"cannot contain 'host' header, which must be specified in the 'hosts' attribute"}]},
		"values":{"type":"array","elements":{"type":"string"}}}},
	{"regex_priority":{"type":"integer","default":0}},
	{"path_handling":{"type":"string","default":"v0","one_of":["v0","v1"]}}
]`

const routesChecksJSON = `[
	{"conditional":{"if_field":"protocols",
		"if_match":{"elements":{"type":"string","not_one_of":["grpcs","https","tls","tls_passthrough"]}},
		"then_field":"snis","then_match":{"len_eq":0},
		"then_err":"'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"}}
]`

// routesHTTPChecksJSON is the http subschema's check (routes_subschemas.lua).
const routesHTTPChecksJSON = `[
	{"conditional_at_least_one_of":{"if_field":"protocols",
		"if_match":{"contains":"https"},
		"then_at_least_one_of":["methods","hosts","headers","paths","snis"],
		"then_err":"must set one of %s when 'protocols' is 'https'",
		"else_match":{"contains":"http"},
		"else_then_at_least_one_of":["methods","hosts","headers","paths"],
		"else_then_err":"must set one of %s when 'protocols' is 'http'"}}
]`

const consumersJSON = `[
	{"id":{"type":"string","uuid":true,"auto":true}},
	{"created_at":{"type":"integer","timestamp":true,"auto":true}},
	{"updated_at":{"type":"integer","timestamp":true,"auto":true}},
	{"username":{"type":"string","unique":true}},
	{"custom_id":{"type":"string","unique":true}},
	{"tags":` + tagsJSON + `}
]`

const consumersChecksJSON = `[{"at_least_one_of":["custom_id","username"]}]`

func compileEntity(fieldsJSON, checksJSON string) (*field, error) {
	fields, err := decodeFields(fieldsJSON)
	if err != nil {
		return nil, err
	}
	rec := &field{typ: "record", fields: fields}
	makeEntityRecordsRequired(rec)
	for _, nf := range fields {
		if err := resolveChecks(nf.f); err != nil {
			return nil, err
		}
	}
	checks, err := decodeJSON([]byte(checksJSON))
	if err != nil {
		return nil, err
	}
	if rec.checks, err = compileChecks(checks, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

func makeEntityRecordsRequired(rec *field) {
	for _, nf := range rec.fields {
		if nf.f.typ == "record" {
			makeRecordsRequired(nf.f)
		}
	}
}

type entities struct {
	services, routes, consumers *Entity
}

var coreEntities = sync.OnceValues(func() (*entities, error) {
	svc, err := compileEntity(servicesJSON, servicesChecksJSON)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	// The http subschema forbids sources/destinations (with its own err)
	// and adds the "must set one of" check.
	noSources := `{"type":"set","eq":null,"err":"cannot set '%s' when 'protocols' is 'http' or 'https'","elements":{"type":"record","fields":[{"ip":{"type":"string"}},{"port":{"type":"integer"}}]}}`
	httpRoutes, err := compileEntity(fmt.Sprintf(routesJSON,
		fmt.Sprintf(noSources, "sources"), fmt.Sprintf(noSources, "destinations")),
		routesChecksJSON[:len(routesChecksJSON)-1]+","+routesHTTPChecksJSON[1:])
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	otherRoutes, err := compileEntity(fmt.Sprintf(routesJSON, sourcesJSON, sourcesJSON), routesChecksJSON)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	cons, err := compileEntity(consumersJSON, consumersChecksJSON)
	if err != nil {
		return nil, fmt.Errorf("consumers: %w", err)
	}
	return &entities{
		services: &Entity{name: "services", rec: svc, shorthand: serviceURLShorthand},
		routes: &Entity{name: "routes", rec: httpRoutes, variant: func(e map[string]any) *field {
			// Kong picks the subschema from the first protocol that has
			// one; "http" covers http and https.
			for _, p := range asList(e["protocols"]) {
				switch p {
				case "http", "https":
					return httpRoutes
				case "grpc", "grpcs", "tcp", "tls", "udp", "tls_passthrough":
					return otherRoutes
				}
			}
			return httpRoutes
		}},
		consumers: &Entity{name: "consumers", rec: cons},
	}, nil
})

// Services is Kong's services entity.
func Services() *Entity { e, _ := coreEntities(); return e.services }

// Routes is Kong's routes entity (traditional_compatible router, http
// subschema for http/https routes).
func Routes() *Entity { e, _ := coreEntities(); return e.routes }

// Consumers is Kong's consumers entity.
func Consumers() *Entity { e, _ := coreEntities(); return e.consumers }

func (e *Entity) recordFor(obj map[string]any) *field {
	if e.variant != nil {
		return e.variant(obj)
	}
	return e.rec
}

// Process validates an entity for insertion and returns it with defaults
// (nulls kept, as the Admin API shows it). Foreign keys must already be
// {"id": "<uuid>"}; auto fields (id, timestamps) are the caller's.
func (e *Entity) Process(entity json.RawMessage) (json.RawMessage, *Error) {
	obj, errV := decodeInput(entity)
	if errV != nil {
		return nil, errV
	}
	if e.shorthand != nil {
		if errs := e.shorthand(obj); errs != nil {
			return nil, schemaViolation(errs)
		}
	}
	processed := processRecord(e.rec, obj, ctxInsert)
	rec := e.recordFor(processed)
	if rec != e.rec {
		processed = processRecord(rec, obj, ctxInsert)
	}
	if errs := (&validator{}).validateRecord(rec, processed, true); errs != nil {
		return nil, schemaViolation(errs)
	}
	return mustMarshal(processed), nil
}

// ProcessUpdate is Process for a PATCH (see Schema.ProcessPluginUpdate).
func (e *Entity) ProcessUpdate(current, patch json.RawMessage) (json.RawMessage, *Error) {
	cur, errV := decodeInput(current)
	if errV != nil {
		return nil, errV
	}
	p, errV := decodeInput(patch)
	if errV != nil {
		return nil, errV
	}
	if e.shorthand != nil {
		if errs := e.shorthand(p); errs != nil {
			return nil, schemaViolation(errs)
		}
	}
	rec := e.recordFor(mergeValues(e.rec, p, cur))
	merged := mergeValues(rec, processRecord(rec, p, ctxUpdate), cur)
	if errs := (&validator{updating: true}).validateRecord(rec, merged, false); errs != nil {
		return nil, schemaViolation(errs)
	}
	return mustMarshal(processRecord(rec, merged, ctxSelect)), nil
}

// serviceURLShorthand is the services "url" shorthand: protocol, host, port
// and path from one URL (kong/db/schema/entities/services.lua).
func serviceURLShorthand(obj map[string]any) *errTable {
	raw, present := obj["url"]
	if !present {
		return nil
	}
	delete(obj, "url")
	s, ok := raw.(string)
	if !ok {
		return &errTable{fields: map[string]any{"url": errString}}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme == "" && u.Host == "") {
		// socket.url would read a bare "host" as a path; Kong then
		// complains about the missing host.
		obj["host"] = nil
		if u != nil && u.Path != "" {
			obj["path"] = u.Path
		}
		return nil
	}
	var port float64
	hasPort := false
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			port, hasPort = float64(n), true
		}
	}
	protocol := u.Scheme
	if protocol == "" {
		switch {
		case hasPort && port == 80:
			protocol = "http"
		case hasPort && port == 443:
			protocol = "https"
		default:
			protocol = "http"
		}
	}
	if !hasPort {
		switch protocol {
		case "http":
			port = 80
		case "https":
			port = 443
		default:
			port = 80
		}
	}
	obj["protocol"] = protocol
	if h := u.Hostname(); h != "" {
		obj["host"] = h
	} else {
		obj["host"] = nil
	}
	obj["port"] = port
	if u.EscapedPath() != "" {
		obj["path"] = u.EscapedPath()
	} else {
		obj["path"] = nil
	}
	return nil
}

var (
	hostnameRe   = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_\-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_\-]*[A-Za-z0-9_])?)*\.?$`)
	pathCharsRe  = regexp.MustCompile(`^/[A-Za-z0-9.\-_~/%:@!$&'()*+,;=]*$`)
	pctEncodedRe = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)
	badPctRe     = regexp.MustCompile(`%.?.?`)
)

// customValidate runs the Go version of a typedef's Lua custom validator.
func customValidate(name string, s string) string {
	switch name {
	case "host":
		return validateHost(s, false)
	case "wildcard_host":
		return validateHost(strings.ReplaceAll(s, "*", "abc"), true)
	case "path":
		return validatePath(s)
	case "router_path":
		if msg := validatePath(s); strings.HasPrefix(msg, "invalid url-encoded") {
			return msg
		}
		if rest, ok := strings.CutPrefix(s, "~"); ok {
			if _, err := regexp.Compile(rest); err != nil {
				return fmt.Sprintf("invalid regex: '%s' (PCRE returned: %s)", rest, err)
			}
		}
	}
	return ""
}

// validateHost is typedefs' validate_host: an IP or a hostname, no port
// (or, for wildcard hosts, an optional port).
func validateHost(host string, portAllowed bool) string {
	h := host
	hasPort := false
	if hp, p, err := net.SplitHostPort(host); err == nil {
		if _, err := strconv.Atoi(p); err != nil {
			return "invalid value: " + host
		}
		h, hasPort = hp, true
	}
	if net.ParseIP(strings.Trim(h, "[]")) == nil && !hostnameRe.MatchString(h) {
		return "invalid value: " + host
	}
	if hasPort && !portAllowed {
		return "must not have a port"
	}
	return ""
}

// validatePath is typedefs' validate_path.
func validatePath(p string) string {
	if !pathCharsRe.MatchString(p) {
		return "invalid path: '" + p + "' (characters outside of the reserved list of RFC 3986 found)"
	}
	raw := pctEncodedRe.ReplaceAllString(p, "___")
	if strings.Contains(raw, "%") {
		return "invalid url-encoded value: '" + badPctRe.FindString(raw) + "'"
	}
	return ""
}
