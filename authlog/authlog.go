// Package authlog writes one structured log/slog record per rejected token
// or denied request, with repeated identical rejections rate-limited, so a
// flood of bad tokens cannot flood the logs.
//
// A Logger is both a jwtverify.Observer and a jwtverify.DecisionObserver:
//
//	lg := authlog.New(slog.Default(), authlog.Options{})
//	v, _ := jwtverify.New(jwtverify.Config{..., Observer: lg})
//	mw, _ := middleware.New(v, middleware.WithObserver(lg))
//
// Records carry the reason (from jwtverify's fixed set), the configured
// issuer name, the transport and, only when the token verified, the client
// ID. They never carry the token, a secret or an unverified claim (unless
// Options.Details asks for jwtverify's explanations, which quote them).
package authlog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Options configures a Logger. The zero value is valid.
type Options struct {
	// Level of rejection records. Default slog.LevelInfo (a rejected token
	// is normal traffic for an API on the internet, not an error of ours).
	Level slog.Level
	// Interval is the rate-limit window for identical rejections (same
	// issuer, reason, transport and client). Default one minute.
	Interval time.Duration
	// Burst is how many identical rejections are logged per Interval before
	// the rest are counted and summarised in the next record. Default 1.
	Burst int
	// MaxKeys bounds the rate limiter's memory; when full, the oldest
	// window is dropped. Default 4096.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Details adds jwtverify's explanation of each rejection (the "detail"
	// attribute). It quotes, truncated to a few dozen bytes, values the
	// caller chose (kid, iss, aud, typ): useful when debugging a
	// misconfiguration, but attacker-controlled text in your logs. Off by
	// default; the reason, issuer and transport are always logged.
	Details bool
}

// Logger is a rate-limited rejection logger. Safe for concurrent use.
type Logger struct {
	log  *slog.Logger
	opts Options

	mu      sync.Mutex
	windows map[key]*window

	keys keySources // key source state (keys.go)
}

var (
	_ jwtverify.Observer         = (*Logger)(nil)
	_ jwtverify.DecisionObserver = (*Logger)(nil)
)

type key struct {
	issuer    string
	reason    jwtverify.Reason
	transport string
	client    string
}

type window struct {
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
	return &Logger{log: l, opts: opts, windows: make(map[key]*window)}
}

// ObserveVerify logs a rejected token. Successful verifications are not
// logged.
func (l *Logger) ObserveVerify(ev jwtverify.VerifyEvent) {
	if ev.Reason == "" || !l.log.Enabled(context.Background(), l.opts.Level) {
		return
	}
	k := key{issuer: ev.Issuer, reason: ev.Reason, transport: "verify"}
	suppressed, ok := l.allow(k)
	if !ok {
		return
	}
	attrs := []slog.Attr{
		slog.String("reason", string(ev.Reason)),
		slog.String("issuer", ev.Issuer),
		slog.Bool("cache_hit", ev.CacheHit),
	}
	var ve *jwtverify.Error
	if l.opts.Details && errors.As(ev.Err, &ve) && ve.Detail != "" {
		attrs = append(attrs, slog.String("detail", ve.Detail))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	l.log.LogAttrs(context.Background(), l.opts.Level, "m2mauth: token rejected", attrs...)
}

// ObserveDecision logs denied requests (forbidden, invalid request,
// unavailable). Unauthenticated decisions are logged by ObserveVerify when
// the token itself was rejected; missing credentials are not logged.
func (l *Logger) ObserveDecision(ev jwtverify.DecisionEvent) {
	switch ev.Result {
	case jwtverify.DecisionForbidden, jwtverify.DecisionInvalidRequest, jwtverify.DecisionUnavailable:
	default:
		return
	}
	if !l.log.Enabled(context.Background(), l.opts.Level) {
		return
	}
	k := key{issuer: ev.Issuer, reason: ev.Reason, transport: ev.Transport, client: ev.ClientID}
	suppressed, ok := l.allow(k)
	if !ok {
		return
	}
	attrs := []slog.Attr{
		slog.String("result", ev.Result),
		slog.String("transport", ev.Transport),
	}
	if ev.Reason != "" {
		attrs = append(attrs, slog.String("reason", string(ev.Reason)))
	}
	if ev.Issuer != "" {
		attrs = append(attrs, slog.String("issuer", ev.Issuer))
	}
	if ev.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", ev.ClientID))
	}
	if len(ev.Missing) > 0 {
		attrs = append(attrs, slog.Any("missing", ev.Missing))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	l.log.LogAttrs(context.Background(), l.opts.Level, "m2mauth: request denied", attrs...)
}

// allow applies the per-key window. It returns how many identical records
// were suppressed since the last one logged, and whether to log now.
func (l *Logger) allow(k key) (int, bool) {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[k]
	if !ok {
		if len(l.windows) >= l.opts.MaxKeys {
			l.evictLocked(now)
		}
		l.windows[k] = &window{start: now, count: 1}
		return 0, true
	}
	if now.Sub(w.start) >= l.opts.Interval {
		s := w.suppressed
		*w = window{start: now, count: 1}
		return s, true
	}
	if w.count < l.opts.Burst {
		w.count++
		s := w.suppressed
		w.suppressed = 0
		return s, true
	}
	w.suppressed++
	return 0, false
}

// evictLocked drops expired windows, or the oldest one when none expired.
func (l *Logger) evictLocked(now time.Time) {
	var oldest key
	var oldestStart time.Time
	first := true
	for k, w := range l.windows {
		if now.Sub(w.start) >= l.opts.Interval {
			delete(l.windows, k)
			continue
		}
		if first || w.start.Before(oldestStart) {
			oldest, oldestStart, first = k, w.start, false
		}
	}
	if len(l.windows) >= l.opts.MaxKeys && !first {
		delete(l.windows, oldest)
	}
}
