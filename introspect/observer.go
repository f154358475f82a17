package introspect

import (
	"context"
	"time"
)

// CallResult is the bounded outcome of one introspection call.
type CallResult string

// The call results.
const (
	// CallActive: the server answered active and every rule passed.
	CallActive CallResult = "active"
	// CallRefused: the server answered (inactive, or a rule refused the
	// token).
	CallRefused CallResult = "refused"
	// CallUnavailable: the call failed (Reason says how).
	CallUnavailable CallResult = "unavailable"
)

// CallEvent describes one HTTP call to the introspection endpoint.
type CallEvent struct {
	Source   string        // Config.Name
	Result   CallResult    // outcome
	Reason   Reason        // "" for CallActive
	Duration time.Duration // from request to parsed answer
}

// CacheEvent describes one cache lookup.
type CacheEvent struct {
	Source   string // Config.Name
	Hit      bool
	Negative bool // a hit on a cached refusal
}

// BudgetEvent describes a call refused by the budget.
type BudgetEvent struct {
	Source string // Config.Name
	// Limit is "concurrency" or "rate".
	Limit string
}

// Observer receives events for metrics and logs. Implementations must be
// safe for concurrent use and fast: ObserveCache runs on the hot path. The
// events carry no token, client or response text, only bounded values.
type Observer interface {
	ObserveCall(CallEvent)
	ObserveCache(CacheEvent)
	ObserveBudget(BudgetEvent)
}

// ContextObserver is an Observer that also gives each introspection call
// a context, for example to record the call as a tracing span with the
// HTTP requests (instrumented by a Config.HTTPClient whose Transport is
// wrapped, e.g. by otelhttp.NewTransport) as its children; package
// otelauth in the nested module of that name is one. New detects it once,
// with a type assertion on Config.Observer; without one nothing changes.
// On the call's goroutine, before any request (discovery included), the
// Source calls CallStart with its own lifetime context; the context
// returned (which must be derived from ctx, so that Close still cancels
// the call; nil means ctx) is the parent of the call's requests and is
// passed to ObserveCallContext, called instead of ObserveCall. A call
// runs for whichever requests wait on it, never on a request's context.
// Cache hits make no call: they reach ObserveCache only.
type ContextObserver interface {
	Observer
	CallStart(ctx context.Context, source string) context.Context
	ObserveCallContext(ctx context.Context, ev CallEvent)
}

type nopObserver struct{}

func (nopObserver) ObserveCall(CallEvent)     {}
func (nopObserver) ObserveCache(CacheEvent)   {}
func (nopObserver) ObserveBudget(BudgetEvent) {}
