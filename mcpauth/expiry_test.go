package mcpauth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// newTestAuth is an Auth on a Verifier with the default clock.
func newTestAuth(t testing.TB) *Auth {
	t.Helper()
	iss := oauthtest.NewT(t)
	kid := iss.SigningKeyID()
	pub, _ := iss.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "test", Issuer: iss.Issuer(), Keys: jwkscache.NewStatic("test", key),
		Audiences: []string{"https://mcp.example.test"}, ClientIDs: []string{"c"}, Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if !v.DefaultClock() {
		t.Fatal("the Verifier does not report its default clock")
	}
	m, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// request is what Handler builds for one request, without the HTTP part.
func request(m *Auth, validUntil time.Time) (*bridge, *expiry) {
	ctx, cancel := context.WithCancelCause(context.Background())
	b := &bridge{Context: ctx, cancel: cancel}
	return b, m.arm(b, validUntil)
}

func (x *expiry) armed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return !x.fired && !x.stopped
}

// Requests of tokens that expire at one instant share one expiry, which
// stays armed for the next request after they end.
func TestExpirySharedPerInstant(t *testing.T) {
	m := newTestAuth(t)
	vu := time.Now().Add(time.Hour).Truncate(time.Second)
	b1, x1 := request(m, vu)
	b2, x2 := request(m, vu)
	if x1 != x2 {
		t.Fatal("two requests of one instant armed two timers")
	}
	if d, ok := b1.Deadline(); !ok || !d.Equal(vu) {
		t.Fatalf("Deadline %v %v, want %v", d, ok, vu)
	}
	x1.leave(b1)
	x2.leave(b2)
	b1.cancel(nil)
	b2.cancel(nil)
	if !x1.armed() {
		t.Fatal("the expiry stopped while in its slot")
	}
	b3, x3 := request(m, vu)
	defer b3.cancel(nil)
	defer x3.leave(b3)
	if x3 != x1 {
		t.Fatal("a later request of the same instant armed another timer")
	}
	if b3.Err() != nil {
		t.Fatalf("ended early: %v", context.Cause(b3))
	}
}

// The request's own earlier deadline wins over the token's.
func TestBridgeDeadlineIsTheEarlier(t *testing.T) {
	m := newTestAuth(t)
	early := time.Now().Add(time.Minute)
	parent, stop := context.WithDeadline(context.Background(), early)
	defer stop()
	ctx, cancel := context.WithCancelCause(parent)
	b := &bridge{Context: ctx, cancel: cancel}
	x := m.arm(b, time.Now().Add(time.Hour))
	defer cancel(nil)
	defer x.leave(b)
	if d, ok := b.Deadline(); !ok || !d.Equal(early) {
		t.Fatalf("Deadline %v %v, want %v", d, ok, early)
	}
}

// More instants than slots: the timers of evicted expiries with no request
// in flight are stopped, so at most one per slot stays armed.
func TestExpiryEvictionStopsIdleTimers(t *testing.T) {
	m := newTestAuth(t)
	base := time.Now().Add(time.Hour)
	var xs []*expiry
	for i := range 4 * expirySlots {
		b, x := request(m, base.Add(time.Duration(i)*time.Microsecond))
		x.leave(b)
		b.cancel(nil)
		xs = append(xs, x)
	}
	armed := 0
	for _, x := range xs {
		if x.armed() {
			armed++
			if x.slot.Load() != x {
				t.Fatal("an evicted expiry with no request in flight is still armed")
			}
		}
	}
	if armed == 0 || armed > expirySlots {
		t.Fatalf("%d expiries armed, want 1..%d", armed, expirySlots)
	}
}

// Every request in flight ends at its own token's instant with
// ErrTokenExpired, also when its expiry was evicted from its slot (more
// instants than slots, all in flight at once); the last one to leave an
// evicted expiry finds its timer fired.
func TestExpiryEndsEachRequestAtItsInstant(t *testing.T) {
	m := newTestAuth(t)
	base := time.Now().Add(300 * time.Millisecond)
	const n = 3 * expirySlots
	type req struct {
		b  *bridge
		x  *expiry
		vu time.Time
	}
	reqs := make([]req, n)
	ended := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range reqs {
		vu := base.Add(time.Duration(i) * 997 * time.Microsecond)
		b, x := request(m, vu)
		reqs[i] = req{b, x, vu}
		wg.Add(1)
		context.AfterFunc(b, func() { ended[i] = time.Now(); wg.Done() })
	}
	for i, r := range reqs {
		if r.b.Err() != nil && time.Now().Before(r.vu) {
			t.Fatalf("request %d ended before its token", i)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("requests outlived their tokens")
	}
	for i, r := range reqs {
		if ended[i].Before(r.vu) {
			t.Fatalf("request %d ended at %v, before its token's %v", i, ended[i], r.vu)
		}
		if !errors.Is(context.Cause(r.b), ErrTokenExpired) {
			t.Fatalf("request %d: cause %v", i, context.Cause(r.b))
		}
		r.x.leave(r.b)
		r.b.cancel(nil)
	}
	for i, r := range reqs {
		if r.x.armed() {
			t.Fatalf("request %d's expiry is still armed", i)
		}
	}
}

// A request that joins after its token's instant has passed ends at once.
func TestExpiryAlreadyPassed(t *testing.T) {
	m := newTestAuth(t)
	vu := time.Now().Add(-time.Millisecond)
	b, x := request(m, vu)
	defer b.cancel(nil)
	defer x.leave(b)
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a request of an expired token goes on")
	}
	// The expiry has fired: a late joiner of it is ended in join itself.
	deadline := time.Now().Add(10 * time.Second)
	for x.armed() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	late := &bridge{Context: ctx, cancel: cancel}
	if !x.join(late) {
		t.Fatal("join failed on a fired expiry")
	}
	defer cancel(nil)
	defer x.leave(late)
	if !errors.Is(context.Cause(late), ErrTokenExpired) {
		t.Fatalf("late joiner: cause %v", context.Cause(late))
	}
}

// Concurrent requests over more instants than slots: every expiry ends
// either armed in its slot, stopped, or fired (never armed and lost).
func TestExpiryConcurrent(t *testing.T) {
	m := newTestAuth(t)
	base := time.Now().Add(time.Hour)
	var mu sync.Mutex
	seen := map[*expiry]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				vu := base.Add(time.Duration((i*7+g)%(2*expirySlots)) * time.Microsecond)
				b, x := request(m, vu)
				if b.Err() != nil {
					t.Error("ended early")
				}
				x.leave(b)
				b.cancel(nil)
				mu.Lock()
				seen[x] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for x := range seen {
		if x.armed() && x.slot.Load() != x {
			t.Fatal("an expiry out of its slot, with no request in flight, is still armed")
		}
	}
}

// BenchmarkRequestEnd compares ways of ending a request's context at its
// token's ValidUntil with cause ErrTokenExpired (the package doc quotes
// it): a context deadline per request (the former design), a
// context.AfterFunc joining a per-request cancel to a shared deadline
// context, a time.AfterFunc per request, and the shared expiry. The last
// includes the allocation of the bridge, which Handler makes in every
// variant.
func BenchmarkRequestEnd(b *testing.B) {
	m := newTestAuth(b)
	vu := time.Now().Add(time.Hour).Truncate(time.Second)
	b.Run("WithTimeoutCause", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := context.WithTimeoutCause(context.Background(), time.Until(vu), ErrTokenExpired)
			cancel()
		}
	})
	b.Run("AfterFuncShared", func(b *testing.B) {
		shared, stop := context.WithDeadlineCause(context.Background(), vu, ErrTokenExpired)
		defer stop()
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := context.WithCancelCause(context.Background())
			unjoin := context.AfterFunc(shared, func() { cancel(ErrTokenExpired) })
			unjoin()
			cancel(nil)
		}
	})
	b.Run("TimeAfterFunc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := context.WithCancelCause(context.Background())
			t := time.AfterFunc(time.Until(vu), func() { cancel(ErrTokenExpired) })
			t.Stop()
			cancel(nil)
		}
	})
	b.Run("SharedExpiry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithCancelCause(context.Background())
			br := &bridge{Context: ctx, cancel: cancel}
			x := m.arm(br, vu)
			x.leave(br)
			cancel(nil)
		}
	})
}
