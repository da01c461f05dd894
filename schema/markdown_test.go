package schema

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite generated files (FIELDS.md) from the declaration")

// FIELDS.md is the README's field table; it must be exactly what the
// generator prints (go run ./cmd/ai-proxy-hf -fields), so the docs cannot
// drift from the schema. Regenerate: go test ./schema -run FieldsDoc -update
func TestFieldsDocIsGenerated(t *testing.T) {
	want := MarkdownDoc()
	if *update {
		require.NoError(t, os.WriteFile("FIELDS.md", []byte(want), 0o644))
	}
	got, err := os.ReadFile("FIELDS.md")
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "FIELDS.md is stale: go test ./schema -run FieldsDoc -update")
}

func TestMarkdownTableCoversEveryField(t *testing.T) {
	table := MarkdownTable()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	var count func(fields []Field) int
	count = func(fields []Field) int {
		n := 0
		for i := range fields {
			n += 1 + count(fields[i].Fields)
		}
		return n
	}
	assert.Len(t, lines, 2+count(declared.Config().Fields), "header, separator, one row per field")
	for _, sf := range specA {
		assert.Contains(t, table, "| `config."+sf.path+"` |")
	}
	assert.Contains(t, table, "| `config.model.options.temperature` | number |  |  | 0 to 5 |")
	assert.Contains(t, table, "| `config.max_request_body_size` | integer |  | `1048576` | 0 to 2147483647 |")
	assert.Contains(t, table, "| `config.route_type` | string | yes |  | `llm/v1/chat`, ")
	assert.Contains(t, table, "| `config.auth.header_value` | string (referenceable) (encrypted) |")
}

func TestMarkdownChecks(t *testing.T) {
	assert.Equal(t, "- When `config.llm_format` is `huggingface`, `config.route_type` must be `llm/v1/chat`.\n"+
		"- `config.auth.header_name`, `config.auth.header_value`: all or none must be set.\n"+
		"- `config.auth.param_name`, `config.auth.param_value`, `config.auth.param_location`: all or none must be set.\n"+
		"- When `config.route_type` is one of `llm/v1/chat`, `llm/v1/completions`, `config.genai_category` must be `text/generation`.\n"+
		"- When `config.route_type` is `llm/v1/embeddings`, `config.genai_category` must be `text/embeddings`.\n"+
		"- When `config.route_type` is `video/v1/videos/generations`, `config.genai_category` must be `video/generation`.\n",
		MarkdownChecks())
}
