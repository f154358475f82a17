package metrics

import (
	"sync"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/prometheus/client_golang/prometheus"
)

var _ introspect.Observer = (*Metrics)(nil)

// IntrospectionBuckets are the introspection call duration buckets
// (seconds).
var IntrospectionBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// introspectMetrics are the collectors of introspect.Observer. Every label
// is bounded: the Source's configured name, a fixed result, a fixed
// introspect.Reason, a fixed budget limit. Never the token.
type introspectMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	cache    *prometheus.CounterVec
	budget   *prometheus.CounterVec
	lookups  sync.Map // source name -> *lookupCounters (the hot path)
}

type lookupCounters struct{ hit, negative, miss prometheus.Counter }

func newIntrospectMetrics(ns string, cl prometheus.Labels) *introspectMetrics {
	return &introspectMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "introspection", Name: "calls_total", ConstLabels: cl,
			Help: "Calls to introspection endpoints by source, result (active, refused, unavailable) and reason (the introspect reason, none when active).",
		}, []string{"source", "result", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "introspection", Name: "call_duration_seconds", ConstLabels: cl,
			Help: "Duration of introspection calls (discovery included) by source.", Buckets: IntrospectionBuckets,
		}, []string{"source"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "introspection", Name: "cache_lookups_total", ConstLabels: cl,
			Help: "Lookups of the introspection cache by source and result (hit, negative_hit: a cached refusal, miss).",
		}, []string{"source", "result"}),
		budget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "introspection", Name: "budget_refusals_total", ConstLabels: cl,
			Help: "Introspection calls refused by the per-issuer budget (503) by source and limit (concurrency, rate).",
		}, []string{"source", "limit"}),
	}
}

func (x *introspectMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{x.calls, x.duration, x.cache, x.budget}
}

// ObserveCall implements introspect.Observer: one introspection call.
func (m *Metrics) ObserveCall(e introspect.CallEvent) {
	src := labelValue(e.Source)
	m.intro.calls.WithLabelValues(src, labelValue(string(e.Result)), labelValue(string(e.Reason))).Inc()
	m.intro.duration.WithLabelValues(src).Observe(e.Duration.Seconds())
}

// ObserveCache implements introspect.Observer: one cache lookup. It runs
// on the request path, so the counters of a source are looked up once.
func (m *Metrics) ObserveCache(e introspect.CacheEvent) {
	v, ok := m.intro.lookups.Load(e.Source)
	if !ok {
		src := labelValue(e.Source)
		v, _ = m.intro.lookups.LoadOrStore(e.Source, &lookupCounters{
			hit:      m.intro.cache.WithLabelValues(src, "hit"),
			negative: m.intro.cache.WithLabelValues(src, "negative_hit"),
			miss:     m.intro.cache.WithLabelValues(src, "miss"),
		})
	}
	c := v.(*lookupCounters)
	switch {
	case !e.Hit:
		c.miss.Inc()
	case e.Negative:
		c.negative.Inc()
	default:
		c.hit.Inc()
	}
}

// ObserveBudget implements introspect.Observer: a call refused by the
// budget.
func (m *Metrics) ObserveBudget(e introspect.BudgetEvent) {
	m.intro.budget.WithLabelValues(labelValue(e.Source), labelValue(e.Limit)).Inc()
}
