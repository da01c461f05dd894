package kong_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// This file checks plugin configurations written in this repository's
// files (kong.yaml, kong.dev.yaml, the KongPlugin manifest) against the
// schema the binary dumps, with the subset of Kong's schema rules and
// Kong's message texts that those files can run into: unknown fields,
// required fields, types, one_of, between/gt, and the entity checks
// mutually_required and conditional (eq/one_of). The full implementation of
// Kong's rules is the Kong stand-in's; this one exists so the packaging
// test depends on nothing but the binary.

type fieldSpec struct {
	Type          string                 `json:"type"`
	Required      bool                   `json:"required"`
	Default       json.RawMessage        `json:"default"`
	OneOf         []any                  `json:"one_of"`
	Between       []float64              `json:"between"`
	Gt            *float64               `json:"gt"`
	Referenceable bool                   `json:"referenceable"`
	Fields        []map[string]fieldSpec `json:"fields"`
	Elements      *fieldSpec             `json:"elements"`
	EntityChecks  []map[string]any       `json:"entity_checks"`
}

type pluginSchema struct {
	Name         string                 `json:"name"`
	Fields       []map[string]fieldSpec `json:"fields"`
	EntityChecks []map[string]any       `json:"entity_checks"`
}

// configRecord returns the schema of the "config" field.
func (s *pluginSchema) configRecord() (fieldSpec, error) {
	for _, f := range s.Fields {
		if c, ok := f["config"]; ok {
			if c.Type != "record" {
				return fieldSpec{}, fmt.Errorf("schema field config has type %q, want record", c.Type)
			}
			return c, nil
		}
	}
	return fieldSpec{}, fmt.Errorf("schema has no config field")
}

func parseSchema(raw json.RawMessage) (*pluginSchema, error) {
	var s pluginSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode dumped Schema: %w", err)
	}
	return &s, nil
}

func (f *fieldSpec) hasDefault() bool {
	return len(f.Default) > 0 && string(f.Default) != "null"
}

// checkPluginConfig validates one plugin's config (as decoded from YAML)
// and returns Kong-style messages, "config.<path>: <message>", sorted.
func checkPluginConfig(s *pluginSchema, config map[string]any) []string {
	rec, err := s.configRecord()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	withDefaults := checkRecord("config", rec, config, &problems)
	runEntityChecks("config", rec.EntityChecks, withDefaults, &problems)
	// Plugin-level checks name their fields "config.x".
	runEntityChecks("", s.EntityChecks, map[string]any{"config": withDefaults}, &problems)
	sort.Strings(problems)
	return problems
}

// checkRecord checks value against rec and returns a copy with defaults
// applied (entity checks see defaulted values, as in Kong).
func checkRecord(path string, rec fieldSpec, value map[string]any, problems *[]string) map[string]any {
	out := map[string]any{}
	known := map[string]bool{}
	for _, f := range rec.Fields {
		for name, spec := range f {
			known[name] = true
			p := path + "." + name
			v, present := value[name]
			if !present || v == nil {
				switch {
				case spec.Type == "record" && spec.Required:
					// Kong builds a required record from its fields'
					// defaults; its own required fields must then be set.
					out[name] = checkRecord(p, spec, map[string]any{}, problems)
				case spec.hasDefault():
					var d any
					if err := json.Unmarshal(spec.Default, &d); err == nil {
						out[name] = d
					}
				case spec.Required:
					*problems = append(*problems, p+": required field missing")
				}
				continue
			}
			out[name] = checkValue(p, spec, v, problems)
		}
	}
	for name := range value {
		if !known[name] {
			*problems = append(*problems, path+"."+name+": unknown field")
		}
	}
	return out
}

func checkValue(p string, spec fieldSpec, v any, problems *[]string) any {
	bad := func(msg string) any { *problems = append(*problems, p+": "+msg); return v }
	switch spec.Type {
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return bad("expected a record")
		}
		out := checkRecord(p, spec, m, problems)
		runEntityChecks(p, spec.EntityChecks, out, problems)
		return out
	case "string":
		if _, ok := v.(string); !ok {
			return bad("expected a string")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("expected a boolean")
		}
	case "integer":
		n, ok := number(v)
		if !ok || n != math.Trunc(n) {
			return bad("expected an integer")
		}
	case "number":
		if _, ok := number(v); !ok {
			return bad("expected a number")
		}
	case "array", "set":
		list, ok := v.([]any)
		if !ok {
			return bad("expected a " + spec.Type)
		}
		if spec.Elements != nil {
			for i, e := range list {
				checkValue(fmt.Sprintf("%s.%d", p, i+1), *spec.Elements, e, problems)
			}
		}
		return v
	}
	if spec.OneOf != nil && !oneOf(v, spec.OneOf) {
		return bad("expected one of: " + joinValues(spec.OneOf))
	}
	if n, ok := number(v); ok {
		if len(spec.Between) == 2 && (n < spec.Between[0] || n > spec.Between[1]) {
			return bad(fmt.Sprintf("value should be between %s and %s", fmtNum(spec.Between[0]), fmtNum(spec.Between[1])))
		}
		if spec.Gt != nil && n <= *spec.Gt {
			return bad("value must be greater than " + fmtNum(*spec.Gt))
		}
	}
	return v
}

func runEntityChecks(path string, checks []map[string]any, rec map[string]any, problems *[]string) {
	prefix := ""
	if path != "" {
		prefix = path + "."
	}
	for _, check := range checks {
		for kind, arg := range check {
			switch kind {
			case "mutually_required":
				names := toStrings(arg)
				set := 0
				for _, n := range names {
					if lookup(rec, n) != nil {
						set++
					}
				}
				if set != 0 && set != len(names) {
					quoted := make([]string, len(names))
					for i, n := range names {
						quoted[i] = "'" + n + "'"
					}
					where := path
					if where == "" {
						where = "@entity"
					}
					*problems = append(*problems, where+": all or none of these fields must be set: "+strings.Join(quoted, ", "))
				}
			case "conditional":
				c, _ := arg.(map[string]any)
				ifField, _ := c["if_field"].(string)
				thenField, _ := c["then_field"].(string)
				ifMatch, _ := c["if_match"].(map[string]any)
				thenMatch, _ := c["then_match"].(map[string]any)
				iv := lookup(rec, ifField)
				if iv == nil || !matches(iv, ifMatch) {
					continue
				}
				tv := lookup(rec, thenField)
				if tv == nil || !matches(tv, thenMatch) {
					*problems = append(*problems, prefix+thenField+": "+matchMessage(thenMatch))
				}
			}
		}
	}
}

func matches(v any, m map[string]any) bool {
	if eq, ok := m["eq"]; ok && !reflect.DeepEqual(v, eq) {
		return false
	}
	if list, ok := m["one_of"].([]any); ok && !oneOf(v, list) {
		return false
	}
	return true
}

func matchMessage(m map[string]any) string {
	if eq, ok := m["eq"]; ok {
		return fmt.Sprintf("value must be %v", eq)
	}
	if list, ok := m["one_of"].([]any); ok {
		return "expected one of: " + joinValues(list)
	}
	return "invalid value"
}

func lookup(rec map[string]any, dotted string) any {
	var cur any = rec
	for _, part := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// fieldAt returns the schema of a dotted config path ("auth.header_value").
func fieldAt(rec fieldSpec, dotted string) (fieldSpec, bool) {
	cur := rec
	for _, part := range strings.Split(dotted, ".") {
		found := false
		for _, f := range cur.Fields {
			if spec, ok := f[part]; ok {
				cur, found = spec, true
				break
			}
		}
		if !found {
			return fieldSpec{}, false
		}
	}
	return cur, true
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func oneOf(v any, list []any) bool {
	for _, x := range list {
		if reflect.DeepEqual(v, x) {
			return true
		}
		if a, ok := number(v); ok {
			if b, ok := number(x); ok && a == b {
				return true
			}
		}
	}
	return false
}

func joinValues(list []any) string {
	s := make([]string, len(list))
	for i, x := range list {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// TestSchemaCheck pins the checker's verdicts and messages on the real
// dumped schema, so that a file it passes is one Kong would accept.
func TestSchemaCheck(t *testing.T) {
	_, info := requirePlugin(t)
	s, err := parseSchema(info.Schema)
	if err != nil {
		t.Fatal(err)
	}
	// The first case is Kong's own Hugging Face chat example
	// (developer.konghq.com, ai-proxy "Chat route with Hugging Face").
	const seed = `
route_type: llm/v1/chat
auth: {header_name: Authorization, header_value: Bearer hf_x}
model: {provider: huggingface, name: HuggingFaceTB/SmolVLM-Base}
`
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{name: "kong docs chat example", yaml: seed},
		{name: "kong docs native example", yaml: seed + "genai_category: text/generation\nllm_format: huggingface\n"},
		{name: "embeddings", yaml: "route_type: llm/v1/embeddings\ngenai_category: text/embeddings\nmodel: {provider: huggingface}\n"},
		{name: "no route_type", yaml: "model: {provider: huggingface}\n", want: []string{"config.route_type: required field missing"}},
		{name: "no provider", yaml: "route_type: llm/v1/chat\nmodel: {name: a/b}\n", want: []string{"config.model.provider: required field missing"}},
		{name: "unknown field", yaml: seed + "modle: x\n", want: []string{"config.modle: unknown field"}},
		{name: "unknown nested field", yaml: seed + "logging: {log_stats: true}\n", want: []string{"config.logging.log_stats: unknown field"}},
		{name: "bad one_of", yaml: seed + "response_streaming: sometimes\n", want: []string{"config.response_streaming: expected one of: allow, deny, always"}},
		{name: "wrong type", yaml: seed + "max_request_body_size: big\n", want: []string{"config.max_request_body_size: expected an integer"}},
		{name: "record expected", yaml: "route_type: llm/v1/chat\nmodel: huggingface\n", want: []string{"config.model: expected a record"}},
		{name: "out of range", yaml: "route_type: llm/v1/chat\nmodel: {provider: huggingface, options: {temperature: 6}}\n", want: []string{"config.model.options.temperature: value should be between 0 and 5"}},
		{name: "header without value", yaml: "route_type: llm/v1/chat\nauth: {header_name: Authorization}\nmodel: {provider: huggingface}\n", want: []string{"config: all or none of these fields must be set: 'auth.header_name', 'auth.header_value'"}},
		{name: "embeddings with the default category", yaml: "route_type: llm/v1/embeddings\nmodel: {provider: huggingface}\n", want: []string{"config.genai_category: value must be text/embeddings"}},
		{name: "native format on embeddings", yaml: "route_type: llm/v1/embeddings\ngenai_category: text/embeddings\nllm_format: huggingface\nmodel: {provider: huggingface}\n", want: []string{"config.route_type: value must be llm/v1/chat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var config map[string]any
			if err := yaml.Unmarshal([]byte(tc.yaml), &config); err != nil {
				t.Fatalf("test case YAML: %v", err)
			}
			got := checkPluginConfig(s, config)
			if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("problems:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
