package introspect

import (
	"sync"
	"time"
)

// key is the cache key: the SHA-256 of the token. Opaque tokens are bearer
// secrets; the cache never holds one.
type key = [32]byte

type entry struct {
	res   *Result // nil for a refusal
	err   *Error
	until int64 // unix nanoseconds
	size  int64
}

// cache holds answers bounded in entries and bytes. Expired entries are
// swept when the cache is full (at most once a second); if that is not
// enough, arbitrary entries are evicted (Go's map order).
type cache struct {
	mu         sync.RWMutex
	m          map[key]*entry
	bytes      int64
	maxEntries int
	maxBytes   int64
	lastSweep  int64
}

func newCache(maxEntries int, maxBytes int64) *cache {
	return &cache{m: make(map[key]*entry), maxEntries: maxEntries, maxBytes: maxBytes}
}

func (c *cache) get(k *key, now int64) (*entry, bool) {
	c.mu.RLock()
	e, ok := c.m[*k]
	c.mu.RUnlock()
	if !ok || now >= e.until {
		return nil, false
	}
	return e, true
}

func (c *cache) put(k key, e *entry, now int64) {
	if e.size > c.maxBytes || c.maxEntries == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.bytes -= old.size
		delete(c.m, k)
	}
	if len(c.m) >= c.maxEntries || c.bytes+e.size > c.maxBytes {
		if now-c.lastSweep >= int64(time.Second) {
			c.lastSweep = now
			for kk, ee := range c.m {
				if now >= ee.until {
					c.bytes -= ee.size
					delete(c.m, kk)
				}
			}
		}
		for kk, ee := range c.m {
			if len(c.m) < c.maxEntries && c.bytes+e.size <= c.maxBytes {
				break
			}
			c.bytes -= ee.size
			delete(c.m, kk)
		}
	}
	c.m[k] = e
	c.bytes += e.size
}

// forget drops k's entry; it reports whether there was one.
func (c *cache) forget(k *key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[*k]
	if ok {
		c.bytes -= e.size
		delete(c.m, *k)
	}
	return ok
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
