package jwtverify

import "context"

// ContextObserver is an Observer that also wants the context of the Verify
// call, for example to record a tracing span as a child of the request's
// span (package otelauth in the nested module of that name). New detects it
// once, with a type assertion on Config.Observer: a Verifier then calls
// ObserveVerifyContext, with the ctx given to Verify or VerifyBound, instead
// of ObserveVerify. A Verifier whose observer is not a ContextObserver pays
// nothing for this. Implementations must be safe for concurrent use and
// fast, and must not keep ctx beyond the call.
type ContextObserver interface {
	Observer
	ObserveVerifyContext(ctx context.Context, ev VerifyEvent)
}

// ContextDecisionObserver is a DecisionObserver that also wants the context
// of the request or call decided: the adapters (middleware, echoauth,
// grpcauth and the nested adapter modules) detect it once at construction
// and then call ObserveDecisionContext with the request's context
// (r.Context() for HTTP, the call's ctx for gRPC) instead of
// ObserveDecision. The same rules as for ContextObserver apply.
type ContextDecisionObserver interface {
	DecisionObserver
	ObserveDecisionContext(ctx context.Context, ev DecisionEvent)
}

// ObserveDecisionContext delivers ev to o: through ObserveDecisionContext
// when o is a ContextDecisionObserver, else through ObserveDecision. It is
// for adapters that report a decision outside their hot path; adapters
// detect the interface once at construction instead. o must not be nil.
func ObserveDecisionContext(ctx context.Context, o DecisionObserver, ev DecisionEvent) {
	if c, ok := o.(ContextDecisionObserver); ok {
		c.ObserveDecisionContext(ctx, ev)
		return
	}
	o.ObserveDecision(ev)
}

// MultiObserver returns an Observer that forwards every event to each of
// obs in order (nil entries are skipped), for example Prometheus metrics and
// a log observer together. It returns nil when no observer is left, so the
// Verifier does not even read the clock for events nobody receives. When
// one of obs is a ContextObserver, so is the result: it passes the context
// to those that take it.
func MultiObserver(obs ...Observer) Observer {
	var list multiObserver
	withCtx := false
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
			_, c := o.(ContextObserver)
			withCtx = withCtx || c
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	if withCtx {
		return multiContextObserver{list}
	}
	return list
}

// multiContextObserver is a multiObserver with at least one ContextObserver.
type multiContextObserver struct{ multiObserver }

func (m multiContextObserver) ObserveVerifyContext(ctx context.Context, ev VerifyEvent) {
	for _, o := range m.multiObserver {
		if c, ok := o.(ContextObserver); ok {
			c.ObserveVerifyContext(ctx, ev)
		} else {
			o.ObserveVerify(ev)
		}
	}
}

type multiObserver []Observer

func (m multiObserver) ObserveVerify(ev VerifyEvent) {
	for _, o := range m {
		o.ObserveVerify(ev)
	}
}

// MultiDecisionObserver is MultiObserver for adapter decisions: when one of
// obs is a ContextDecisionObserver, so is the result.
func MultiDecisionObserver(obs ...DecisionObserver) DecisionObserver {
	var list multiDecisionObserver
	withCtx := false
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
			_, c := o.(ContextDecisionObserver)
			withCtx = withCtx || c
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	if withCtx {
		return multiContextDecisionObserver{list}
	}
	return list
}

// multiContextDecisionObserver is a multiDecisionObserver with at least one
// ContextDecisionObserver.
type multiContextDecisionObserver struct{ multiDecisionObserver }

func (m multiContextDecisionObserver) ObserveDecisionContext(ctx context.Context, ev DecisionEvent) {
	for _, o := range m.multiDecisionObserver {
		if c, ok := o.(ContextDecisionObserver); ok {
			c.ObserveDecisionContext(ctx, ev)
		} else {
			o.ObserveDecision(ev)
		}
	}
}

type multiDecisionObserver []DecisionObserver

func (m multiDecisionObserver) ObserveDecision(ev DecisionEvent) {
	for _, o := range m {
		o.ObserveDecision(ev)
	}
}
