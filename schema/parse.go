package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ValidationError is a config the schema rejects: one "path: message" line
// per violation, in Kong's words, in a deterministic order. Paths start at
// the plugin entity ("config.model.provider"); an entity check reports at
// the path of the record that declares it ("config"), or "@entity" for the
// plugin's own checks.
type ValidationError struct {
	Errors []string
}

// Error reads like Kong's schema violation message.
func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return "schema violation (" + e.Errors[0] + ")"
	}
	return fmt.Sprintf("%d schema violations (%s)", len(e.Errors), strings.Join(e.Errors, "; "))
}

// RouterURLEnv names the environment variable that replaces
// DefaultRouterURL for the whole process (a mirror, or a fake upstream in
// tests). It is read once, on first use.
const RouterURLEnv = "AI_PROXY_HF_ROUTER_URL"

var routerURL = sync.OnceValues(func() (*url.URL, error) {
	raw := os.Getenv(RouterURLEnv)
	if raw == "" {
		raw = DefaultRouterURL
	}
	u, err := parseHTTPURL(raw)
	if err != nil {
		return nil, fmt.Errorf("schema: %s=%q: %w", RouterURLEnv, raw, err)
	}
	return u, nil
})

// RouterURL returns the Hugging Face router base in force for this
// process: DefaultRouterURL unless AI_PROXY_HF_ROUTER_URL says otherwise.
// Each call returns a copy.
func RouterURL() (*url.URL, error) {
	u, err := routerURL()
	if err != nil {
		return nil, err
	}
	c := *u
	return &c, nil
}

// declared is the declaration Parse and Validate interpret; validation does
// not depend on the plugin's name.
var declared = Definition(PluginName)

// Parse decodes a config as Kong sends it to the plugin (its bookkeeping
// keys included), applies the schema's defaults, validates it against the
// schema and computes the derived values. A rejected config yields a
// *ValidationError. Parse never panics on any input.
func Parse(raw []byte) (*Config, error) {
	v, err := decodeValue(raw)
	if err != nil {
		return nil, fmt.Errorf("schema: config is not valid JSON: %w", err)
	}
	var pluginID string
	if m, ok := v.(map[string]any); ok {
		pluginID, _ = m["__plugin_id"].(string)
		v = withoutBookkeeping(m)
	}
	config, err := validated(v)
	if err != nil {
		return nil, err
	}
	cfg, err := typed(config)
	if err != nil {
		return nil, err
	}
	cfg.PluginID = pluginID
	if cfg.Derived, err = derive(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate applies the defaults to a config as a user writes it (the
// plugin's `config` object, as in kong.yaml or POST /plugins) and
// validates it: nil, a *ValidationError, or a JSON syntax error.
func Validate(config []byte) error {
	v, err := decodeValue(config)
	if err != nil {
		return fmt.Errorf("schema: config is not valid JSON: %w", err)
	}
	_, err = validated(v)
	return err
}

// ApplyDefaults returns config with Kong's defaults inserted (absent
// fields with a default get it; absent optional fields become null), the
// way Kong stores a plugin entity. It does not validate.
func ApplyDefaults(config []byte) ([]byte, error) {
	v, err := decodeValue(config)
	if err != nil {
		return nil, fmt.Errorf("schema: config is not valid JSON: %w", err)
	}
	entity := processRecord(declared.Fields, map[string]any{"config": v})
	out, err := json.Marshal(entity["config"])
	if err != nil {
		return nil, fmt.Errorf("schema: encode config: %w", err)
	}
	return out, nil
}

// validated runs defaults and validation on the plugin entity holding
// config, and returns config with defaults applied.
func validated(config any) (map[string]any, error) {
	entity := processRecord(declared.Fields, map[string]any{"config": config})
	if tree := validateRecord(declared.Fields, declared.EntityChecks, entity); tree != nil {
		return nil, &ValidationError{Errors: flatten("", tree, nil)}
	}
	// A valid entity's config is a record (the validator said so).
	rec, _ := asTable(entity["config"])
	return rec, nil
}

// kongBookkeeping are the keys Kong adds to a config before sending it to
// the plugin server (kong/runloop/plugins_iterator.lua), besides those
// starting with "__" (__plugin_id, __ws_id, __key__, __seq__).
var kongBookkeeping = map[string]bool{
	"route_id": true, "service_id": true, "consumer_id": true,
	"consumer_group_id": true, "plugin_instance_name": true,
}

func withoutBookkeeping(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !kongBookkeeping[k] && !strings.HasPrefix(k, "__") {
			out[k] = v
		}
	}
	return out
}

// typed decodes a validated config into Config. Two adjustments make the
// typed view total: integers are written as integers (Kong accepts 5.0 for
// an integer field, encoding/json does not), and an explicit null in a
// field that has a default reads as the default, so handlers never see a
// zero value where Kong's own code would use the default.
func typed(config map[string]any) (*Config, error) {
	raw, err := json.Marshal(typedValue(declared.Config(), config))
	if err != nil {
		return nil, fmt.Errorf("schema: encode validated config: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("schema: decode validated config: %w", err)
	}
	return &cfg, nil
}

// typedValue prepares v (declared by f) for encoding/json.
func typedValue(f *Field, v any) any {
	if v == any(null) && f.Default != nil {
		v = schemaValue(f.Default)
	}
	switch f.Type {
	case Integer:
		if n, ok := asNumber(v); ok {
			return json.Number(strconv.FormatInt(int64(n), 10))
		}
	case Record:
		rec, ok := asTable(v)
		if !ok {
			return v
		}
		out := make(map[string]any, len(rec))
		for k, e := range rec {
			if sub := f.Sub(k); sub != nil {
				out[k] = typedValue(sub, e)
			}
		}
		return out
	case Array, Set:
		seq, ok := asSequence(v)
		if !ok || f.Elements == nil {
			return v
		}
		out := make([]any, len(seq))
		for i, e := range seq {
			out[i] = typedValue(f.Elements, e)
		}
		return out
	}
	return v
}

const upstreamURLPath = "config.model.options.upstream_url"

// derive computes the per-instance values handlers need on every request.
func derive(c *Config) (Derived, error) {
	router, err := RouterURL()
	if err != nil {
		return Derived{}, err
	}
	raw := c.Model.Options.UpstreamURL
	if raw == "" {
		return Derived{Upstream: router, IsRouter: true}, nil
	}
	u, err := parseHTTPURL(raw)
	if err != nil {
		// The schema's Lua pattern cannot express all of URL syntax
		// (ports, escapes); Go refines the same rule with the same message.
		return Derived{}, &ValidationError{Errors: []string{
			upstreamURLPath + ": " + fmt.Sprintf(msgMatch, raw),
		}}
	}
	isRouter := strings.EqualFold(u.Scheme, router.Scheme) && strings.EqualFold(u.Host, router.Host) &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == ""
	return Derived{Upstream: u, IsRouter: isRouter}, nil
}

// parseHTTPURL accepts an absolute http or https URL with a host.
func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("scheme must be http or https")
	}
	if u.Hostname() == "" {
		return nil, errors.New("missing host")
	}
	return u, nil
}
