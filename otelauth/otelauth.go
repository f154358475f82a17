package otelauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/m2mauth/m2mauth/otelauth"

// Span names.
const (
	// SpanVerify is the span of one Verify or VerifyBound call.
	SpanVerify = "m2mauth.verify"
	// SpanJWKSFetch is the span of one JWKS fetch (discovery included).
	SpanJWKSFetch = "m2mauth.jwks.fetch"
	// SpanIntrospect is the span of one RFC 7662 introspection call
	// (endpoint discovery included).
	SpanIntrospect = "m2mauth.introspect"
)

// Attribute keys. Every value comes from configuration or a fixed set,
// never from a token or the caller.
const (
	AttrIssuer    = attribute.Key("m2mauth.issuer")
	AttrResult    = attribute.Key("m2mauth.result")
	AttrReason    = attribute.Key("m2mauth.reason")
	AttrRule      = attribute.Key("m2mauth.rule")
	AttrCacheHit  = attribute.Key("m2mauth.cache_hit")
	AttrTransport = attribute.Key("m2mauth.decision.transport")
	AttrDecision  = attribute.Key("m2mauth.decision.result")
	AttrRoute     = attribute.Key("m2mauth.decision.route")
	AttrDecReason = attribute.Key("m2mauth.decision.reason")
	AttrSource    = attribute.Key("m2mauth.jwks.source")
	AttrCause     = attribute.Key("m2mauth.jwks.cause")
	AttrClass     = attribute.Key("m2mauth.jwks.result")
	AttrKeys      = attribute.Key("m2mauth.jwks.keys")

	AttrIntrospectSource = attribute.Key("m2mauth.introspect.source")
	AttrIntrospectResult = attribute.Key("m2mauth.introspect.result")
	AttrIntrospectReason = attribute.Key("m2mauth.introspect.reason")
)

// Options configures an Observer. The zero value uses the global providers.
type Options struct {
	// TracerProvider makes the spans. Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the instruments. Default otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// RuleLabel adds a "rule" attribute to m2mauth_token_validations: the
	// sub-reason code of the issuer rule that refused the token, "none"
	// for a success or a refusal by a generic check; bounded as package
	// metrics' Options.RuleLabel (a value that is not a valid code counts
	// as jwtverify.RuleCustom). Off by default.
	RuleLabel bool
	// ClientIDLabel adds m2mauth_token_validations_by_client (exported as
	// m2mauth_token_validations_by_client_total) counting successful
	// validations by configured issuer and verified client ID, as package
	// metrics' Options.ClientIDLabel. Off by default: their number is not
	// bounded by configuration when an issuer allows any client.
	ClientIDLabel bool
	// MaxClientIDs caps the distinct client IDs of ClientIDLabel; the
	// others count as "other". Default 100.
	MaxClientIDs int
}

// Observer records m2mauth's events as OpenTelemetry spans and metrics. It
// is a jwtverify.ContextObserver (jwtverify.Config.Observer), a
// jwtverify.ContextDecisionObserver (the adapters' WithObserver) and a
// jwkscache.ContextObserver (jwkscache.Config.Observer) and an
// introspect.ContextObserver (introspect.Config.Observer). It is safe for
// concurrent use.
type Observer struct {
	tracer trace.Tracer

	validations metric.Int64Counter
	duration    metric.Float64Histogram
	decisions   metric.Int64Counter
	fetches     metric.Int64Counter
	fetchDur    metric.Float64Histogram
	unknownKID  metric.Int64Counter
	skipped     metric.Int64Counter
	byClient    metric.Int64Counter // nil without Options.ClientIDLabel

	ruleLabel  bool
	maxClients int
	clientMu   sync.Mutex
	clientSeen map[string]struct{}

	watch *watched

	// Precomputed attribute options: every label value is bounded (fixed
	// sets, configured names), so the caches stay small.
	hit, miss metric.MeasurementOption
	valOpts   sync.Map // validationKey -> metric.MeasurementOption
	decOpts   sync.Map // [2]string{transport, result} -> metric.MeasurementOption
}

type validationKey struct {
	issuer string
	reason jwtverify.Reason
	rule   string // bounded (ruleValue), with Options.RuleLabel only
}

var (
	_ jwtverify.ContextObserver         = (*Observer)(nil)
	_ jwtverify.ContextDecisionObserver = (*Observer)(nil)
	_ jwkscache.ContextObserver         = (*Observer)(nil)
	_ introspect.ContextObserver        = (*Observer)(nil)
)

// New builds an Observer and its instruments.
func New(opts Options) (*Observer, error) {
	tp, mp := opts.TracerProvider, opts.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	o := &Observer{tracer: tp.Tracer(ScopeName), ruleLabel: opts.RuleLabel}
	m := mp.Meter(ScopeName)
	// Names and units chosen so that OTel's Prometheus exporter (which adds
	// the unit and _total suffixes) exports exactly package metrics' names.
	var errs [7]error
	o.validations, errs[0] = m.Int64Counter("m2mauth_token_validations",
		metric.WithDescription("Token validations by configured issuer name, result (valid, invalid) and reason (none on success)."))
	o.duration, errs[1] = m.Float64Histogram("m2mauth_token_validation_duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent in Verify, split by verified-token cache hit or miss."),
		metric.WithExplicitBucketBoundaries(metrics.DefaultDurationBuckets...))
	o.decisions, errs[2] = m.Int64Counter("m2mauth_authorization_decisions",
		metric.WithDescription("Authorization decisions of the adapters by transport (http, echo, grpc) and result."))
	o.fetches, errs[3] = m.Int64Counter("m2mauth_jwks_fetches",
		metric.WithDescription("JWKS fetch attempts by configured source name, cause (scheduled, unknown_kid, forced) and result (ok or the failure class)."))
	o.fetchDur, errs[4] = m.Float64Histogram("m2mauth_jwks_fetch_duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of JWKS fetches (discovery included) by source."),
		metric.WithExplicitBucketBoundaries(metrics.FetchBuckets...))
	o.unknownKID, errs[5] = m.Int64Counter("m2mauth_jwks_unknown_kid",
		metric.WithDescription("Key lookups that missed the key set, by source and outcome (fetched, shared, rate_limited, kid_too_long, closed)."))
	o.skipped, errs[6] = m.Int64Counter("m2mauth_jwks_skipped_keys",
		metric.WithDescription("JWKs left out of fetched key sets, by source and reason."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	if opts.ClientIDLabel {
		o.maxClients, o.clientSeen = opts.MaxClientIDs, map[string]struct{}{}
		if o.maxClients <= 0 {
			o.maxClients = 100
		}
		var err error
		o.byClient, err = m.Int64Counter("m2mauth_token_validations_by_client",
			metric.WithDescription("Successful validations by configured issuer and verified client ID (capped; the rest count as other)."))
		if err != nil {
			return nil, err
		}
	}
	var err error
	if o.watch, err = newWatched(m); err != nil {
		return nil, err
	}
	o.hit = metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", "hit")))
	o.miss = metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", "miss")))
	return o, nil
}

// label is s, or "none" when empty (as package metrics labels).
func label(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ruleValue bounds a rule code as package metrics does: a valid code
// ([a-z0-9_], at most 32 bytes) as is, anything else jwtverify.RuleCustom.
func ruleValue(rule string) string {
	if rule == "" {
		return "none"
	}
	if len(rule) > 32 {
		return jwtverify.RuleCustom
	}
	for i := 0; i < len(rule); i++ {
		c := rule[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return jwtverify.RuleCustom
		}
	}
	return rule
}

// ObserveVerify implements jwtverify.Observer: the metrics only, and a
// span without parent.
func (o *Observer) ObserveVerify(ev jwtverify.VerifyEvent) {
	o.ObserveVerifyContext(context.Background(), ev)
}

// ObserveVerifyContext implements jwtverify.ContextObserver: a span named
// SpanVerify, child of the span in ctx, covering the call (its start is
// the end minus ev.Duration), and the validation metrics. The span carries
// the issuer name, result, reason, rule and cache hit; never the token,
// the client ID or ev.Err's text.
func (o *Observer) ObserveVerifyContext(ctx context.Context, ev jwtverify.VerifyEvent) {
	issuer := label(ev.Issuer)
	result := "valid"
	if ev.Reason != "" {
		result = "invalid"
	}
	reason := label(string(ev.Reason))
	o.validations.Add(ctx, 1, o.validationOpt(ev.Issuer, ev.Reason, ev.Rule, issuer, result, reason))
	if o.byClient != nil && ev.Reason == "" && ev.ClientID != "" {
		o.byClient.Add(ctx, 1, metric.WithAttributes(
			attribute.String("issuer", issuer), attribute.String("client_id", o.clientLabel(ev.ClientID))))
	}
	durOpt := o.miss
	if ev.CacheHit {
		durOpt = o.hit
	}
	o.duration.Record(ctx, ev.Duration.Seconds(), durOpt)

	end := time.Now()
	_, span := o.tracer.Start(ctx, SpanVerify, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(end.Add(-ev.Duration)))
	if span.IsRecording() {
		span.SetAttributes(AttrIssuer.String(issuer), AttrResult.String(result), AttrReason.String(reason),
			AttrRule.String(ruleValue(ev.Rule)), AttrCacheHit.Bool(ev.CacheHit))
		if ev.Reason != "" {
			span.SetStatus(codes.Error, string(ev.Reason))
		}
	}
	span.End(trace.WithTimestamp(end))
}

// validationOpt returns the attribute option of a validation, made once
// per (issuer, reason) and, with Options.RuleLabel, rule code.
func (o *Observer) validationOpt(rawIssuer string, rawReason jwtverify.Reason, rawRule, issuer, result, reason string) metric.MeasurementOption {
	k := validationKey{issuer: rawIssuer, reason: rawReason}
	if o.ruleLabel && rawReason != "" {
		k.rule = ruleValue(rawRule) // as package metrics: "none" on success
	}
	if opt, ok := o.valOpts.Load(k); ok {
		return opt.(metric.MeasurementOption)
	}
	kvs := []attribute.KeyValue{
		attribute.String("issuer", issuer), attribute.String("result", result), attribute.String("reason", reason)}
	if o.ruleLabel {
		kvs = append(kvs, attribute.String("rule", label(k.rule)))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(kvs...))
	o.valOpts.Store(k, opt)
	if rawReason != "" {
		// As package metrics: an issuer's success series exists, at 0,
		// from its first refusal on.
		o.validations.Add(context.Background(), 0, o.validationOpt(rawIssuer, "", "", issuer, "valid", "none"))
	}
	return opt
}

// clientLabel returns id while fewer than MaxClientIDs distinct IDs were
// seen (or id is one of them), else "other".
func (o *Observer) clientLabel(id string) string {
	o.clientMu.Lock()
	defer o.clientMu.Unlock()
	if _, ok := o.clientSeen[id]; ok {
		return id
	}
	if len(o.clientSeen) >= o.maxClients {
		return "other"
	}
	o.clientSeen[id] = struct{}{}
	return id
}

// decisionOpt returns the attribute option of a decision, made once per
// (transport, result).
func (o *Observer) decisionOpt(ev *jwtverify.DecisionEvent) metric.MeasurementOption {
	k := [2]string{ev.Transport, ev.Result}
	if opt, ok := o.decOpts.Load(k); ok {
		return opt.(metric.MeasurementOption)
	}
	opt := metric.WithAttributeSet(attribute.NewSet(
		attribute.String("transport", label(ev.Transport)), attribute.String("result", label(ev.Result))))
	o.decOpts.Store(k, opt)
	return opt
}

// ObserveDecision implements jwtverify.DecisionObserver: the metric only.
func (o *Observer) ObserveDecision(ev jwtverify.DecisionEvent) {
	o.decisions.Add(context.Background(), 1, o.decisionOpt(&ev))
}

// ObserveDecisionContext implements jwtverify.ContextDecisionObserver: the
// decision metric, and the decision's transport, result, reason and route
// as attributes of the span in ctx (the request span of otelhttp or
// otelgrpc), so a refused request's span says why.
func (o *Observer) ObserveDecisionContext(ctx context.Context, ev jwtverify.DecisionEvent) {
	o.decisions.Add(ctx, 1, o.decisionOpt(&ev))
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrTransport.String(ev.Transport), AttrDecision.String(ev.Result),
		AttrDecReason.String(label(string(ev.Reason))), AttrRoute.String(label(ev.Route)),
		AttrIssuer.String(label(ev.Issuer)))
	if ev.Rule != "" {
		span.SetAttributes(AttrRule.String(ruleValue(ev.Rule)))
	}
}

// FetchStart implements jwkscache.ContextObserver: it starts a span named
// SpanJWKSFetch (a root span: a fetch serves every waiting lookup, no one
// request) whose context the fetch's HTTP requests run under.
func (o *Observer) FetchStart(ctx context.Context, source string, cause jwkscache.FetchCause) context.Context {
	ctx, _ = o.tracer.Start(ctx, SpanJWKSFetch, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrSource.String(source), AttrCause.String(string(cause))))
	return ctx
}

// FetchDone implements jwkscache.Observer: the metrics only.
func (o *Observer) FetchDone(e jwkscache.FetchEvent) {
	o.fetchMetrics(context.Background(), e)
}

// FetchDoneContext implements jwkscache.ContextObserver: the fetch
// metrics, and the end of the span FetchStart put in ctx with the result
// class and the number of keys.
func (o *Observer) FetchDoneContext(ctx context.Context, e jwkscache.FetchEvent) {
	o.fetchMetrics(ctx, e)
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(AttrClass.String(label(string(e.Class))), AttrKeys.Int(e.Keys))
		if e.Class != jwkscache.ClassOK {
			span.SetStatus(codes.Error, string(e.Class))
		}
	}
	span.End()
}

func (o *Observer) fetchMetrics(ctx context.Context, e jwkscache.FetchEvent) {
	src := attribute.String("source", label(e.Source))
	o.fetches.Add(ctx, 1, metric.WithAttributes(src,
		attribute.String("cause", label(string(e.Cause))), attribute.String("result", label(string(e.Class)))))
	o.fetchDur.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(src))
	for _, s := range e.Skipped {
		o.skipped.Add(ctx, 1, metric.WithAttributes(src, attribute.String("reason", label(string(s.Reason)))))
	}
}

// UnknownKID implements jwkscache.Observer.
func (o *Observer) UnknownKID(e jwkscache.UnknownKIDEvent) {
	o.unknownKID.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("source", label(e.Source)), attribute.String("outcome", label(string(e.Outcome)))))
}

// CallStart implements introspect.ContextObserver: it starts a span named
// SpanIntrospect (a root span: a call serves every request waiting on it,
// no one request) whose context the call's HTTP requests run under. To
// record those requests as its children, wrap the transport of
// introspect.Config.HTTPClient with otelhttp.NewTransport.
func (o *Observer) CallStart(ctx context.Context, source string) context.Context {
	ctx, _ = o.tracer.Start(ctx, SpanIntrospect, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrIntrospectSource.String(source), AttrCacheHit.Bool(false)))
	return ctx
}

// ObserveCallContext implements introspect.ContextObserver: the end of the
// span CallStart put in ctx, with the result and the bounded reason (none
// when active). Never the token, its hash or the answer's claims.
func (o *Observer) ObserveCallContext(ctx context.Context, ev introspect.CallEvent) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(AttrIntrospectResult.String(label(string(ev.Result))),
			AttrIntrospectReason.String(label(string(ev.Reason))))
		if ev.Result == introspect.CallUnavailable {
			span.SetStatus(codes.Error, string(ev.Reason))
		}
	}
	span.End()
}

// ObserveCall implements introspect.Observer. The Source calls
// ObserveCallContext instead; this records nothing.
func (o *Observer) ObserveCall(introspect.CallEvent) {}

// ObserveCache implements introspect.Observer. A cache hit makes no call
// and so no span; this records nothing.
func (o *Observer) ObserveCache(introspect.CacheEvent) {}

// ObserveBudget implements introspect.Observer: a call refused by the
// budget is never made; this records nothing.
func (o *Observer) ObserveBudget(introspect.BudgetEvent) {}
