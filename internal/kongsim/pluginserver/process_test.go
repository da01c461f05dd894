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

// TestSupervisorRespawnsAfterCommandNotFound: exit 127 is logged as an
// error and the command is spawned again a second later, as Kong's loop
// does (the break in process.lua:172 leaves only the inner loop); only
// Close stops it.
func TestSupervisorRespawnsAfterCommandNotFound(t *testing.T) {
	var out lockedBuf
	var mu sync.Mutex
	var spawned []time.Time
	twice := make(chan struct{})
	sup := StartSupervisor(Server{Name: "gone", StartCmd: "/nonexistent/binary"}, errlog.New(&out, errlog.Info), func(_, n int) {
		mu.Lock()
		defer mu.Unlock()
		spawned = append(spawned, time.Now())
		if n == 2 {
			close(twice)
		}
	})
	select {
	case <-twice:
	case <-time.After(10 * time.Second):
		t.Fatalf("not respawned after exit 127:\n%s", out.String())
	}
	require.NoError(t, sup.Close())
	mu.Lock()
	assert.GreaterOrEqual(t, spawned[1].Sub(spawned[0]), 990*time.Millisecond, "next_spawn = now + 1")
	mu.Unlock()
	log := out.String()
	assert.Equal(t, 2, strings.Count(log, "[pluginserver] starting pluginserver process for gone"))
	assert.Contains(t, log, fmt.Sprintf(`external pluginserver "gone" start command %q exited with "command not found"`, "/nonexistent/binary"))
	assert.NotContains(t, log, "terminated: exit 127", "exit 127 is logged as the command-not-found error, not as a termination")
	assert.Contains(t, log, "not respawned", "logged once the loop ends (Close)")
}
