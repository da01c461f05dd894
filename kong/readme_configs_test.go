package kong_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestReadmeUpstreamConfigs: the README's configs for the three kinds of
// upstream (the router, an Inference Endpoint, a self-hosted TGI) pass the
// dumped schema's rules, so a reader who copies one gets a valid plugin.
func TestReadmeUpstreamConfigs(t *testing.T) {
	_, info := requirePlugin(t)
	s, err := parseSchema(info.Schema)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "# 1. The Hugging Face router")
	if start < 0 {
		t.Fatal("README.md: the block of upstream configs (\"# 1. The Hugging Face router\") is gone")
	}
	end := strings.Index(text[start:], "```")
	if end < 0 {
		t.Fatal("README.md: the block of upstream configs is not closed")
	}
	docs := strings.Split(text[start:start+end], "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("README.md: %d upstream configs, want 3 (router, Inference Endpoint, TGI)", len(docs))
	}
	for i, doc := range docs {
		var d struct {
			Config map[string]any `yaml:"config"`
		}
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatalf("README.md: upstream config %d: %v", i+1, err)
		}
		for _, problem := range checkPluginConfig(s, d.Config) {
			t.Errorf("README.md: upstream config %d: %s", i+1, problem)
		}
	}
}
