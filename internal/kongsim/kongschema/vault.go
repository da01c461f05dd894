package kongschema

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// Resolver turns a vault reference ("{vault://env/my-secret}") into its
// value.
type Resolver func(ref string) (string, error)

// EnvVault is Kong's bundled env vault over the given environment
// (os.Environ form): {vault://env/<name>} reads the variable <NAME> (upper
// case, "-" → "_"), {vault://env/<name>/<key>} reads a JSON object from it
// and takes <key>; a "?prefix=P_" query prepends P_ to the variable name.
func EnvVault(environ []string) Resolver {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return func(ref string) (string, error) {
		inner, ok := strings.CutPrefix(ref, "{vault://")
		if !ok || !strings.HasSuffix(inner, "}") {
			return "", fmt.Errorf("not a vault reference: %s", ref)
		}
		inner = strings.TrimSuffix(inner, "}")
		inner, _, _ = strings.Cut(inner, "#") // version: not used by env
		inner, query, _ := strings.Cut(inner, "?")
		vault, rest, ok := strings.Cut(inner, "/")
		if !ok || vault != "env" {
			return "", fmt.Errorf("vault %q not supported by kongsim (only env)", vault)
		}
		resource, key, hasKey := strings.Cut(rest, "/")
		prefix := ""
		if q, err := url.ParseQuery(query); err == nil {
			prefix = q.Get("prefix")
		}
		name := strings.ToUpper(strings.ReplaceAll(prefix+resource, "-", "_"))
		val, ok := env[name]
		if !ok {
			return "", fmt.Errorf("could not get value from external vault (no value found (environment variable %s not set))", name)
		}
		if !hasKey {
			return val, nil
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(val), &obj); err != nil {
			return "", fmt.Errorf("unable to json decode value received from vault: %w", err)
		}
		s, ok := obj[key].(string)
		if !ok {
			return "", fmt.Errorf("could not find key %s", key)
		}
		return s, nil
	}
}

// ResolveReferences replaces the vault references in the referenceable
// string fields of a config (as ProcessConfig returns it), including
// referenceable array elements and map values, the way Kong dereferences a
// config before a plugin sees it. A reference that does not resolve becomes
// "" (Kong logs it and goes on); the failures are returned for logging.
func (s *Schema) ResolveReferences(config json.RawMessage, resolve Resolver) (json.RawMessage, []error) {
	v, err := decodeJSON(config)
	if err != nil {
		return config, []error{err}
	}
	cfgField := s.entity.fieldByName("config")
	if cfgField == nil {
		return config, nil
	}
	var errs []error
	out := resolveValue(cfgField, v, "config", resolve, &errs)
	return mustMarshal(out), errs
}

func resolveValue(f *field, v any, path string, resolve Resolver, errs *[]error) any {
	deref := func(val any, p string) any {
		if !isReference(val) {
			return val
		}
		got, err := resolve(val.(string))
		if err != nil {
			*errs = append(*errs, fmt.Errorf("unable to resolve reference %s (%s): %w", val, p, err))
			return ""
		}
		return got
	}
	switch f.typ {
	case "string":
		if f.referenceable {
			return deref(v, path)
		}
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		for _, nf := range f.fields {
			if e, present := m[nf.name]; present {
				m[nf.name] = resolveValue(nf.f, e, path+"."+nf.name, resolve, errs)
			}
		}
		return m
	case "array", "set":
		l, ok := v.([]any)
		if !ok || f.elements == nil {
			return v
		}
		for i, e := range l {
			l[i] = resolveValue(f.elements, e, fmt.Sprintf("%s.%d", path, i+1), resolve, errs)
		}
		return l
	case "map":
		m, ok := v.(map[string]any)
		if !ok || f.values == nil {
			return v
		}
		for k, e := range m {
			m[k] = resolveValue(f.values, e, path+"."+k, resolve, errs)
		}
		return m
	}
	return v
}
