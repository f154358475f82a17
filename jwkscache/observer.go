package jwkscache

import (
	"context"
	"time"
)

// Observer receives a Cache's events, for metrics and logs. Events are
// values; the slices they hold must not be modified. Implementations must
// be safe for concurrent use and fast: FetchDone runs on the fetch's
// goroutine before waiting lookups are released, UnknownKID on the
// caller's goroutine. Every label-worthy field (Source, Cause, Class,
// Outcome, SkipReason) comes from a fixed set or from configuration, never
// from a token.
type Observer interface {
	// FetchDone reports every fetch attempt, successful or not.
	FetchDone(FetchEvent)
	// UnknownKID reports every lookup that missed the current key set
	// (or found none) and what the miss did.
	UnknownKID(UnknownKIDEvent)
}

// ContextObserver is an Observer that also gives each fetch a context, for
// example to record the fetch as a tracing span with the HTTP requests
// (instrumented by a Config.HTTPClient whose Transport is wrapped, e.g. by
// otelhttp.NewTransport) as its children; package otelauth in the nested
// module of that name is one. New detects it once, with a type assertion on
// Config.Observer. On the fetch's goroutine, before any request, the cache
// calls FetchStart with its own lifetime context; the context returned
// (which must be derived from ctx, so that Close still cancels the fetch;
// nil means ctx) is the parent of the fetch's discovery and JWKS requests
// and is passed to FetchDoneContext, called instead of FetchDone. A fetch
// runs for whichever lookups wait on it, never on a request's context.
type ContextObserver interface {
	Observer
	FetchStart(ctx context.Context, source string, cause FetchCause) context.Context
	FetchDoneContext(ctx context.Context, ev FetchEvent)
}

// ObserverFuncs adapts functions to Observer; nil fields are skipped.
type ObserverFuncs struct {
	// OnFetch receives FetchDone events.
	OnFetch func(FetchEvent)
	// OnUnknownKID receives UnknownKID events.
	OnUnknownKID func(UnknownKIDEvent)
}

var _ Observer = ObserverFuncs{}

// FetchDone implements Observer.
func (o ObserverFuncs) FetchDone(e FetchEvent) {
	if o.OnFetch != nil {
		o.OnFetch(e)
	}
}

// UnknownKID implements Observer.
func (o ObserverFuncs) UnknownKID(e UnknownKIDEvent) {
	if o.OnUnknownKID != nil {
		o.OnUnknownKID(e)
	}
}

// FetchCause says why a fetch ran.
type FetchCause string

// Fetch causes.
const (
	// CauseScheduled: the background refresh (the first fetch at start-up,
	// the refresh before expiry, and retries after failures).
	CauseScheduled FetchCause = "scheduled"
	// CauseUnknownKID: a lookup missed and the rate limit allowed a
	// refresh.
	CauseUnknownKID FetchCause = "unknown_kid"
	// CauseForced: Refresh was called.
	CauseForced FetchCause = "forced"
)

// ErrorClass classifies a fetch result; a fixed set, safe as a metric
// label.
type ErrorClass string

// Fetch result classes.
const (
	// ClassOK: the fetch succeeded and replaced the key set.
	ClassOK ErrorClass = "ok"
	// ClassNetwork: connection or read error.
	ClassNetwork ErrorClass = "network"
	// ClassTimeout: the per-fetch timeout (FetchTimeout) expired.
	ClassTimeout ErrorClass = "timeout"
	// ClassStatus: the answer's status was not 200.
	ClassStatus ErrorClass = "http_status"
	// ClassTooLarge: the answer exceeded MaxResponseBytes.
	ClassTooLarge ErrorClass = "too_large"
	// ClassRedirect: a redirect to another origin or from https to http
	// was refused.
	ClassRedirect ErrorClass = "redirect"
	// ClassMalformed: the JWK Set document was not valid.
	ClassMalformed ErrorClass = "malformed"
	// ClassNoUsableKeys: the document parsed but no key was usable.
	ClassNoUsableKeys ErrorClass = "no_usable_keys"
	// ClassDiscovery: the issuer metadata was unusable (issuer mismatch,
	// no or bad jwks_uri).
	ClassDiscovery ErrorClass = "discovery"
	// ClassInsecureURL: a discovered jwks_uri used http where the URL
	// policy refuses it (an https configured URL, or a non-loopback host
	// without InsecureAllowHTTP). The URL was not requested.
	ClassInsecureURL ErrorClass = "insecure_url"
	// ClassForeignHost: a discovered jwks_uri named a host other than the
	// metadata document's that Config.AllowedJWKSHosts does not list. The
	// URL was not requested.
	ClassForeignHost ErrorClass = "foreign_host"
	// ClassClosed: the cache was closed (or its context cancelled) during
	// the fetch.
	ClassClosed ErrorClass = "closed"
)

// FetchEvent reports one fetch attempt (discovery, when needed, included).
type FetchEvent struct {
	// Source is the cache's configured name.
	Source string
	// Cause is why the fetch ran.
	Cause FetchCause
	// Duration is the fetch's duration by the cache's clock.
	Duration time.Duration
	// Class is ClassOK on success, else the failure class.
	Class ErrorClass
	// Err is the failure (a *FetchError), nil on success. For logs only.
	Err error
	// Keys is the number of usable keys in the new set (0 on failure).
	Keys int
	// Skipped lists the JWKs left out of the fetched document and why
	// (filled on success and on ClassNoUsableKeys).
	Skipped []Skipped
	// Generation is the new set's generation on success, else the
	// generation of the last good set (0 when none).
	Generation uint64
	// NextRefresh is when the next scheduled fetch is due.
	NextRefresh time.Time
	// At is when the attempt ended, by the cache's clock.
	At time.Time
	// LastSuccess is when the last successful fetch before this attempt
	// ended (zero if none): At minus LastSuccess is the age of the keys
	// served until this attempt.
	LastSuccess time.Time
	// FailingSince is when the current run of failed attempts began (the
	// end of its first attempt). On a success it is the start of the run
	// this success ended (zero when the previous attempt succeeded too, or
	// at the first attempt): At minus FailingSince is how long the source
	// failed.
	FailingSince time.Time
	// ConsecutiveFailures counts failed attempts since the last success,
	// this one included (0 on success).
	ConsecutiveFailures int
	// Usable reports whether a usable key set is served after this
	// attempt (on a failure: the last good set, not yet MaxStaleness old).
	Usable bool
}

// UnknownKIDOutcome says what a lookup miss did.
type UnknownKIDOutcome string

// Lookup miss outcomes.
const (
	// UnknownKIDFetched: the miss started a refresh.
	UnknownKIDFetched UnknownKIDOutcome = "fetched"
	// UnknownKIDShared: the miss waited for a fetch already in flight.
	UnknownKIDShared UnknownKIDOutcome = "shared"
	// UnknownKIDRateLimited: the cooldown (or the floor after the last
	// fetch) refused a refresh; the lookup failed fast.
	UnknownKIDRateLimited UnknownKIDOutcome = "rate_limited"
	// UnknownKIDTooLong: the kid was longer than MaxKIDLength; no fetch.
	UnknownKIDTooLong UnknownKIDOutcome = "kid_too_long"
	// UnknownKIDClosed: the cache is closed; no fetch.
	UnknownKIDClosed UnknownKIDOutcome = "closed"
)

// UnknownKIDEvent reports one lookup miss. It never carries the kid: that
// value comes from an unverified token.
type UnknownKIDEvent struct {
	// Source is the cache's configured name.
	Source string
	// Outcome is what the miss did.
	Outcome UnknownKIDOutcome
	// Found reports whether the lookup found the kid after all (after the
	// refresh it started or shared).
	Found bool
}

// Stats is a snapshot of a Cache's state, for gauges and health checks.
type Stats struct {
	// Source is the cache's configured name.
	Source string
	// Usable reports whether a usable key set is served (Current() != nil).
	Usable bool
	// Generation of the last good set (0 before the first success).
	Generation uint64
	// Keys is the number of keys served (0 when not usable).
	Keys int
	// LastSuccess is when the last successful fetch completed (zero if
	// none).
	LastSuccess time.Time
	// LastAttempt is when the last fetch attempt completed (zero if none).
	LastAttempt time.Time
	// LastClass is the class of the last attempt ("" before any).
	LastClass ErrorClass
	// LastError is the last attempt's error, nil when it succeeded.
	LastError error
	// ConsecutiveFailures counts failed fetches since the last success.
	ConsecutiveFailures int
	// Age is the age of the last good set (now minus LastSuccess), 0
	// before the first success; Usable turns false once it reaches
	// MaxStaleness.
	Age time.Duration
	// NextRefresh is when the next scheduled fetch is due.
	NextRefresh time.Time
	// HadUsableKeys reports whether a usable key set was fetched since
	// the cache started (then Ready returns nil). It never turns false
	// again: a start-up gate for readiness checks.
	HadUsableKeys bool
	// FailingSince is when the current run of failed attempts began; zero
	// when the last attempt succeeded (or none completed).
	FailingSince time.Time
	// LastFailure is when the last failed attempt ended (zero if none),
	// and LastFailureClass its class ("" if none), kept after later
	// successes.
	LastFailure      time.Time
	LastFailureClass ErrorClass
}

// MultiObserver returns an Observer that passes every event to each of obs
// in order (nil entries are skipped), for example metrics and logs. When
// one of obs is a ContextObserver, so is the result (with at most one
// ContextObserver among obs: the context of a second one's FetchStart
// would be dropped, so MultiObserver keeps the first one's).
func MultiObserver(obs ...Observer) Observer {
	list := make(multiObserver, 0, len(obs))
	ctxIdx := -1
	for _, o := range obs {
		if o != nil {
			if _, ok := o.(ContextObserver); ok && ctxIdx < 0 {
				ctxIdx = len(list)
			}
			list = append(list, o)
		}
	}
	if ctxIdx >= 0 {
		return multiContextObserver{list, ctxIdx}
	}
	return list
}

// multiContextObserver is a multiObserver whose entry at idx is a
// ContextObserver.
type multiContextObserver struct {
	multiObserver
	idx int
}

func (m multiContextObserver) FetchStart(ctx context.Context, source string, cause FetchCause) context.Context {
	return m.multiObserver[m.idx].(ContextObserver).FetchStart(ctx, source, cause)
}

func (m multiContextObserver) FetchDoneContext(ctx context.Context, e FetchEvent) {
	for i, o := range m.multiObserver {
		if i == m.idx {
			o.(ContextObserver).FetchDoneContext(ctx, e)
		} else {
			o.FetchDone(e)
		}
	}
}

type multiObserver []Observer

func (m multiObserver) FetchDone(e FetchEvent) {
	for _, o := range m {
		o.FetchDone(e)
	}
}

func (m multiObserver) UnknownKID(e UnknownKIDEvent) {
	for _, o := range m {
		o.UnknownKID(e)
	}
}
