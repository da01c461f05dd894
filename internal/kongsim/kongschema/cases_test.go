package kongschema

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPluginConfigCases runs the plugin's own config cases (written by the
// schema's authors, schema/testdata/config_cases.json) through this
// package's independent implementation of Kong's rules, using the schema
// the real binary dumps, as Kong would. Valid/invalid must agree; the error
// texts are compared too.
func TestPluginConfigCases(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	root := filepath.Join("..", "..", "..")
	casesPath := filepath.Join(root, "schema", "testdata", "config_cases.json")
	data, err := os.ReadFile(casesPath)
	if err != nil {
		t.Fatalf("the plugin's config cases are what this test checks: %v", err)
	}
	var cases []struct {
		Name   string          `json:"name"`
		Config json.RawMessage `json:"config"`
		Valid  bool            `json:"valid"`
		Errors []string        `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(data, &cases))

	schema := dumpedSchema(t, root)
	s, err := Parse(schema)
	require.NoError(t, err, "Kong would refuse to load the plugin's schema")

	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			_, errV := s.ProcessConfig(tc.Config)
			if tc.Valid {
				if errV != nil {
					t.Errorf("plugin says valid, Kong's rules say: %s", errV.Message)
				}
				return
			}
			if !assert.NotNil(t, errV, "plugin says invalid (%v), Kong's rules accept it", tc.Errors) {
				return
			}
			want := append([]string(nil), tc.Errors...)
			sort.Strings(want)
			assert.Equal(t, want, errV.FieldErrorList(), "message: %s", errV.Message)
		})
	}
}

// dumpedSchema builds cmd/ai-proxy-hf and returns Plugins[0].Schema of its
// -dump output, exactly what Kong reads. A binary that does not build or
// dump fails the test: the twin check has nothing to check without it.
func dumpedSchema(t *testing.T, root string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "ai-proxy-hf")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ai-proxy-hf")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the plugin: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "-dump").Output()
	require.NoError(t, err, "%s -dump", bin)
	var dump struct {
		Protocol string `json:"Protocol"`
		Plugins  []struct {
			Name   string          `json:"Name"`
			Schema json.RawMessage `json:"Schema"`
		} `json:"Plugins"`
	}
	require.NoError(t, json.Unmarshal(out, &dump), "Kong: failed decoding plugin info")
	require.Equal(t, "ProtoBuf:1", dump.Protocol)
	require.NotEmpty(t, dump.Plugins)
	return dump.Plugins[0].Schema
}
