package jwtverify

import (
	"context"
	"sync"
	"testing"
)

type ctxKeyTest struct{}

// ctxRecorder is a ContextObserver keeping the context value and the
// events it received through each method.
type ctxRecorder struct {
	mu       sync.Mutex
	withCtx  []string // ctxKeyTest value of each ObserveVerifyContext call
	plain    int      // ObserveVerify calls
	lastEv   VerifyEvent
	decCtx   []string
	decPlain int
}

func (r *ctxRecorder) ObserveVerify(ev VerifyEvent) {
	r.mu.Lock()
	r.plain++
	r.lastEv = ev
	r.mu.Unlock()
}

func (r *ctxRecorder) ObserveVerifyContext(ctx context.Context, ev VerifyEvent) {
	s, _ := ctx.Value(ctxKeyTest{}).(string)
	r.mu.Lock()
	r.withCtx = append(r.withCtx, s)
	r.lastEv = ev
	r.mu.Unlock()
}

func (r *ctxRecorder) ObserveDecision(DecisionEvent) { r.decPlain++ }

func (r *ctxRecorder) ObserveDecisionContext(ctx context.Context, _ DecisionEvent) {
	s, _ := ctx.Value(ctxKeyTest{}).(string)
	r.decCtx = append(r.decCtx, s)
}

// TestContextObserverGetsVerifyContext: a ContextObserver receives the ctx
// given to Verify (a request's span lives there), once per call, hit or
// miss, accepted or refused, and never the context-free call; through
// MultiObserver too, beside a plain observer.
func TestContextObserverGetsVerifyContext(t *testing.T) {
	for _, multi := range []bool{false, true} {
		rec, plain := &ctxRecorder{}, &recorder{}
		v := newV(t, func(c *Config) {
			c.Observer = rec
			if multi {
				c.Observer = MultiObserver(plain, rec)
			}
		})
		ctx := context.WithValue(context.Background(), ctxKeyTest{}, "request-1")
		good := tok("EdDSA", nil, nil)
		for _, token := range []string{good, good, "abc"} {
			_, _ = v.Verify(ctx, token)
		}
		if len(rec.withCtx) != 3 || rec.plain != 0 {
			t.Fatalf("multi=%v: context calls %q, plain calls %d", multi, rec.withCtx, rec.plain)
		}
		for _, s := range rec.withCtx {
			if s != "request-1" {
				t.Fatalf("multi=%v: observer got context value %q, want the Verify ctx", multi, s)
			}
		}
		if rec.lastEv.Reason != ReasonMalformed {
			t.Fatalf("multi=%v: last event %+v", multi, rec.lastEv)
		}
		if multi && len(plain.evs) != 3 {
			t.Fatalf("plain observer beside it got %d events", len(plain.evs))
		}
	}
}

// TestMultiDecisionObserverKeepsContext: MultiDecisionObserver is a
// ContextDecisionObserver when one member is, and ObserveDecisionContext
// delivers the context to it, the plain call to the others.
func TestMultiDecisionObserverKeepsContext(t *testing.T) {
	rec, d := &ctxRecorder{}, &decisionCounter{}
	m := MultiDecisionObserver(d, rec)
	if _, ok := m.(ContextDecisionObserver); !ok {
		t.Fatal("multi observer with a context observer is not one")
	}
	if _, ok := MultiDecisionObserver(d, &decisionCounter{}).(ContextDecisionObserver); ok {
		t.Fatal("multi observer without a context observer claims to be one")
	}
	ctx := context.WithValue(context.Background(), ctxKeyTest{}, "call-7")
	ObserveDecisionContext(ctx, m, DecisionEvent{Result: DecisionAllowed})
	ObserveDecisionContext(ctx, d, DecisionEvent{Result: DecisionAllowed})
	if len(rec.decCtx) != 1 || rec.decCtx[0] != "call-7" || rec.decPlain != 0 || d.n != 2 {
		t.Fatalf("context calls %q, plain %d, counter %d", rec.decCtx, rec.decPlain, d.n)
	}
}
