package e2e

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// The record shown in plugin/ANALYTICS.md is a real one: this replays its
// request on its config and compares the live record with the document,
// so the document cannot drift from what the plugin writes. Only what
// varies from run to run is left out: timings, ports, ids, dates.
func TestAnalyticsReadmeRecord(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../plugin/ANALYTICS.md")
	require.NoError(t, err)
	_, after, ok := bytes.Cut(doc, []byte("<!-- e2e:record chat -->"))
	require.True(t, ok, "ANALYTICS.md has no <!-- e2e:record chat --> marker")
	_, block, ok := bytes.Cut(after, []byte("```json\n"))
	require.True(t, ok)
	block, _, ok = bytes.Cut(block, []byte("```"))
	require.True(t, ok)
	require.True(t, gjson.ValidBytes(block), "the documented record is JSON")
	want := gjson.ParseBytes(block)

	r := startRig(t, route{path: "/chat", config: `{"route_type":"llm/v1/chat","model_name_header":true,` +
		`"auth":{"header_name":"Authorization","header_value":"Bearer ` + hfToken + `"},` +
		`"model":{"provider":"huggingface","name":"mistralai/Mistral-7B-Instruct-v0.2","options":{"max_tokens":256,"input_cost":0.3,"output_cost":0.6}},` +
		`"logging":{"log_statistics":true,"log_payloads":true}}`})
	res := r.post(t, "/chat", `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 1 + 1?"}]}`, "apikey", clientAPIKey)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	got := gjson.ParseBytes(toJSONBytes(t, r.records(t, 1)[0]))

	volatile := map[string]bool{
		"ai.proxy.meta.llm_latency": true, "ai.proxy.usage.time_per_token": true, "ai.proxy.usage.time_to_first_token": true,
		"ai.proxy.meta.plugin_id": true,
	}
	for _, path := range leafPaths(want.Get("ai"), "ai") {
		if volatile[path] {
			assert.True(t, got.Get(path).Exists(), "%s", path)
			continue
		}
		assert.Equal(t, want.Get(path).Value(), got.Get(path).Value(), "%s", path)
	}
	assert.Equal(t, leafPaths(want.Get("ai"), "ai"), leafPaths(got.Get("ai"), "ai"), "the same ai.proxy keys")
	requireUUID(t, got.Get("ai.proxy.meta.plugin_id"))
	top := keysOf(got)
	top = slices.DeleteFunc(top, func(k string) bool { return k == "kongsim" }) // the stand-in's own section
	assert.Equal(t, keysOf(want), top, "the same top-level keys")
	assert.Equal(t, keysOf(want.Get("request.headers")), keysOf(got.Get("request.headers")), "the same request headers: no apikey")
	assert.Equal(t, "REDACTED", got.Get("request.headers.authorization").String())
	assert.Equal(t, want.Get("upstream_uri").String(), got.Get("upstream_uri").String())
}

// leafPaths lists the dotted paths of every non-object value under v.
func leafPaths(v gjson.Result, prefix string) []string {
	if !v.IsObject() {
		return []string{prefix}
	}
	var out []string
	v.ForEach(func(k, e gjson.Result) bool {
		out = append(out, leafPaths(e, prefix+"."+k.Str)...)
		return true
	})
	sort.Strings(out)
	return out
}

func keysOf(v gjson.Result) []string {
	var out []string
	v.ForEach(func(k, _ gjson.Result) bool {
		out = append(out, k.Str)
		return true
	})
	sort.Strings(out)
	return out
}
