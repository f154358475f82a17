package metrics

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/prometheus/client_golang/prometheus"
)

var _ jwkscache.Observer = (*Metrics)(nil)

// FetchBuckets are the JWKS fetch duration buckets (seconds).
var FetchBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type jwksMetrics struct {
	fetches    *prometheus.CounterVec
	fetchDur   *prometheus.HistogramVec
	unknownKID *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	state      *stateCollector
}

func newJWKSMetrics(ns string, cl prometheus.Labels) *jwksMetrics {
	j := &jwksMetrics{}
	j.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "jwks", Name: "fetches_total", ConstLabels: cl,
		Help: "JWKS fetch attempts by configured source name, cause (scheduled, unknown_kid, forced) and result (ok or the failure class).",
	}, []string{"source", "cause", "result"})
	j.fetchDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: "jwks", Name: "fetch_duration_seconds", ConstLabels: cl,
		Help: "Duration of JWKS fetches (discovery included) by source.", Buckets: FetchBuckets,
	}, []string{"source"})
	j.unknownKID = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "jwks", Name: "unknown_kid_total", ConstLabels: cl,
		Help: "Key lookups that missed the key set, by source and outcome (fetched, shared, rate_limited, kid_too_long, closed).",
	}, []string{"source", "outcome"})
	j.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "jwks", Name: "skipped_keys_total", ConstLabels: cl,
		Help: "JWKs left out of fetched key sets, by source and reason.",
	}, []string{"source", "reason"})
	j.state = newStateCollector(ns, cl)
	return j
}

func (j *jwksMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{j.fetches, j.fetchDur, j.unknownKID, j.skipped, j.state}
}

// FetchDone implements jwkscache.Observer.
func (m *Metrics) FetchDone(e jwkscache.FetchEvent) {
	src := labelValue(e.Source)
	m.jwks.fetches.WithLabelValues(src, labelValue(string(e.Cause)), labelValue(string(e.Class))).Inc()
	m.jwks.fetchDur.WithLabelValues(src).Observe(e.Duration.Seconds())
	for _, s := range e.Skipped {
		m.jwks.skipped.WithLabelValues(src, labelValue(string(s.Reason))).Inc()
	}
}

// UnknownKID implements jwkscache.Observer.
func (m *Metrics) UnknownKID(e jwkscache.UnknownKIDEvent) {
	m.jwks.unknownKID.WithLabelValues(labelValue(e.Source), labelValue(string(e.Outcome))).Inc()
}

// WatchKeys registers the state gauges of a key cache (keys served, time of
// the last successful refresh, age of the keys served, whether a usable set
// exists), read at scrape time. The cache's configured name is the source
// label; pass the same Metrics as the cache's Observer for the counters.
func (m *Metrics) WatchKeys(c *jwkscache.Cache) error {
	if c == nil {
		return errors.New("metrics: nil key cache")
	}
	return m.jwks.state.add(c)
}

// WatchKeySet registers the same state gauges as WatchKeys for a set of
// caches that changes over time (a program that rebuilds its key caches on
// reload): current is called at every scrape and returns the caches in use
// then, so a replaced cache never leaves stale gauges behind. Names must be
// unique across WatchKeys and every set; a name seen twice in one scrape is
// reported once (the first).
func (m *Metrics) WatchKeySet(current func() []*jwkscache.Cache) error {
	if current == nil {
		return errors.New("metrics: nil key set function")
	}
	m.jwks.state.mu.Lock()
	defer m.jwks.state.mu.Unlock()
	m.jwks.state.sets = append(m.jwks.state.sets, current)
	return nil
}

// stateCollector reads Stats() of every watched cache at scrape time.
type stateCollector struct {
	mu     sync.Mutex
	caches map[string]*jwkscache.Cache
	sets   []func() []*jwkscache.Cache

	keys, lastSuccess, age, usable, failures *prometheus.Desc
}

func newStateCollector(ns string, cl prometheus.Labels) *stateCollector {
	d := func(n, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "jwks", n), help, []string{"source"}, cl)
	}
	return &stateCollector{
		caches:      map[string]*jwkscache.Cache{},
		keys:        d("keys", "Usable keys served by the source (0 when no usable set)."),
		lastSuccess: d("last_success_timestamp_seconds", "Unix time of the last successful JWKS refresh (0 if none)."),
		age:         d("keys_age_seconds", "Age of the key set being served (0 before the first success)."),
		usable:      d("usable", "1 when the source has a usable key set, 0 when lookups answer keys_unavailable."),
		failures:    d("consecutive_failures", "Failed fetches since the last success."),
	}
}

func (s *stateCollector) add(c *jwkscache.Cache) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.caches[c.Name()]; dup {
		return errors.New("metrics: a key cache with this name is already watched")
	}
	s.caches[c.Name()] = c
	return nil
}

func (s *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.keys, s.lastSuccess, s.age, s.usable, s.failures} {
		ch <- d
	}
}

func (s *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	caches := make([]*jwkscache.Cache, 0, len(s.caches))
	for _, c := range s.caches {
		caches = append(caches, c)
	}
	sets := slices.Clone(s.sets)
	s.mu.Unlock()
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
		src := labelValue(st.Source)
		last := 0.0
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.UnixNano()) / float64(time.Second)
		}
		usable := 0.0
		if st.Usable {
			usable = 1
		}
		ch <- prometheus.MustNewConstMetric(s.keys, prometheus.GaugeValue, float64(st.Keys), src)
		ch <- prometheus.MustNewConstMetric(s.lastSuccess, prometheus.GaugeValue, last, src)
		ch <- prometheus.MustNewConstMetric(s.age, prometheus.GaugeValue, st.Age.Seconds(), src)
		ch <- prometheus.MustNewConstMetric(s.usable, prometheus.GaugeValue, usable, src)
		ch <- prometheus.MustNewConstMetric(s.failures, prometheus.GaugeValue, float64(st.ConsecutiveFailures), src)
	}
}
