package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/dump.golden.json")

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// goBuild builds this command into dir/name.
func goBuild(t *testing.T, dir, name string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(dir, name)
	args := append(append([]string{"build"}, extra...), "-o", out, ".")
	cmd := exec.CommandContext(ctx, goTool(), args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// binary returns the path of the plugin binary, built once per test run
// under its real name, ai-proxy-hf.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "ai-proxy-hf-test-")
	})
	require.NoError(t, buildErr)
	bin := filepath.Join(buildDir, "ai-proxy-hf")
	if _, err := os.Stat(bin); err != nil {
		goBuild(t, buildDir, "ai-proxy-hf")
	}
	return bin
}

type result struct {
	stdout, stderr string
	code           int
}

func runBinary(t *testing.T, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

type dumpInfo struct {
	Protocol   string
	SocketPath string
	Plugins    []struct {
		Name     string
		Version  string
		Priority int
		Phases   []string
		Schema   json.RawMessage
	}
}

// parseDump checks what Kong requires of the query command's stdout: one
// JSON object and nothing else.
func parseDump(t *testing.T, r result) dumpInfo {
	t.Helper()
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	require.True(t, strings.HasSuffix(r.stdout, "\n"))
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), "exactly one line on stdout")
	var d dumpInfo
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&d))
	require.Len(t, d.Plugins, 1)
	return d
}

func TestDumpGolden(t *testing.T) {
	r := runBinary(t, binary(t), "-dump")
	d := parseDump(t, r)
	p := d.Plugins[0]
	assert.Equal(t, "ProtoBuf:1", d.Protocol)
	assert.Equal(t, "/usr/local/kong/ai-proxy-hf.socket", d.SocketPath)
	assert.Equal(t, "ai-proxy-hf", p.Name)
	assert.Regexp(t, `^\d+\.\d+\.\d+$`, p.Version, "Kong requires x.y.z")
	assert.Equal(t, 770, p.Priority)
	assert.Equal(t, plugin.Phases(), p.Phases, "phases come from the handlers that exist")
	assert.NotContains(t, p.Phases, "header_filter")
	assert.NotContains(t, p.Phases, "body_filter")
	want, err := json.Marshal(schema.Definition("ai-proxy-hf"))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(p.Schema))

	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, []byte(r.stdout), "", "  "))
	golden := filepath.Join("testdata", "dump.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
	}
	expected, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(expected), pretty.String(),
		"the dump changed (Kong sees a different plugin); review, then: go test ./cmd/ai-proxy-hf -run DumpGolden -update")
}

// Renaming the binary renames the plugin (and its socket), which is how
// a Kong without a bundled ai-proxy installs it as ai-proxy.
func TestDumpFollowsExecutableName(t *testing.T) {
	src, err := os.ReadFile(binary(t))
	require.NoError(t, err)
	dir := t.TempDir()
	renamed := filepath.Join(dir, "ai-proxy")
	require.NoError(t, os.WriteFile(renamed, src, 0o755))

	d := parseDump(t, runBinary(t, renamed, "-dump", "-kong-prefix", "/opt/kong"))
	assert.Equal(t, "ai-proxy", d.Plugins[0].Name)
	assert.Equal(t, "/opt/kong/ai-proxy.socket", d.SocketPath)
	var s struct{ Name string }
	require.NoError(t, json.Unmarshal(d.Plugins[0].Schema, &s))
	assert.Equal(t, "ai-proxy", s.Name)

	// A symlink does not rename it: os.Executable resolves links, exactly
	// as go-pdk does when it opens the socket.
	link := filepath.Join(dir, "linked-name")
	require.NoError(t, os.Symlink(renamed, link))
	assert.Equal(t, "ai-proxy", parseDump(t, runBinary(t, link, "-dump")).Plugins[0].Name)
}

func TestDumpFlagForms(t *testing.T) {
	bin := binary(t)
	for _, args := range [][]string{
		{"-dump", "-kong-prefix", "/k"},
		{"-kong-prefix=/k", "-dump"},
		{"--dump", "--kong-prefix=/k"},
	} {
		assert.Equal(t, "/k/ai-proxy-hf.socket", parseDump(t, runBinary(t, bin, args...)).SocketPath, "%v", args)
	}
}

func TestVersionAndHelp(t *testing.T) {
	bin := binary(t)
	r := runBinary(t, bin, "-version")
	assert.Equal(t, result{"ai-proxy-hf " + Version + "\n", "", 0}, r)
	assert.Regexp(t, regexp.MustCompile(`^\d+\.\d+\.\d+$`), Version)

	r = runBinary(t, bin, "-help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Usage: ai-proxy-hf")
	for _, f := range []string{"-dump", "-version", "-help", "-fields", "-kong-prefix"} {
		assert.Contains(t, r.stdout, f)
	}

	r = runBinary(t, bin, "-no-such-flag")
	assert.Equal(t, 2, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "no-such-flag")
}

func TestVersionFromLdflags(t *testing.T) {
	bin := goBuild(t, t.TempDir(), "ai-proxy-hf", "-ldflags", "-X main.Version=1.2.3")
	assert.Equal(t, "ai-proxy-hf 1.2.3\n", runBinary(t, bin, "-version").stdout)
	d := parseDump(t, runBinary(t, bin, "-dump"))
	assert.Equal(t, "1.2.3", d.Plugins[0].Version)
}

func TestFieldsPrintsTheGeneratedDoc(t *testing.T) {
	r := runBinary(t, binary(t), "-fields")
	assert.Equal(t, 0, r.code)
	doc, err := os.ReadFile(filepath.Join("..", "..", "schema", "FIELDS.md"))
	require.NoError(t, err)
	assert.Equal(t, string(doc), r.stdout)
}

// Without an info flag, run hands over to the plugin server.
func TestRunStartsServer(t *testing.T) {
	var stdout, stderr bytes.Buffer
	served := 0
	serve := func(options) error { served++; return nil }
	assert.Equal(t, 0, run([]string{"-kong-prefix", "/tmp"}, &stdout, &stderr, serve))
	assert.Equal(t, 1, served)
	assert.Equal(t, 0, run(nil, &stdout, &stderr, serve))
	assert.Equal(t, 2, served)
	assert.Empty(t, stdout.String())

	assert.Equal(t, 1, run(nil, &stdout, &stderr, func(options) error { return errors.New("listen: boom") }))
	assert.Contains(t, stderr.String(), "listen: boom")

	served = 0
	assert.Equal(t, 0, run([]string{"-dump"}, &stdout, &stderr, serve))
	assert.Zero(t, served, "-dump never starts the server")
}

// A config the Go side rejects must not fail the instance start (go-pdk
// would drop the connection and Kong would retry for ever): decoding it
// into the instance succeeds, the way go-pdk does it.
func TestInstanceStartsWithInvalidConfig(t *testing.T) {
	for _, raw := range []string{
		`{"route_type":"llm/v1/chat","model":{"provider":"openai"},"__seq__":1}`,
		`{"route_type":5}`,
		`{"route_type":"llm/v1/chat","model":{"provider":"huggingface"}}`,
	} {
		inst := plugin.New()
		assert.NoError(t, json.Unmarshal([]byte(raw), inst), raw)
	}
}
