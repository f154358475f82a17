// Package authlog writes one structured log/slog record per refused
// request, with repeated identical refusals rate-limited, so a flood of bad
// tokens cannot flood the logs.
//
// # One wiring for every adapter
//
// A Logger is the adapter's decision observer, like the metrics, on every
// transport:
//
//	lg := authlog.New(slog.Default(), authlog.Options{})
//	defer lg.Close() // writes the counts of records still suppressed
//	mw, _ := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
//	auth, _ := echoauth.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
//	gauth, _ := grpcauth.New(v, policy, grpcauth.WithObserver(m), grpcauth.WithObserver(lg))
//
// Do not also give it to the Verifier (jwtverify.Config.Observer) unless
// Options.VerifyEvents is set: the adapter's decision already says why the
// token was refused, and ObserveVerify ignores verify events by default so
// that no refusal is logged twice. Programs that call Verify themselves,
// without an adapter, set VerifyEvents and give the Logger to the Verifier.
//
// # Records
//
// Every refusal record has the message "m2mauth: request refused" and, on
// every transport, the attributes
//
//	transport  "http", "echo", "grpc" (or "verify" for verify events)
//	result     unauthenticated, forbidden, invalid_request, unavailable
//	reason     jwtverify's reason, or "no_credentials"
//	rule       the sub-reason code of the rule that refused the token (only when one did)
//	issuer     the configured issuer name, or "none" (jwtverify.NoIssuer)
//	route      the route as the adapter knows it, or "unknown" (never the raw path)
//	client_id  the verified client ID (only when the token verified)
//	missing    the permissions a forbidden caller lacked
//
// Allowed and skipped decisions are not logged. A refusal because the API
// has no usable keys (unavailable) is logged at slog.LevelWarn or
// Options.Level, whichever is higher: it is the API's problem, not the
// caller's. Records never carry the token, the query, a secret or an
// unverified claim (unless Options.Details asks for jwtverify's
// explanations of verify events, which quote them).
//
// # Key sources
//
// A Logger is also a jwkscache.Observer: give it to the key caches next to
// the metrics (jwkscache.Config{Observer: jwkscache.MultiObserver(m, lg)})
// and it logs each change of a source's state ("m2mauth: key source
// failing" with the failure class, "m2mauth: key source recovered" with how
// long it failed and the age of the keys served meanwhile), repeated
// failures once per Options.Interval, and unknown kids (never the kid).
// See keys.go for the attributes.
//
// # Rate limit
//
// The first record per key (transport, result, reason, rule, issuer,
// route) per Options.Interval is written (Options.Burst records when
// larger); the rest of that window are counted, and when the window closes
// one more record, "m2mauth: refusals suppressed", gives the key and the
// count. A window closes on the first event after it ended or, while a
// count waits, through a timer the Logger owns (a time.AfterFunc: no
// goroutine exists between its runs) within an eighth of Options.Interval
// after it ended; Close closes every window at once and stops the timer.
// Memory is bounded by Options.MaxKeys windows; when full, the oldest
// window closes early. Each event costs O(1) amortised: windows are kept
// in the order they opened, so closing and evicting never scan them.
package authlog

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Messages of the records.
const (
	// MsgRefused is the message of every refusal record.
	MsgRefused = "m2mauth: request refused"
	// MsgSuppressed is the message of the record closing a window in which
	// identical refusals were suppressed.
	MsgSuppressed = "m2mauth: refusals suppressed"
)

// ReasonNoCredentials is the reason attribute of an unauthenticated
// request that carried no credentials (jwtverify has no reason for it: no
// token was verified).
const ReasonNoCredentials = "no_credentials"

// TransportVerify is the transport attribute of verify events
// (Options.VerifyEvents).
const TransportVerify = "verify"

// Options configures a Logger. The zero value is valid.
type Options struct {
	// Level of refusal records. Default slog.LevelInfo (a refused token is
	// normal traffic for an API on the internet, not an error of ours).
	// Unavailable decisions use slog.LevelWarn when it is higher.
	Level slog.Level
	// Interval is the rate-limit window per key (transport, result,
	// reason, rule, issuer, route). Default one minute.
	Interval time.Duration
	// Burst is how many records per key are written per Interval before
	// the rest are counted. Default 1.
	Burst int
	// MaxKeys bounds the rate limiter's memory; when full, the oldest
	// window closes early (its suppressed count is written). Default 4096.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// VerifyEvents logs the rejections the Logger sees as a
	// jwtverify.Observer (transport "verify"). Off by default: with an
	// adapter, the decision record already says why the token was refused.
	// Set it only when the program calls Verify without an adapter, or
	// every refusal through an adapter observed by this Logger is logged
	// twice.
	VerifyEvents bool
	// Details adds jwtverify's explanation of each rejection (the "detail"
	// attribute) to verify records (VerifyEvents; decision events carry no
	// explanation). It quotes, truncated to a few dozen bytes, values the
	// caller chose (kid, iss, aud, typ): useful when debugging a
	// misconfiguration, but attacker-controlled text in your logs. Off by
	// default.
	Details bool
}

// Logger is a rate-limited refusal logger: a jwtverify.DecisionObserver
// (the one wiring, for every adapter) and a jwtverify.Observer (only with
// Options.VerifyEvents). Safe for concurrent use. The zero value is not
// usable; build it with New.
type Logger struct {
	log  *slog.Logger
	opts Options

	mu      sync.Mutex
	windows map[key]*list.Element // of *window
	order   list.List             // windows by start, oldest first
	pending int                   // windows with a suppressed count
	timer   *time.Timer           // armed while pending > 0
	closed  bool

	keys keySources // key source state (keys.go)
}

var (
	_ jwtverify.Observer         = (*Logger)(nil)
	_ jwtverify.DecisionObserver = (*Logger)(nil)
)

// key is what makes two refusals identical. Every field is a fixed string
// or comes from configuration.
type key struct {
	transport string
	result    string
	reason    string
	rule      string
	issuer    string
	route     string
}

type window struct {
	key        key
	start      time.Time
	count      int
	suppressed int
}

// New returns a Logger writing to l (slog.Default() when nil).
func New(l *slog.Logger, opts Options) *Logger {
	if l == nil {
		l = slog.Default()
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Burst <= 0 {
		opts.Burst = 1
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Logger{log: l, opts: opts, windows: make(map[key]*list.Element)}
}

// Close writes the suppressed counts of every open window and stops the
// Logger's timer. The Logger stays usable (later windows close lazily, on
// later events); Close is safe to call more than once.
func (l *Logger) Close() error {
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	var out []window
	for e := l.order.Front(); e != nil; e = l.order.Front() {
		out = l.dropLocked(e, out)
	}
	l.mu.Unlock()
	l.writeSuppressed(out)
	l.flushKeys()
	return nil
}

// ObserveVerify logs a rejected token when Options.VerifyEvents is set;
// otherwise it does nothing. Successful verifications are never logged.
func (l *Logger) ObserveVerify(ev jwtverify.VerifyEvent) {
	if !l.opts.VerifyEvents || ev.Reason == "" || !l.log.Enabled(context.Background(), l.opts.Level) {
		return
	}
	k := key{
		transport: TransportVerify, result: jwtverify.DecisionUnauthenticated,
		reason: string(ev.Reason), rule: ev.Rule, issuer: issuerName(ev.Issuer),
	}
	if ev.Reason.Unavailable() {
		k.result = jwtverify.DecisionUnavailable
	}
	if !l.allow(k) {
		return
	}
	attrs := keyAttrs(k, 8)
	if ev.CacheHit {
		attrs = append(attrs, slog.Bool("cache_hit", true))
	}
	var ve *jwtverify.Error
	if l.opts.Details && errors.As(ev.Err, &ve) && ve.Detail != "" {
		attrs = append(attrs, slog.String("detail", ve.Detail))
	}
	l.log.LogAttrs(context.Background(), l.level(k.result), MsgRefused, attrs...)
}

// ObserveDecision logs a refused request (unauthenticated, forbidden,
// invalid request, unavailable); allowed and skipped decisions are not
// logged.
func (l *Logger) ObserveDecision(ev jwtverify.DecisionEvent) {
	switch ev.Result {
	case jwtverify.DecisionUnauthenticated, jwtverify.DecisionForbidden,
		jwtverify.DecisionInvalidRequest, jwtverify.DecisionUnavailable:
	default:
		return
	}
	lvl := l.level(ev.Result)
	if !l.log.Enabled(context.Background(), lvl) {
		return
	}
	k := key{
		transport: ev.Transport, result: ev.Result, reason: string(ev.Reason),
		rule: ev.Rule, issuer: issuerName(ev.Issuer), route: ev.Route,
	}
	if k.reason == "" {
		k.reason = ReasonNoCredentials
	}
	if k.route == "" {
		k.route = jwtverify.RouteUnknown
	}
	if !l.allow(k) {
		return
	}
	attrs := keyAttrs(k, 9)
	if ev.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", ev.ClientID))
	}
	if len(ev.Missing) > 0 {
		attrs = append(attrs, slog.Any("missing", ev.Missing))
	}
	l.log.LogAttrs(context.Background(), lvl, MsgRefused, attrs...)
}

func (l *Logger) level(result string) slog.Level {
	if result == jwtverify.DecisionUnavailable && l.opts.Level < slog.LevelWarn {
		return slog.LevelWarn
	}
	return l.opts.Level
}

func issuerName(s string) string {
	if s == "" {
		return jwtverify.NoIssuer
	}
	return s
}

// keyAttrs returns the attributes every record of k carries, in a fixed
// order, with room for extra more.
func keyAttrs(k key, extra int) []slog.Attr {
	attrs := make([]slog.Attr, 0, 6+extra)
	attrs = append(attrs,
		slog.String("transport", k.transport),
		slog.String("result", k.result),
		slog.String("reason", k.reason),
	)
	if k.rule != "" {
		attrs = append(attrs, slog.String("rule", k.rule))
	}
	attrs = append(attrs, slog.String("issuer", k.issuer))
	if k.route != "" {
		attrs = append(attrs, slog.String("route", k.route))
	}
	return attrs
}

// allow applies the per-key window and reports whether to write the record
// now. Windows that closed are written (their suppressed counts) first.
func (l *Logger) allow(k key) bool {
	now := l.opts.Now()
	l.mu.Lock()
	closed := l.sweepLocked(now, nil)
	ok := true
	if e, found := l.windows[k]; found {
		w := e.Value.(*window)
		if w.count < l.opts.Burst {
			w.count++
		} else {
			w.suppressed++
			ok = false
			if w.suppressed == 1 {
				l.pending++
				l.armLocked(now)
			}
		}
	} else {
		if len(l.windows) >= l.opts.MaxKeys {
			closed = l.dropLocked(l.order.Front(), closed)
		}
		l.windows[k] = l.order.PushBack(&window{key: k, start: now, count: 1})
	}
	l.mu.Unlock()
	l.writeSuppressed(closed)
	return ok
}

// sweepLocked closes the windows that ended by now, oldest first: each
// window is pushed and removed once, so the cost is O(1) amortised per
// event. Windows are ordered by start because they are created with the
// current time (a clock going backwards only delays a close).
func (l *Logger) sweepLocked(now time.Time, out []window) []window {
	for e := l.order.Front(); e != nil; e = l.order.Front() {
		if now.Sub(e.Value.(*window).start) < l.opts.Interval {
			break
		}
		out = l.dropLocked(e, out)
	}
	return out
}

// dropLocked removes the window of e and appends it to out when it has a
// suppressed count to write.
func (l *Logger) dropLocked(e *list.Element, out []window) []window {
	w := l.order.Remove(e).(*window)
	delete(l.windows, w.key)
	if w.suppressed > 0 {
		l.pending--
		out = append(out, *w)
	}
	return out
}

// armLocked starts the timer that closes the oldest window when it ends,
// unless one is armed or the Logger is closed. The timer is a time.AfterFunc:
// no goroutine exists until it fires, and Close stops it.
func (l *Logger) armLocked(now time.Time) {
	if l.timer != nil || l.closed {
		return
	}
	front := l.order.Front()
	if front == nil {
		return
	}
	d := l.opts.Interval - now.Sub(front.Value.(*window).start)
	// Coalesce: one timer run per eighth of a window at most.
	if minD := l.opts.Interval / 8; d < minD {
		d = minD
	}
	l.timer = time.AfterFunc(d, l.tick)
}

// tick closes the windows that ended and re-arms while a suppressed count
// is still waiting.
func (l *Logger) tick() {
	now := l.opts.Now()
	l.mu.Lock()
	l.timer = nil
	closed := l.sweepLocked(now, nil)
	if l.pending > 0 {
		l.armLocked(now)
	}
	l.mu.Unlock()
	l.writeSuppressed(closed)
}

// writeSuppressed writes one record per closed window with a suppressed
// count. Called without the mutex.
func (l *Logger) writeSuppressed(ws []window) {
	for _, w := range ws {
		attrs := keyAttrs(w.key, 2)
		attrs = append(attrs, slog.Int("suppressed", w.suppressed),
			slog.Duration("window", l.opts.Interval))
		l.log.LogAttrs(context.Background(), l.level(w.key.result), MsgSuppressed, attrs...)
	}
}
