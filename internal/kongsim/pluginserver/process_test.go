package pluginserver

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSupervisorRespawnsAtMostOncePerSecond(t *testing.T) {
	var out lockedBuf
	done := make(chan struct{})
	sup := StartSupervisor(Server{Name: "echo", StartCmd: `sh -c 'echo "out line"; echo "err line" >&2'`}, errlog.New(&out, errlog.Info), func(pid, n int) {
		if n == 3 {
			close(done)
		}
	})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the process was not respawned twice")
	}
	require.NoError(t, sup.Close())
	// The decisions, not the spawns' callbacks (whose fork+exec time
	// varies with the load): each start waits for the previous + 1 s.
	starts := sup.StartTimes()
	require.GreaterOrEqual(t, len(starts), 3)
	for i := 1; i < len(starts); i++ {
		assert.GreaterOrEqual(t, starts[i].Sub(starts[i-1]), respawnInterval, "next_spawn = now + 1")
	}
	log := out.String()
	assert.Regexp(t, `\[info\] \d+#0: \[echo:\d+\] out line`, log)
	assert.Regexp(t, `\[info\] \d+#0: \[echo:\d+\] err line`, log, "stderr is merged into stdout")
	assert.Contains(t, log, "external pluginserver 'echo' terminated: exit 0")
}

func TestSupervisorStopsOnCommandNotFound(t *testing.T) {
	var out lockedBuf
	sup := StartSupervisor(Server{Name: "gone", StartCmd: "/nonexistent/binary"}, errlog.New(&out, errlog.Info), nil)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "not respawned") {
		if time.Now().After(deadline) {
			t.Fatalf("supervisor still running:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, sup.Close())
	assert.Equal(t, 1, sup.Spawns())
	assert.Contains(t, out.String(), fmt.Sprintf(`external pluginserver "gone" start command %q exited with "command not found"`, "/nonexistent/binary"))
}
