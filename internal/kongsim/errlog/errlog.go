// Package errlog writes the stand-in's error log in the format of Kong's
// nginx error.log, so that operators and tests read the same lines they
// would read from Kong: "2006/01/02 15:04:05 [warn] 1234#0: *7 message,
// client: ..., server: kong, request: "...", host: "..."".
package errlog

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Level is an nginx log level. Lower is more severe, as in nginx.
type Level int

// The nginx levels, most severe first (ngx.EMERG = 1 … ngx.DEBUG = 8).
const (
	Emerg Level = iota + 1
	Alert
	Crit
	Err
	Warn
	Notice
	Info
	Debug
)

var levelNames = [...]string{"", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

// String is the name nginx prints between brackets ("error" for Err).
func (l Level) String() string {
	if l < Emerg || l > Debug {
		return "unknown"
	}
	return levelNames[l]
}

// ParseLevel reads a kong.conf log_level value ("err" and "error" are both
// accepted by nginx).
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "emerg":
		return Emerg, nil
	case "alert":
		return Alert, nil
	case "crit":
		return Crit, nil
	case "err", "error":
		return Err, nil
	case "warn":
		return Warn, nil
	case "notice":
		return Notice, nil
	case "info":
		return Info, nil
	case "debug":
		return Debug, nil
	}
	return 0, fmt.Errorf("invalid log_level %q", s)
}

// Request is the request context nginx appends to a line logged while a
// request (or a timer created by it) runs.
type Request struct {
	Conn      uint64 // nginx connection number, printed as "*N"
	Client    string // remote address
	Server    string // server name ("kong")
	Line      string // request line, e.g. "GET /x HTTP/1.1"
	Host      string // Host header
	RequestID string // $kong_request_id (lua_kong_error_log_request_id)
	Timer     bool   // logged from ngx.timer: nginx prints "context: ngx.timer"
}

// Log is a concurrency-safe nginx-style error log.
type Log struct {
	mu    sync.Mutex
	w     io.Writer
	level Level
	pid   int
	now   func() time.Time
}

// New returns a log writing lines at or above level to w.
func New(w io.Writer, level Level) *Log {
	return &Log{w: w, level: level, pid: os.Getpid(), now: time.Now}
}

// Enabled reports whether lines at level are written (nginx filters by the
// error_log level before formatting).
func (l *Log) Enabled(level Level) bool { return l != nil && level <= l.level }

// Printf writes one line without request context.
func (l *Log) Printf(level Level, format string, args ...any) {
	l.Write(level, nil, fmt.Sprintf(format, args...))
}

// Write writes msg as one line, with the request context if req is set.
// Newlines inside msg are kept on one line, as nginx does not split them
// either; callers that need several lines call Write several times.
func (l *Log) Write(level Level, req *Request, msg string) {
	if !l.Enabled(level) {
		return
	}
	var b strings.Builder
	b.WriteString(l.now().Format("2006/01/02 15:04:05"))
	fmt.Fprintf(&b, " [%s] %d#0: ", level, l.pid)
	if req != nil && req.Conn != 0 {
		fmt.Fprintf(&b, "*%d ", req.Conn)
	}
	b.WriteString(msg)
	if req != nil {
		if req.Timer {
			b.WriteString(", context: ngx.timer")
		}
		if req.Client != "" {
			fmt.Fprintf(&b, ", client: %s", req.Client)
		}
		if req.Server != "" {
			fmt.Fprintf(&b, ", server: %s", req.Server)
		}
		if !req.Timer {
			if req.Line != "" {
				fmt.Fprintf(&b, ", request: %q", req.Line)
			}
			if req.Host != "" {
				fmt.Fprintf(&b, ", host: %q", req.Host)
			}
			if req.RequestID != "" {
				fmt.Fprintf(&b, ", request_id: %q", req.RequestID)
			}
		}
	}
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, b.String())
}
