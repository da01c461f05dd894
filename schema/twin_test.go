package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The twin test: every rule in the dumped schema (what Kong enforces) is
// enforced by the Go validator, and every rule the Go validator applies
// is in the dump. Rules are read independently from both sides — the
// dumped JSON through gjson, the Go declaration through its types — and
// compared; then each dumped rule is violated on an otherwise valid config
// and the Go validator must report it with Kong's message.

// rule is one validation rule, rendered identically from either side.
type rule struct {
	path string // config-relative ("model.options.top_k"); a check's record for checks
	kind string // type, required, default, one_of, between, gt, match, referenceable, check
	arg  string // canonical JSON of the argument
}

func (r rule) String() string { return r.path + " " + r.kind + " " + r.arg }

func canon(t testing.TB, v any) string {
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}

// rulesFromDump walks the dumped JSON.
func rulesFromDump(t testing.TB, s gjson.Result) []rule {
	var out []rule
	var walk func(prefix string, fields gjson.Result)
	walk = func(prefix string, fields gjson.Result) {
		for _, item := range fields.Array() {
			for name, f := range item.Map() {
				p := strings.TrimPrefix(prefix+"."+name, ".")
				out = append(out, rule{p, "type", canon(t, f.Get("type").String())})
				if f.Get("required").Bool() {
					out = append(out, rule{p, "required", "true"})
				}
				for _, attr := range []string{"default", "one_of", "between", "gt", "match"} {
					if v := f.Get(attr); v.Exists() {
						out = append(out, rule{p, attr, canon(t, v.Value())})
					}
				}
				if f.Get("referenceable").Bool() {
					out = append(out, rule{p, "referenceable", "true"})
				}
				for _, c := range f.Get("entity_checks").Array() {
					out = append(out, rule{"config." + p, "check", canon(t, c.Value())})
				}
				walk(p, f.Get("fields"))
			}
		}
	}
	config := s.Get(`fields.#(config).config`)
	walk("", config.Get("fields"))
	for _, c := range config.Get("entity_checks").Array() {
		out = append(out, rule{"config", "check", canon(t, c.Value())})
	}
	for _, c := range s.Get("entity_checks").Array() {
		out = append(out, rule{"@entity", "check", canon(t, c.Value())})
	}
	return out
}

// rulesFromGo walks the Go declaration the validator interprets.
func rulesFromGo(t testing.TB, s *Schema) []rule {
	var out []rule
	var walk func(prefix string, fields []Field)
	walk = func(prefix string, fields []Field) {
		for i := range fields {
			f := &fields[i]
			p := strings.TrimPrefix(prefix+"."+f.Name, ".")
			out = append(out, rule{p, "type", canon(t, string(f.Type))})
			if f.Required {
				out = append(out, rule{p, "required", "true"})
			}
			if f.Default != nil {
				out = append(out, rule{p, "default", canon(t, f.Default)})
			}
			if f.OneOf != nil {
				out = append(out, rule{p, "one_of", canon(t, f.OneOf)})
			}
			if f.Between != nil {
				out = append(out, rule{p, "between", canon(t, []float64{f.Between.Min, f.Between.Max})})
			}
			if f.Gt != nil {
				out = append(out, rule{p, "gt", canon(t, *f.Gt)})
			}
			if f.Match != "" {
				out = append(out, rule{p, "match", canon(t, f.Match)})
			}
			if f.Referenceable {
				out = append(out, rule{p, "referenceable", "true"})
			}
			for _, c := range f.EntityChecks {
				out = append(out, rule{"config." + p, "check", checkJSON(t, c)})
			}
			walk(p, f.Fields)
		}
	}
	walk("", s.Config().Fields)
	for _, c := range s.Config().EntityChecks {
		out = append(out, rule{"config", "check", checkJSON(t, c)})
	}
	for _, c := range s.EntityChecks {
		out = append(out, rule{"@entity", "check", checkJSON(t, c)})
	}
	return out
}

// checkJSON renders a Go Check as Kong's table, independently of dump.go.
func checkJSON(t testing.TB, c Check) string {
	match := func(m Match) map[string]any {
		o := map[string]any{}
		if m.Eq != nil {
			o["eq"] = m.Eq
		}
		if m.OneOf != nil {
			o["one_of"] = m.OneOf
		}
		if m.Required {
			o["required"] = true
		}
		if m.Between != nil {
			o["between"] = []float64{m.Between.Min, m.Between.Max}
		}
		if m.Gt != nil {
			o["gt"] = *m.Gt
		}
		if m.Match != "" {
			o["match"] = m.Match
		}
		return o
	}
	var v map[string]any
	switch {
	case c.MutuallyRequired != nil:
		v = map[string]any{"mutually_required": c.MutuallyRequired}
	case c.AtLeastOneOf != nil:
		v = map[string]any{"at_least_one_of": c.AtLeastOneOf}
	case c.OnlyOneOf != nil:
		v = map[string]any{"only_one_of": c.OnlyOneOf}
	case c.Conditional != nil:
		k := c.Conditional
		v = map[string]any{"conditional": map[string]any{"if_field": k.IfField, "if_match": match(k.IfMatch),
			"then_field": k.ThenField, "then_match": match(k.ThenMatch)}}
	case c.ConditionalAtLeastOneOf != nil:
		k := c.ConditionalAtLeastOneOf
		v = map[string]any{"conditional_at_least_one_of": map[string]any{"if_field": k.IfField,
			"if_match": match(k.IfMatch), "then_at_least_one_of": k.ThenAtLeastOneOf}}
	}
	// Round trip through a generic value so both sides compare in one
	// canonical form (sorted keys, float numbers).
	var generic any
	require.NoError(t, json.Unmarshal([]byte(canon(t, v)), &generic))
	return canon(t, generic)
}

func ruleStrings(rules []rule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	sort.Strings(out)
	return out
}

func TestEveryRuleHasItsTwin(t *testing.T) {
	dumped := rulesFromDump(t, dumpedJSON(t))
	goRules := rulesFromGo(t, Definition(PluginName))
	require.Equal(t, ruleStrings(goRules), ruleStrings(dumped),
		"the Go validator's rules and the dumped schema's rules must be the same set")

	kinds := map[string]int{}
	for _, r := range dumped {
		kinds[r.kind]++
		t.Run(r.String(), func(t *testing.T) { enforceRule(t, r) })
	}
	t.Logf("rules per kind: %v (total %d)", kinds, len(dumped))
	for _, k := range []string{"type", "required", "default", "one_of", "between", "gt", "match", "referenceable", "check"} {
		assert.Positive(t, kinds[k], "no %s rule exercised", k)
	}
}

// twinBase is a valid config where every record exists, so any field can
// be set or removed alone. route_type preserve takes any genai_category.
const twinBase = `{"route_type":"preserve","auth":{},"logging":{},
	"model":{"provider":"huggingface","options":{"gemini":{},"bedrock":{},"cohere":{},"dashscope":{},"huggingface":{}}}}`

func validationErrors(t *testing.T, config string) []string {
	t.Helper()
	err := Validate([]byte(config))
	if err == nil {
		return nil
	}
	var verr *ValidationError
	require.True(t, errors.As(err, &verr), "%v", err)
	return verr.Errors
}

func withValue(t *testing.T, config, path string, v any) string {
	t.Helper()
	out, err := sjson.Set(config, path, v)
	require.NoError(t, err)
	return out
}

// enforceRule violates one dumped rule and checks the Go validator's
// answer.
func enforceRule(t *testing.T, r rule) {
	require.Empty(t, validationErrors(t, twinBase), "the base config must be valid")
	full := "config." + r.path
	f, ok := dumpedField(dumpedJSON(t), r.path)
	if r.kind != "check" {
		require.True(t, ok, r.path)
	}
	expect := func(config, line string) {
		t.Helper()
		assert.Contains(t, validationErrors(t, config), line, "config: %s", config)
	}
	switch r.kind {
	case "type":
		wrong := map[string]any{"string": 12345, "boolean": "yes", "integer": "x", "number": "x", "record": "x"}
		msg := map[string]string{"string": msgExpectedString, "boolean": msgExpectedBoolean,
			"integer": msgExpectedInteger, "number": msgExpectedNumber, "record": msgExpectedRecord}
		typ := f.Get("type").String()
		require.Contains(t, wrong, typ)
		expect(withValue(t, twinBase, r.path, wrong[typ]), full+": "+msg[typ])
		if typ == "string" && !f.Get("one_of").Exists() {
			// Kong refuses empty strings unless the schema sets len_min.
			expect(withValue(t, twinBase, r.path, ""), full+": length must be at least 1")
		}
	case "required":
		cfg, err := sjson.SetRaw(twinBase, r.path, "null")
		require.NoError(t, err)
		expect(cfg, full+": "+msgRequired)
	case "default":
		cfg, err := sjson.Delete(twinBase, r.path)
		require.NoError(t, err)
		out, err := ApplyDefaults([]byte(cfg))
		require.NoError(t, err)
		assert.JSONEq(t, r.arg, gjson.GetBytes(out, r.path).Raw)
	case "one_of":
		var opts []string
		require.NoError(t, json.Unmarshal([]byte(r.arg), &opts))
		expect(withValue(t, twinBase, r.path, "not-an-allowed-value"), full+": expected one of: "+strings.Join(opts, ", "))
		for _, o := range opts {
			assert.NotContains(t, strings.Join(validationErrors(t, withValue(t, twinBase, r.path, o)), "\n"), full+":")
		}
	case "between":
		var lim [2]float64
		require.NoError(t, json.Unmarshal([]byte(r.arg), &lim))
		msg := fmt.Sprintf("%s: value should be between %d and %d", full, int64(lim[0]), int64(lim[1]))
		expect(withValue(t, twinBase, r.path, lim[1]+1), msg)
		expect(withValue(t, twinBase, r.path, lim[0]-1), msg)
		assert.Empty(t, validationErrors(t, withValue(t, twinBase, r.path, lim[0])))
		assert.Empty(t, validationErrors(t, withValue(t, twinBase, r.path, lim[1])))
	case "gt":
		var lim float64
		require.NoError(t, json.Unmarshal([]byte(r.arg), &lim))
		expect(withValue(t, twinBase, r.path, lim), full+": value must be greater than "+luaNumber(lim))
		assert.Empty(t, validationErrors(t, withValue(t, twinBase, r.path, lim+0.5)))
	case "match":
		expect(withValue(t, twinBase, r.path, "no match here"), full+": invalid value: no match here")
	case "referenceable":
		assert.Empty(t, validationErrors(t, withValue(t, twinBase, r.path, "{vault://env/secret}")),
			"a vault reference is accepted as is")
	case "check":
		enforceCheck(t, r)
	default:
		t.Fatalf("unknown rule kind %q", r.kind)
	}
}

// enforceCheck violates, then satisfies, one entity check from the dump.
func enforceCheck(t *testing.T, r rule) {
	var c map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(r.arg), &c))
	// Field names of a check are relative to its record; the config is
	// written relative to config.
	rel := func(name string) string {
		if r.path == "@entity" {
			return strings.TrimPrefix(name, "config.")
		}
		return strings.TrimPrefix(strings.TrimPrefix(r.path, "config")+"."+name, ".")
	}
	s := dumpedJSON(t)
	validValue := func(path string) any {
		f, ok := dumpedField(s, path)
		require.True(t, ok, path)
		if o := f.Get("one_of.0"); o.Exists() {
			return o.Value()
		}
		return "some-value"
	}
	for name, arg := range c {
		switch name {
		case "mutually_required":
			var names []string
			require.NoError(t, json.Unmarshal(arg, &names))
			one := withValue(t, twinBase, rel(names[0]), validValue(rel(names[0])))
			assert.Contains(t, validationErrors(t, one),
				r.path+": "+fmt.Sprintf(msgMutuallyRequired, quotedList(names)))
			all := twinBase
			for _, n := range names {
				all = withValue(t, all, rel(n), validValue(rel(n)))
			}
			assert.Empty(t, validationErrors(t, all))
		case "conditional":
			var k struct {
				IfField   string         `json:"if_field"`
				IfMatch   map[string]any `json:"if_match"`
				ThenField string         `json:"then_field"`
				ThenMatch map[string]any `json:"then_match"`
			}
			require.NoError(t, json.Unmarshal(arg, &k))
			ifValue := k.IfMatch["eq"]
			if ifValue == nil {
				ifValue = k.IfMatch["one_of"].([]any)[0]
			}
			want, isEq := k.ThenMatch["eq"]
			require.True(t, isEq, "this test knows eq then_matches only")
			thenField, ok := dumpedField(s, rel(k.ThenField))
			require.True(t, ok)
			var other any
			for _, o := range thenField.Get("one_of").Array() {
				if o.Value() != want {
					other = o.Value()
					break
				}
			}
			require.NotNil(t, other)
			cfg := withValue(t, withValue(t, twinBase, rel(k.IfField), ifValue), rel(k.ThenField), other)
			errs := validationErrors(t, cfg)
			assert.Contains(t, errs, r.path+": "+fmt.Sprintf(msgConditional, k.IfField))
			assert.Contains(t, errs, "config."+rel(k.ThenField)+": "+fmt.Sprintf(msgEq, luaString(want)))
			cfg = withValue(t, withValue(t, twinBase, rel(k.IfField), ifValue), rel(k.ThenField), want)
			assert.Empty(t, validationErrors(t, cfg))
		default:
			t.Fatalf("no enforcement written for check %q", name)
		}
	}
}

// TestGoOnlyRefinement documents the one place Go is stricter than the
// dump: upstream_url is parsed with net/url after the Lua pattern, with
// the pattern's own message (the pattern cannot express ports/escapes).
func TestGoOnlyRefinement(t *testing.T) {
	cfg := `{"route_type":"llm/v1/chat","model":{"provider":"huggingface","options":{"upstream_url":"http://tgi:port/"}}}`
	require.NoError(t, Validate([]byte(cfg)), "Kong's pattern accepts it")
	_, err := Parse([]byte(cfg))
	var verr *ValidationError
	require.True(t, errors.As(err, &verr))
	assert.Equal(t, []string{"config.model.options.upstream_url: invalid value: http://tgi:port/"}, verr.Errors)
}
