package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/readiness"
	"github.com/prometheus/client_golang/prometheus"
)

// snapshot is one running policy: its verifier, decision and routes. It is
// immutable once published; checks hold its read lock for their duration, so
// retiring it (closing the key caches the next policy dropped) waits for
// them.
type snapshot struct {
	parsed  *parsedPolicy
	auth    *middleware.Authenticator
	ready   *readiness.Checker
	caches  map[string]*jwkscache.Cache   // by fingerprint
	sources map[string]*introspect.Source // by introSpec.fingerprint
	mu      sync.RWMutex
	retired bool
}

// Engine holds the current policy and decides requests. Safe for concurrent
// use.
type Engine struct {
	cur       atomic.Pointer[snapshot]
	ctx       context.Context // owns the key caches
	logger    *slog.Logger
	observers []jwtverify.DecisionObserver
	keyObs    jwkscache.Observer
	introObs  introspect.Observer
	now       func() time.Time
	reloads   *prometheus.CounterVec
	reloadMu  sync.Mutex // one build at a time
	retiring  sync.WaitGroup
	// startCache starts a key cache; tests may replace it.
	startCache func(ctx context.Context, cfg jwkscache.Config) (*jwkscache.Cache, error)
}

// EngineOptions configures NewEngine.
type EngineOptions struct {
	Logger    *slog.Logger
	Observers []jwtverify.DecisionObserver
	KeyObs    jwkscache.Observer
	// IntroObs observes the introspection Sources (metrics).
	IntroObs introspect.Observer
	Registry prometheus.Registerer
	// Now is the clock of the verifier and the Sources (tests). Default
	// time.Now.
	Now func() time.Time
}

// NewEngine builds the engine with the policy p; the key caches live until
// ctx is cancelled (then call Wait).
func NewEngine(ctx context.Context, p *parsedPolicy, o EngineOptions) (*Engine, error) {
	e := &Engine{ctx: ctx, logger: o.Logger, observers: o.Observers, keyObs: o.KeyObs, introObs: o.IntroObs, now: o.Now, startCache: jwkscache.New}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	e.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "m2mauthd_policy_reloads_total",
		Help: "Policy reloads by result: ok (swapped in), unchanged (same bytes), error (the last good policy stays).",
	}, []string{"result"})
	for _, r := range []string{"ok", "unchanged", "error"} {
		e.reloads.WithLabelValues(r)
	}
	if o.Registry != nil {
		if err := o.Registry.Register(e.reloads); err != nil {
			return nil, err
		}
	}
	s, err := e.build(p, nil)
	if err != nil {
		return nil, err
	}
	e.cur.Store(s)
	return e, nil
}

// build makes a snapshot of p, reusing the key caches and introspection
// Sources of old whose fingerprint is unchanged.
func (e *Engine) build(p *parsedPolicy, old *snapshot) (*snapshot, error) {
	s := &snapshot{parsed: p, caches: map[string]*jwkscache.Cache{}, sources: map[string]*introspect.Source{}}
	var started []*jwkscache.Cache
	var startedSrc []*introspect.Source
	fail := func(err error) (*snapshot, error) {
		for _, c := range started {
			c.Close()
		}
		for _, src := range startedSrc {
			src.Close()
		}
		return nil, err
	}
	var issuers []jwtverify.IssuerConfig
	var sources []readiness.Source
	for _, is := range p.issuers {
		ic := is.profile.IssuerConfig
		if is.intro != nil {
			fp := is.intro.fingerprint
			src := s.sources[fp]
			if src == nil && old != nil {
				src = old.sources[fp]
			}
			if src == nil {
				base := is.intro.base
				base.Observer, base.Now = e.introObs, e.now
				bp := cloneProfile(is.base)
				bp.OpaquePrefix = is.profile.OpaquePrefix
				var err error
				if src, err = bp.StartIntrospection(is.intro.mode, base); err != nil {
					return fail(fmt.Errorf("issuer %q: %w", is.profile.Name, err))
				}
				startedSrc = append(startedSrc, src)
			}
			s.sources[fp] = src
			ic.Introspection = src
		}
		if !is.needsKeys() {
			issuers = append(issuers, ic)
			continue
		}
		c := s.caches[is.fingerprint]
		if c == nil && old != nil {
			c = old.caches[is.fingerprint]
		}
		if c == nil {
			cfg := is.keys
			cfg.Observer = e.keyObs
			var err error
			if c, err = e.startCache(e.ctx, cfg); err != nil {
				return fail(fmt.Errorf("issuer %q: %w", is.profile.Name, err))
			}
			started = append(started, c)
		}
		s.caches[is.fingerprint] = c
		ic.Keys = c
		issuers = append(issuers, ic)
		sources = append(sources, c)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: issuers, Now: e.now})
	if err != nil {
		return fail(err)
	}
	opts := []middleware.Option{middleware.WithRealm(p.realm), middleware.WithRetryAfter(5 * time.Second)}
	for _, o := range e.observers {
		opts = append(opts, middleware.WithObserver(o))
	}
	if s.auth, err = middleware.NewAuthenticator(v, "authz", opts...); err != nil {
		return fail(err)
	}
	if len(sources) > 0 { // none when every issuer introspects: nothing to preload
		if s.ready, err = readiness.New(readiness.Options{}, sources...); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// Reload validates file and, when it differs from the running policy,
// builds and swaps it in. A failure keeps the running policy.
func (e *Engine) Reload(file string) error {
	_, err := e.reload(file)
	return err
}

// reload is Reload reporting whether a new policy was swapped in.
func (e *Engine) reload(file string) (bool, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := e.cur.Load()
	p, err := loadPolicyFile(file)
	if err == nil && bytes.Equal(p.raw, old.parsed.raw) {
		e.reloads.WithLabelValues("unchanged").Inc()
		return false, nil
	}
	var s *snapshot
	if err == nil {
		s, err = e.build(p, old)
	}
	if err != nil {
		e.reloads.WithLabelValues("error").Inc()
		e.logger.Error("m2mauthd: policy reload refused, the last good policy stays", "error", err.Error())
		return false, err
	}
	e.cur.Store(s)
	e.reloads.WithLabelValues("ok").Inc()
	e.logger.Info("m2mauthd: policy reloaded", "issuers", len(p.issuers), "routes", len(p.routes))
	e.retiring.Add(1)
	go e.retire(old, s)
	return true, nil
}

// retire waits for the checks running on old, then closes the key caches
// and introspection Sources that next does not use.
func (e *Engine) retire(old, next *snapshot) {
	defer e.retiring.Done()
	old.mu.Lock()
	old.retired = true
	old.mu.Unlock()
	for fp, c := range old.caches {
		if next.caches[fp] != c {
			c.Close()
		}
	}
	for fp, src := range old.sources {
		if next.sources[fp] != src {
			src.Close()
		}
	}
}

// Caches returns the key caches of the running policy, for the metrics'
// key-set gauges (metrics.WatchKeySet): read at every scrape, so a cache a
// reload replaced leaves no stale series.
func (e *Engine) Caches() []*jwkscache.Cache {
	s := e.cur.Load()
	if s == nil {
		return nil
	}
	out := make([]*jwkscache.Cache, 0, len(s.caches))
	for _, c := range s.caches {
		out = append(out, c)
	}
	return out
}

// Wait waits for retirements in progress (call after cancelling ctx).
func (e *Engine) Wait() { e.retiring.Wait() }

// Close closes every key cache and introspection Source of the running
// policy.
func (e *Engine) Close() {
	e.Wait()
	s := e.cur.Load()
	for _, c := range s.caches {
		c.Close()
	}
	for _, src := range s.sources {
		src.Close()
	}
}

// acquire returns the current snapshot read-locked; release with
// s.mu.RUnlock().
func (e *Engine) acquire() *snapshot {
	for {
		s := e.cur.Load()
		s.mu.RLock()
		if !s.retired {
			return s
		}
		s.mu.RUnlock()
	}
}

// Ready serves /readyz from the running policy's key caches.
func (e *Engine) Ready(w http.ResponseWriter, r *http.Request) {
	s := e.acquire()
	defer s.mu.RUnlock()
	if s.ready == nil {
		allReady(w, r)
		return
	}
	s.ready.ServeHTTP(w, r)
}

// allReady answers /readyz for a policy whose issuers all introspect:
// there are no keys to wait for (an endpoint that is down gives 503 per
// request, and cached answers keep working).
func allReady(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, `{"ready":true,"mode":"startup","sources":[]}`+"\n")
	}
}

// Original is the request a proxy asks about.
type Original struct {
	Method string
	Scheme string
	Host   string
	URI    string // path and query as sent by the client
	Header http.Header
}

// Decision is the answer for one Original.
type Decision struct {
	middleware.Outcome
	// Identity are the headers for the upstream when allowed.
	Identity http.Header
	// Strip are the identity header names the proxy must remove from the
	// client's request (all of the configured ones).
	Strip []string
}

// errBadOriginal: the proxy sent no usable description of the request.
var errBadOriginal = errors.New("m2mauthd: missing or invalid forwarded request attributes")

// Decide authorizes o on the current policy.
func (e *Engine) Decide(o Original) (Decision, error) {
	r, err := o.request()
	if err != nil {
		return Decision{}, err
	}
	s := e.acquire()
	defer s.mu.RUnlock()
	return s.decide(r), nil
}

func (o Original) request() (*http.Request, error) {
	if o.Method == "" || o.URI == "" || o.Host == "" || !strings.HasPrefix(o.URI, "/") || len(o.URI) > 8192 {
		return nil, errBadOriginal
	}
	u, err := url.ParseRequestURI(o.URI)
	if err != nil {
		return nil, errBadOriginal
	}
	switch o.Scheme {
	case "", "http", "https":
	default:
		return nil, errBadOriginal
	}
	u.Scheme = o.Scheme
	u.Host = o.Host
	h := o.Header
	if h == nil {
		h = http.Header{}
	}
	r := &http.Request{Method: o.Method, URL: u, RequestURI: o.URI, Host: o.Host, Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	return r.WithContext(context.Background()), nil
}

// denyAll is the requirement of a request no route matches.
var denyAll = jwtverify.RequireAny()

func (s *snapshot) decide(r *http.Request) Decision {
	h, _ := s.parsed.mux.Handler(r)
	req, label := denyAll, ""
	if rh, ok := h.(routeHandler); ok {
		req, label = rh.rs.req, rh.rs.label
	}
	d := Decision{Outcome: s.auth.AuthorizeRoute(r, req, label), Strip: s.parsed.headers.names()}
	if d.Proceed() && d.Principal != nil {
		d.Identity = s.parsed.headers.identity(d.Principal)
	}
	return d
}

func (h headerNames) names() []string {
	var n []string
	for _, v := range []string{h.ClientID, h.Subject, h.Issuer, h.Scopes, h.Roles} {
		if v != "" {
			n = append(n, v)
		}
	}
	return n
}

// identity returns the identity headers of p: every configured name, empty
// when p has no value for it, so a proxy that copies them overwrites any
// client-supplied copy. A value that is not printable ASCII is sent empty
// (never passed on half-escaped).
func (h headerNames) identity(p *jwtverify.Principal) http.Header {
	out := make(http.Header, 5)
	set := func(name, v string) {
		if name == "" {
			return
		}
		if !headerValueOK(v) {
			v = ""
		}
		out[name] = []string{v}
	}
	set(h.ClientID, p.ClientID())
	set(h.Subject, p.Subject())
	set(h.Issuer, p.IssuerName())
	set(h.Scopes, strings.Join(p.Scopes(), " "))
	set(h.Roles, strings.Join(p.Roles(), " "))
	return out
}

func headerValueOK(v string) bool {
	if len(v) > 4096 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}
