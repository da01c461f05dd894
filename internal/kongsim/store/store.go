package store

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
)

// Store holds the configuration (services, routes, consumers, plugins with
// processed configs) behind immutable snapshots. All methods are safe for
// concurrent use. Writers are serialised; readers take Snapshot() and never
// block writers for long.
type Store struct {
	reg     *kongschema.Registry
	resolve kongschema.Resolver
	now     func() time.Time

	mu        sync.Mutex // serialises writers and listener notification
	snap      atomic.Pointer[Snapshot]
	listeners map[int]func(*Snapshot)
	nextID    int
}

// Option configures New.
type Option func(*Store)

// WithResolver sets how vault references in referenceable config fields
// are resolved before a plugin sees them (default: none resolve, so they
// become "" as in a Kong without that vault).
func WithResolver(r kongschema.Resolver) Option { return func(s *Store) { s.resolve = r } }

// WithClock sets the clock used for created_at/updated_at.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty store (version 0) validating plugins against reg.
func New(reg *kongschema.Registry, opts ...Option) *Store {
	s := &Store{
		reg:       reg,
		now:       time.Now,
		listeners: map[int]func(*Snapshot){},
		resolve: func(ref string) (string, error) {
			return "", fmt.Errorf("no vault configured for %s", ref)
		},
	}
	for _, o := range opts {
		o(s)
	}
	s.snap.Store(&Snapshot{})
	return s
}

// Registry returns the plugin schema registry the store validates with.
func (s *Store) Registry() *kongschema.Registry { return s.reg }

// Snapshot returns the current configuration.
func (s *Store) Snapshot() *Snapshot {
	return s.snap.Load()
}

// OnChange registers fn to be called with every new snapshot, in version
// order, after the change is visible through Snapshot. fn runs on the
// writer's goroutine and must not write to the store. The returned func
// unregisters it.
func (s *Store) OnChange(fn func(*Snapshot)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	s.listeners[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.listeners, id)
	}
}

// draft is a mutable copy of a snapshot being changed.
type draft struct {
	services  []*Service
	routes    []*Route
	consumers []*Consumer
	plugins   []*Plugin
	replaced  bool // by Replace
}

func (d *draft) snapshot(version uint64) *Snapshot {
	return &Snapshot{Version: version, Reloaded: d.replaced, services: d.services, routes: d.routes, consumers: d.consumers, plugins: d.plugins}
}

func (d *draft) view() *Snapshot { return d.snapshot(0) }

// update applies fn to a copy of the current snapshot and publishes the
// result as the next version if fn succeeds.
func (s *Store) update(fn func(d *draft) *kongschema.Error) *kongschema.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.Snapshot()
	d := &draft{
		services:  append([]*Service(nil), old.services...),
		routes:    append([]*Route(nil), old.routes...),
		consumers: append([]*Consumer(nil), old.consumers...),
		plugins:   append([]*Plugin(nil), old.plugins...),
	}
	if err := fn(d); err != nil {
		return err
	}
	next := d.snapshot(old.Version + 1)
	s.snap.Store(next)
	for _, id := range sortedIDs(s.listeners) {
		s.listeners[id](next)
	}
	return nil
}

func sortedIDs(m map[int]func(*Snapshot)) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; a time-based fallback keeps
		// ids unique enough if it ever does.
		t := time.Now().UnixNano()
		for i := range b {
			b[i] = byte(t >> (8 * (i % 8)))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// withAuto fills id (if absent or null) and the timestamps, as Kong's
// process_auto_fields does on insert.
func (s *Store) withAuto(body json.RawMessage, createdAt int64) (json.RawMessage, *kongschema.Error) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return nil, kongschema.SchemaViolation(map[string]string{"@entity": "expected an input table"})
	}
	out := body
	var err error
	if id := gjson.GetBytes(out, "id"); !id.Exists() || id.Type == gjson.Null {
		if out, err = sjson.SetBytes(out, "id", NewUUID()); err != nil {
			return nil, internalError(err)
		}
	}
	now := s.now().Unix()
	if createdAt == 0 {
		createdAt = now
	}
	if c := gjson.GetBytes(out, "created_at"); !c.Exists() || c.Type == gjson.Null {
		if out, err = sjson.SetBytes(out, "created_at", createdAt); err != nil {
			return nil, internalError(err)
		}
	}
	if out, err = sjson.SetBytes(out, "updated_at", now); err != nil {
		return nil, internalError(err)
	}
	return out, nil
}

func internalError(err error) *kongschema.Error {
	return &kongschema.Error{Code: 8, Name: "database error", Message: err.Error()}
}

// builder makes one entity of a draft from its body, checking it against
// the draft's other entities; a createdAt other than 0 is kept (a replace
// or a declarative load).
type builder[E any] func(d *draft, body json.RawMessage, createdAt int64) (E, *kongschema.Error)

// create adds the entity built from body as the next version.
func create[E any](s *Store, body json.RawMessage, build builder[E], list func(*draft) *[]E) (E, *kongschema.Error) {
	var created E
	err := s.update(func(d *draft) *kongschema.Error {
		e, err := build(d, body, 0)
		if err != nil {
			return err
		}
		l := list(d)
		*l = append(*l, e)
		created = e
		return nil
	})
	return created, err
}

// resolveRef turns a foreign reference given by id or endpoint key
// ({"name": "x"} or a bare string) into {"id": ...}.
func resolveRef(body json.RawMessage, field string, find func(string) (string, bool), parent string) (json.RawMessage, *kongschema.Error) {
	ref := gjson.GetBytes(body, field)
	if !ref.Exists() || ref.Type == gjson.Null {
		return body, nil
	}
	key := ""
	switch {
	case ref.IsObject() && ref.Get("id").Exists():
		id := ref.Get("id").String()
		if _, ok := find(id); !ok && ref.Get("id").Type == gjson.String {
			return nil, kongschema.ForeignKeyViolation(field, map[string]any{"id": id}, parent)
		}
		return body, nil
	case ref.IsObject() && ref.Get("name").Exists():
		key = ref.Get("name").String()
	case ref.IsObject() && ref.Get("username").Exists():
		key = ref.Get("username").String()
	case ref.Type == gjson.String:
		key = ref.String()
	default:
		return body, nil
	}
	id, ok := find(key)
	if !ok {
		return nil, kongschema.ForeignKeyViolation(field, map[string]any{"name": key}, parent)
	}
	out, err := sjson.SetBytes(body, field, map[string]string{"id": id})
	if err != nil {
		return nil, internalError(err)
	}
	return out, nil
}

// ---- services -----------------------------------------------------------

// CreateService adds a service (POST /services).
func (s *Store) CreateService(body json.RawMessage) (*Service, *kongschema.Error) {
	return create(s, body, s.buildService, func(d *draft) *[]*Service { return &d.services })
}

func (s *Store) buildService(d *draft, body json.RawMessage, createdAt int64) (*Service, *kongschema.Error) {
	body, errV := s.withAuto(body, createdAt)
	if errV != nil {
		return nil, errV
	}
	doc, errV := kongschema.Services().Process(body)
	if errV != nil {
		return nil, errV
	}
	svc := newService(doc)
	for _, o := range d.services {
		if o.ID == svc.ID {
			return nil, kongschema.PrimaryKeyViolation(map[string]any{"id": svc.ID})
		}
		if svc.Name != "" && o.Name == svc.Name {
			return nil, kongschema.UniqueViolation(map[string]any{"name": svc.Name})
		}
	}
	return svc, nil
}

// ---- routes -------------------------------------------------------------

// CreateRoute adds a route (POST /routes, POST /services/{x}/routes). The
// service may be given as {"id": ...}, {"name": ...} or a bare name.
func (s *Store) CreateRoute(body json.RawMessage) (*Route, *kongschema.Error) {
	return create(s, body, s.buildRoute, func(d *draft) *[]*Route { return &d.routes })
}

func (s *Store) buildRoute(d *draft, body json.RawMessage, createdAt int64) (*Route, *kongschema.Error) {
	view := d.view()
	body, errV := s.withAuto(body, createdAt)
	if errV != nil {
		return nil, errV
	}
	body, errV = resolveRef(body, "service", idOf(view.Service), "services")
	if errV != nil {
		return nil, errV
	}
	doc, errV := kongschema.Routes().Process(body)
	if errV != nil {
		return nil, errV
	}
	r := newRoute(doc)
	for _, o := range d.routes {
		if o.ID == r.ID {
			return nil, kongschema.PrimaryKeyViolation(map[string]any{"id": r.ID})
		}
		if r.Name != "" && o.Name == r.Name {
			return nil, kongschema.UniqueViolation(map[string]any{"name": r.Name})
		}
	}
	return r, nil
}

// ---- consumers ----------------------------------------------------------

// CreateConsumer adds a consumer (POST /consumers).
func (s *Store) CreateConsumer(body json.RawMessage) (*Consumer, *kongschema.Error) {
	return create(s, body, s.buildConsumer, func(d *draft) *[]*Consumer { return &d.consumers })
}

func (s *Store) buildConsumer(d *draft, body json.RawMessage, createdAt int64) (*Consumer, *kongschema.Error) {
	body, errV := s.withAuto(body, createdAt)
	if errV != nil {
		return nil, errV
	}
	doc, errV := kongschema.Consumers().Process(body)
	if errV != nil {
		return nil, errV
	}
	c := newConsumer(doc)
	for _, o := range d.consumers {
		if o.ID == c.ID {
			return nil, kongschema.PrimaryKeyViolation(map[string]any{"id": c.ID})
		}
		if c.Username != "" && o.Username == c.Username {
			return nil, kongschema.UniqueViolation(map[string]any{"username": c.Username})
		}
		if c.CustomID != "" && o.CustomID == c.CustomID {
			return nil, kongschema.UniqueViolation(map[string]any{"custom_id": c.CustomID})
		}
	}
	return c, nil
}
