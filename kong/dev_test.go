//go:build unix

package kong_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMakeDev runs kong/dev.sh (what `make dev` runs) on freshly built
// binaries and free ports, sends the chat request it advertises through the
// Kong stand-in to hfsim, and stops it with Ctrl-C's SIGINT.
func TestMakeDev(t *testing.T) {
	binDir := filepath.Join(tmpDir, "devbin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goTool(), "build", "-o", binDir+"/", "./cmd/ai-proxy-hf", "./cmd/kongsim", "./cmd/hfsim")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the three binaries: %v\n%s", err, out)
	}

	hf, proxy, admin := freeAddr(t), freeAddr(t), freeAddr(t)
	var out syncBuffer
	cmd := exec.Command("bash", filepath.Join(repoRoot, "kong", "dev.sh"))
	cmd.Env = append(cmd.Environ(), "BIN_DIR="+binDir, "HF_ADDR="+hf, "PROXY_ADDR="+proxy, "ADMIN_ADDR="+admin)
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, like a terminal's foreground job, so that one
	// SIGINT reaches the script and everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()

	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("kong/dev.sh exited before it was ready: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("kong/dev.sh not ready within 60 s:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !strings.Contains(out.String(), "curl -s http://"+proxy+"/chat") {
		t.Errorf("kong/dev.sh does not print the chat curl example for %s:\n%s", proxy, out.String())
	}

	const input = "What is 1 + 1?"
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Post("http://"+proxy+"/chat", "application/json",
		strings.NewReader(fmt.Sprintf(`{"messages":[{"role":"user","content":%q}]}`, input)))
	if err != nil {
		t.Fatalf("POST /chat through make dev: %v\n%s", err, out.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /chat: %d %s\n%s", resp.StatusCode, body, out.String())
	}
	if got := gjson.GetBytes(body, "choices.0.message.content").String(); got != hfsim.Reply(input) {
		t.Errorf("POST /chat answered %q, want hfsim's %q (body %s)", got, hfsim.Reply(input), body)
	}

	resp, err = client.Get("http://" + admin + "/plugins")
	if err != nil {
		t.Fatalf("GET admin /plugins: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !gjson.GetBytes(body, `data.#(name=="ai-proxy-hf")`).Exists() {
		t.Errorf("GET admin /plugins: %d %s", resp.StatusCode, body)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
	case <-time.After(20 * time.Second):
		t.Fatalf("kong/dev.sh did not stop within 20 s of SIGINT:\n%s", out.String())
	}
	for _, addr := range []string{hf, proxy, admin} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Ctrl-C", addr)
		}
	}
}
