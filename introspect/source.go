package introspect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const userAgent = "m2mauth-introspect"

// Source introspects the opaque tokens of one issuer (RFC 7662), caches the
// answers, and protects the authorization server with a budget. Create it
// with New and Close it when done. All methods are safe for concurrent use.
type Source struct {
	cfg    Config
	cobs   ContextObserver // cfg.Observer when it is one, else nil
	issuer *url.URL
	policy urlPolicy
	client *http.Client
	cache  *cache
	budget *budget

	ep      atomic.Pointer[url.URL] // the introspection endpoint, once known
	discMu  sync.Mutex
	discCh  chan struct{} // closed when the discovery in progress ends
	discErr error
	discAt  time.Time // when discovery may be tried again after a failure

	mu       sync.Mutex
	inflight map[key]*flight

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// flight is one call shared by every concurrent request for the same token.
type flight struct {
	done chan struct{}
	res  *Result
	err  *Error
}

// New checks cfg and returns a Source. It makes no request: discovery, if
// needed, happens on the first call.
func New(cfg Config) (*Source, error) {
	cfg.Audiences = append([]string(nil), cfg.Audiences...)
	cfg.ClientIDs = append([]string(nil), cfg.ClientIDs...)
	cfg.AllowedEndpointHosts = append([]string(nil), cfg.AllowedEndpointHosts...)
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	iss, err := parseURL(cfg.Issuer, false)
	if err != nil {
		return nil, configErr("Issuer: %v", err)
	}
	policy, err := newURLPolicy(iss, &cfg)
	if err != nil {
		return nil, configErr("%v", err)
	}
	s := &Source{
		cfg: cfg, issuer: iss, policy: policy,
		cache:    newCache(cfg.MaxEntries, cfg.MaxCacheBytes),
		budget:   newBudget(cfg.MaxConcurrent, cfg.Rate, cfg.Burst),
		inflight: map[key]*flight{},
	}
	s.cobs, _ = cfg.Observer.(ContextObserver)
	if cfg.Endpoint != "" {
		u, err := parseURL(cfg.Endpoint, true)
		if err != nil {
			return nil, configErr("Endpoint: %v", err)
		}
		if err := policy.checkScheme(u); err != nil {
			return nil, configErr("Endpoint: %v", err)
		}
		s.ep.Store(u)
	}
	var cl http.Client
	if cfg.HTTPClient != nil {
		cl = *cfg.HTTPClient
	}
	if cl.Timeout == 0 || cl.Timeout > cfg.Timeout {
		cl.Timeout = cfg.Timeout
	}
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return errNoRedirect }
	s.client = &cl
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops the calls in flight (their waiters get ReasonClosed) and
// waits for them to end. Introspect answers ReasonClosed afterwards.
func (s *Source) Close() {
	s.cancel()
	s.wg.Wait()
}

// Forget drops the cached answer for token (accepted or refused), so that
// its next Introspect calls the endpoint: for example after learning that
// the token was revoked, to end the revocation delay. It reports whether
// an answer was cached. A call in flight for the token may cache its
// answer again.
func (s *Source) Forget(token string) bool {
	k := hashToken(token)
	return s.cache.forget(&k)
}

// Name returns the configured name.
func (s *Source) Name() string { return s.cfg.Name }

// Introspect returns the Result for token, from the cache or from one call
// to the introspection endpoint. The error is always an *Error:
// errors.Is(err, ErrInvalid) means refuse (401), errors.Is(err,
// ErrUnavailable) means cannot decide now (503). ctx bounds only the
// caller's wait: a call shared with other requests goes on.
//
// A cached Result is returned until min(exp, MaxAge after the call): a
// token revoked at the server is refused at the latest MaxAge later.
func (s *Source) Introspect(ctx context.Context, token string) (*Result, error) {
	if len(token) > s.cfg.MaxTokenBytes {
		return nil, s.refuse(ReasonMalformed, "token longer than %d bytes", s.cfg.MaxTokenBytes)
	}
	k := hashToken(token)
	now := s.cfg.Now()
	if e, ok := s.cache.get(&k, now.UnixNano()); ok {
		s.cfg.Observer.ObserveCache(CacheEvent{Source: s.cfg.Name, Hit: true, Negative: e.res == nil})
		if e.res != nil {
			return e.res, nil
		}
		return nil, e.err
	}
	s.cfg.Observer.ObserveCache(CacheEvent{Source: s.cfg.Name})
	if err := s.precheck(token); err != nil {
		return nil, err
	}
	return s.shared(ctx, k, token, now)
}

// shared joins the call in flight for k, or starts one.
func (s *Source) shared(ctx context.Context, k key, token string, now time.Time) (*Result, error) {
	if s.ctx.Err() != nil {
		return nil, s.refuse(ReasonClosed, "source closed")
	}
	s.mu.Lock()
	f, joined := s.inflight[k]
	if !joined {
		// A flight may have cached its answer and left between the
		// caller's cache lookup and this lock (run caches before it
		// deletes the flight): look again, or the token makes a second
		// call.
		if e, ok := s.cache.get(&k, now.UnixNano()); ok {
			s.mu.Unlock()
			if e.res != nil {
				return e.res, nil
			}
			return nil, e.err
		}
		if ok, limit, retry := s.budget.acquire(now); !ok {
			s.mu.Unlock()
			s.cfg.Observer.ObserveBudget(BudgetEvent{Source: s.cfg.Name, Limit: limit})
			e := s.refuse(ReasonOverBudget, "%s budget spent", limit)
			e.RetryAfter = retry
			return nil, e
		}
		f = &flight{done: make(chan struct{})}
		s.inflight[k] = f
		s.wg.Add(1)
		go s.run(k, f, token)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, &Error{Source: s.cfg.Name, Reason: ReasonCanceled, Err: ctx.Err()}
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.res, nil
}

// run makes the call of flight f, caches its outcome and releases waiters.
func (s *Source) run(k key, f *flight, token string) {
	defer s.wg.Done()
	start := time.Now()
	parent := s.ctx
	if s.cobs != nil {
		if c := s.cobs.CallStart(s.ctx, s.cfg.Name); c != nil {
			parent = c
		}
	}
	f.res, f.err = s.call(parent, token)
	now := s.cfg.Now()
	ev := CallEvent{Source: s.cfg.Name, Result: CallActive, Duration: time.Since(start)}
	switch {
	case f.err == nil:
		until := now.Add(s.cfg.MaxAge)
		if f.res.exp != 0 {
			if exp := time.Unix(f.res.exp, 0).Add(s.cfg.Leeway); exp.Before(until) {
				until = exp
			}
		}
		f.res.until = until.UnixNano()
		s.cache.put(k, &entry{res: f.res, until: f.res.until, size: f.res.size()}, now.UnixNano())
	case f.err.Reason.Unavailable():
		ev.Result, ev.Reason = CallUnavailable, f.err.Reason
	default:
		ev.Result, ev.Reason = CallRefused, f.err.Reason
		if s.cfg.NegativeTTL > 0 {
			s.cache.put(k, &entry{err: f.err, until: now.Add(s.cfg.NegativeTTL).UnixNano(), size: 512}, now.UnixNano())
		}
	}
	if s.cobs != nil {
		s.cobs.ObserveCallContext(parent, ev)
	} else {
		s.cfg.Observer.ObserveCall(ev)
	}
	// Release the slot before waking the waiters, so that a caller's next
	// call finds it free.
	s.budget.release()
	s.mu.Lock()
	delete(s.inflight, k)
	s.mu.Unlock()
	close(f.done)
}

// call POSTs the token and decides on the answer.
func (s *Source) call(parent context.Context, token string) (*Result, *Error) {
	ctx, cancel := context.WithTimeout(parent, s.cfg.Timeout)
	defer cancel()
	ep, err := s.endpoint(ctx)
	if err != nil {
		if s.ctx.Err() != nil {
			return nil, s.refuse(ReasonClosed, "source closed")
		}
		return nil, &Error{Source: s.cfg.Name, Reason: ReasonDiscovery, Err: err}
	}
	body, e := s.post(ctx, ep, token)
	if e != nil {
		return nil, e
	}
	a, err := parseAnswer(body)
	if err != nil {
		return nil, &Error{Source: s.cfg.Name, Reason: ReasonBadResponse, Detail: err.Error()}
	}
	return s.decide(a, body, s.cfg.Now())
}

func (s *Source) post(ctx context.Context, ep *url.URL, token string) ([]byte, *Error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.String(), nil)
	if err != nil {
		return nil, &Error{Source: s.cfg.Name, Reason: ReasonEndpointDown, Detail: "bad request"}
	}
	if err := s.authenticate(req, form, ep.String()); err != nil {
		return nil, &Error{Source: s.cfg.Name, Reason: ReasonEndpointDown, Detail: "client assertion", Err: err}
	}
	enc := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(enc))
	req.ContentLength = int64(len(enc))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		if s.ctx.Err() != nil {
			return nil, s.refuse(ReasonClosed, "source closed")
		}
		// The url.Error names the endpoint, never the body with the token.
		return nil, &Error{Source: s.cfg.Name, Reason: ReasonEndpointDown, Err: redactErr(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, s.refuse(ReasonEndpointDown, "HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, &Error{Source: s.cfg.Name, Reason: ReasonEndpointDown, Detail: "reading the answer", Err: redactErr(err)}
	}
	if int64(len(body)) > s.cfg.MaxResponseBytes {
		return nil, s.refuse(ReasonBadResponse, "answer larger than %d bytes", s.cfg.MaxResponseBytes)
	}
	return body, nil
}

// hashToken is the cache key of token. The hash only reads the bytes, so
// they are viewed in place rather than copied (the copy would allocate for
// tokens over 32 bytes).
func hashToken(token string) key {
	if token == "" {
		return sha256.Sum256(nil)
	}
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// redactErr keeps the cause of a client error without the URL's query.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return fmt.Errorf("%s %s: %w", ue.Op, redactURL(u), ue.Err)
		}
		return ue.Err
	}
	return err
}

// endpoint returns the introspection endpoint, discovering it once; a
// failed discovery is retried at most every DefaultDiscoveryRetry.
func (s *Source) endpoint(ctx context.Context) (*url.URL, error) {
	for {
		if u := s.ep.Load(); u != nil {
			return u, nil
		}
		s.discMu.Lock()
		if ch := s.discCh; ch != nil {
			s.discMu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if s.cfg.Now().Before(s.discAt) {
			err := s.discErr
			s.discMu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		s.discCh = ch
		s.discMu.Unlock()

		u, err := s.discover(ctx)
		s.discMu.Lock()
		s.discCh = nil
		if err != nil {
			s.discErr, s.discAt = err, s.cfg.Now().Add(DefaultDiscoveryRetry)
		} else {
			s.ep.Store(u)
		}
		close(ch)
		s.discMu.Unlock()
		if err != nil {
			return nil, err
		}
		return u, nil
	}
}
