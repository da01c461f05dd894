package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ProcStatus is what /proc/<pid>/status says of a process's memory and
// threads.
type ProcStatus struct {
	RSSKiB  int64 // VmRSS
	Threads int
}

// ReadProcStatus reads /proc/<pid>/status.
func ReadProcStatus(pid int) (ProcStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStatus{}, err
	}
	return parseProcStatus(b)
}

// parseProcStatus reads the VmRSS ("VmRSS:	  12345 kB") and Threads
// lines of a /proc/<pid>/status file.
func parseProcStatus(b []byte) (ProcStatus, error) {
	var st ProcStatus
	var haveRSS bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		switch key {
		case "VmRSS":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || len(f) < 2 || f[1] != "kB" {
				return st, fmt.Errorf("VmRSS line %q", sc.Text())
			}
			st.RSSKiB, haveRSS = n, true
		case "Threads":
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return st, fmt.Errorf("threads line %q", sc.Text())
			}
			st.Threads = n
		}
	}
	if !haveRSS {
		return st, errors.New("no VmRSS line (a zombie or kernel thread?)")
	}
	return st, nil
}

// ChildPIDs lists the processes whose parent is ppid (read from each
// /proc/<pid>/stat: the stand-in starts the plugin server itself, so its
// pid is found as the stand-in's child).
func ChildPIDs(ppid int) ([]int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // it exited meanwhile
		}
		pid, parent, ok := parseStatPPID(b)
		if ok && parent == ppid {
			out = append(out, pid)
		}
	}
	return out, nil
}

// parseStatPPID reads pid and ppid from a /proc/<pid>/stat line:
// "pid (comm) state ppid ...", where comm may hold spaces and parentheses
// (hence the last ')').
func parseStatPPID(b []byte) (pid, ppid int, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return pid, ppid, true
}

// PluginPID finds the plugin server the stand-in started: its one child
// whose command line is the start command's (not a -dump query).
func (s *Stand) PluginPID() (int, error) {
	kids, err := ChildPIDs(s.PID())
	if err != nil {
		return 0, err
	}
	var found []int
	for _, pid := range kids {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(cmdline, []byte("-kong-prefix")) && !bytes.Contains(cmdline, []byte("-dump")) {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("want one plugin server under kongsim (pid %d), found %v", s.PID(), found)
	}
	return found[0], nil
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTick = 10 * time.Millisecond

// ReadCPU is the CPU time (user + system) a process has used so far, from
// /proc/<pid>/stat, in steps of 10 ms.
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime, the 14th and 15th fields of a
// /proc/<pid>/stat line (the 12th and 13th after the ')' of comm).
func parseStatCPU(b []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, errors.New("stat line without (comm)")
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line with %d fields after comm", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("stat CPU time %q", v)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
