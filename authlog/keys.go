package authlog

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// A Logger is also a jwkscache.Observer: wire it next to the metrics with
//
//	jwkscache.Config{..., Observer: jwkscache.MultiObserver(m, lg)}
//
// It logs each change of a key source's state and, rate-limited,
// repeated failures:
//
//   - "m2mauth: key source failing" (Warn) when a source goes from ok (or
//     from start-up) to failing, or its failure class changes: source,
//     class, status (for http_status), url (scheme, host and path only:
//     never a query), failures, keys_usable, keys_age (the age of the
//     cached keys still served, when there are any);
//   - "m2mauth: key source still failing" (Warn) at most once per
//     Options.Interval per source while the failures go on, with
//     failing_for and the number of failures not logged since the last
//     record (suppressed);
//   - "m2mauth: key source recovered" (Info) on the first success after
//     failures: failing_for (how long it failed), failures, keys_age (the
//     age the cached keys had reached, absent when none were served) and
//     keys (the size of the new set);
//   - "m2mauth: unknown key id" (Info) for lookups of a kid the source
//     does not publish, at most once per Options.Interval per source and
//     outcome (fetched, shared, rate_limited, kid_too_long, closed), with
//     the suppressed count. The kid itself is never logged (it comes from
//     an unverified token).
//
// Fetches ending because the cache was closed are not logged.
var _ jwkscache.Observer = (*Logger)(nil)

// Bounds of the key source state: names come from configuration, so a
// few suffice; past the bound an arbitrary entry is dropped.
const maxKeySources = 1024

// keySources is the Logger's per key source state. Its zero value is
// ready to use.
type keySources struct {
	mu sync.Mutex
	m  map[string]*keySource
}

type keySource struct {
	failing    bool
	class      jwkscache.ErrorClass
	failures   int // consecutive failures seen
	lastLog    time.Time
	suppressed int
	misses     map[jwkscache.UnknownKIDOutcome]*missWindow
}

type missWindow struct {
	start      time.Time
	suppressed int
}

// sourceLocked returns the state of source, creating it. ks.mu must be
// held.
func (ks *keySources) sourceLocked(source string) *keySource {
	if ks.m == nil {
		ks.m = make(map[string]*keySource)
	}
	s, ok := ks.m[source]
	if !ok {
		if len(ks.m) >= maxKeySources {
			for k := range ks.m {
				delete(ks.m, k)
				break
			}
		}
		s = &keySource{}
		ks.m[source] = s
	}
	return s
}

// FetchDone implements jwkscache.Observer: it logs changes of the
// source's state and, rate-limited, repeated failures.
func (l *Logger) FetchDone(ev jwkscache.FetchEvent) {
	if ev.Class == jwkscache.ClassClosed {
		return
	}
	ctx := context.Background()
	if ev.Class == jwkscache.ClassOK {
		l.keys.mu.Lock()
		s := l.keys.sourceLocked(ev.Source)
		wasFailing, failures, suppressed := s.failing, s.failures, s.suppressed
		s.failing, s.class, s.failures, s.suppressed = false, "", 0, 0
		l.keys.mu.Unlock()
		if !wasFailing && ev.FailingSince.IsZero() {
			return
		}
		if !l.log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		attrs := []slog.Attr{slog.String("source", ev.Source)}
		if !ev.FailingSince.IsZero() {
			attrs = append(attrs, slog.Duration("failing_for", ev.At.Sub(ev.FailingSince)))
		}
		attrs = append(attrs, slog.Int("failures", failures))
		if !ev.LastSuccess.IsZero() {
			attrs = append(attrs, slog.Duration("keys_age", ev.At.Sub(ev.LastSuccess)))
		}
		attrs = append(attrs, slog.Int("keys", ev.Keys))
		if suppressed > 0 {
			attrs = append(attrs, slog.Int("suppressed", suppressed))
		}
		l.log.LogAttrs(ctx, slog.LevelInfo, "m2mauth: key source recovered", attrs...)
		return
	}

	now := l.opts.Now()
	l.keys.mu.Lock()
	s := l.keys.sourceLocked(ev.Source)
	// ConsecutiveFailures 1 starts a run even if the success between was
	// not seen (events of consecutive fetches may cross).
	first := !s.failing || ev.ConsecutiveFailures == 1
	changed := !first && s.class != ev.Class
	s.failing, s.class = true, ev.Class
	s.failures++
	if ev.ConsecutiveFailures > 0 {
		s.failures = ev.ConsecutiveFailures
	}
	logNow := first || changed || now.Sub(s.lastLog) >= l.opts.Interval
	suppressed := 0
	if logNow {
		suppressed, s.suppressed, s.lastLog = s.suppressed, 0, now
	} else {
		s.suppressed++
	}
	l.keys.mu.Unlock()
	if !logNow || !l.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	msg := "m2mauth: key source still failing"
	if first || changed {
		msg = "m2mauth: key source failing"
	}
	attrs := []slog.Attr{slog.String("source", ev.Source), slog.String("class", string(ev.Class))}
	var fe *jwkscache.FetchError
	if errors.As(ev.Err, &fe) {
		if fe.StatusCode != 0 {
			attrs = append(attrs, slog.Int("status", fe.StatusCode))
		}
		if u := safeURL(fe.URL); u != "" {
			attrs = append(attrs, slog.String("url", u))
		}
	}
	if !first && !ev.FailingSince.IsZero() {
		attrs = append(attrs, slog.Duration("failing_for", ev.At.Sub(ev.FailingSince)))
	}
	attrs = append(attrs, slog.Int("failures", max(ev.ConsecutiveFailures, 1)), slog.Bool("keys_usable", ev.Usable))
	if ev.Usable && !ev.LastSuccess.IsZero() {
		attrs = append(attrs, slog.Duration("keys_age", ev.At.Sub(ev.LastSuccess)))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	l.log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}

// UnknownKID implements jwkscache.Observer: lookups of a kid the source
// does not publish, once per Options.Interval per source and outcome.
func (l *Logger) UnknownKID(ev jwkscache.UnknownKIDEvent) {
	if ev.Found {
		return
	}
	now := l.opts.Now()
	l.keys.mu.Lock()
	s := l.keys.sourceLocked(ev.Source)
	if s.misses == nil {
		s.misses = make(map[jwkscache.UnknownKIDOutcome]*missWindow)
	}
	w, ok := s.misses[ev.Outcome]
	if ok && now.Sub(w.start) < l.opts.Interval {
		w.suppressed++
		l.keys.mu.Unlock()
		return
	}
	suppressed := 0
	if ok {
		suppressed = w.suppressed
		*w = missWindow{start: now}
	} else if len(s.misses) < 16 { // outcomes are a fixed set
		s.misses[ev.Outcome] = &missWindow{start: now}
	}
	l.keys.mu.Unlock()
	ctx := context.Background()
	if !l.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{slog.String("source", ev.Source), slog.String("outcome", string(ev.Outcome))}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "m2mauth: unknown key id", attrs...)
}

// safeURL returns raw's scheme, host and path: no user info, query or
// fragment ("" when raw does not parse).
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// flushKeys writes the counts still pending in the key source state (a
// source still failing, unknown kids within their window), so Close loses
// no count. Called by Close.
func (l *Logger) flushKeys() {
	type pending struct {
		source, outcome string
		n               int
	}
	var out []pending
	l.keys.mu.Lock()
	for name, s := range l.keys.m {
		if s.suppressed > 0 {
			out = append(out, pending{source: name, n: s.suppressed})
			s.suppressed = 0
		}
		for o, w := range s.misses {
			if w.suppressed > 0 {
				out = append(out, pending{source: name, outcome: string(o), n: w.suppressed})
				w.suppressed = 0
			}
		}
	}
	l.keys.mu.Unlock()
	ctx := context.Background()
	for _, p := range out {
		if p.outcome == "" {
			if l.log.Enabled(ctx, slog.LevelWarn) {
				l.log.LogAttrs(ctx, slog.LevelWarn, "m2mauth: key source still failing", slog.String("source", p.source), slog.Int("suppressed", p.n))
			}
			continue
		}
		if l.log.Enabled(ctx, slog.LevelInfo) {
			l.log.LogAttrs(ctx, slog.LevelInfo, "m2mauth: unknown key id", slog.String("source", p.source), slog.String("outcome", p.outcome), slog.Int("suppressed", p.n))
		}
	}
}
