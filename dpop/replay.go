package dpop

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// DefaultMaxEntries is the capacity of the default MemoryStore: at about
// 125 bytes an entry (measured in TestMemoryStoreBoundedUnderFlood) it
// holds at most about 32 MiB, enough for some 4000 accepted proofs a second
// with the default 60 s window.
const DefaultMaxEntries = 1 << 18

// ReplayStore records the proofs a Checker accepted (RFC 9449 section
// 11.1). Implementations must be safe for concurrent use.
type ReplayStore interface {
	// Record stores key until the instant until (now is the Checker's
	// clock, for stores that evict or compute a time to live). It returns
	// an error matching ErrReplay (errors.Is) when key is present and not
	// expired, and any other error when it cannot record (full, a shared
	// store failing): Commit then refuses the request with 503, never
	// accepts it unrecorded.
	Record(ctx context.Context, key [32]byte, now, until time.Time) error
}

// MemoryStore is the in-process ReplayStore: a bounded set of keys with
// their expiry. Its memory is bounded by its capacity (about 125 bytes an
// entry): when it holds that many unexpired keys it refuses to record
// (ErrStoreFull), so Commit answers 503 rather than accept a proof it
// cannot remember. Expired keys are evicted as new ones arrive.
//
// It is per process: an API run as several replicas, each with its own
// MemoryStore, accepts a captured proof once per replica within its
// window. Use a ReplayStore shared by the replicas (a database with
// expiring keys: insert-if-absent with a time to live) to prevent that.
type MemoryStore struct {
	mu   sync.Mutex
	max  int
	keys map[[32]byte]int64 // key -> until (Unix ns)
	exp  expiryHeap
}

var _ ReplayStore = (*MemoryStore)(nil)

// NewMemoryStore returns a MemoryStore holding at most maxEntries
// unexpired keys (DefaultMaxEntries when maxEntries <= 0).
func NewMemoryStore(maxEntries int) *MemoryStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &MemoryStore{max: maxEntries, keys: map[[32]byte]int64{}}
}

// Record implements ReplayStore.
func (s *MemoryStore) Record(ctx context.Context, key [32]byte, now, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n, u := now.UnixNano(), until.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	// A key is held through its until instant (a proof is accepted while
	// |now - iat| <= window, until = iat + window): evicted only after.
	for len(s.exp) > 0 && s.exp[0].until < n {
		e := heap.Pop(&s.exp).(expiry)
		delete(s.keys, e.key)
	}
	if _, ok := s.keys[key]; ok {
		return ErrReplay
	}
	if u < n {
		return nil // already outside its window: nothing to remember
	}
	if len(s.keys) >= s.max {
		return ErrStoreFull
	}
	s.keys[key] = u
	heap.Push(&s.exp, expiry{until: u, key: key})
	return nil
}

// Len returns the number of keys held (some may have expired and wait for
// eviction).
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// Cap returns the maximum number of keys held.
func (s *MemoryStore) Cap() int { return s.max }

type expiry struct {
	until int64
	key   [32]byte
}

// expiryHeap is a min-heap of expiries (container/heap).
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
