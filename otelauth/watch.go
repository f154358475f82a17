package otelauth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// watched is what the observable instruments report at each collection:
// the verified-token caches of WatchVerifier and the key caches of
// WatchKeys and WatchKeySet. Nothing is read on the request path.
type watched struct {
	mu        sync.Mutex
	verifiers map[string]*jwtverify.Verifier // by label value
	caches    map[string]*jwkscache.Cache    // by name
	sets      []func() []*jwkscache.Cache

	// Verified-token cache (label "verifier").
	entries, bytes, maxEntries, maxBytes metric.Int64ObservableGauge
	hits, misses, evictions              metric.Int64ObservableCounter
	// Key caches (label "source").
	keys, usable, failures metric.Int64ObservableGauge
	lastSuccess, age       metric.Float64ObservableGauge
}

// newWatched makes the observable instruments, named as package metrics'
// gauges and cache counters once through OTel's Prometheus exporter, and
// registers the one callback that reads the watched caches.
func newWatched(m metric.Meter) (*watched, error) {
	w := &watched{verifiers: map[string]*jwtverify.Verifier{}, caches: map[string]*jwkscache.Cache{}}
	var errs [12]error
	w.entries, errs[0] = m.Int64ObservableGauge("m2mauth_verified_token_cache_entries",
		metric.WithDescription("Tokens held by the verified-token cache."))
	w.bytes, errs[1] = m.Int64ObservableGauge("m2mauth_verified_token_cache_bytes",
		metric.WithDescription("Bytes accounted to the verified-token cache."))
	w.hits, errs[2] = m.Int64ObservableCounter("m2mauth_verified_token_cache_hits",
		metric.WithDescription("Verified-token cache hits."))
	w.misses, errs[3] = m.Int64ObservableCounter("m2mauth_verified_token_cache_misses",
		metric.WithDescription("Verified-token cache misses."))
	w.evictions, errs[4] = m.Int64ObservableCounter("m2mauth_verified_token_cache_evictions",
		metric.WithDescription("Entries evicted from the verified-token cache (expiry, key removal, capacity)."))
	w.maxEntries, errs[5] = m.Int64ObservableGauge("m2mauth_verified_token_cache_max_entries",
		metric.WithDescription("Configured entry cap of the verified-token cache."))
	w.maxBytes, errs[6] = m.Int64ObservableGauge("m2mauth_verified_token_cache_max_bytes",
		metric.WithDescription("Configured byte cap of the verified-token cache."))
	w.keys, errs[7] = m.Int64ObservableGauge("m2mauth_jwks_keys",
		metric.WithDescription("Usable keys served by the source (0 when no usable set)."))
	w.lastSuccess, errs[8] = m.Float64ObservableGauge("m2mauth_jwks_last_success_timestamp_seconds",
		metric.WithDescription("Unix time of the last successful JWKS refresh (0 if none)."))
	w.age, errs[9] = m.Float64ObservableGauge("m2mauth_jwks_keys_age_seconds",
		metric.WithDescription("Age of the key set being served (0 before the first success)."))
	w.usable, errs[10] = m.Int64ObservableGauge("m2mauth_jwks_usable",
		metric.WithDescription("1 when the source has a usable key set, 0 when lookups answer keys_unavailable."))
	w.failures, errs[11] = m.Int64ObservableGauge("m2mauth_jwks_consecutive_failures",
		metric.WithDescription("Failed fetches since the last success."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	_, err := m.RegisterCallback(w.observe,
		w.entries, w.bytes, w.hits, w.misses, w.evictions, w.maxEntries, w.maxBytes,
		w.keys, w.lastSuccess, w.age, w.usable, w.failures)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// observe reports every watched cache, as package metrics' collectors do
// at a scrape.
func (w *watched) observe(_ context.Context, o metric.Observer) error {
	w.mu.Lock()
	verifiers := make(map[string]*jwtverify.Verifier, len(w.verifiers))
	for k, v := range w.verifiers {
		verifiers[k] = v
	}
	caches := make([]*jwkscache.Cache, 0, len(w.caches))
	for _, c := range w.caches {
		caches = append(caches, c)
	}
	sets := slices.Clone(w.sets)
	w.mu.Unlock()

	for name, v := range verifiers {
		s := v.CacheStats()
		at := metric.WithAttributeSet(attribute.NewSet(attribute.String("verifier", name)))
		o.ObserveInt64(w.entries, s.Entries, at)
		o.ObserveInt64(w.bytes, s.Bytes, at)
		o.ObserveInt64(w.hits, clampInt64(s.Hits), at)
		o.ObserveInt64(w.misses, clampInt64(s.Misses), at)
		o.ObserveInt64(w.evictions, clampInt64(s.Evictions), at)
		o.ObserveInt64(w.maxEntries, int64(s.MaxEntries), at)
		o.ObserveInt64(w.maxBytes, s.MaxBytes, at)
	}

	for _, set := range sets {
		caches = append(caches, set()...)
	}
	seen := make(map[string]bool, len(caches))
	for _, c := range caches {
		if c == nil || seen[c.Name()] {
			continue
		}
		seen[c.Name()] = true
		st := c.Stats()
		at := metric.WithAttributeSet(attribute.NewSet(attribute.String("source", label(st.Source))))
		last := 0.0
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.UnixNano()) / float64(time.Second)
		}
		usable := int64(0)
		if st.Usable {
			usable = 1
		}
		o.ObserveInt64(w.keys, int64(st.Keys), at)
		o.ObserveFloat64(w.lastSuccess, last, at)
		o.ObserveFloat64(w.age, st.Age.Seconds(), at)
		o.ObserveInt64(w.usable, usable, at)
		o.ObserveInt64(w.failures, int64(st.ConsecutiveFailures), at)
	}
	return nil
}

func clampInt64(n uint64) int64 {
	if n > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(n)
}

// WatchVerifier reports the verified-token cache of v (entries, bytes,
// hits, misses, evictions and the configured caps) at each collection, as
// package metrics' WatchVerifier does; name is the "verifier" attribute
// ("" reads "none"), unique per Observer.
func (o *Observer) WatchVerifier(name string, v *jwtverify.Verifier) error {
	if v == nil {
		return errors.New("otelauth: nil verifier")
	}
	name = label(name)
	o.watch.mu.Lock()
	defer o.watch.mu.Unlock()
	if _, dup := o.watch.verifiers[name]; dup {
		return errors.New("otelauth: a verifier with this name is already watched")
	}
	o.watch.verifiers[name] = v
	return nil
}

// WatchKeys reports the state of a key cache (keys served, time of the
// last successful refresh, age of the keys served, whether a usable set
// exists, consecutive failures) at each collection, as package metrics'
// WatchKeys does; the cache's configured name is the "source" attribute.
func (o *Observer) WatchKeys(c *jwkscache.Cache) error {
	if c == nil {
		return errors.New("otelauth: nil key cache")
	}
	o.watch.mu.Lock()
	defer o.watch.mu.Unlock()
	if _, dup := o.watch.caches[c.Name()]; dup {
		return errors.New("otelauth: a key cache with this name is already watched")
	}
	o.watch.caches[c.Name()] = c
	return nil
}

// WatchKeySet is WatchKeys for a set of caches that changes over time:
// current is called at each collection and returns the caches in use then,
// so a replaced cache leaves nothing behind. A name seen twice in one
// collection is reported once (the first).
func (o *Observer) WatchKeySet(current func() []*jwkscache.Cache) error {
	if current == nil {
		return errors.New("otelauth: nil key set function")
	}
	o.watch.mu.Lock()
	defer o.watch.mu.Unlock()
	o.watch.sets = append(o.watch.sets, current)
	return nil
}
