package schema

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// These tests hold the declaration to the rules of Kong's metaschema
// (kong/db/schema/metaschema.lua, MetaSubSchema): a dumped schema Kong
// rejects stops Kong from starting, so every rule is checked here.

// The DSL subset: attribute and check names the dump may contain.
var (
	subsetAttrs = set("type", "required", "default", "one_of", "between", "gt", "len_min", "match",
		"description", "referenceable", "encrypted", "elements", "keys", "values", "fields", "entity_checks")
	subsetChecks = set("mutually_required", "conditional", "at_least_one_of", "only_one_of",
		"conditional_at_least_one_of")
	subsetCheckArgs = map[string]map[string]bool{
		"conditional":                 set("if_field", "if_match", "then_field", "then_match"),
		"conditional_at_least_one_of": set("if_field", "if_match", "then_at_least_one_of"),
	}
	subsetMatchAttrs = set("eq", "one_of", "required", "between", "gt", "match")
	subsetTypes      = set("string", "boolean", "integer", "number", "record", "array", "set", "map")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func dumpedJSON(t testing.TB) gjson.Result {
	t.Helper()
	raw, err := JSON(PluginName)
	require.NoError(t, err)
	require.True(t, gjson.ValidBytes(raw))
	return gjson.ParseBytes(raw)
}

// TestDumpUsesOnlyTheSubset walks the dumped JSON (what Kong reads) and
// rejects any attribute, check or type outside the agreed subset.
func TestDumpUsesOnlyTheSubset(t *testing.T) {
	s := dumpedJSON(t)
	assert.Equal(t, PluginName, s.Get("name").String())
	for k := range s.Map() {
		assert.Contains(t, []string{"name", "fields", "entity_checks"}, k, "MetaSubSchema key")
	}
	var walkChecks func(where string, checks gjson.Result)
	var walkField func(path string, f gjson.Result)
	walkField = func(path string, f gjson.Result) {
		require.True(t, f.IsObject(), path)
		for k, v := range f.Map() {
			assert.True(t, subsetAttrs[k], "%s: attribute %q outside the subset", path, k)
			switch k {
			case "elements", "keys", "values":
				walkField(path+"."+k, v)
			case "fields":
				for _, item := range v.Array() {
					m := item.Map()
					require.Len(t, m, 1, "%s: each fields entry has one key", path)
					for name, sub := range m {
						walkField(path+"."+name, sub)
					}
				}
			case "entity_checks":
				walkChecks(path, v)
			}
		}
		assert.True(t, subsetTypes[f.Get("type").String()], "%s: type %q", path, f.Get("type"))
	}
	walkChecks = func(where string, checks gjson.Result) {
		for _, c := range checks.Array() {
			m := c.Map()
			require.Len(t, m, 1, "%s: each entity check has one key", where)
			for name, arg := range m {
				require.True(t, subsetChecks[name], "%s: check %q outside the subset", where, name)
				if allowed, ok := subsetCheckArgs[name]; ok {
					for k, v := range arg.Map() {
						assert.True(t, allowed[k], "%s: %s.%s", where, name, k)
						if strings.HasSuffix(k, "_match") {
							for mk := range v.Map() {
								assert.True(t, subsetMatchAttrs[mk], "%s: %s.%s.%s", where, name, k, mk)
							}
						}
					}
				} else {
					require.True(t, arg.IsArray(), "%s: %s takes a list of field names", where, name)
				}
			}
		}
	}
	for _, item := range s.Get("fields").Array() {
		for name, f := range item.Map() {
			walkField(name, f)
		}
	}
	walkChecks("plugin", s.Get("entity_checks"))
}

// TestDeclarationMeetsMetaschema applies the metaschema's constraints to
// every field of the declaration.
func TestDeclarationMeetsMetaschema(t *testing.T) {
	s := Definition(PluginName)
	// Top-level fields must exist in Kong's `plugins` entity with a
	// compatible type (Schema.new_subschema).
	require.Len(t, s.Fields, 2)
	assert.Equal(t, Set, s.Field("protocols").Type)
	assert.Equal(t, String, s.Field("protocols").Elements.Type)
	assert.Equal(t, Record, s.Config().Type)

	var fieldCount int
	var walk func(path string, fields []Field, checks []Check)
	checkField := func(path string, f *Field) {
		// Required attributes per type (required_attributes).
		switch f.Type {
		case Array, Set:
			assert.NotNil(t, f.Elements, "%s: %s must declare elements", path, f.Type)
		case Map:
			assert.True(t, f.Keys != nil && f.Values != nil, "%s: map must declare keys and values", path)
		}
		// Attribute/type compatibility (attribute_types).
		if f.Between != nil || f.Gt != nil {
			assert.Contains(t, []Type{Integer, Number}, f.Type, "%s: between/gt", path)
		}
		if f.Between != nil {
			assert.LessOrEqual(t, f.Between.Min, f.Between.Max, path)
		}
		if f.OneOf != nil {
			assert.Contains(t, []Type{String, Integer, Number}, f.Type, "%s: one_of", path)
			assert.NotEmpty(t, f.OneOf, path)
		}
		if f.Match != "" {
			assert.Equal(t, String, f.Type, "%s: match", path)
			for _, probe := range []string{"", "x", "http://a", "%(["} {
				_, err := luaMatch(probe, f.Match)
				assert.NoError(t, err, "%s: pattern %q", path, f.Match)
			}
		}
		if f.Referenceable || f.Encrypted {
			assert.Equal(t, String, f.Type, "%s: referenceable/encrypted", path)
		}
		// description: len_min 10, len_max 500.
		if f.Name != "" {
			assert.GreaterOrEqual(t, len(f.Description), 10, "%s: description", path)
			assert.LessOrEqual(t, len(f.Description), 500, "%s: description", path)
		}
		// default: { type = "self" } — the default must validate as the field.
		if f.Default != nil {
			assert.Nil(t, validateField(f, nil, schemaValue(f.Default)), "%s: default %v", path, f.Default)
		}
	}
	walk = func(path string, fields []Field, checks []Check) {
		seen := map[string]bool{}
		for i := range fields {
			f := &fields[i]
			fieldCount++
			p := strings.TrimPrefix(path+"."+f.Name, ".")
			assert.NotEmpty(t, f.Name, p)
			assert.NotContains(t, f.Name, ".", p)
			assert.False(t, seen[f.Name], "%s declared twice", p)
			seen[f.Name] = true
			assert.True(t, subsetTypes[string(f.Type)], "%s: type %q", p, f.Type)
			checkField(p, f)
			if f.Elements != nil {
				checkField(p+"[]", f.Elements)
			}
			walk(p, f.Fields, f.EntityChecks)
		}
		for _, c := range checks {
			assertCheck(t, path, fields, c)
		}
	}
	walk("", s.Fields, s.EntityChecks)
	assert.Greater(t, fieldCount, 60, "the full ai-proxy config has many fields")
}

// assertCheck verifies one entity check: one kind, names resolving in the
// record that declares it, matches that make sense for their field.
func assertCheck(t *testing.T, record string, fields []Field, c Check) {
	t.Helper()
	kinds := 0
	var names []string
	for _, list := range [][]string{c.MutuallyRequired, c.AtLeastOneOf, c.OnlyOneOf} {
		if list != nil {
			kinds++
			assert.GreaterOrEqual(t, len(list), 2, "%s: a check over one field", record)
			names = append(names, list...)
		}
	}
	matchOK := func(field string, m Match) {
		f := lookup(fields, field)
		if !assert.NotNil(t, f, "%s: check names unknown field %q", record, field) {
			return
		}
		if m.Eq != nil {
			assert.Nil(t, validateField(f, nil, schemaValue(m.Eq)), "%s: eq %v impossible for %s", record, m.Eq, field)
		}
		for _, o := range m.OneOf {
			assert.Nil(t, validateField(f, nil, o), "%s: one_of %q impossible for %s", record, o, field)
		}
	}
	if k := c.Conditional; k != nil {
		kinds++
		matchOK(k.IfField, k.IfMatch)
		matchOK(k.ThenField, k.ThenMatch)
	}
	if k := c.ConditionalAtLeastOneOf; k != nil {
		kinds++
		matchOK(k.IfField, k.IfMatch)
		names = append(names, k.ThenAtLeastOneOf...)
	}
	assert.Equal(t, 1, kinds, "%s: an entity check has exactly one kind", record)
	for _, n := range names {
		assert.NotNil(t, lookup(fields, n), "%s: check names unknown field %q", record, n)
	}
}
