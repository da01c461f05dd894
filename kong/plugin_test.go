package kong_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// repoRoot is the repository root: go test runs this package in kong/.
var repoRoot = func() string {
	abs, err := filepath.Abs("..")
	if err != nil {
		panic(fmt.Sprintf("resolve repository root: %v", err))
	}
	return abs
}()

// The plugin binary is built once, on first use, into tmpDir, under the
// name Kong's packaging uses: go-pdk (and our -dump) take the plugin's name
// from the executable's base name, so the name in every file here must be
// the name the binary reports when it is called ai-proxy-hf.
const binaryName = "ai-proxy-hf"

var (
	tmpDir    string
	built     sync.Once
	pluginBin string
	dumped    pluginDump
	dumpedRaw []byte
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ai-proxy-hf-packaging-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "kong tests: temp dir: %v\n", err)
		os.Exit(1)
	}
	tmpDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pluginDump is what Kong reads from the query command
// (kong/runloop/plugin_servers/process.lua): Protocol and the first plugin.
type pluginDump struct {
	Protocol string       `json:"Protocol"`
	Plugins  []pluginInfo `json:"Plugins"`
}

type pluginInfo struct {
	Name     string          `json:"Name"`
	Version  string          `json:"Version"`
	Priority int             `json:"Priority"`
	Phases   []string        `json:"Phases"`
	Schema   json.RawMessage `json:"Schema"`
}

// requirePlugin builds ./cmd/ai-proxy-hf and runs its -dump, or fails the
// test: every agreement checked here is with the binary, so a binary that
// does not build or dump is a failure, never a skip.
func requirePlugin(t *testing.T) (string, pluginInfo) {
	t.Helper()
	built.Do(func() {
		pluginBin = filepath.Join(tmpDir, binaryName)
		buildErr = buildPlugin(pluginBin)
		if buildErr == nil {
			dumpedRaw, buildErr = runDump(pluginBin, "-dump")
		}
		if buildErr == nil {
			buildErr = decodeDump(dumpedRaw, &dumped)
		}
	})
	if buildErr != nil {
		t.Fatalf("the packaging is checked against the plugin binary, which is not usable: %v", buildErr)
	}
	return pluginBin, dumped.Plugins[0]
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func buildPlugin(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, "./cmd/ai-proxy-hf")
	cmd.Dir = repoRoot
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/ai-proxy-hf: %w\n%s", err, msg)
	}
	return nil
}

// runDump runs the binary as Kong runs a query command: stdout is the
// answer, stderr is not read by Kong (it is kept here for the message).
func runDump(bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %v: %w (stderr: %q)", filepath.Base(bin), args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// decodeDump applies Kong's reading of the dump: stdout as a whole must be
// one JSON document (cjson.decode), Protocol must be ProtoBuf:1 for a go-pdk
// server, and only Plugins[1] (Lua's first) counts.
func decodeDump(raw []byte, d *pluginDump) error {
	if err := json.Unmarshal(raw, d); err != nil {
		return fmt.Errorf("-dump stdout is not one JSON document, Kong would fail with \"failed decoding plugin info\": %w", err)
	}
	if d.Protocol != "ProtoBuf:1" {
		return fmt.Errorf("-dump Protocol = %q, want %q (go-pdk's embedded server speaks ProtoBuf:1)", d.Protocol, "ProtoBuf:1")
	}
	if len(d.Plugins) == 0 {
		return errors.New("-dump has no Plugins[0]: Kong would register no plugin")
	}
	if d.Plugins[0].Name == "" {
		return errors.New("-dump Plugins[0].Name is empty")
	}
	if len(d.Plugins[0].Schema) == 0 {
		return errors.New("-dump Plugins[0].Schema is missing")
	}
	return nil
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}
