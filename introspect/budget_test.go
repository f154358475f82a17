package introspect

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func randomToken(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestBudgetJunkFloodBoundedCalls: a flood of distinct well-formed junk
// tokens makes at most Burst calls while the clock stands still; the rest
// are over budget (503 with Retry-After), never refused as invalid.
func TestBudgetJunkFloodBoundedCalls(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	cfg := e.config()
	cfg.Rate, cfg.Burst = 1, 5
	obs := newCounter()
	cfg.Observer = obs
	s := e.source(cfg)
	over := 0
	for range 200 {
		_, err := s.Introspect(context.Background(), randomToken(t))
		switch reason(t, err) {
		case ReasonInactive:
		case ReasonOverBudget:
			over++
			var ie *Error
			errors.As(err, &ie)
			if ie.RetryAfter < time.Second || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalid) {
				t.Fatalf("over budget: %+v", ie)
			}
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if e.calls() != 5 || over != 195 || obs.budget["rate"] != 195 {
		t.Fatalf("%d calls, %d over budget, observed %v; want 5, 195", e.calls(), over, obs.budget)
	}
	// The bucket refills with time: one more call per second.
	e.clk.Advance(time.Second)
	if _, err := s.Introspect(context.Background(), randomToken(t)); reason(t, err) != ReasonInactive {
		t.Fatal(err)
	}
	if e.calls() != 6 {
		t.Fatalf("%d calls after refill, want 6", e.calls())
	}
}

// TestBudgetConcurrency: beyond MaxConcurrent calls in flight a new token
// is over budget at once; a cached token still answers.
func TestBudgetConcurrency(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	cfg := e.config()
	cfg.MaxConcurrent = 2
	s := e.source(cfg)
	cached := e.token()
	if _, err := s.Introspect(context.Background(), cached); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Wait: hold})
	var wg sync.WaitGroup
	for range 2 {
		tok := e.token()
		wg.Go(func() {
			if _, err := s.Introspect(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, func() bool { return e.calls() == 3 })
	_, err := s.Introspect(context.Background(), e.token())
	if reason(t, err) != ReasonOverBudget {
		t.Errorf("third concurrent call: %v, want over_budget", err)
	}
	if _, err := s.Introspect(context.Background(), cached); err != nil {
		t.Errorf("cached token while the budget is spent: %v", err)
	}
	close(hold)
	wg.Wait()
	if e.calls() != 3 {
		t.Errorf("%d calls, want 3", e.calls())
	}
}

// TestPrecheckMakesNoCall: junk failing the format pre-check is refused
// without a call.
func TestPrecheckMakesNoCall(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueHydra)
	cfg := e.config()
	cfg.Provider = ProviderHydra
	s := e.source(cfg)
	good := e.token()
	body := strings.TrimPrefix(good, "ory_at_")
	junk := map[string]Reason{
		"":                     ReasonMalformed,
		"ory_at_":              ReasonMalformed,
		"ory_at_" + body[:86]:  ReasonMalformed,
		"ory_at_" + body + "A": ReasonMalformed,
		"ory_at_" + strings.Replace(body, ".", "_", 1): ReasonMalformed,
		"ory_at_" + body[:43] + "." + body[:42] + "+":  ReasonMalformed,
		"ory_rt_" + body:               ReasonType,
		"eyJhbGciOiJSUzI1NiJ9.e30.sig": ReasonMalformed,
		"Bearer " + good:               ReasonMalformed,
		good + "\n":                    ReasonMalformed,
		strings.Repeat("a", DefaultMaxTokenBytes+1): ReasonMalformed,
	}
	for tok, want := range junk {
		if _, err := s.Introspect(context.Background(), tok); reason(t, err) != want {
			t.Errorf("%.40q: %v, want %s", tok, err, want)
		}
	}
	if e.calls() != 0 {
		t.Fatalf("%d calls for junk, want 0", e.calls())
	}
	if _, err := s.Introspect(context.Background(), good); err != nil {
		t.Fatal(err)
	}
}

// TestGenericPrecheck: the generic provider refuses non-b64token text
// without a call.
func TestGenericPrecheck(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	for _, tok := range []string{"a b", "=abc", "abc=d", "ab\x00", "tok\u00e9n", "a,b"} {
		if _, err := s.Introspect(context.Background(), tok); reason(t, err) != ReasonMalformed {
			t.Errorf("%q: %v", tok, err)
		}
	}
	if e.calls() != 0 {
		t.Fatalf("%d calls", e.calls())
	}
}

// TestOneCallFor1000ConcurrentRequests: 1,000 concurrent requests with one
// new token make exactly one call.
func TestOneCallFor1000ConcurrentRequests(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	obs := newCounter()
	cfg := e.config()
	cfg.Observer = obs
	s := e.source(cfg)
	tok := e.token()
	hold := make(chan struct{})
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Wait: hold})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 1000 {
		wg.Go(func() {
			<-start
			if _, err := s.Introspect(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	waitFor(t, func() bool { return e.calls() == 1 })
	close(hold)
	wg.Wait()
	if e.calls() != 1 {
		t.Fatalf("%d calls, want 1", e.calls())
	}
	if obs.calls[CallActive] != 1 || obs.hits+obs.misses != 1000 {
		t.Errorf("observed %v calls, %d hits, %d misses", obs.calls, obs.hits, obs.misses)
	}
}

// TestCallerContextBoundsOnlyItsWait: a caller giving up does not cancel
// the shared call; the others get its answer.
func TestCallerContextBoundsOnlyItsWait(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	tok := e.token()
	hold := make(chan struct{})
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Wait: hold})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Introspect(ctx, tok); done <- err }()
	waitFor(t, func() bool { return e.calls() == 1 })
	cancel()
	if err := <-done; reason(t, err) != ReasonCanceled || !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(hold)
	if _, err := s.Introspect(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if e.calls() != 1 {
		t.Fatalf("%d calls, want 1 (the call went on)", e.calls())
	}
}

// pauseOnMiss is an Observer that holds the first caller reporting a
// cache miss after arm, so a test can land a flight while that caller
// stands between its cache lookup and the flights.
type pauseOnMiss struct {
	*counter
	armed   atomic.Bool
	paused  chan struct{}
	release chan struct{}
}

func (p *pauseOnMiss) ObserveCache(e CacheEvent) {
	p.counter.ObserveCache(e)
	if !e.Hit && p.armed.CompareAndSwap(true, false) {
		close(p.paused)
		<-p.release
	}
}

// TestNoSecondCallWhileTheFlightLands: a caller that missed the cache just
// before the call in flight cached its answer and left must find that
// answer, not start a second call (the flight caches, then leaves: a caller
// that looked at the cache before and at the flights after saw neither).
func TestNoSecondCallWhileTheFlightLands(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	obs := &pauseOnMiss{counter: newCounter(), paused: make(chan struct{}), release: make(chan struct{})}
	cfg := e.config()
	cfg.Observer = obs
	s := e.source(cfg)
	tok := e.token()
	hold := make(chan struct{})
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Wait: hold})
	first := make(chan error, 1)
	go func() { _, err := s.Introspect(context.Background(), tok); first <- err }()
	waitFor(t, func() bool { return e.calls() == 1 })
	// The late caller misses the cache and is held there...
	obs.armed.Store(true)
	late := make(chan error, 1)
	go func() { _, err := s.Introspect(context.Background(), tok); late <- err }()
	<-obs.paused
	// ...while the flight lands: answer cached, flight gone.
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	close(obs.release)
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	if n := e.calls(); n != 1 {
		t.Fatalf("%d calls, want 1: the late caller started a second call", n)
	}
}
