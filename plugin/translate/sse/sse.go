// Package sse is a push parser of text/event-stream (Server-Sent Events), as
// the WHATWG HTML standard defines it ("Interpreting an event stream"). It is
// pure: bytes in, events out, no I/O and no clock. The streaming relay feeds
// it the upstream body as it arrives; the stream translators of package
// translate read the events.
//
// What it accepts, because Hugging Face's upstreams write all of it:
//
//	line ends           LF, CRLF or CR, a CRLF split across two Feed calls included
//	"data:" / "data: "  TGI writes no space, OpenAI-style providers one (removed)
//	":" comments        TGI's keep-alives; skipped
//	several data lines  joined with "\n"
//	event:, id:         kept; retry: and unknown fields are skipped
//	a leading BOM       removed
//
// It holds at most maxEvent bytes of one unfinished event (the partial line
// plus the data gathered so far): past that Feed fails with
// ErrEventTooLarge, so an upstream that never ends a line cannot grow the
// plugin server's memory.
package sse

import (
	"bytes"
	"errors"
)

// Errors of the parser. They name what happened to the stream; the caller
// decides what the client sees.
var (
	// ErrEventTooLarge: one event (or one line) is longer than maxEvent.
	ErrEventTooLarge = errors.New("sse: event larger than the limit")
	// ErrTruncated: the stream ended inside an event (no blank line after
	// its last field, or a line with no end).
	ErrTruncated = errors.New("sse: stream ended in the middle of an event")
)

// DefaultMaxEvent is a limit for callers without a better one: far above
// any token event, and a bound on what one stream can hold.
const DefaultMaxEvent = 1 << 20

// Event is one dispatched SSE event.
type Event struct {
	// Name is the "event:" field, "" when absent.
	Name string
	// Data is the "data:" lines joined with "\n" (one optional space after
	// the colon removed). It may alias the parser's buffer: valid only
	// during the emit call.
	Data []byte
	// ID is the last "id:" field seen in the stream (WHATWG's last event ID:
	// it carries over to later events until another id: line changes it).
	ID string
}

// Parser splits a byte stream into events. The zero value is not usable;
// build one with NewParser. A Parser is for one stream and one goroutine.
type Parser struct {
	max int
	// line holds a line that has not ended yet (its bytes came in an
	// earlier chunk); lines that start and end in one chunk are read in
	// place.
	line []byte
	// data is the data buffer of the pending event, lines joined with "\n".
	data    []byte
	hasData bool
	// fields is true once any field of the pending event was read: the
	// stream ending then is a truncation.
	fields bool
	name   string
	id     string
	// skipLF: the last chunk ended in CR, so a LF starting the next one
	// belongs to the same line end.
	skipLF bool
	// started: the first line was seen (a BOM is removed from it only).
	started bool
	err     error
}

// NewParser returns a parser that holds at most maxEvent bytes of one
// pending event (maxEvent <= 0 means DefaultMaxEvent).
func NewParser(maxEvent int) *Parser {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	return &Parser{max: maxEvent}
}

// Feed parses chunk and calls emit for each complete event, in order. An
// error from emit stops Feed (the rest of chunk is not parsed) and is
// returned: the caller is expected to end the stream there. After
// ErrEventTooLarge every call fails with it.
func (p *Parser) Feed(chunk []byte, emit func(Event) error) error {
	if p.err != nil {
		return p.err
	}
	for len(chunk) > 0 {
		if p.skipLF {
			p.skipLF = false
			if chunk[0] == '\n' {
				chunk = chunk[1:]
				continue
			}
		}
		end := lineEnd(chunk)
		if end < 0 {
			if len(p.line)+len(chunk)+len(p.data) > p.max {
				return p.fail()
			}
			p.line = append(p.line, chunk...)
			return nil
		}
		line := chunk[:end]
		// The same bound whether the line came whole or in pieces, so that
		// where the network split the stream never changes the outcome.
		if len(p.line)+end+len(p.data) > p.max {
			return p.fail()
		}
		if len(p.line) > 0 {
			p.line = append(p.line, line...)
			line = p.line
		}
		next := end + 1
		if chunk[end] == '\r' {
			switch {
			case next == len(chunk):
				p.skipLF = true
			case chunk[next] == '\n':
				next++
			}
		}
		chunk = chunk[next:]
		err := p.processLine(line, emit)
		p.line = p.line[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// Close reports the end of the stream: ErrTruncated when bytes of an
// unfinished event remain (a partial line, or fields with no blank line
// after them), nil otherwise. ErrEventTooLarge, if Feed failed with it, is
// returned again.
func (p *Parser) Close() error {
	if p.err != nil {
		return p.err
	}
	if len(p.line) > 0 || p.fields {
		return ErrTruncated
	}
	return nil
}

func (p *Parser) fail() error {
	p.err = ErrEventTooLarge
	p.line, p.data = nil, nil
	return p.err
}

// lineEnd is the index of the first CR or LF in b, or -1.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	search := b
	if i >= 0 {
		search = b[:i]
	}
	if j := bytes.IndexByte(search, '\r'); j >= 0 {
		return j
	}
	return i
}

var bom = []byte("\xef\xbb\xbf")

// processLine handles one complete line (without its end).
func (p *Parser) processLine(line []byte, emit func(Event) error) error {
	if !p.started {
		p.started = true
		line = bytes.TrimPrefix(line, bom)
	}
	if len(line) == 0 {
		return p.dispatch(emit)
	}
	if line[0] == ':' {
		return nil // comment (TGI's keep-alive)
	}
	field, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) { // no allocation: the compiler compares in place
	case "data":
		p.fields = true
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
		if len(p.data) > p.max {
			return p.fail()
		}
	case "event":
		p.fields = true
		if string(value) != p.name {
			p.name = string(value)
		}
	case "id":
		p.fields = true
		// WHATWG: an id holding NUL is ignored.
		if bytes.IndexByte(value, 0) < 0 && string(value) != p.id {
			p.id = string(value)
		}
	default:
		// retry: and unknown fields are ignored; they still belong to the
		// pending event for the truncation check.
		p.fields = true
	}
	return nil
}

// shrinkAbove is the data buffer capacity kept between events; a larger
// buffer (one big event) is dropped so that a stream holds no more than it
// needs after it.
const shrinkAbove = 64 << 10

// dispatch ends the pending event: emitted when it had a data field.
func (p *Parser) dispatch(emit func(Event) error) error {
	if !p.hasData {
		p.name, p.fields = "", false
		return nil
	}
	ev := Event{Name: p.name, Data: p.data, ID: p.id}
	err := emit(ev)
	p.name, p.fields, p.hasData = "", false, false
	if cap(p.data) > shrinkAbove {
		p.data = nil
	} else {
		p.data = p.data[:0]
	}
	return err
}
