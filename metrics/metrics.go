package metrics

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/prometheus/client_golang/prometheus"
)

// Label values used when no better value is known. They are fixed strings,
// never taken from a request.
const (
	labelNone  = "none"  // no reason (success), no rule; jwtverify.NoIssuer for no issuer
	labelOther = "other" // client IDs over the cap
)

// Options configures the collectors. The zero value is valid.
type Options struct {
	// Namespace prefixes every metric name. Default "m2mauth". Changing it
	// is for embedding several independent sets in one registry.
	Namespace string
	// ConstLabels are attached to every metric (for example a service
	// name). Optional.
	ConstLabels prometheus.Labels
	// ClientIDLabel adds m2mauth_token_validations_by_client_total with the
	// verified client ID as a label. Off by default: client IDs are
	// verified, but their number is not bounded by configuration when an
	// issuer allows any client.
	ClientIDLabel bool
	// MaxClientIDs caps the distinct client IDs of ClientIDLabel; the
	// others are counted under "other". Default 100.
	MaxClientIDs int
	// DurationBuckets overrides the validation duration buckets (seconds).
	// The default spans 100 ns to 10 ms.
	DurationBuckets []float64
	// RuleLabel adds a "rule" label to m2mauth_token_validations_total:
	// the sub-reason code of the issuer rule that refused the token
	// (jwtverify.VerifyEvent.Rule), "none" for a success or a refusal by a
	// generic check. Off by default. Bounded: codes are declared in the
	// configuration (profiles' built-in rules, IssuerConfig.Rules and
	// ValidateCodes) and a rule that declared none is
	// jwtverify.RuleCustom; a value that is not a valid code is counted as
	// "custom" too.
	RuleLabel bool
}

// DefaultDurationBuckets spans a cache hit (well under a microsecond) to a
// slow RSA-4096 verification.
var DefaultDurationBuckets = []float64{
	1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2,
}

// Metrics holds m2mauth's Prometheus collectors. It implements
// jwtverify.Observer, jwtverify.DecisionObserver and jwkscache.Observer, so
// one value plugs into every layer. Safe for concurrent use.
type Metrics struct {
	opts Options
	reg  prometheus.Registerer

	validations      *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	durHit           prometheus.Observer
	durMiss          prometheus.Observer
	decisions        *prometheus.CounterVec
	byClient         *prometheus.CounterVec
	clientMu         sync.Mutex
	clientSeen       map[string]struct{}
	issuers          atomic.Pointer[map[string]*issuerCounters]
	decisionChildren atomic.Pointer[map[decisionKey]prometheus.Counter]
	ruleLabel        bool
	childMu          sync.Mutex

	jwks  *jwksMetrics
	intro *introspectMetrics
}

type decisionKey struct {
	transport, result string
}

var (
	_ jwtverify.Observer         = (*Metrics)(nil)
	_ jwtverify.DecisionObserver = (*Metrics)(nil)
)

// New creates the collectors and registers them on reg. reg is required:
// m2mauth never registers on the global default registry implicitly (pass
// prometheus.DefaultRegisterer to choose it).
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: a prometheus.Registerer is required")
	}
	if opts.Namespace == "" {
		opts.Namespace = "m2mauth"
	}
	if opts.MaxClientIDs <= 0 {
		opts.MaxClientIDs = 100
	}
	if len(opts.DurationBuckets) == 0 {
		opts.DurationBuckets = DefaultDurationBuckets
	}
	ns, cl := opts.Namespace, opts.ConstLabels
	m := &Metrics{opts: opts, reg: reg, clientSeen: map[string]struct{}{}}
	vlabels, vhelp := []string{"issuer", "result", "reason"}, ""
	if opts.RuleLabel {
		m.ruleLabel = true
		vlabels, vhelp = append(vlabels, "rule"), " and the sub-reason of the refusing issuer rule (none when no rule refused)"
	}
	m.validations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "token_validations_total", ConstLabels: cl,
		Help: "Token validations by configured issuer name, result (valid, invalid) and reason (none on success)" + vhelp + ".",
	}, vlabels)
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "token_validation_duration_seconds", ConstLabels: cl,
		Help:    "Time spent in Verify, split by verified-token cache hit or miss.",
		Buckets: opts.DurationBuckets,
	}, []string{"cache"})
	m.durHit = m.duration.WithLabelValues("hit")
	m.durMiss = m.duration.WithLabelValues("miss")
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "authorization_decisions_total", ConstLabels: cl,
		Help: "Authorization decisions of the adapters by transport (http, echo, grpc) and result.",
	}, []string{"transport", "result"})
	cs := []prometheus.Collector{m.validations, m.duration, m.decisions}
	if opts.ClientIDLabel {
		m.byClient = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "token_validations_by_client_total", ConstLabels: cl,
			Help: "Successful validations by configured issuer and verified client ID (capped; the rest count as other).",
		}, []string{"issuer", "client_id"})
		cs = append(cs, m.byClient)
	}
	m.jwks = newJWKSMetrics(ns, cl)
	cs = append(cs, m.jwks.collectors()...)
	m.intro = newIntrospectMetrics(ns, cl)
	cs = append(cs, m.intro.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	empty1 := map[string]*issuerCounters{}
	m.issuers.Store(&empty1)
	empty2 := map[decisionKey]prometheus.Counter{}
	m.decisionChildren.Store(&empty2)
	return m, nil
}

// ObserveVerify implements jwtverify.Observer.
func (m *Metrics) ObserveVerify(ev jwtverify.VerifyEvent) {
	m.validationCounter(ev.Issuer, ev.Reason, ev.Rule).Inc()
	if ev.CacheHit {
		m.durHit.Observe(ev.Duration.Seconds())
	} else {
		m.durMiss.Observe(ev.Duration.Seconds())
	}
	if m.byClient != nil && ev.Reason == "" && ev.ClientID != "" {
		m.byClient.WithLabelValues(issuerLabel(ev.Issuer), m.clientLabel(ev.ClientID)).Inc()
	}
}

// issuerCounters holds the validation counters of one configured issuer:
// the success counter directly (the hot path) and the rejections by reason.
type issuerCounters struct {
	valid   prometheus.Counter
	reasons map[reasonKey]prometheus.Counter // copy-on-write
}

// reasonKey is a rejection's reason and, with Options.RuleLabel, its rule.
type reasonKey struct {
	reason jwtverify.Reason
	rule   string
}

// validationCounter returns the child for (issuer, reason, rule) through
// copy-on-write maps, so the hot path does one lookup of a short string,
// no label hashing and no lock. Every input comes from configuration or a
// fixed set.
func (m *Metrics) validationCounter(issuer string, reason jwtverify.Reason, rule string) prometheus.Counter {
	rk := reasonKey{reason: reason}
	if m.ruleLabel && reason != "" {
		rk.rule = ruleLabel(rule)
	}
	if ic, ok := (*m.issuers.Load())[issuer]; ok {
		if reason == "" {
			return ic.valid
		}
		if c, ok := ic.reasons[rk]; ok {
			return c
		}
	}
	m.childMu.Lock()
	defer m.childMu.Unlock()
	old := *m.issuers.Load()
	ic, ok := old[issuer]
	if !ok {
		ic = &issuerCounters{
			valid:   m.validations.WithLabelValues(m.validationLabels(issuer, "valid", labelNone, labelNone)...),
			reasons: map[reasonKey]prometheus.Counter{},
		}
	}
	if reason == "" {
		if !ok {
			m.storeIssuer(old, issuer, ic)
		}
		return ic.valid
	}
	if c, ok := ic.reasons[rk]; ok {
		return c
	}
	c := m.validations.WithLabelValues(m.validationLabels(issuer, "invalid", string(reason), rk.rule)...)
	reasons := make(map[reasonKey]prometheus.Counter, len(ic.reasons)+1)
	for k, v := range ic.reasons {
		reasons[k] = v
	}
	reasons[rk] = c
	m.storeIssuer(old, issuer, &issuerCounters{valid: ic.valid, reasons: reasons})
	return c
}

func (m *Metrics) validationLabels(issuer, result, reason, rule string) []string {
	if m.ruleLabel {
		return []string{issuerLabel(issuer), result, reason, rule}
	}
	return []string{issuerLabel(issuer), result, reason}
}

// issuerLabel spells "no issuer chosen" as logs do (jwtverify.NoIssuer).
func issuerLabel(s string) string {
	if s == "" {
		return jwtverify.NoIssuer
	}
	return s
}

// maxRuleLen is the longest rule code (jwtverify.Rule.Code).
const maxRuleLen = 32

// ruleLabel returns the label of a rule code: "none" when no rule
// refused, the code when it has the syntax of one ([a-z0-9_], at most 32
// bytes), else jwtverify.RuleCustom, so a broken rule cannot put
// arbitrary text in a label.
func ruleLabel(rule string) string {
	if rule == "" {
		return labelNone
	}
	if len(rule) > maxRuleLen {
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

// storeIssuer publishes a copy of old with issuer set to ic. Called with
// childMu held.
func (m *Metrics) storeIssuer(old map[string]*issuerCounters, issuer string, ic *issuerCounters) {
	next := make(map[string]*issuerCounters, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[issuer] = ic
	m.issuers.Store(&next)
}

// ObserveDecision implements jwtverify.DecisionObserver.
func (m *Metrics) ObserveDecision(ev jwtverify.DecisionEvent) {
	k := decisionKey{ev.Transport, ev.Result}
	if c, ok := (*m.decisionChildren.Load())[k]; ok {
		c.Inc()
		return
	}
	m.childMu.Lock()
	old := *m.decisionChildren.Load()
	c, ok := old[k]
	if !ok {
		c = m.decisions.WithLabelValues(labelValue(ev.Transport), labelValue(ev.Result))
		next := make(map[decisionKey]prometheus.Counter, len(old)+1)
		for kk, v := range old {
			next[kk] = v
		}
		next[k] = c
		m.decisionChildren.Store(&next)
	}
	m.childMu.Unlock()
	c.Inc()
}

func (m *Metrics) clientLabel(id string) string {
	m.clientMu.Lock()
	defer m.clientMu.Unlock()
	if _, ok := m.clientSeen[id]; ok {
		return id
	}
	if len(m.clientSeen) >= m.opts.MaxClientIDs {
		return labelOther
	}
	m.clientSeen[id] = struct{}{}
	return id
}

func labelValue(s string) string {
	if s == "" {
		return labelNone
	}
	return s
}

// WatchVerifier registers a collector that reports the verified-token cache
// of v (entries, bytes, hits, misses, evictions) at scrape time, so the hot
// path pays nothing for it. name distinguishes several verifiers (use ""
// for one).
func (m *Metrics) WatchVerifier(name string, v *jwtverify.Verifier) error {
	if v == nil {
		return errors.New("metrics: nil verifier")
	}
	return m.reg.Register(newCacheCollector(m.opts.Namespace, m.opts.ConstLabels, labelValue(name), v))
}

type cacheCollector struct {
	v                                                             *jwtverify.Verifier
	name                                                          string
	entries, bytes, hits, misses, evictions, maxEntries, maxBytes *prometheus.Desc
}

func newCacheCollector(ns string, cl prometheus.Labels, name string, v *jwtverify.Verifier) *cacheCollector {
	d := func(n, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "verified_token_cache", n), help, []string{"verifier"}, cl)
	}
	return &cacheCollector{
		v: v, name: name,
		entries:    d("entries", "Tokens held by the verified-token cache."),
		bytes:      d("bytes", "Bytes accounted to the verified-token cache."),
		hits:       d("hits_total", "Verified-token cache hits."),
		misses:     d("misses_total", "Verified-token cache misses."),
		evictions:  d("evictions_total", "Entries evicted from the verified-token cache (expiry, key removal, capacity)."),
		maxEntries: d("max_entries", "Configured entry cap of the verified-token cache."),
		maxBytes:   d("max_bytes", "Configured byte cap of the verified-token cache."),
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.entries, c.bytes, c.hits, c.misses, c.evictions, c.maxEntries, c.maxBytes} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.v.CacheStats()
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.Entries), c.name)
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.Bytes), c.name)
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits), c.name)
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.Misses), c.name)
	ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(s.Evictions), c.name)
	ch <- prometheus.MustNewConstMetric(c.maxEntries, prometheus.GaugeValue, float64(s.MaxEntries), c.name)
	ch <- prometheus.MustNewConstMetric(c.maxBytes, prometheus.GaugeValue, float64(s.MaxBytes), c.name)
}
