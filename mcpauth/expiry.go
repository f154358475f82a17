package mcpauth

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// expirySlots (1<<expiryBits) bounds the shared expiries: at most this
// many timers wait for tokens without a request in flight (each a few
// dozen bytes, firing at the latest at its token's ValidUntil).
const (
	expiryBits  = 8
	expirySlots = 1 << expiryBits
)

// expiry ends, with ErrTokenExpired, every request in flight on a token
// whose ValidUntil is one instant: one timer for all of them, armed by the
// first, instead of a context deadline (a timer) per request. With the
// Verifier's default clock the expiries are shared through Auth.expiries,
// keyed by ValidUntil; with an injected clock each request has its own,
// due at ValidUntil minus the injected Now, as a context deadline would be.
type expiry struct {
	at   int64     // ValidUntil, Unix microseconds: the key
	due  time.Time // the instant reported as the requests' deadline
	slot *atomic.Pointer[expiry]
	t    *time.Timer

	mu      sync.Mutex
	head    *bridge // the requests in flight, linked through bridge.prev/next
	fired   bool    // the timer ran: members were ended; a late one is ended at once
	evicted bool    // out of its slot (or never in one): the last member stops the timer
	stopped bool    // the timer was stopped before it fired: join fails
}

// newExpiry arms an expiry that fires after d.
func newExpiry(at int64, due time.Time, d time.Duration, slot *atomic.Pointer[expiry]) *expiry {
	x := &expiry{at: at, due: due, slot: slot, evicted: slot == nil}
	x.t = time.AfterFunc(d, x.fire)
	return x
}

// join adds b, whose cancel is set, to the requests that x ends. It fails
// only when x's timer was stopped (x was evicted with no request in
// flight): the caller then arms a new expiry. When x already fired, b's
// context ends at once.
func (x *expiry) join(b *bridge) bool {
	x.mu.Lock()
	if x.stopped {
		x.mu.Unlock()
		return false
	}
	b.prev, b.next = nil, x.head
	if x.head != nil {
		x.head.prev = b
	}
	x.head = b
	fired := x.fired
	x.mu.Unlock()
	if fired {
		b.cancel(ErrTokenExpired)
	}
	return true
}

// leave removes b at the end of its request; the last member of an
// evicted expiry stops its timer.
func (x *expiry) leave(b *bridge) {
	x.mu.Lock()
	if b.prev != nil {
		b.prev.next = b.next
	} else if x.head == b {
		x.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	}
	b.prev, b.next = nil, nil
	if x.head == nil && x.evicted {
		x.stopLocked()
	}
	x.mu.Unlock()
}

// evict marks x replaced in its slot: it stops its timer now when no
// request is in flight, else when the last one leaves.
func (x *expiry) evict() {
	x.mu.Lock()
	x.evicted = true
	if x.head == nil {
		x.stopLocked()
	}
	x.mu.Unlock()
}

func (x *expiry) stopLocked() {
	if !x.fired && !x.stopped {
		x.t.Stop()
		x.stopped = true
	}
}

// fire ends the requests in flight (their handlers then return and leave)
// and frees the slot.
func (x *expiry) fire() {
	x.mu.Lock()
	x.fired = true
	for b := x.head; b != nil; b = b.next {
		b.cancel(ErrTokenExpired)
	}
	x.mu.Unlock()
	if x.slot != nil {
		x.slot.CompareAndSwap(x, nil)
	}
}

// arm joins b, whose cancel is set, to the expiry of validUntil and
// returns it; the caller leaves it when the request ends. b.due is set
// before b is shared.
func (m *Auth) arm(b *bridge, validUntil time.Time) *expiry {
	at := validUntil.UnixMicro()
	if !m.v.DefaultClock() {
		// The injected clock decides how long is left, for this request.
		d := validUntil.Sub(m.v.Now())
		x := newExpiry(at, time.Now().Add(d), d, nil)
		b.due = x.due
		x.join(b) // never fails: x is not in a slot, so not evicted with no member
		return x
	}
	// Fibonacci hashing of the instant (whole seconds in most tokens).
	slot := &m.expiries[(uint64(at)*0x9E3779B97F4A7C15)>>(64-expiryBits)]
	b.due = validUntil
	if x := slot.Load(); x != nil && x.at == at && x.join(b) {
		return x
	}
	x := newExpiry(at, validUntil, time.Until(validUntil), slot)
	x.join(b) // before x is published, so it cannot have been stopped
	if old := slot.Swap(x); old != nil {
		old.evict()
	}
	return x
}

// Deadline is the earlier of the request's own deadline and the token's
// ValidUntil, at which the expiry ends the context.
func (b *bridge) Deadline() (time.Time, bool) {
	d, ok := b.Context.Deadline()
	if ok && d.Before(b.due) {
		return d, true
	}
	return b.due, true
}

var _ context.Context = (*bridge)(nil)
