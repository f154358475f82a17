package introspect

import "time"

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

type nopObserver struct{}

func (nopObserver) ObserveCall(CallEvent)     {}
func (nopObserver) ObserveCache(CacheEvent)   {}
func (nopObserver) ObserveBudget(BudgetEvent) {}
