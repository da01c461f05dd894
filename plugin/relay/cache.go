package relay

import (
	"sync"
	"sync/atomic"
)

// cowCache is a bounded read-mostly map: lookups read an immutable map
// through an atomic pointer (no lock, no allocation on a hit), inserts copy
// it under a mutex. Its keys are few on the hot path (header names, the
// configured upstreams, models); past max entries nothing more is cached
// and the caller computes the value each time, so a stream of distinct keys
// cannot grow it.
type cowCache[K comparable, V any] struct {
	max int
	mu  sync.Mutex
	m   atomic.Pointer[map[K]V]
}

func (c *cowCache[K, V]) load(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// store adds k (when there is room) and returns v.
func (c *cowCache[K, V]) store(k K, v V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var n int
	if old != nil {
		if cur, ok := (*old)[k]; ok {
			return cur
		}
		n = len(*old)
	}
	if n >= c.max {
		return v
	}
	m := make(map[K]V, n+1)
	if old != nil {
		for k2, v2 := range *old {
			m[k2] = v2
		}
	}
	m[k] = v
	c.m.Store(&m)
	return v
}
