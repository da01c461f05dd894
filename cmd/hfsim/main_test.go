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

// TestCLI builds the binary, runs it, waits for the ready line, talks to
// it, and stops it with SIGTERM.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "hfsim")
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-token", "tok", "-fault-model", "acme/slow=timeout")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()

	lines := make(chan string, 1)
	rest := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		tail, _ := io.ReadAll(r)
		rest <- string(tail)
	}()
	var line string
	select {
	case line = <-lines:
	case <-ctx.Done():
		t.Fatalf("no ready line; stderr: %s", stderr.String())
	}
	m := readyLine.FindStringSubmatch(line)
	require.NotNil(t, m, "ready line %q", line)
	base := m[1]

	client := &http.Client{Timeout: 10 * time.Second}
	post := func(body, token string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
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

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "clean exit on SIGTERM; stderr: %s", stderr.String())
	assert.Empty(t, <-rest, "exactly one line on stdout")
}
