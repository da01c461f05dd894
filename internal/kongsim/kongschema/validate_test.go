package kongschema

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testSchema exercises every type and attribute the stand-in supports, in
// the shape of an ai-proxy-like config.
const testSchema = `{"name":"t","fields":[
 {"consumer":{"type":"foreign","reference":"consumers","eq":null}},
 {"protocols":{"type":"set","required":true,"default":["grpc","grpcs","http","https"],
   "elements":{"type":"string","one_of":["grpc","grpcs","http","https"]}}},
 {"config":{"type":"record","fields":[
   {"route_type":{"type":"string","required":true,"one_of":["llm/v1/chat","llm/v1/completions","preserve"]}},
   {"max_request_body_size":{"type":"integer","default":8192,"gt":0}},
   {"name":{"type":"string","len_min":0}},
   {"slug":{"type":"string","match":"^%l[%w%-_]*$"}},
   {"not_admin":{"type":"string","not_match":"^admin"}},
   {"prefix":{"type":"string","starts_with":"/"}},
   {"url":{"type":"string","match_all":[{"pattern":"^https?://","err":"must be http(s)"}],
     "match_none":[{"pattern":"%s","err":"must not contain spaces"}]}},
   {"ratio":{"type":"number","between":[0,1]}},
   {"count":{"type":"integer","between":[1,10]}},
   {"exact":{"type":"string","len_eq":3}},
   {"short":{"type":"string","len_max":4}},
   {"id":{"type":"string","uuid":true}},
   {"ts":{"type":"number","timestamp":true}},
   {"tags":{"type":"array","elements":{"type":"string"},"len_min":1}},
   {"uniq":{"type":"set","elements":{"type":"integer"}}},
   {"headers":{"type":"map","keys":{"type":"string"},"values":{"type":"string"}}},
   {"must_have":{"type":"array","elements":{"type":"string"},"contains":"x"}},
   {"flag":{"type":"boolean","default":false}},
   {"not_zero":{"type":"number","ne":0}},
   {"secret":{"type":"string","referenceable":true,"encrypted":true,"match":"^Bearer "}},
   {"auth":{"type":"record","required":false,"fields":[
     {"header_name":{"type":"string"}},
     {"header_value":{"type":"string","referenceable":true}},
     {"param_name":{"type":"string"}},
     {"param_value":{"type":"string"}},
     {"param_location":{"type":"string","one_of":["query","body"]}}]}},
   {"model":{"type":"record","required":true,"fields":[
     {"provider":{"type":"string","required":true,"one_of":["huggingface","openai"]}},
     {"name":{"type":"string"}},
     {"options":{"type":"record","fields":[
       {"temperature":{"type":"number","between":[0,5]}},
       {"max_tokens":{"type":"integer"}},
       {"input_cost":{"type":"number","gt":0}},
       {"upstream_url":{"type":"string"}},
       {"huggingface":{"type":"record","required":false,"fields":[{"use_cache":{"type":"boolean"}}]}}]}}]}},
   {"logging":{"type":"record","fields":[
     {"log_statistics":{"type":"boolean","required":true,"default":false}},
     {"log_payloads":{"type":"boolean","required":true,"default":false}}]}}],
  "entity_checks":[
   {"mutually_required":["auth.header_name","auth.header_value"]},
   {"mutually_required":["auth.param_name","auth.param_value","auth.param_location"]},
   {"conditional":{"if_field":"model.provider","if_match":{"one_of":["openai"]},
     "then_field":"model.options.upstream_url","then_match":{"required":true}}},
   {"conditional":{"if_field":"route_type","if_match":{"eq":"preserve"},
     "then_field":"max_request_body_size","then_match":{"between":[1,100]},
     "then_err":"preserve needs a small body limit (because of %s)"}},
   {"only_one_of":["name","slug"]},
   {"at_least_one_of":["model.name","route_type"]},
   {"conditional_at_least_one_of":{"if_field":"route_type","if_match":{"eq":"llm/v1/completions"},
     "then_at_least_one_of":["model.name"],"then_err":"completions need one of %s"}},
   {"mutually_exclusive":["prefix","url"]},
   {"distinct":["name","short"]}]}}],
 "entity_checks":[{"conditional":{"if_field":"config.flag","if_match":{"eq":true},
   "then_field":"protocols","then_match":{"len_eq":1}}}]}`

func testSchemaT(t testing.TB) *Schema {
	t.Helper()
	s, err := Parse([]byte(testSchema))
	require.NoError(t, err)
	return s
}

// base is a minimal valid config; cases patch it.
const base = `"route_type":"llm/v1/chat","slug":"a","model":{"provider":"huggingface"}`

func TestProcessConfigDefaults(t *testing.T) {
	s := testSchemaT(t)
	out, errV := s.ProcessConfig(json.RawMessage(`{` + base + `}`))
	require.Nil(t, errV)
	// Records are expanded to their defaults (logging, model.options),
	// optional absent fields stay absent, explicitly optional records
	// (auth, huggingface) are not expanded.
	assert.JSONEq(t, `{"route_type":"llm/v1/chat","slug":"a","max_request_body_size":8192,"flag":false,
		"model":{"provider":"huggingface","options":{}},
		"logging":{"log_statistics":false,"log_payloads":false}}`, string(out))

	out, errV = s.ProcessConfig(json.RawMessage(`{` + base + `,"uniq":[1,1,2,1],"tags":["a"],"ratio":1.0,"count":10,"secret":"{vault://env/x}"}`))
	require.Nil(t, errV)
	assert.Contains(t, string(out), `"uniq":[1,2]`, "sets drop duplicates")
	assert.Contains(t, string(out), `"secret":"{vault://env/x}"`, "references skip validators")

	entity, errV := s.ProcessPlugin(json.RawMessage(`{"name":"t","config":{` + base + `}}`))
	require.Nil(t, errV)
	assert.Contains(t, string(entity), `"protocols":["grpc","grpcs","http","https"]`)
	assert.Contains(t, string(entity), `"enabled":true`)
	assert.Contains(t, string(entity), `"auth":null`, "the admin view keeps nulls")
	assert.True(t, s.NoConsumer())
	assert.False(t, s.NoRoute())
}

func TestProcessConfigErrors(t *testing.T) {
	s := testSchemaT(t)
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		// A field an entity check needs gets the check's message, which
		// overwrites "required field missing" (Kong runs checks last).
		{"required", `{"slug":"a","model":{}}`, []string{
			"config.model.provider: field required for entity check",
			"config.route_type: field required for entity check",
			"config: at least one of these fields must be non-empty: 'model.name', 'route_type'"}},
		{"required alone", `{` + base + `,"logging":{"log_statistics":null}}`, []string{
			"config.logging.log_statistics: required field missing"}},
		{"one_of", `{` + base + `,"route_type":"x"}`, []string{
			"config.route_type: expected one of: llm/v1/chat, llm/v1/completions, preserve"}},
		{"string type", `{` + base + `,"slug":5}`, []string{"config.slug: expected a string"}},
		{"empty string", `{` + base + `,"prefix":""}`, []string{"config.prefix: length must be at least 1"}},
		{"len_min 0 allows empty", `{` + base + `,"name":""}`, nil},
		{"integer", `{` + base + `,"count":1.5}`, []string{"config.count: expected an integer"}},
		{"integral number is an integer", `{` + base + `,"count":2.0}`, nil},
		{"number", `{` + base + `,"ratio":"1"}`, []string{"config.ratio: expected a number"}},
		{"boolean", `{` + base + `,"flag":"true"}`, []string{"config.flag: expected a boolean"}},
		{"record", `{` + base + `,"model":"hf"}`, []string{"config.model: expected a record"}},
		{"array", `{` + base + `,"tags":"a"}`, []string{"config.tags: expected an array"}},
		{"set", `{` + base + `,"uniq":{"a":1}}`, []string{"config.uniq: expected a set"}},
		{"map", `{` + base + `,"headers":[1]}`, []string{"config.headers: expected a string"}},
		{"map value", `{` + base + `,"headers":{"a":1}}`, []string{"config.headers: expected a string"}},
		{"between", `{` + base + `,"ratio":1.5}`, []string{"config.ratio: value should be between 0 and 1"}},
		{"between integer", `{` + base + `,"count":0}`, []string{"config.count: value should be between 1 and 10"}},
		{"nested between", `{` + base + `,"model":{"provider":"huggingface","options":{"temperature":5.5}}}`,
			[]string{"config.model.options.temperature: value should be between 0 and 5"}},
		{"gt", `{` + base + `,"max_request_body_size":0}`, []string{"config.max_request_body_size: value must be greater than 0"}},
		{"gt fraction", `{` + base + `,"model":{"provider":"huggingface","options":{"input_cost":0}}}`,
			[]string{"config.model.options.input_cost: value must be greater than 0"}},
		{"match", `{"route_type":"llm/v1/chat","slug":"Abc","model":{"provider":"huggingface"}}`, []string{"config.slug: invalid value: Abc"}},
		{"not_match", `{` + base + `,"not_admin":"administrator"}`, []string{"config.not_admin: invalid value: administrator"}},
		{"starts_with", `{` + base + `,"prefix":"x"}`, []string{"config.prefix: should start with: /"}},
		{"match_all", `{` + base + `,"url":"ftp://x"}`, []string{"config.url: must be http(s)"}},
		{"match_none", `{` + base + `,"url":"http://a b"}`, []string{"config.url: must not contain spaces"}},
		{"len_eq", `{` + base + `,"exact":"abcd"}`, []string{"config.exact: length must be 3"}},
		{"len_max", `{` + base + `,"short":"abcde"}`, []string{"config.short: length must be at most 4"}},
		{"len_min array", `{` + base + `,"tags":[]}`, []string{"config.tags: length must be at least 1"}},
		{"element", `{` + base + `,"tags":["a",1,"c",true]}`, []string{"config.tags.2: expected a string", "config.tags.4: expected a string"}},
		{"null element", `{` + base + `,"tags":["a",null]}`, []string{"config.tags.2: required field missing"}},
		{"uuid", `{` + base + `,"id":"nope"}`, []string{"config.id: expected a valid UUID"}},
		{"timestamp", `{` + base + `,"ts":-1}`, []string{"config.ts: expected a valid timestamp"}},
		{"contains", `{` + base + `,"must_have":["a"]}`, []string{"config.must_have: expected to contain: x"}},
		{"ne", `{` + base + `,"not_zero":0}`, []string{"config.not_zero: value must not be 0"}},
		{"referenceable still typed", `{` + base + `,"secret":"plain"}`, []string{"config.secret: invalid value: plain"}},
		{"unknown", `{` + base + `,"foo":1,"model":{"provider":"huggingface","bar":2}}`,
			[]string{"config.foo: unknown field", "config.model.bar: unknown field"}},
		{"null required record", `{` + base + `,"logging":null}`, []string{"config.logging: required field missing"}},
		{"null optional record", `{` + base + `,"auth":null}`, nil},
		{"array as config", `[1]`, []string{"config.1: unknown field",
			"config.flag: field required for entity check",
			"config.model.provider: field required for entity check",
			"config.route_type: field required for entity check",
			"config: at least one of these fields must be non-empty: 'model.name', 'route_type'",
			"config: exactly one of these fields must be non-empty: 'name', 'slug'"}},
		{"string as config", `"x"`, []string{"config: expected a record"}},
		{"mutually_required", `{` + base + `,"auth":{"header_name":"Authorization"}}`,
			[]string{"config: all or none of these fields must be set: 'auth.header_name', 'auth.header_value'"}},
		{"mutually_required 3", `{` + base + `,"auth":{"param_name":"k","param_location":"query"}}`,
			[]string{"config: all or none of these fields must be set: 'auth.param_name', 'auth.param_value', 'auth.param_location'"}},
		{"conditional required", `{` + base + `,"model":{"provider":"openai"}}`, []string{
			"config.model.options.upstream_url: required field missing",
			"config: failed conditional validation given value of field 'model.provider'"}},
		{"conditional custom err", `{"route_type":"preserve","slug":"a","model":{"provider":"huggingface"}}`, []string{
			"config.max_request_body_size: value should be between 1 and 100",
			"config: preserve needs a small body limit (because of route_type)"}},
		{"only_one_of", `{` + base + `,"name":"n"}`, []string{"config: exactly one of these fields must be non-empty: 'name', 'slug'"}},
		{"only_one_of none", `{"route_type":"llm/v1/chat","model":{"provider":"huggingface"}}`,
			[]string{"config: exactly one of these fields must be non-empty: 'name', 'slug'"}},
		{"conditional_at_least_one_of", `{"route_type":"llm/v1/completions","slug":"a","model":{"provider":"huggingface"}}`,
			[]string{"config: completions need one of 'model.name'"}},
		{"mutually_exclusive", `{` + base + `,"prefix":"/a","url":"http://x"}`,
			[]string{"config: only one or none of these fields must be set: 'prefix', 'url'"}},
		{"distinct", `{"route_type":"llm/v1/chat","name":"ab","short":"ab","model":{"provider":"huggingface"},"slug":null}`,
			[]string{"config: values of these fields must be distinct: 'name', 'short'"}},
		{"schema-level check", `{` + base + `,"flag":true}`, []string{
			"@entity: failed conditional validation given value of field 'config.flag'", "protocols: length must be 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errV := s.ProcessConfig(json.RawMessage(tc.config))
			if tc.want == nil {
				if errV != nil {
					t.Fatalf("unexpected error: %s", errV.Message)
				}
				return
			}
			require.NotNil(t, errV, "expected %v", tc.want)
			assert.Equal(t, tc.want, errV.FieldErrorList(), errV.Message)
			assert.Equal(t, CodeSchemaViolation, errV.Code)
			assert.Equal(t, "schema violation", errV.Name)
		})
	}
}

// Golden Admin API bodies for representative failures.
func TestErrorBodiesGolden(t *testing.T) {
	s := testSchemaT(t)
	for _, tc := range []struct{ name, config string }{
		{"single_nested", `{` + base + `,"model":{"provider":"huggingface","options":{"temperature":7}}}`},
		{"several", `{"slug":"a","count":"x","tags":["a",2],"auth":{"header_name":"h"},"model":{"provider":"mistral"}}`},
		{"top_field", `{` + base + `,"route_type":3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errV := s.ProcessConfig(json.RawMessage(tc.config))
			require.NotNil(t, errV)
			got, err := json.MarshalIndent(errV, "", "  ")
			require.NoError(t, err)
			path := filepath.Join("testdata", "error_"+tc.name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

func TestProcessPluginUpdate(t *testing.T) {
	s := testSchemaT(t)
	cur, errV := s.ProcessPlugin(json.RawMessage(`{"name":"t","config":{` + base + `,"model":{"provider":"huggingface","name":"m","options":{"temperature":1}}}}`))
	require.Nil(t, errV)
	out, errV := s.ProcessPluginUpdate(cur, json.RawMessage(`{"config":{"model":{"options":{"max_tokens":5}}}}`))
	require.Nil(t, errV)
	var v struct {
		Config struct {
			Model struct {
				Name    string
				Options map[string]any
			}
		}
	}
	require.NoError(t, json.Unmarshal(out, &v))
	assert.Equal(t, "m", v.Config.Model.Name)
	// Read back as Kong's select shows it: the unset options are null.
	assert.Equal(t, map[string]any{"temperature": 1.0, "max_tokens": 5.0, "input_cost": nil,
		"upstream_url": nil, "huggingface": nil}, v.Config.Model.Options)

	_, errV = s.ProcessPluginUpdate(cur, json.RawMessage(`{"config":{"model":{"options":{"temperature":9}}}}`))
	require.NotNil(t, errV)
	assert.Equal(t, []string{"config.model.options.temperature: value should be between 0 and 5"}, errV.FieldErrorList())
}

func TestRegistry(t *testing.T) {
	s := testSchemaT(t)
	fl, _ := Builtin("file-log")
	reg := NewRegistry(s, fl)
	assert.Equal(t, []string{"file-log", "t"}, reg.Names())
	_, errV := reg.ProcessPlugin(json.RawMessage(`{"name":"ai-proxy","config":{}}`))
	require.NotNil(t, errV)
	assert.Equal(t, "schema violation (name: plugin 'ai-proxy' not enabled; add it to the 'plugins' configuration property)", errV.Message)
	_, errV = reg.ProcessPlugin(json.RawMessage(`{"config":{}}`))
	require.NotNil(t, errV)
	assert.Equal(t, "schema violation (name: required field missing)", errV.Message)
	_, errV = reg.ProcessPlugin(json.RawMessage(`[]`))
	require.NotNil(t, errV)
}

func TestResolveReferences(t *testing.T) {
	s := testSchemaT(t)
	cfg := json.RawMessage(`{"secret":"{vault://env/my-token}","auth":{"header_value":"{vault://env/creds/value}","header_name":"{vault://env/x}"}}`)
	out, errs := s.ResolveReferences(cfg, EnvVault([]string{"MY_TOKEN=Bearer t", `CREDS={"value":"v"}`}))
	assert.Empty(t, errs)
	assert.JSONEq(t, `{"secret":"Bearer t","auth":{"header_value":"v","header_name":"{vault://env/x}"}}`, string(out),
		"only referenceable fields are dereferenced")
	out, errs = s.ResolveReferences(json.RawMessage(`{"secret":"{vault://env/missing}"}`), EnvVault(nil))
	assert.JSONEq(t, `{"secret":""}`, string(out))
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "MISSING")
}

func TestMetaschema(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   string
	}{
		{"not an object", `[]`, "invalid schema: expected a JSON object"},
		{"no name", `{"fields":[{"config":{"type":"record","fields":[]}}]}`, "schema violation (name: field required for entity check)"},
		{"unknown top key", `{"name":"x","fields":[],"foo":1}`, "schema violation (foo: unknown field)"},
		{"bad type", `{"name":"x","fields":[{"config":{"type":"record","fields":[{"a":{"type":"text"}}]}}]}`,
			"schema violation (fields.1: {\n  fields = {\n    {\n      type = \"expected one of: array, set, string, number, boolean, integer, foreign, map, record, function, json\"\n    }\n  }\n})"},
		{"unknown attribute", `{"name":"x","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","colour":"red"}}]}}]}`,
			"schema violation (fields.1: {\n  fields = {\n    {\n      colour = \"unknown field\"\n    }\n  }\n})"},
		{"two keys", `{"name":"x","fields":[{"config":{"type":"record","fields":[]},"other":{"type":"string"}}]}`,
			"schema violation (fields.1: length must be 1)"},
		{"attribute type", `{"name":"x","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","required":"yes"}}]}}]}`,
			"schema violation (fields.1: {\n  fields = {\n    {\n      required = \"expected a boolean\"\n    }\n  }\n})"},
		{"bad default", `{"name":"x","fields":[{"config":{"type":"record","fields":[{"a":{"type":"integer","default":"x"}}]}}]}`,
			"schema violation (fields.1: {\n  fields = {\n    {\n      default = \"expected an integer\"\n    }\n  }\n})"},
		{"short description", `{"name":"x","fields":[{"config":{"type":"record","description":"short","fields":[]}}]}`,
			"schema violation (fields.1: {\n  description = \"length must be at least 10\"\n})"},
		{"attribute for type", `{"name":"x","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","between":[1,2]}}]}}]}`,
			"schema violation (a: field of type 'string' cannot have attribute 'between')"},
		{"record without fields", `{"name":"x","fields":[{"config":{"type":"record"}}]}`,
			"schema violation (config: field of type 'record' must declare 'fields')"},
		{"array without elements", `{"name":"x","fields":[{"config":{"type":"record","fields":[{"l":{"type":"array"}}]}}]}`,
			"schema violation (l: field of type 'array' must declare 'elements')"},
		{"bad entity check", `{"name":"x","fields":[],"entity_checks":[{"exactly_two_of":["a","b"]}]}`,
			"schema violation (entity_checks.1: {\n  [\"@entity\"] = {\n    \"exactly one of these fields must be non-empty: 'at_least_one_of', 'conditional_at_least_one_of', 'only_one_of', 'distinct', 'conditional', 'custom_entity_check', 'mutually_required', 'mutually_exclusive', 'mutually_exclusive_sets'\"\n  },\n  exactly_two_of = \"unknown field\"\n})"},
		{"not in parent", `{"name":"x","fields":[{"colour":{"type":"string"}}]}`,
			"error initializing schema for plugin: error in definition of 'x': colour: cannot create a new field"},
		{"config not a record", `{"name":"x","fields":[{"config":{"type":"string"}}]}`,
			"error initializing schema for plugin: error in definition of 'x': config: cannot change type in a specialized field"},
		{"bad reference", `{"name":"x","fields":[{"consumer":{"type":"foreign","reference":"users"}}]}`,
			"error initializing schema for plugin: schema refers to an invalid foreign entity: users"},
		{"shorthand needs a function", `{"name":"x","fields":[],"shorthand_fields":[{"u":{"type":"string"}}]}`,
			"schema violation (shorthand_fields.1: {\n  func = \"required field missing\"\n})"},
		{"unsupported pattern", `{"name":"x","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","match":"%b()"}}]}}]}`,
			"Lua pattern item %b is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.schema))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// Kong's own file-log schema passes.
	_, ok := Builtin("file-log")
	assert.True(t, ok)
}

func TestLuaPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		yes, no []string
	}{
		{`^%d+$`, []string{"0", "123"}, []string{"", "1a", "a1"}},
		{`^[%w%-_]+$`, []string{"a-b_c1"}, []string{"a b", "a.b"}},
		{`%s`, []string{"a b", "a\tb", "a\vb"}, []string{"ab"}},
		{`^%a%a?$`, []string{"a", "ab"}, []string{"abc", "1"}},
		{`^%p$`, []string{"!", "~", "@"}, []string{"a", " "}},
		{`^a.-b$`, []string{"ab", "axxb"}, []string{"axx"}},
		{`^%.$`, []string{"."}, []string{"a"}},
		{`^[^%s*&%%\` + "`" + `][^*&%%\` + "`" + `]*[^%s*&%%\` + "`" + `]$`, []string{"/tmp/x.log", "/dev/stdout"}, []string{" a", "a*b", "a%b", "a\\b", "a`b"}},
		{`^[]]$`, []string{"]"}, []string{"a"}},
		{`^[a-c]+$`, []string{"abc"}, []string{"abd"}},
		{`^(%d+)%.(%d+)$`, []string{"1.2"}, []string{"1x2"}},
		{`a$b`, []string{"a$b"}, []string{"ab"}},
		{`^.$`, []string{"a"}, []string{"é"}}, // a byte, not a rune
		{`^%S+$`, []string{"abc"}, []string{"a c"}},
		{`^[%S]+$`, []string{"abc"}, []string{"a c"}},
		{`x^`, []string{"x^"}, []string{"x"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			p, err := compileLuaPattern(tc.pattern)
			require.NoError(t, err)
			for _, s := range tc.yes {
				assert.True(t, p.match(s), "%q should match %q", tc.pattern, s)
			}
			for _, s := range tc.no {
				assert.False(t, p.match(s), "%q should not match %q", tc.pattern, s)
			}
		})
	}
	for _, bad := range []string{`%b()`, `%f[%w]`, `(a)%1`, `[a`, `(a`, `a)`, `%`} {
		_, err := compileLuaPattern(bad)
		assert.Error(t, err, bad)
	}
}

func TestPrettyWrite(t *testing.T) {
	tree := &errTable{fields: map[string]any{
		"b":   "x",
		"a":   errList{1: "one", 3: "three"},
		"end": &errTable{entity: []string{"e1"}},
	}}
	assert.Equal(t, strings.Join([]string{
		"{",
		"  a = {",
		`    "one",`,
		`    [3] = "three"`,
		"  },",
		`  b = "x",`,
		"  [\"end\"] = {",
		`    ["@entity"] = {`,
		`      "e1"`,
		"    }",
		"  }",
		"}",
	}, "\n"), prettyWrite(tree))
	assert.Equal(t, `{a={"one",[3]="three"},b="x",["end"]={["@entity"]={"e1"}}}`, prettyWriteCompact(tree))
	assert.Equal(t, "\"a\\\"b\"", luaQuote(`a"b`))
	assert.Equal(t, "[[a\nb]]", luaQuote("a\nb"))
	assert.Equal(t, "0.5", luaNumber(0.5))
	assert.Equal(t, "1e+20", luaNumber(1e20))
	assert.Equal(t, "2147483647", luaNumber(2147483647))
}

func FuzzProcessConfig(f *testing.F) {
	s := testSchemaT(f)
	for _, seed := range []string{
		`{` + base + `}`, `null`, `[]`, `{"model":{"options":{"temperature":"x"}}}`, `{"tags":[null,{}]}`,
		`{"auth":{"header_name":"a"},"route_type":"preserve","flag":true}`, `{"headers":{"":{}}}`, `1e400`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, errV := s.ProcessConfig(data)
		if errV != nil {
			if _, err := json.Marshal(errV); err != nil {
				t.Fatalf("error body does not marshal: %v", err)
			}
			if errV.Message == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
		// A processed config is a fixed point.
		again, errV := s.ProcessConfig(out)
		if errV != nil {
			t.Fatalf("processed config %s rejected: %s", out, errV.Message)
		}
		if string(again) != string(out) {
			t.Fatalf("not idempotent:\n%s\n%s", out, again)
		}
	})
}

func FuzzParse(f *testing.F) {
	// Small seeds: the fuzzer minimises interesting inputs, which is slow
	// on a large schema.
	f.Add([]byte(`{"name":"x","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","match":"[%a-]"}}]}}]}`))
	f.Add([]byte(`{"name":"x","fields":[{"config":{"type":"record","fields":[{"r":{"type":"record","fields":[{"n":{"type":"integer","default":1}}]}}],
		"entity_checks":[{"conditional":{"if_field":"r.n","if_match":{"eq":1},"then_field":"r","then_match":{"required":true}}}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		_, _ = s.ProcessConfig(json.RawMessage(`{}`))
	})
}

func BenchmarkProcessConfig(b *testing.B) {
	s := testSchemaT(b)
	cfg := json.RawMessage(`{` + base + `,"auth":{"header_name":"Authorization","header_value":"Bearer x"},
		"model":{"provider":"huggingface","name":"m","options":{"temperature":0.5,"max_tokens":100}},"tags":["a","b"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, errV := s.ProcessConfig(cfg); errV != nil {
			b.Fatal(errV.Message)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse([]byte(testSchema)); err != nil {
			b.Fatal(err)
		}
	}
}
