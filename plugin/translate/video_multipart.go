package translate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/textproto"
	"sort"
	"strings"
)

// This file edits multipart/form-data bodies at the byte level. A video
// request carries an input_reference image (or video) that must reach the
// upstream byte for byte, so the body is not re-encoded through
// mime/multipart's writer (which would rewrite every part's headers and, with
// a new boundary, the content type): the parts are located in place, and
// only the form fields this plugin sets are replaced or added.

// formPart is one part of a multipart body, by offsets into the body.
type formPart struct {
	// Name is the form field name from Content-Disposition.
	Name string
	// Filename is set for file parts.
	Filename string
	// ValueStart and ValueEnd delimit the part's content.
	ValueStart, ValueEnd int
}

// multipartForm is a parsed multipart body.
type multipartForm struct {
	body     []byte
	boundary string
	parts    []formPart
	// closeAt is the offset of the close delimiter "--boundary--", where new
	// fields are inserted.
	closeAt int
}

// maxFormParts bounds the parts scanned: a form with more fields than this
// is not a video request, and the bound keeps the scan's work proportional
// to what a real one needs.
const maxFormParts = 1000

var errMalformedForm = errors.New("malformed multipart/form-data body")

// validBoundary is RFC 2046 §5.1.1's boundary: 1 to 70 bchars (letters,
// digits, '()+_,-./:=? and space), not ending with a space. One outside it
// (a boundary of spaces, a control character) is refused rather than
// guessed at: parsers differ on such forms, and the upstream must read the
// same parts this plugin did.
func validBoundary(b string) bool {
	if b == "" || len(b) > 70 || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !isAlnum(c) && !strings.ContainsRune("'()+_,-./:=? ", rune(c)) {
			return false
		}
	}
	return true
}

// parseMultipartForm locates the parts of body (RFC 7578 / RFC 2046: CRLF
// line breaks, a delimiter line per part, a close delimiter).
func parseMultipartForm(body []byte, boundary string) (*multipartForm, error) {
	if !validBoundary(boundary) {
		return nil, fmt.Errorf("%w: the content type has no valid boundary", errMalformedForm)
	}
	dash := []byte("--" + boundary)
	crlfDash := []byte("\r\n--" + boundary)
	f := &multipartForm{body: body, boundary: boundary}

	// The preamble is skipped line by line (lines end with LF, as
	// mime/multipart reads them): the first line that starts with the
	// boundary must be a well-formed delimiter line, or the body is refused.
	pos := -1
	for line := 0; line < len(body); {
		if bytes.HasPrefix(body[line:], dash) {
			pos = line
			break
		}
		nl := bytes.IndexByte(body[line:], '\n')
		if nl < 0 {
			break
		}
		line += nl + 1
	}
	if pos < 0 {
		return nil, fmt.Errorf("%w: no part starts with the boundary of the content type", errMalformedForm)
	}
	for {
		after := pos + len(dash)
		if bytes.HasPrefix(body[after:], []byte("--")) {
			// The close delimiter: padding, then CRLF (and an epilogue
			// no one reads) or the end of the body.
			rest := bytes.TrimLeft(body[after+2:], " \t")
			if len(rest) > 0 && !bytes.HasPrefix(rest, []byte("\r\n")) {
				return nil, fmt.Errorf("%w: the close delimiter line does not end with CRLF", errMalformedForm)
			}
			f.closeAt = pos
			return f, nil
		}
		if len(f.parts) == maxFormParts {
			return nil, fmt.Errorf("%w: more than %d parts", errMalformedForm, maxFormParts)
		}
		// Transport padding, then the line break ending the delimiter line.
		for after < len(body) && (body[after] == ' ' || body[after] == '\t') {
			after++
		}
		if !bytes.HasPrefix(body[after:], []byte("\r\n")) {
			return nil, fmt.Errorf("%w: a boundary line does not end with CRLF", errMalformedForm)
		}
		headStart := after + 2
		var headers []byte
		valueStart := headStart + 2
		if !bytes.HasPrefix(body[headStart:], []byte("\r\n")) {
			end := bytes.Index(body[headStart:], []byte("\r\n\r\n"))
			if end < 0 {
				return nil, fmt.Errorf("%w: a part's headers do not end", errMalformedForm)
			}
			headers = body[headStart : headStart+end+2]
			valueStart = headStart + end + 4
		}
		next := delimiterIndex(body, crlfDash, valueStart)
		if next < 0 {
			return nil, fmt.Errorf("%w: the body ends inside a part (no close delimiter)", errMalformedForm)
		}
		p, err := partHeader(headers)
		if err != nil {
			return nil, err
		}
		p.ValueStart, p.ValueEnd = valueStart, next
		f.parts = append(f.parts, p)
		pos = next + 2
	}
}

// delimiterIndex finds the next "\r\n--boundary" at or after from that
// ends the content before it: followed by "--", padding, CR or LF, or the
// end of the body, as mime/multipart's reader decides (a longer
// boundary-like string inside content is content). The caller then requires
// a well-formed delimiter line, so that where this parser and the
// upstream's see parts never differs: a body they could read differently
// is refused.
func delimiterIndex(body, crlfDash []byte, from int) int {
	for from <= len(body) {
		i := bytes.Index(body[from:], crlfDash)
		if i < 0 {
			return -1
		}
		at := from + i
		rest := body[at+len(crlfDash):]
		if len(rest) == 0 || bytes.HasPrefix(rest, []byte("--")) ||
			rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n' {
			return at
		}
		from = at + 1
	}
	return -1
}

// partHeader reads a part's headers: the field name (and filename) from
// Content-Disposition: form-data.
func partHeader(raw []byte) (formPart, error) {
	if len(raw) == 0 {
		return formPart{}, fmt.Errorf("%w: a part has no Content-Disposition", errMalformedForm)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(raw, '\r', '\n'))))
	h, err := r.ReadMIMEHeader()
	if err != nil {
		return formPart{}, fmt.Errorf("%w: a part's headers: %w", errMalformedForm, err)
	}
	disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil || disp != "form-data" || params["name"] == "" {
		return formPart{}, fmt.Errorf("%w: a part has no Content-Disposition: form-data with a name", errMalformedForm)
	}
	return formPart{Name: params["name"], Filename: params["filename"]}, nil
}

// fields returns the parts with a field name.
func (f *multipartForm) fields(name string) []formPart {
	var out []formPart
	for _, p := range f.parts {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// value is a part's content.
func (f *multipartForm) value(p formPart) []byte { return f.body[p.ValueStart:p.ValueEnd] }

// formEdit replaces body[start:end] with repl.
type formEdit struct {
	start, end int
	repl       []byte
}

// setField plans setting a text field: the content of its one part is
// replaced, or a part is added before the close delimiter. The value must
// not hold CR or LF (callers pass validated model ids and config values).
func (f *multipartForm) setField(edits []formEdit, name, value string) ([]formEdit, error) {
	if strings.ContainsAny(value, "\r\n") {
		return nil, fmt.Errorf("form field %q: the value holds a line break", name)
	}
	parts := f.fields(name)
	switch len(parts) {
	case 0:
		var b bytes.Buffer
		b.WriteString("--")
		b.WriteString(f.boundary)
		b.WriteString("\r\nContent-Disposition: form-data; name=\"")
		b.WriteString(escapeQuotedParam(name))
		b.WriteString("\"\r\n\r\n")
		b.WriteString(value)
		b.WriteString("\r\n")
		return append(edits, formEdit{start: f.closeAt, end: f.closeAt, repl: b.Bytes()}), nil
	case 1:
		p := parts[0]
		if string(f.value(p)) == value {
			return edits, nil
		}
		return append(edits, formEdit{start: p.ValueStart, end: p.ValueEnd, repl: []byte(value)}), nil
	default:
		return nil, fmt.Errorf("the form has the field %q more than once", name)
	}
}

// escapeQuotedParam escapes a name for a quoted Content-Disposition
// parameter the way mime/multipart's writer does.
func escapeQuotedParam(s string) string {
	return strings.NewReplacer("\\", "\\\\", `"`, "\\\"").Replace(s)
}

// apply builds the edited body in one copy; nil when there is no edit.
func (f *multipartForm) apply(edits []formEdit) []byte {
	if len(edits) == 0 {
		return nil
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	size := len(f.body)
	for _, e := range edits {
		size += len(e.repl) - (e.end - e.start)
	}
	out := make([]byte, 0, size)
	at := 0
	for _, e := range edits {
		out = append(out, f.body[at:e.start]...)
		out = append(out, e.repl...)
		at = e.end
	}
	return append(out, f.body[at:]...)
}
