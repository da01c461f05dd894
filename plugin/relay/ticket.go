package relay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Ticket is what the access handler hands the relay for one request: the
// relay has no PDK, so everything it needs travels here. A ticket is used
// once; its Config and Capability are the instance's read-only ones.
type Ticket struct {
	Config     *schema.Config
	Capability translate.Capability
	// Redact removes the config's secrets from what the relay logs.
	Redact *translate.Redactor
	// In is the client request as access read it: headers (lower-case) and
	// path/query always; Body only when access translated the request
	// (Upstream set). Without a body the relay reads the one Kong forwards.
	In *translate.ClientRequest
	// Upstream is the translated upstream request with the real
	// credentials, or nil: then the relay validates and translates In
	// itself (the same Capability.Request access would have called).
	Upstream *translate.UpstreamRequest
	// Start is when access began, for the latency figures.
	Start time.Time
}

// ticketIDLen is the length of a ticket id: 128 random bits in hex.
const ticketIDLen = 32

// ErrTableFull is returned when the ticket table holds its maximum of live
// tickets: the request is refused rather than the table growing unbounded.
var ErrTableFull = errors.New("relay: too many requests in flight (ticket table full)")

// tickets is a bounded table of single-use tickets with expiry. A ticket
// that Kong never presents (client gone before the proxy step, Kong's own
// error) expires after ttl, so nothing leaks.
type tickets struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[[16]byte]entry
}

type entry struct {
	t       *Ticket
	expires time.Time
}

func newTickets(ttl time.Duration, max int) *tickets {
	return &tickets{ttl: ttl, max: max, now: time.Now, entries: make(map[[16]byte]entry)}
}

// add stores t and returns its id (32 hex digits).
func (ts *tickets) add(t *Ticket) (string, error) {
	return ts.addWith(t, "")
}

// addWith stores t and returns prefix followed by its id, built in one
// allocation (the relay path of every request).
func (ts *tickets) addWith(t *Ticket, prefix string) (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	now := ts.now()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.entries) >= ts.max {
		ts.sweepLocked(now)
		if len(ts.entries) >= ts.max {
			return "", ErrTableFull
		}
	}
	ts.entries[id] = entry{t: t, expires: now.Add(ts.ttl)}
	var hexID [ticketIDLen]byte
	hex.Encode(hexID[:], id[:])
	var b strings.Builder
	b.Grow(len(prefix) + ticketIDLen)
	b.WriteString(prefix)
	b.Write(hexID[:])
	return b.String(), nil
}

// take removes and returns the ticket of id; nil when the id is malformed,
// unknown, already used or expired.
func (ts *tickets) take(s string) *Ticket {
	var id [16]byte
	if len(s) != ticketIDLen {
		return nil
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return nil
	}
	ts.mu.Lock()
	e, ok := ts.entries[id]
	if ok {
		delete(ts.entries, id)
	}
	ts.mu.Unlock()
	if !ok || ts.now().After(e.expires) {
		return nil
	}
	return e.t
}

// sweep drops expired tickets; the relay runs it every ttl.
func (ts *tickets) sweep() {
	now := ts.now()
	ts.mu.Lock()
	ts.sweepLocked(now)
	ts.mu.Unlock()
}

func (ts *tickets) sweepLocked(now time.Time) {
	for id, e := range ts.entries {
		if now.After(e.expires) {
			delete(ts.entries, id)
		}
	}
}

// len is the number of tickets held (expired ones until swept).
func (ts *tickets) len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.entries)
}
