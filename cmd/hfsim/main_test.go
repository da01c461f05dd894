package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-style", "sse"}, `-style must be tgi or openai, got "sse"`},
		{[]string{"-listen", "0.0.0.0:0"}, `hfsim: listen address "0.0.0.0:0" is not loopback`},
		{[]string{"-listen", ":8081"}, `hfsim: listen address ":8081" is not loopback`},
		{[]string{"-fault-model", "nomode"}, `want model=mode, got "nomode"`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tc.args, &out, &errOut)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, out.String(), "no ready line on failure")
		})
	}
}

var readyLine = regexp.MustCompile(`^hfsim listening on (http://127\.0\.0\.1:\d+)\n$`)

// buildCLI compiles the command into a temporary directory.
func buildCLI(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hfsim")
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

type cliProc struct {
	cmd    *exec.Cmd
	base   string
	rest   chan string // stdout after the ready line, once it closes
	stderr *bytes.Buffer
}

// startCLI runs the binary and waits for its ready line.
func startCLI(t *testing.T, ctx context.Context, bin string, args ...string) cliProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := cliProc{cmd: cmd, rest: make(chan string, 1), stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		tail, _ := io.ReadAll(r)
		p.rest <- string(tail)
	}()
	var line string
	select {
	case line = <-lines:
	case <-ctx.Done():
		t.Fatalf("no ready line; stderr: %s", p.stderr.String())
	}
	m := readyLine.FindStringSubmatch(line)
	require.NotNil(t, m, "ready line %q", line)
	p.base = m[1]
	return p
}

// stop sends SIGTERM and expects a clean exit with nothing more on stdout.
func (p cliProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait(), "clean exit on SIGTERM; stderr: %s", p.stderr.String())
	assert.Empty(t, <-p.rest, "exactly one line on stdout")
}

// TestCLI builds the binary, runs it, waits for the ready line, talks to
// it, and stops it with SIGTERM.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := buildCLI(t, ctx)

	t.Run("serve", func(t *testing.T) {
		p := startCLI(t, ctx, bin, "-listen", "127.0.0.1:0", "-token", "tok", "-fault-model", "acme/slow=timeout")
		client := &http.Client{Timeout: 10 * time.Second}
		post := func(body, token string) (int, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/v1/chat/completions", strings.NewReader(body))
			require.NoError(t, err)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, string(b)
		}
		chat := `{"model":"acme/ok","messages":[{"role":"user","content":"hi"}]}`
		status, body := post(chat, "")
		assert.Equal(t, 401, status)
		assert.Equal(t, `{"error":"Invalid credentials in Authorization header"}`, body)
		status, body = post(chat, "tok")
		assert.Equal(t, 200, status)
		assert.Contains(t, body, `"content":"Echo: hi"`)
		status, body = post(`{"model":"acme/slow","messages":[{"role":"user","content":"hi"}]}`, "tok")
		assert.Equal(t, 504, status)
		assert.Equal(t, `{"error":"Model acme/slow time out"}`, body)
		p.stop(t)
	})
	t.Run("sigterm_right_after_ready", func(t *testing.T) {
		// A supervisor may stop the server as soon as it announced itself.
		p := startCLI(t, ctx, bin, "-listen", "127.0.0.1:0")
		p.stop(t)
	})
}
