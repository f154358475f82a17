package jwkscache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Cache is a KeySource over a remote JWK Set: it fetches the set in the
// background, refreshes it before expiry and on unknown kids (rate
// limited, one fetch shared by all waiting lookups), and keeps serving the
// last good keys through issuer outages up to MaxStaleness.
//
// Several Caches live side by side, one per issuer or JWKS URL, each with
// its own state. A Cache is safe for concurrent use. Lookups that hit the
// current set never lock and never allocate.
type Cache struct {
	cfg       Config
	name      string
	now       func() time.Time
	client    *http.Client
	issuerURL *url.URL // nil when JWKSURL is configured
	policy    urlPolicy
	obs       Observer
	cobs      ContextObserver // obs when it is one, else nil

	// set is the served key set: nil before the first success and once
	// the last good set is MaxStaleness old. The background loop clears it
	// on time, so a lookup hit never reads the clock; once the loop has
	// stopped (unattended), Current checks the age itself.
	set        atomic.Pointer[KeySet]
	unattended atomic.Bool
	ctx        context.Context
	stop       context.CancelFunc
	wg         sync.WaitGroup
	ready      chan struct{}
	wake       chan struct{}
	once       sync.Once

	// discovered is the JWKS URL found by discovery; touched only by the
	// single in-flight fetch (fetches are serialized through mu/inflight).
	discovered string

	mu          sync.Mutex
	closed      bool
	inflight    *flight
	flightSeq   uint64
	gen         uint64
	last        *KeySet   // last good set, served or not
	staleAt     time.Time // when last stops being served
	isReady     bool
	lastFetch   time.Time // end of the last fetch attempt
	lastUnknown time.Time // start of the last unknown-kid refresh
	lastSuccess time.Time
	lastClass   ErrorClass
	lastErr     error
	failures    int
	nextDue     time.Time
	// failingSince is when the current run of failed fetches began (the
	// end of its first attempt); zero while the last attempt succeeded.
	failingSince time.Time
	lastFailure  time.Time  // end of the last failed attempt
	failClass    ErrorClass // class of the last failed attempt
}

// flight is one fetch; every caller that wants a fetch while it runs
// waits on done and reads err.
type flight struct {
	id    uint64
	cause FetchCause
	done  chan struct{}
	err   error // set before done is closed
}

var _ KeySource = (*Cache)(nil)

// New validates cfg and starts the cache's background refresh, whose first
// fetch begins at once. New does not wait for it: use Ready to wait for the
// first good key set. The cache stops when ctx is cancelled or Close is
// called; Close also waits for its goroutines to end.
func New(ctx context.Context, cfg Config) (*Cache, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	c := &Cache{cfg: cfg, name: cfg.Name, now: cfg.Now, obs: cfg.Observer,
		ready: make(chan struct{}), wake: make(chan struct{}, 1)}
	field, raw := "Issuer", cfg.Issuer
	if cfg.JWKSURL != "" {
		field, raw = "JWKSURL", cfg.JWKSURL
	}
	u, err := parseFetchURL(raw, cfg.JWKSURL != "")
	if err != nil {
		return nil, configErr("%s: %v", field, err)
	}
	if c.policy, err = newURLPolicy(u, &cfg); err != nil {
		return nil, configErr("%v", err)
	}
	if err := c.policy.checkScheme(u); err != nil {
		return nil, configErr("%s: %v", field, err)
	}
	if cfg.JWKSURL == "" {
		c.issuerURL = u
	}
	c.cobs, _ = c.obs.(ContextObserver)
	if c.obs == nil {
		c.obs = ObserverFuncs{}
	}
	c.client = safeClient(cfg.HTTPClient, c.policy)
	c.ctx, c.stop = context.WithCancel(ctx)
	c.wg.Add(1)
	go c.loop()
	return c, nil
}

// Name implements KeySource.
func (c *Cache) Name() string { return c.name }

// Current implements KeySource: the current key set, or nil when none was
// ever fetched or the last successful fetch is MaxStaleness old. It costs
// two atomic loads: the background loop withdraws a stale set when its time
// comes (or, if a fetch is in flight then, as soon as it ends, within
// FetchTimeout); after Close, Current checks the set's age itself.
func (c *Cache) Current() *KeySet {
	s := c.set.Load()
	if s != nil && c.unattended.Load() {
		return c.unlessStale(s)
	}
	return s
}

// unlessStale returns s unless it is MaxStaleness old (kept out of
// Current so that Current inlines).
func (c *Cache) unlessStale(s *KeySet) *KeySet {
	if !c.now().Before(s.FetchedAt.Add(c.cfg.MaxStaleness)) {
		return nil
	}
	return s
}

// Lookup implements KeySource. A hit on the current set costs an atomic
// load and a map lookup. On a miss it may start an unknown-kid refresh:
// at most one per UnknownKIDCooldown (the first one after start-up at
// once), never within MinFetchGap after any fetch, never for a kid over
// MaxKIDLength; a miss that finds a fetch in flight waits for it; any other
// miss fails fast. ctx bounds only this caller's wait: the fetch itself runs
// on the cache's context with FetchTimeout.
//
// It returns ErrUnknownKey when a usable set exists without that kid (also
// while the issuer is down), ErrKeysUnavailable when there is no usable set.
// An empty kid returns every key of the set.
func (c *Cache) Lookup(ctx context.Context, kid string) ([]Key, error) {
	// The hot path, kept minimal: a served set, the background loop alive
	// (so the set is not stale), a known kid.
	if s := c.set.Load(); s != nil && !c.unattended.Load() {
		if ks := s.byKID[kid]; ks != nil && kid != "" {
			return ks, nil
		}
	}
	if ks, ok := c.find(kid); ok {
		return ks, nil
	}
	return c.miss(ctx, kid)
}

func (c *Cache) find(kid string) ([]Key, bool) {
	s := c.Current()
	if s == nil {
		return nil, false
	}
	if kid == "" {
		return s.Keys, len(s.Keys) > 0
	}
	ks := s.Lookup(kid)
	return ks, ks != nil
}

// missErr is the error of a lookup that found nothing.
func (c *Cache) missErr() error {
	if c.Current() == nil {
		return ErrKeysUnavailable
	}
	return ErrUnknownKey
}

func (c *Cache) miss(ctx context.Context, kid string) ([]Key, error) {
	if len(kid) > MaxKIDLength {
		c.obs.UnknownKID(UnknownKIDEvent{Source: c.name, Outcome: UnknownKIDTooLong})
		return nil, ErrUnknownKey
	}
	c.mu.Lock()
	// A fetch may have completed since the lock-free look.
	if ks, ok := c.find(kid); ok {
		c.mu.Unlock()
		return ks, nil
	}
	var outcome UnknownKIDOutcome
	f := c.inflight
	now := c.now()
	switch {
	case c.closed || c.ctx.Err() != nil:
		outcome = UnknownKIDClosed
	case f != nil:
		outcome = UnknownKIDShared
	case (c.lastUnknown.IsZero() || now.Sub(c.lastUnknown) >= c.cfg.UnknownKIDCooldown) &&
		(c.lastFetch.IsZero() || now.Sub(c.lastFetch) >= MinFetchGap):
		c.lastUnknown = now
		f = c.startLocked(CauseUnknownKID)
		outcome = UnknownKIDFetched
	default:
		outcome = UnknownKIDRateLimited
	}
	c.mu.Unlock()
	if f == nil || outcome == UnknownKIDClosed {
		c.obs.UnknownKID(UnknownKIDEvent{Source: c.name, Outcome: outcome})
		return nil, c.missErr()
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		c.obs.UnknownKID(UnknownKIDEvent{Source: c.name, Outcome: outcome})
		return nil, fmt.Errorf("%w: %w", c.missErr(), ctx.Err())
	}
	ks, ok := c.find(kid)
	c.obs.UnknownKID(UnknownKIDEvent{Source: c.name, Outcome: outcome, Found: ok})
	if ok {
		return ks, nil
	}
	return nil, c.missErr()
}

// startLocked starts a fetch. c.mu must be held, c.inflight must be nil and
// the cache open.
func (c *Cache) startLocked(cause FetchCause) *flight {
	c.flightSeq++
	f := &flight{id: c.flightSeq, cause: cause, done: make(chan struct{})}
	c.inflight = f
	c.wg.Add(1)
	go c.run(f)
	return f
}

// run performs flight f and publishes its result.
func (c *Cache) run(f *flight) {
	defer c.wg.Done()
	ctx := c.ctx
	if c.cobs != nil {
		if fctx := c.cobs.FetchStart(ctx, c.name, f.cause); fctx != nil {
			ctx = fctx
		}
	}
	start := c.now()
	keys, skipped, interval, fe := c.fetchKeys(ctx)
	end := c.now()

	ev := FetchEvent{Source: c.name, Cause: f.cause, Duration: end.Sub(start), Skipped: skipped, At: end}
	c.mu.Lock()
	c.lastFetch = end
	ev.LastSuccess = c.lastSuccess
	if fe == nil {
		ev.FailingSince, c.failingSince = c.failingSince, time.Time{}
		c.gen++
		c.last = NewKeySet(c.gen, end, keys)
		c.staleAt = end.Add(c.cfg.MaxStaleness)
		c.set.Store(c.last)
		c.failures, c.lastSuccess, c.lastClass, c.lastErr = 0, end, ClassOK, nil
		// Jitter: up to 10% early, never under the floor.
		c.nextDue = end.Add(max(c.cfg.MinRefreshInterval, interval-time.Duration(rand.Int64N(int64(interval)/10+1))))
		if !c.isReady {
			c.isReady = true
			close(c.ready)
		}
		ev.Class, ev.Keys = ClassOK, len(keys)
	} else {
		c.failures++
		if c.failures == 1 {
			c.failingSince = end
		}
		c.lastFailure, c.failClass = end, fe.Class
		ev.FailingSince = c.failingSince
		c.lastClass, c.lastErr = fe.Class, fe
		c.nextDue = end.Add(c.backoff(c.failures))
		ev.Class, ev.Err = fe.Class, fe
		f.err = fe
	}
	ev.Generation, ev.NextRefresh = c.gen, c.nextDue
	ev.ConsecutiveFailures = c.failures
	ev.Usable = c.last != nil && end.Before(c.staleAt)
	c.inflight = nil
	c.mu.Unlock()

	if c.cobs != nil {
		c.cobs.FetchDoneContext(ctx, ev)
	} else {
		c.obs.FetchDone(ev)
	}
	// Wake the background loop to re-plan, before releasing the waiters:
	// when the loop itself waits for f, it then finds (and drops) this
	// wake-up, and re-plans exactly once.
	select {
	case c.wake <- struct{}{}:
	default:
	}
	close(f.done)
}

// backoff returns the retry delay after n consecutive failures: doubling
// from BackoffInitial up to BackoffMax, jittered down by up to half, never
// under MinFetchGap.
func (c *Cache) backoff(n int) time.Duration {
	d := c.cfg.BackoffInitial
	for i := 1; i < n && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	d -= time.Duration(rand.Int64N(int64(d)/2 + 1))
	return max(d, MinFetchGap)
}

// loop is the background refresher: it waits until the next fetch is due
// (re-planning whenever any fetch completes) and runs it.
func (c *Cache) loop() {
	defer c.wg.Done()
	defer c.unattended.Store(true)
	for {
		now := c.now()
		c.mu.Lock()
		if c.set.Load() != nil && !now.Before(c.staleAt) {
			c.set.Store(nil) // MaxStaleness reached: stop serving
		}
		wakeAt := c.nextDue
		if c.set.Load() != nil && c.staleAt.Before(wakeAt) {
			wakeAt = c.staleAt
		}
		due := !now.Before(c.nextDue)
		c.mu.Unlock()
		if !due {
			t := c.cfg.NewTimer(wakeAt.Sub(now))
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C():
			case <-c.wake:
				t.Stop()
			}
			continue
		}
		c.mu.Lock()
		if c.closed || c.ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		f := c.inflight
		if f == nil {
			f = c.startLocked(CauseScheduled)
		}
		c.mu.Unlock()
		select {
		case <-c.ctx.Done():
			return
		case <-f.done:
		}
		select { // the wake-up of the fetch just awaited is stale
		case <-c.wake:
		default:
		}
	}
}

// Refresh forces a fetch now, ignoring the unknown-kid rate limit, and
// returns its error (a *FetchError), nil when it replaced the key set. A
// fetch already in flight that started before the call is waited for and
// followed by a new one; one started after the call is shared. ctx bounds
// only the caller's wait.
func (c *Cache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	seq := c.flightSeq
	for {
		if c.closed || c.ctx.Err() != nil {
			c.mu.Unlock()
			return ErrClosed
		}
		f := c.inflight
		if f == nil {
			f = c.startLocked(CauseForced)
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("jwkscache: %s: refresh: %w", c.name, ctx.Err())
		case <-f.done:
		}
		if f.id > seq {
			if f.err != nil {
				return f.err
			}
			return nil
		}
		c.mu.Lock()
	}
}

// Ready waits until the cache has fetched a usable key set once, or ctx is
// done, or the cache is closed (ErrClosed). Servers call it before
// reporting ready; for ongoing health use Current() != nil or Stats.
func (c *Cache) Ready(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	default:
	}
	select {
	case <-c.ready:
		return nil
	case <-c.ctx.Done():
		select {
		case <-c.ready:
			return nil
		default:
		}
		return ErrClosed
	case <-ctx.Done():
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		if last != nil {
			return fmt.Errorf("jwkscache: %s: not ready: %w (last fetch: %v)", c.name, ctx.Err(), last)
		}
		return fmt.Errorf("jwkscache: %s: not ready: %w", c.name, ctx.Err())
	}
}

// Close stops the background refresh and any fetch in flight and waits for
// the cache's goroutines to end. Lookups keep answering from the last key
// set (within MaxStaleness) without fetching. Close is idempotent and
// always returns nil.
func (c *Cache) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.stop()
	})
	c.wg.Wait()
	return nil
}

// Stats returns a snapshot of the cache's state.
func (c *Cache) Stats() Stats {
	now := c.now()
	cur := c.Current()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{Source: c.name, LastSuccess: c.lastSuccess, LastAttempt: c.lastFetch, LastClass: c.lastClass,
		LastError: c.lastErr, ConsecutiveFailures: c.failures, NextRefresh: c.nextDue,
		HadUsableKeys: c.isReady, FailingSince: c.failingSince, LastFailure: c.lastFailure,
		LastFailureClass: c.failClass}
	if cur != nil {
		st.Usable, st.Keys = true, len(cur.Keys)
	}
	if c.last != nil {
		st.Generation = c.last.Generation
		st.Age = now.Sub(c.last.FetchedAt)
	}
	return st
}
