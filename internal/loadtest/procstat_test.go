package loadtest

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseProcStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    ProcStatus
		wantErr string
	}{
		{"kernel layout", "Name:\tai-proxy-hf\nUmask:\t0022\nVmPeak:\t 1263020 kB\nVmRSS:\t   11840 kB\nRssAnon:\t    4096 kB\nThreads:\t7\n", ProcStatus{RSSKiB: 11840, Threads: 7}, ""},
		{"no VmRSS (zombie)", "Name:\tx\nState:\tZ (zombie)\nThreads:\t1\n", ProcStatus{}, "no VmRSS"},
		{"VmRSS not in kB", "VmRSS:\t12 MB\n", ProcStatus{}, "VmRSS line"},
		{"VmRSS not a number", "VmRSS:\tlots kB\n", ProcStatus{}, "VmRSS line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStatus([]byte(tc.in))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseStatPPID(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		pid, ppid int
		ok        bool
	}{
		{"plain", "4242 (kongsim) S 4200 4242 4200 0 -1", 4242, 4200, true},
		{"comm with spaces and parentheses", "77 (a (b) c) R 1 77 77 0", 77, 1, true},
		{"truncated", "77 (x) S", 0, 0, false},
		{"garbage", "not a stat line", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pid, ppid, ok := parseStatPPID([]byte(tc.in))
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.pid, pid)
			require.Equal(t, tc.ppid, ppid)
		})
	}
}

// The test process is the child of its parent, as /proc says.
func TestChildPIDsFindsThisProcess(t *testing.T) {
	kids, err := ChildPIDs(os.Getppid())
	require.NoError(t, err)
	require.Contains(t, kids, os.Getpid())
	st, err := ReadProcStatus(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, st.RSSKiB)
	require.Positive(t, st.Threads)
}

func TestMachine(t *testing.T) {
	require.Regexp(t, `^\d+ cores \(.+\)$`, Machine())
	require.Regexp(t, `^\d+\.\d+$`, LoadAverage())
}

func TestParseStatCPU(t *testing.T) {
	// A real line's shape: pid (comm) state ppid pgrp session tty tpgid
	// flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
	line := "4242 (ai-proxy-hf) S 4200 4242 4200 0 -1 4194560 1510 0 0 0 123 45 7 8 20 0 9 0 1234 1293737984 2960"
	got, err := parseStatCPU([]byte(line))
	require.NoError(t, err)
	require.Equal(t, 1680*time.Millisecond, got, "(123 + 45) ticks of 10 ms; children's times not counted")

	_, err = parseStatCPU([]byte("77 (x) S 1 2 3"))
	require.ErrorContains(t, err, "fields after comm")
	_, err = parseStatCPU([]byte("no comm here"))
	require.Error(t, err)

	self, err := ReadCPU(os.Getpid())
	require.NoError(t, err)
	require.GreaterOrEqual(t, self, time.Duration(0))
}
