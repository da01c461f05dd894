package pluginserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
)

// Supervisor runs a pluginserver's start command the way Kong's worker 0
// does (kong/runloop/plugin_servers/process.lua pluginserver_timer): spawn
// "exec <start_cmd>" through a shell with stderr merged into stdout, log
// every output line at info as "[<name>:<pid>] <line>", and respawn the
// process whenever it exits, at most once per second, until the worker
// stops. Exit status 127 ("command not found") is logged as an error but
// does not stop the respawning: in process.lua:169-172 its `break` leaves
// only the inner `while true` (proc:wait) loop, and the outer
// `while not ngx.worker.exiting()` loop (process.lua:148) sleeps until
// next_spawn and spawns again (users see it as a restart every second,
// Kong/kong#7481).
type Supervisor struct {
	srv Server
	log *errlog.Log

	mu      sync.Mutex
	proc    *os.Process
	spawns  int
	stopped bool
	// startedAt are the times the loop decided each start (Kong's
	// next_spawn is counted from them), for the respawn-rate test.
	startedAt []time.Time

	// OnSpawn, when set, is called after every successful spawn with the
	// new pid and the spawn count (1 for the first start).
	onSpawn func(pid, count int)

	cancel context.CancelFunc
	done   chan struct{}
}

// respawnInterval is Kong's "next_spawn = ngx.now() + 1" (process.lua:160),
// waited out before the next spawn (process.lua:149-150).
const respawnInterval = time.Second

// StartSupervisor starts the respawn loop in the background and returns at
// once, as Kong's timer does. onSpawn may be nil.
func StartSupervisor(srv Server, log *errlog.Log, onSpawn func(pid, count int)) *Supervisor {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{srv: srv, log: log, onSpawn: onSpawn, cancel: cancel, done: make(chan struct{})}
	go s.loop(ctx)
	return s
}

// Spawns is how many times the start command was spawned.
func (s *Supervisor) Spawns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spawns
}

// StartTimes are the times each start was decided, oldest first (a spawn
// itself takes longer under load; the respawn rate is set by these).
func (s *Supervisor) StartTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.startedAt...)
}

// PID is the current process id, 0 when none runs.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid
}

// Kill sends sig to the running process (tests use it to crash a server).
func (s *Supervisor) Kill(sig syscall.Signal) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return errors.New("no pluginserver process running")
	}
	return p.Signal(sig)
}

// Close stops respawning and sends SIGTERM to the process, as
// stop_pluginservers does, then waits for the loop to finish.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	s.stopped = true
	p := s.proc
	s.mu.Unlock()
	s.cancel()
	var err error
	if p != nil {
		if e := p.Signal(syscall.SIGTERM); e != nil && !errors.Is(e, os.ErrProcessDone) {
			err = fmt.Errorf("stopping pluginserver %s: %w", s.srv.Name, e)
		} else {
			s.log.Printf(errlog.Notice, "[kong] process.lua:218 [pluginserver] successfully stopped pluginserver '%s', pid %d", s.srv.Name, p.Pid)
		}
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		// A server that ignores SIGTERM is killed: tests must not hang.
		if p != nil {
			_ = p.Kill()
		}
		<-s.done
	}
	return err
}

func (s *Supervisor) loop(ctx context.Context) {
	defer close(s.done)
	var nextSpawn time.Time
respawn:
	for ctx.Err() == nil {
		if wait := time.Until(nextSpawn); wait > 0 {
			select {
			case <-ctx.Done():
				// The worker exits while waiting: the loop ends as after
				// a wait, with the same notice.
				break respawn
			case <-time.After(wait):
			}
		}
		s.log.Printf(errlog.Notice, "[kong] process.lua:153 [pluginserver] starting pluginserver process for %s", s.srv.Name)
		s.mu.Lock()
		s.startedAt = append(s.startedAt, time.Now())
		s.mu.Unlock()
		cmd, out, err := s.spawn()
		if err != nil {
			// ngx.pipe.spawn failing is an assert in Kong: the timer dies.
			s.log.Printf(errlog.Err, "[kong] process.lua:154 [pluginserver] spawning %q: %v", s.srv.StartCmd, err)
			return
		}
		// After the spawn, as process.lua:160 follows :154: the second
		// counts from when the process started, however long that took.
		nextSpawn = time.Now().Add(respawnInterval)
		s.log.Printf(errlog.Notice, "[kong] process.lua:162 [pluginserver] started, pid %d", cmd.Process.Pid)
		s.grabLogs(out, cmd.Process.Pid)
		err = cmd.Wait()
		s.mu.Lock()
		s.proc = nil
		stopped := s.stopped
		s.mu.Unlock()
		reason, status := exitReason(cmd, err)
		if reason == "exit" && status == 127 {
			s.log.Printf(errlog.Err, "[kong] process.lua:170 [pluginserver] external pluginserver %q start command %q exited with \"command not found\"", s.srv.Name, s.srv.StartCmd)
		} else {
			s.log.Printf(errlog.Notice, "[kong] process.lua:177 external pluginserver '%s' terminated: %s %d", s.srv.Name, reason, status)
		}
		// Only the worker exiting (here: Close) ends the outer loop.
		if stopped {
			break
		}
	}
	s.log.Printf(errlog.Notice, "[kong] process.lua:185 [pluginserver] exiting: pluginserver '%s' not respawned.", s.srv.Name)
}

func (s *Supervisor) spawn() (*exec.Cmd, io.ReadCloser, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("creating output pipe: %w", err)
	}
	cmd := exec.Command("/bin/sh", "-c", "exec "+s.srv.StartCmd)
	// merge_stderr = true: one pipe for both streams, lines interleave as
	// the process writes them.
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return nil, nil, err
	}
	_ = pw.Close()
	s.mu.Lock()
	s.proc = cmd.Process
	s.spawns++
	count := s.spawns
	s.mu.Unlock()
	if s.onSpawn != nil {
		s.onSpawn(cmd.Process.Pid, count)
	}
	return cmd, pr, nil
}

// grabLogs logs every line until the pipe closes (grab_logs): raw_log at
// INFO, so with Kong's default log_level=notice these lines are filtered.
func (s *Supervisor) grabLogs(r io.ReadCloser, pid int) {
	defer r.Close()
	prefix := fmt.Sprintf("[%s:%d] ", s.srv.Name, pid)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			s.log.Write(errlog.Info, nil, prefix+line)
		}
	}
}

// exitReason turns a Wait result into ngx.pipe's (reason, status):
// ("exit", code) or ("signal", signo).
func exitReason(cmd *exec.Cmd, err error) (string, int) {
	st := cmd.ProcessState
	if st == nil {
		return "exit", -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal", int(ws.Signal())
	}
	_ = err
	return "exit", st.ExitCode()
}

// WaitForSocket polls until a socket file that is not prev (the file seen
// before the server was spawned, nil if none) exists at path, or ctx ends.
// Kong itself never waits; the stand-in offers it so that a "ready" line
// means the first request will not race the plugin's start-up. It looks at
// the file and the kernel's socket table instead of connecting, because
// go-pdk logs every connection that closes without a call ("EOF"), which
// Kong never causes.
func WaitForSocket(ctx context.Context, path string, prev os.FileInfo) error {
	for {
		fi, err := os.Stat(path)
		if err == nil && fi.Mode()&os.ModeSocket != 0 && (prev == nil || !os.SameFile(prev, fi)) && accepting(path) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for pluginserver socket %s: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// accepting reports whether a server listens on the unix socket. The file
// appears at bind(2), a moment before listen(2), and a connect in between
// is refused, so the file alone does not mean the server is ready. The
// kernel's socket table says it without connecting (a probe connection
// would make go-pdk log an EOF that Kong never causes): a listening socket
// carries __SO_ACCEPTCON (0x10000) in its flags. Where /proc is not
// readable, a connect is the fallback.
func accepting(path string) bool {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
	defer f.Close()
	want := filepath.Clean(path)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || filepath.Clean(fields[7]) != want {
			continue
		}
		flags, err := strconv.ParseUint(fields[3], 16, 32)
		if err == nil && flags&0x10000 != 0 {
			return true
		}
	}
	return false
}
