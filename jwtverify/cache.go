package jwtverify

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// CacheStats is a snapshot of the verified-token cache counters.
type CacheStats struct {
	// Entries and Bytes are the current occupancy (Bytes is an estimate of
	// the memory held: token, claims, Principal and entry).
	Entries, Bytes int64
	// Hits, Misses and Evictions count since New. Evictions include
	// expired entries and entries whose signing key disappeared.
	Hits, Misses, Evictions uint64
	// MaxEntries and MaxBytes are the configured bounds.
	MaxEntries int
	MaxBytes   int64
}

// cacheEntry is one verified token. Immutable except gen (the key set
// generation last seen publishing its key) and ref (the CLOCK bit).
type cacheEntry struct {
	token    string
	hash     uint64
	p        *Principal
	is       *issuer
	src      jwkscache.KeySource
	kid      string
	thumb    string
	expLimit int64 // exp + leeway, microseconds
	nbfLimit int64 // max(nbf, iat) - leeway, microseconds
	size     int64
	gen      atomic.Uint64
	ref      atomic.Uint32
}

// probeWindow is how many adjacent slots a token may live in.
const probeWindow = 16

// hitStripes spreads the hit counter over cache lines so that concurrent
// hits (often of the same token) do not contend on one.
const hitStripes = 16

type paddedCounter struct {
	n atomic.Uint64
	_ [56]byte
}

// tokenCache is a set-associative table of atomic pointers: readers never
// lock (one hash of the token, a few atomic loads and a string compare);
// writers (cache misses, which just paid for a signature check) serialise
// on one mutex. Eviction is CLOCK over the slots, preferring expired
// entries; bounds are enforced on entries and on accounted bytes.
type tokenCache struct {
	seed       maphash.Seed
	slots      []atomic.Pointer[cacheEntry]
	mask       uint64
	maxEntries int64
	maxBytes   int64

	mu        sync.Mutex
	hand      uint64
	lastSweep int64 // microseconds; when evictExpired last ran

	entries   atomic.Int64
	bytes     atomic.Int64
	misses    atomic.Uint64
	evictions atomic.Uint64
	hits      [hitStripes]paddedCounter
}

func newTokenCache(maxEntries int, maxBytes int64) *tokenCache {
	n := uint64(2 * maxEntries)
	if n < 64 {
		n = 64
	}
	n = 1 << bits.Len64(n-1)
	return &tokenCache{
		seed:       maphash.MakeSeed(),
		slots:      make([]atomic.Pointer[cacheEntry], n),
		mask:       n - 1,
		maxEntries: int64(maxEntries),
		maxBytes:   maxBytes,
	}
}

// hashTail is how many trailing bytes of a token feed the hash: they lie in
// the signature segment, which differs between any two distinct signed
// tokens, so hashing them is as good as hashing the token and much cheaper
// (a hit must not scan the whole token). Entries are still matched on the
// full string, and only verified tokens are ever inserted, so tokens that
// share a tail cannot displace or impersonate each other.
const hashTail = 48

func (c *tokenCache) hash(token string) uint64 {
	if len(token) <= hashTail {
		return maphash.String(c.seed, token)
	}
	return maphash.String(c.seed, token[len(token)-hashTail:]) ^ uint64(len(token))*0x9E3779B97F4A7C15
}

// get finds token; it returns the entry and its slot.
func (c *tokenCache) get(h uint64, token string) (*cacheEntry, uint64) {
	for i := uint64(0); i < probeWindow; i++ {
		j := (h + i) & c.mask
		if e := c.slots[j].Load(); e != nil && e.hash == h && e.token == token {
			return e, j
		}
	}
	return nil, 0
}

// check validates a hit. ok is false when the entry was dropped because its
// key is no longer published (the caller verifies from scratch).
func (c *tokenCache) check(e *cacheEntry, slot uint64, now int64) (p *Principal, err *Error, ok bool) {
	if now >= e.expLimit {
		c.remove(slot, e)
		if e.src == nil {
			// An introspected token whose answer may no longer be
			// reused: ask its Source again (it knows whether exp passed).
			return nil, nil, false
		}
		return nil, &Error{Reason: ReasonExpired, Issuer: e.is.name, Detail: "token expired"}, true
	}
	if now < e.nbfLimit {
		return nil, &Error{Reason: ReasonNotYetValid, Issuer: e.is.name, Detail: "token not yet valid"}, true
	}
	if e.src == nil {
		// An introspected token: expLimit already bounds the reuse of the
		// answer (the revocation delay); there is no signing key.
		return c.hit(e), nil, true
	}
	set := e.src.Current()
	if set == nil {
		return nil, &Error{Reason: ReasonKeysUnavailable, Issuer: e.is.name, Detail: "no usable key set", Err: jwkscache.ErrKeysUnavailable}, true
	}
	if g := set.Generation; g != e.gen.Load() {
		if !set.Contains(e.kid, e.thumb) {
			c.remove(slot, e)
			return nil, nil, false
		}
		e.gen.Store(g)
	}
	return c.hit(e), nil, true
}

// hit records a hit on e and returns its Principal.
func (c *tokenCache) hit(e *cacheEntry) *Principal {
	if e.ref.Load() == 0 {
		e.ref.Store(1)
	}
	c.hits[rand.Uint32()%hitStripes].n.Add(1)
	return e.p
}

// remove drops e from slot if it is still there.
func (c *tokenCache) remove(slot uint64, e *cacheEntry) {
	if c.slots[slot].CompareAndSwap(e, nil) {
		c.entries.Add(-1)
		c.bytes.Add(-e.size)
		c.evictions.Add(1)
	}
}

var entryOverhead = int64(unsafe.Sizeof(cacheEntry{})) + 8

// put inserts a verified entry (token and hash set), evicting as needed.
func (c *tokenCache) put(e *cacheEntry, now int64) {
	e.size = int64(len(e.token)) + e.p.size() + entryOverhead
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, _ := c.get(e.hash, e.token); old != nil {
		return // a concurrent miss of the same token won
	}
	// Reclaim a few expired entries on every insert so they do not linger.
	for i := 0; i < 4; i++ {
		j := c.hand & c.mask
		c.hand++
		if cur := c.slots[j].Load(); cur != nil && now >= cur.expLimit {
			c.remove(j, cur)
		}
	}
	full := func() bool { return c.entries.Load() >= c.maxEntries || c.bytes.Load()+e.size > c.maxBytes }
	if full() && now-c.lastSweep >= sweepInterval {
		c.lastSweep = now
		c.evictExpired(now)
	}
	for full() {
		if !c.evictOne(now) {
			return
		}
	}
	// Place in the probe window: an empty slot, else an expired entry, else
	// one not referenced since the last sweep, else the first.
	base := e.hash & c.mask
	victim, vscore := uint64(0), -1
	for i := uint64(0); i < probeWindow; i++ {
		j := (base + i) & c.mask
		cur := c.slots[j].Load()
		if cur == nil {
			c.store(j, e)
			return
		}
		score := 0
		switch {
		case now >= cur.expLimit:
			score = 2
		case cur.ref.Load() == 0:
			score = 1
		}
		if score > vscore {
			victim, vscore = j, score
		}
	}
	if cur := c.slots[victim].Load(); cur != nil {
		c.remove(victim, cur)
	}
	c.store(victim, e)
}

func (c *tokenCache) store(j uint64, e *cacheEntry) {
	c.slots[j].Store(e)
	c.entries.Add(1)
	c.bytes.Add(e.size)
}

// sweepInterval rate-limits full sweeps for expired entries (microseconds).
const sweepInterval = 1e6

// evictExpired removes every expired entry. It walks the whole table, so
// put runs it only when the cache is full and at most once per
// sweepInterval. Called with mu held.
func (c *tokenCache) evictExpired(now int64) {
	for j := range c.slots {
		if cur := c.slots[j].Load(); cur != nil && now >= cur.expLimit {
			c.remove(uint64(j), cur)
		}
	}
}

// evictOne advances the CLOCK hand and evicts the first entry that is
// expired or not referenced since the hand last passed. Called with mu held.
func (c *tokenCache) evictOne(now int64) bool {
	for n := uint64(0); n <= 2*uint64(len(c.slots)); n++ {
		j := c.hand & c.mask
		c.hand++
		cur := c.slots[j].Load()
		if cur == nil {
			continue
		}
		if now >= cur.expLimit || cur.ref.Load() == 0 {
			c.remove(j, cur)
			return true
		}
		cur.ref.Store(0)
	}
	return false
}

func (c *tokenCache) stats() CacheStats {
	s := CacheStats{
		Entries:    c.entries.Load(),
		Bytes:      c.bytes.Load(),
		Misses:     c.misses.Load(),
		Evictions:  c.evictions.Load(),
		MaxEntries: int(c.maxEntries),
		MaxBytes:   c.maxBytes,
	}
	for i := range c.hits {
		s.Hits += c.hits[i].n.Load()
	}
	return s
}

// forget drops token's entry, if cached.
func (c *tokenCache) forget(token string) bool {
	h := c.hash(token)
	for {
		e, slot := c.get(h, token)
		if e == nil {
			return false
		}
		if c.slots[slot].CompareAndSwap(e, nil) {
			c.entries.Add(-1)
			c.bytes.Add(-e.size)
			c.evictions.Add(1)
			return true
		}
	}
}

// forgetAll drops every entry.
func (c *tokenCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j := range c.slots {
		if cur := c.slots[j].Load(); cur != nil {
			c.remove(uint64(j), cur)
		}
	}
}
