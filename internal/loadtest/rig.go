package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Model is the model the plugin route is configured with and every load
// request names (the plugin's cheapest chat: the body already names it).
const Model = "meta-llama/Llama-3.3-70B-Instruct"

// token is what hfsim accepts and both sides send: the plain route
// carries the client's Authorization, the plugin replaces it with the
// configured one (the same value), so hfsim sees the same request.
const token = "hf_loadtest_token"

// RigOptions says which binaries to run and how.
type RigOptions struct {
	// BinDir holds hfsim, kongsim and ai-proxy-hf (`make build` puts them
	// in bin/).
	BinDir string
	// PluginArgs are appended to the plugin server's start command (a
	// metrics or profiling listener).
	PluginArgs []string
	// Metrics starts the plugin server with its metrics listener
	// (-metrics-listen) on a free loopback port, at Rig.MetricsURL: for
	// goroutine counts and CPU profiles.
	Metrics bool
	// PluginOnly skips the plain stand-in (the soak needs only the plugin).
	PluginOnly bool
	// Log receives the children's stderr; nil keeps only the last lines,
	// shown when a start fails.
	Log io.Writer
}

// Rig is hfsim and the two stand-ins, running.
type Rig struct {
	HFURL string
	// MetricsURL is the plugin server's /metrics and /debug/pprof/
	// listener ("" without RigOptions.Metrics).
	MetricsURL string
	Plain      *Stand // route without the plugin; nil with PluginOnly
	Plugin     *Stand // the same route with ai-proxy-hf
	hf         *child
	dir        string
	logs       *tail
}

// Stand is one running kongsim.
type Stand struct {
	ProxyURL string
	AdminURL string
	Prefix   string
	proc     *child
}

// PID is the stand-in's process id.
func (s *Stand) PID() int { return s.proc.cmd.Process.Pid }

// child is a started process and what waits for it.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartRig starts hfsim, then the stand-ins, each on 127.0.0.1 with a port
// of its own choosing, and returns once all of them serve.
func StartRig(ctx context.Context, o RigOptions) (_ *Rig, err error) {
	for _, b := range []string{"hfsim", "kongsim", "ai-proxy-hf"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s is missing (make build): %w", b, err)
		}
	}
	// A short /tmp path: the plugin socket's path must stay under the
	// 108 bytes of a Unix socket address.
	dir, err := os.MkdirTemp("", "loadtest-")
	if err != nil {
		return nil, err
	}
	r := &Rig{dir: dir, logs: &tail{max: 64 << 10}}
	defer func() {
		if err != nil {
			r.Close()
			err = fmt.Errorf("%w\nlast output of the rig:\n%s", err, r.logs.String())
		}
	}()
	var logw io.Writer = r.logs
	if o.Log != nil {
		logw = io.MultiWriter(r.logs, o.Log)
	}
	bin := func(name string) string { return filepath.Join(o.BinDir, name) }

	var line string
	r.hf, line, err = start(ctx, "hfsim", exec.Command(bin("hfsim"), "-listen", "127.0.0.1:0", "-token", token), nil, logw, "hfsim listening on ")
	if err != nil {
		return r, err
	}
	r.HFURL = strings.TrimSpace(strings.TrimPrefix(line, "hfsim listening on "))
	chatURL := r.HFURL + "/v1/chat/completions"

	if !o.PluginOnly {
		r.Plain, err = r.startStand(ctx, "plain", bin, logw, plainYAML(chatURL), nil)
		if err != nil {
			return r, err
		}
	}
	pluginCmd := append([]string{bin("ai-proxy-hf"), "-kong-prefix", "PREFIX"}, o.PluginArgs...)
	if o.Metrics {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return r, err
		}
		r.MetricsURL = "http://" + addr
		pluginCmd = append(pluginCmd, metricsFlag, addr)
	}
	r.Plugin, err = r.startStand(ctx, "plugin", bin, logw, pluginYAML(chatURL), pluginCmd)
	if err != nil || !o.Metrics {
		return r, err
	}
	// The listener opens before go-pdk's socket, which the stand-in waited
	// for: it answers now, or the server does not serve it with these
	// arguments (-no-relay has no metrics).
	if _, err := Goroutines(ctx, r.MetricsURL); err != nil {
		return r, fmt.Errorf("the plugin server's metrics listener (%s %s) does not answer: %w", metricsFlag, r.MetricsURL, err)
	}
	return r, nil
}

// startStand writes a stand-in's kong.yaml under a prefix of its own and
// starts kongsim with the environment kong/dev.sh sets; pluginCmd nil
// means no plugin server ("PREFIX" in it is replaced by the prefix).
func (r *Rig) startStand(ctx context.Context, name string, bin func(string) string, logw io.Writer, yaml string, pluginCmd []string) (*Stand, error) {
	prefix := filepath.Join(r.dir, name)
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	decl := filepath.Join(prefix, "kong.yaml")
	if err := os.WriteFile(decl, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	env := []string{
		"KONG_PREFIX=" + prefix,
		"KONG_DATABASE=off",
		"KONG_DECLARATIVE_CONFIG=" + decl,
		"KONG_PROXY_LISTEN=127.0.0.1:0",
		"KONG_ADMIN_LISTEN=127.0.0.1:0",
		"KONG_PROXY_ACCESS_LOG=off",
		"KONG_PROXY_ERROR_LOG=" + filepath.Join(prefix, "error.log"),
		"KONG_LOG_LEVEL=notice",
		"AI_PROXY_HF_ROUTER_URL=" + r.HFURL,
	}
	if pluginCmd == nil {
		env = append(env, "KONG_PLUGINS=bundled")
	} else {
		for i, a := range pluginCmd {
			pluginCmd[i] = strings.ReplaceAll(a, "PREFIX", prefix)
		}
		env = append(env,
			"KONG_PLUGINS=bundled,ai-proxy-hf",
			"KONG_PLUGINSERVER_NAMES=ai-proxy-hf",
			"KONG_PLUGINSERVER_AI_PROXY_HF_SOCKET="+filepath.Join(prefix, "ai-proxy-hf.socket"),
			"KONG_PLUGINSERVER_AI_PROXY_HF_START_CMD="+strings.Join(pluginCmd, " "),
			"KONG_PLUGINSERVER_AI_PROXY_HF_QUERY_CMD="+bin("ai-proxy-hf")+" -dump",
		)
	}
	c, line, err := start(ctx, "kongsim "+name, exec.Command(bin("kongsim")), env, logw, "kongsim ready ")
	if err != nil {
		return nil, err
	}
	s := &Stand{Prefix: prefix, proc: c}
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "proxy="); ok {
			s.ProxyURL = "http://" + v
		}
		if v, ok := strings.CutPrefix(f, "admin="); ok {
			s.AdminURL = "http://" + v
		}
	}
	if s.ProxyURL == "" {
		return s, fmt.Errorf("kongsim %s: no proxy address in %q", name, line)
	}
	return s, nil
}

// plainYAML is the route without the plugin: Kong proxies to hfsim's
// OpenAI chat endpoint as it would to any upstream.
func plainYAML(chatURL string) string {
	return `_format_version: "3.0"
services:
- name: hf
  url: ` + chatURL + `
  routes:
  - name: chat
    paths: ["/chat"]
    strip_path: true
`
}

// pluginYAML is the same service and route with ai-proxy-hf on it (the
// plugin sets the upstream itself: the router URL, here hfsim).
func pluginYAML(chatURL string) string {
	return plainYAML(chatURL) + `    plugins:
    - name: ai-proxy-hf
      config:
        route_type: llm/v1/chat
        auth:
          header_name: Authorization
          header_value: Bearer ` + token + `
        model:
          provider: huggingface
          name: ` + Model + `
`
}

// start runs cmd with the parent's environment (minus any KONG_* or
// AI_PROXY_HF_* of the caller's, which would change the stand-in's
// settings) plus env, and waits up to 30 s for a stdout line starting with
// ready. Stdout past that line and stderr go to logw.
func start(ctx context.Context, name string, cmd *exec.Cmd, env []string, logw io.Writer, ready string) (*child, string, error) {
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KONG_") && !strings.HasPrefix(e, "AI_PROXY_HF_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = prefixed(logw, name)
	// A load run that dies (Ctrl-C, test timeout) takes its children
	// with it instead of leaving servers on the machine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			if !found && strings.HasPrefix(sc.Text(), ready) {
				found = true
				lines <- sc.Text()
				continue
			}
			fmt.Fprintf(logw, "%s: %s\n", name, sc.Text())
		}
		// Drain what the scanner refused (a line over 64 KiB).
		_, _ = io.Copy(io.Discard, out)
		c.err = cmd.Wait()
		close(c.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case l := <-lines:
		return c, l, nil
	case <-c.done:
		return c, "", fmt.Errorf("%s exited before it was ready: %v", name, c.err)
	case <-ctx.Done():
		c.stop()
		return c, "", fmt.Errorf("%s was not ready within 30 s: %w", name, ctx.Err())
	}
}

// stop sends SIGTERM and waits up to 10 s, then kills.
func (c *child) stop() {
	if c == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// Exited reports whether the process has ended, and how.
func (c *child) Exited() (bool, error) {
	select {
	case <-c.done:
		return true, c.err
	default:
		return false, nil
	}
}

// Close stops the stand-ins (each stops its plugin server) and hfsim, and
// removes the prefixes.
func (r *Rig) Close() {
	var wg sync.WaitGroup
	for _, s := range []*Stand{r.Plain, r.Plugin} {
		if s != nil {
			wg.Go(s.proc.stop)
		}
	}
	wg.Wait()
	r.hf.stop()
	if r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

// Logs is the children's latest output (for a failure report).
func (r *Rig) Logs() string { return r.logs.String() }

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// prefixed writes each write as lines starting with "name: ".
func prefixed(w io.Writer, name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			fmt.Fprintf(w, "%s: %s\n", name, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw
}
