package loadtest

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine names the CPU the figures were measured on: "<n> cores (<model
// name from /proc/cpuinfo>)".
func Machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s)", runtime.NumCPU(), model)
}

// LoadAverage is the 1-minute load average from /proc/loadavg ("?" when
// unreadable): on a shared machine it says how much else was running.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
