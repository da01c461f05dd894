package hfsim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Event is one parsed Server-Sent Event, or one comment line.
type Event struct {
	// Comment is true for a ":" line (a keep-alive); Data then holds the
	// comment text after the colon.
	Comment bool
	// Name is the "event:" field ("" when absent).
	Name string
	// Data is the "data:" field, multiple data lines joined with "\n".
	Data string
	// Spaced is true when the data field was written "data: " (OpenAI
	// style) rather than "data:" (TGI style).
	Spaced bool
}

// ErrTruncated reports a stream that ended inside an event (no blank line
// after its last field).
var ErrTruncated = errors.New("sse: stream ended mid-event")

// MaxEventLine bounds one SSE line.
const MaxEventLine = 16 << 20

// ReadEvents parses an SSE stream per the WHATWG rules: lines end in
// "\n", "\r\n" or "\r"; a blank line dispatches the event; one space after
// the colon belongs to the framing. Comment lines are returned as events
// (in order) so tests can see keep-alives. At EOF inside an event it
// returns what it has and ErrTruncated.
func ReadEvents(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxEventLine)
	sc.Split(scanSSELines)
	var (
		out     []Event
		cur     Event
		data    [][]byte
		pending bool
	)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if pending {
				cur.Data = string(bytes.Join(data, []byte("\n")))
				out = append(out, cur)
			}
			cur, data, pending = Event{}, nil, false
			continue
		}
		if line[0] == ':' {
			out = append(out, Event{Comment: true, Data: string(line[1:])})
			continue
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		spaced := found && len(value) > 0 && value[0] == ' '
		if spaced {
			value = value[1:]
		}
		switch string(name) {
		case "data":
			data = append(data, bytes.Clone(value))
			cur.Spaced = spaced
			pending = true
		case "event":
			cur.Name = string(value)
			pending = true
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("sse: %w", err)
	}
	if pending {
		return out, ErrTruncated
	}
	return out, nil
}

// scanSSELines splits on "\n", "\r\n" or a lone "\r". A final line with no
// terminator is returned too; ReadEvents then reports the event truncated.
func scanSSELines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // "\r" at the end: wait to see if "\n" follows
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
