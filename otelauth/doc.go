// Package otelauth records m2mauth's verifications, adapter decisions,
// JWKS fetches and introspection calls as OpenTelemetry spans and metrics. It lives in its own
// module (github.com/m2mauth/m2mauth/otelauth), so users who do not use
// OpenTelemetry never compile it.
//
// One *Observer serves as jwtverify.Config.Observer, as the adapters'
// WithObserver, as jwkscache.Config.Observer and as
// introspect.Config.Observer. It implements the context-aware observer
// interfaces of the core (jwtverify.ContextObserver,
// jwtverify.ContextDecisionObserver, jwkscache.ContextObserver,
// introspect.ContextObserver), which the
// core detects once at construction; a program without it pays nothing.
//
// Spans:
//   - SpanVerify per Verify call, a child of the span in the Verify context:
//     the request span of otelhttp.NewHandler (the middleware passes
//     r.Context()) or of otelgrpc's server handler (grpcauth passes the
//     call's context). Attributes: issuer name, result, bounded reason, rule
//     code and cache hit; never the token, an unverified claim, the client
//     ID or the error text. A refusal sets the span status to Error with
//     the reason.
//   - each adapter decision sets its transport, result, reason, route and
//     issuer as attributes of the request span.
//   - SpanJWKSFetch per JWKS fetch (a root span: a fetch serves whichever
//     lookups wait on it), with source, cause, result class and key count.
//     Wrap jwkscache.Config.HTTPClient's Transport with
//     otelhttp.NewTransport and its discovery and JWKS requests become
//     client spans under it.
//   - SpanIntrospect per RFC 7662 introspection call (a root span: a call
//     serves whichever requests wait on it), with source, result, bounded
//     reason and cache_hit false (a cache hit makes no call and no span);
//     never the token, its hash or the answer's claims. Wrap
//     introspect.Config.HTTPClient's Transport with otelhttp.NewTransport
//     and its discovery and POST become client spans under it.
//
// Metrics: instruments named so that OTel's Prometheus exporter (with
// WithoutScopeInfo) exports exactly the names and label names of package
// metrics: m2mauth_token_validations_total{issuer,result,reason},
// m2mauth_token_validation_duration_seconds{cache},
// m2mauth_authorization_decisions_total{transport,result},
// m2mauth_jwks_fetches_total{source,cause,result},
// m2mauth_jwks_fetch_duration_seconds{source},
// m2mauth_jwks_unknown_kid_total{source,outcome} and
// m2mauth_jwks_skipped_keys_total{source,reason}, with the same buckets.
// Package metrics' opt-in labels have their counterparts in Options:
// RuleLabel adds the rule attribute to the validations, ClientIDLabel (with
// MaxClientIDs) adds m2mauth_token_validations_by_client_total{issuer,
// client_id}. Its state gauges are observable instruments read at each
// collection, never on the request path: WatchVerifier reports the
// verified-token cache (m2mauth_verified_token_cache_entries, _bytes,
// _max_entries, _max_bytes gauges and _hits_total, _misses_total,
// _evictions_total counters, label verifier), WatchKeys and WatchKeySet a
// key cache's state (m2mauth_jwks_keys, _last_success_timestamp_seconds,
// _keys_age_seconds, _usable, _consecutive_failures, label source). Use
// one of the two packages for a given registry, not both.
package otelauth
