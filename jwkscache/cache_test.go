package jwkscache

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func lookupOK(t *testing.T, c KeySource, kid string) Key {
	t.Helper()
	keys, err := c.Lookup(context.Background(), kid)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", kid, err)
	}
	if len(keys) != 1 || keys[0].KID != kid {
		t.Fatalf("Lookup(%q) = %+v", kid, keys)
	}
	return keys[0]
}

func lookupErr(t *testing.T, c KeySource, kid string, want error) {
	t.Helper()
	keys, err := c.Lookup(context.Background(), kid)
	if !errors.Is(err, want) || keys != nil {
		t.Fatalf("Lookup(%q) = %d keys, %v; want %v", truncate(kid, 20), len(keys), err, want)
	}
}

func fetchError(t *testing.T, err error, class ErrorClass) *FetchError {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Class != class {
		t.Fatalf("err = %v, want a FetchError of class %s", err, class)
	}
	return fe
}

func TestRotation(t *testing.T) {
	srv := oauthtest.NewT(t)
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	e.ready(t)
	kid0 := srv.SigningKeyID()
	k0 := lookupOK(t, e.c, kid0)
	if k0.Source != "test" || k0.Generation != 1 || k0.Kty != "RSA" {
		t.Fatalf("key = %+v", k0)
	}

	kid1, err := srv.RotateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	// Within MinFetchGap of the first fetch: no refresh yet.
	lookupErr(t, e.c, kid1, ErrUnknownKey)
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 1 {
		t.Fatalf("JWKS requests = %d, want 1", n)
	}
	// The first unknown kid after start-up refreshes at once after the gap.
	e.fc.Advance(MinFetchGap)
	k1 := lookupOK(t, e.c, kid1)
	if _, ok := k1.Public.(*ecdsa.PublicKey); !ok || k1.Generation != 2 || k1.Alg != "ES256" {
		t.Fatalf("rotated key = %+v", k1)
	}
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 2 {
		t.Fatalf("JWKS requests = %d, want 2", n)
	}
	if ev := e.rec.nextFetch(t); ev.Cause != CauseScheduled {
		t.Fatalf("first fetch cause %s", ev.Cause)
	}
	if ev := e.rec.nextFetch(t); ev.Cause != CauseUnknownKID || ev.Class != ClassOK || ev.Keys != 2 {
		t.Fatalf("unknown-kid fetch = %+v", ev)
	}

	// A removed key is gone after the next (scheduled) refresh.
	if err := srv.RemoveKey(kid0); err != nil {
		t.Fatal(err)
	}
	lookupOK(t, e.c, kid0) // not refreshed yet
	st := e.c.Stats()
	e.fc.waitTimerAt(t, st.NextRefresh)
	e.fc.Advance(st.NextRefresh.Sub(e.fc.Now()))
	if ev := e.rec.nextFetch(t); ev.Cause != CauseScheduled || ev.Class != ClassOK || ev.Keys != 1 || ev.Generation != 3 {
		t.Fatalf("scheduled fetch = %+v", ev)
	}
	lookupErr(t, e.c, kid0, ErrUnknownKey)
	if cur := e.c.Current(); cur.Contains(kid0, k0.Thumbprint) || !cur.Contains(kid1, k1.Thumbprint) {
		t.Fatal("Contains does not reflect the removal")
	}
}

func TestUnknownKIDStorm(t *testing.T) {
	srv := oauthtest.NewT(t)
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	e.ready(t)
	e.fc.Advance(MinFetchGap)
	srv.ResetCounters()
	e.rec.resetMisses()

	// Hold the fetch so that concurrent misses find it in flight.
	release := make(chan struct{})
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: release})
	storm := func(n int, started func()) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		var entered sync.WaitGroup
		entered.Add(n)
		for i := range n {
			wg.Go(func() {
				entered.Done()
				_, errs[i] = e.c.Lookup(context.Background(), fmt.Sprintf("random-%d", i))
			})
		}
		entered.Wait()
		if started != nil {
			started()
		}
		wg.Wait()
		return errs
	}
	errs := storm(1000, func() {
		waitFor(t, "the held JWKS request", func() bool { return srv.Requests(oauthtest.EndpointJWKS) == 1 })
		close(release)
	})
	for _, err := range errs {
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("lookup error %v, want ErrUnknownKey", err)
		}
	}
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 1 {
		t.Fatalf("JWKS requests = %d, want exactly 1", n)
	}
	fetched, shared, limited := e.rec.miss(UnknownKIDFetched), e.rec.miss(UnknownKIDShared), e.rec.miss(UnknownKIDRateLimited)
	if fetched != 1 || fetched+shared+limited != 1000 {
		t.Fatalf("outcomes fetched=%d shared=%d rate_limited=%d", fetched, shared, limited)
	}
	t.Logf("first wave: fetched=%d shared=%d rate_limited=%d", fetched, shared, limited)

	// Within the cooldown: every miss fails fast, no fetch at all.
	srv.ClearFault(oauthtest.EndpointJWKS)
	e.fc.Advance(DefaultUnknownKIDCooldown - time.Second)
	e.rec.resetMisses()
	for _, err := range storm(1000, nil) {
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("lookup error %v", err)
		}
	}
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 1 {
		t.Fatalf("JWKS requests = %d, want still 1", n)
	}
	if n := e.rec.miss(UnknownKIDRateLimited); n != 1000 {
		t.Fatalf("rate limited = %d, want 1000", n)
	}

	// After the cooldown one more refresh is allowed.
	e.fc.Advance(time.Second)
	lookupErr(t, e.c, "random-x", ErrUnknownKey)
	lookupErr(t, e.c, "random-y", ErrUnknownKey)
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 2 {
		t.Fatalf("JWKS requests = %d, want 2", n)
	}
}

func TestLongKIDNeverFetches(t *testing.T) {
	srv := oauthtest.NewT(t)
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	e.ready(t)
	e.fc.Advance(time.Minute)
	lookupErr(t, e.c, strings.Repeat("k", MaxKIDLength+1), ErrUnknownKey)
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 1 {
		t.Fatalf("JWKS requests = %d", n)
	}
	if e.rec.miss(UnknownKIDTooLong) != 1 {
		t.Fatal("no kid_too_long event")
	}
}

func TestCallerContextBoundsOnlyItsWait(t *testing.T) {
	srv := oauthtest.NewT(t)
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	e.ready(t)
	e.fc.Advance(MinFetchGap)
	kid1, err := srv.AddKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: release})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := e.c.Lookup(ctx, kid1)
		done <- err
	}()
	waitFor(t, "the held JWKS request", func() bool { return srv.Requests(oauthtest.EndpointJWKS) == 2 })
	cancel()
	if err := <-done; !errors.Is(err, ErrUnknownKey) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lookup: %v", err)
	}
	// The shared fetch goes on and publishes the new key.
	srv.ClearFault(oauthtest.EndpointJWKS)
	close(release)
	if ev := e.rec.nextFetch(t); ev.Class != ClassOK { // the start-up fetch
		t.Fatalf("fetch %+v", ev)
	}
	if ev := e.rec.nextFetch(t); ev.Class != ClassOK || ev.Cause != CauseUnknownKID {
		t.Fatalf("fetch %+v", ev)
	}
	lookupOK(t, e.c, kid1)
}

func TestOutages(t *testing.T) {
	tests := []struct {
		name  string
		fault oauthtest.Fault
		class ErrorClass
	}{
		{"500", oauthtest.Fault{Status: http.StatusInternalServerError}, ClassStatus},
		{"timeout", oauthtest.Fault{Delay: time.Hour}, ClassTimeout},
		{"malformed json", oauthtest.Fault{Body: []byte(`{"keys":[{"kty":`)}, ClassMalformed},
		{"html", oauthtest.Fault{Body: []byte(`<html>down</html>`)}, ClassMalformed},
		{"empty set", oauthtest.Fault{Body: []byte(`{"keys":[]}`)}, ClassNoUsableKeys},
		{"truncated", oauthtest.Fault{Truncate: true}, ClassNetwork},
		{"10 MB", oauthtest.Fault{Oversize: 10 << 20}, ClassTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := oauthtest.NewT(t)
			// BackoffInitial well above MinFetchGap: the retry timer cannot
			// fire while the test advances the clock by MinFetchGap.
			timeout := 10 * time.Second // generous: a loaded machine must not turn faults into timeouts
			if tc.class == ClassTimeout {
				timeout = 300 * time.Millisecond
			}
			e := newEnv(t, Config{JWKSURL: srv.JWKSURL(), FetchTimeout: timeout, BackoffInitial: 10 * time.Second})
			e.ready(t)
			e.rec.nextFetch(t)
			kid0 := srv.SigningKeyID()

			srv.SetFault(oauthtest.EndpointJWKS, tc.fault)
			fetchError(t, e.c.Refresh(context.Background()), tc.class)
			if ev := e.rec.nextFetch(t); ev.Class != tc.class || ev.Err == nil || ev.Generation != 1 {
				t.Fatalf("event = %+v", ev)
			}
			// Old keys keep working; an unknown kid stays "unknown" (401),
			// not "unavailable" (503), even though its refresh fails too.
			lookupOK(t, e.c, kid0)
			e.fc.Advance(MinFetchGap)
			lookupErr(t, e.c, "rotated-maybe", ErrUnknownKey)
			if ev := e.rec.nextFetch(t); ev.Class != tc.class || ev.Cause != CauseUnknownKID {
				t.Fatalf("event = %+v", ev)
			}
			st := e.c.Stats()
			if !st.Usable || st.ConsecutiveFailures != 2 || st.LastClass != tc.class || st.Generation != 1 {
				t.Fatalf("stats = %+v", st)
			}

			// Recovery is automatic: the backoff timer retries.
			srv.ClearFault(oauthtest.EndpointJWKS)
			e.fc.waitTimerAt(t, st.NextRefresh)
			if d := st.NextRefresh.Sub(st.LastAttempt); d < 10*time.Second || d > 20*time.Second {
				t.Fatalf("backoff after 2 failures = %v", d)
			}
			e.fc.Advance(st.NextRefresh.Sub(e.fc.Now()))
			if ev := e.rec.nextFetch(t); ev.Class != ClassOK || ev.Cause != CauseScheduled || ev.Generation != 2 {
				t.Fatalf("recovery event = %+v", ev)
			}
			if st := e.c.Stats(); st.ConsecutiveFailures != 0 || st.LastError != nil {
				t.Fatalf("stats after recovery = %+v", st)
			}
			lookupOK(t, e.c, kid0)
		})
	}
}

func TestBackoffGrowsToCap(t *testing.T) {
	srv := oauthtest.NewT(t)
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL(), BackoffInitial: 2 * time.Second, BackoffMax: 30 * time.Second})
	want := []time.Duration{2, 4, 8, 16, 30, 30, 30}
	for i, w := range want {
		ev := e.rec.nextFetch(t)
		if ev.Class != ClassStatus {
			t.Fatalf("event %d = %+v", i, ev)
		}
		d := ev.NextRefresh.Sub(e.fc.Now())
		if w *= time.Second; d < w/2 || d > w {
			t.Fatalf("retry %d after %v, want within [%v, %v]", i+1, d, w/2, w)
		}
		e.fc.waitTimerAt(t, ev.NextRefresh)
		e.fc.Advance(d)
	}
}

func TestNoUsableKeySet(t *testing.T) {
	srv := oauthtest.NewT(t)
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusBadGateway})
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL(), MaxStaleness: 2 * time.Hour, BackoffInitial: 10 * time.Second})
	if ev := e.rec.nextFetch(t); ev.Class != ClassStatus || ev.Generation != 0 {
		t.Fatalf("event = %+v", ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.c.Ready(ctx); err == nil || !strings.Contains(err.Error(), "http_status") {
		t.Fatalf("Ready = %v", err)
	}
	if e.c.Current() != nil || e.c.Stats().Usable {
		t.Fatal("a set is served before any success")
	}
	e.fc.Advance(MinFetchGap)
	lookupErr(t, e.c, srv.SigningKeyID(), ErrKeysUnavailable) // refresh tried, failed
	if ev := e.rec.nextFetch(t); ev.Class != ClassStatus || ev.Cause != CauseUnknownKID {
		t.Fatalf("event = %+v", ev)
	}
	lookupErr(t, e.c, srv.SigningKeyID(), ErrKeysUnavailable) // rate limited
	lookupErr(t, e.c, "", ErrKeysUnavailable)
	if e.rec.miss(UnknownKIDRateLimited) != 2 {
		t.Fatal("misses not rate limited")
	}

	// The issuer comes back: the background retry recovers.
	srv.ClearFault(oauthtest.EndpointJWKS)
	st := e.c.Stats()
	e.fc.waitTimerAt(t, st.NextRefresh)
	e.fc.Advance(st.NextRefresh.Sub(e.fc.Now()))
	if ev := e.rec.nextFetch(t); ev.Class != ClassOK || ev.Cause != CauseScheduled {
		t.Fatalf("event = %+v", ev)
	}
	e.ready(t)
	lookupOK(t, e.c, srv.SigningKeyID())

	// Keys older than MaxStaleness are no longer served.
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusBadGateway})
	e.fc.Advance(2*time.Hour + time.Second)
	// The background loop withdraws the set when its time comes.
	waitFor(t, "the stale set to be withdrawn", func() bool { return e.c.Current() == nil })
	lookupErr(t, e.c, srv.SigningKeyID(), ErrKeysUnavailable)
	if st := e.c.Stats(); st.Usable || st.Age <= 2*time.Hour {
		t.Fatalf("stats = %+v", st)
	}
}

func TestOneBadKeyAmongGoodKeys(t *testing.T) {
	srv := oauthtest.NewT(t, oauthtest.WithKeyAlgs("RS256", "ES256", "EdDSA", "PS256", "ES384"))
	kids := srv.KeyIDs()
	srv.SetJWKSExtra(kids[1], map[string]any{"x": "%%%"})                        // unparsable
	srv.SetJWKSExtra(kids[3], map[string]any{"use": "enc"})                      // not for signatures
	srv.SetJWKSExtra(kids[2], map[string]any{"alg": nil})                        // no alg: kept
	srv.SetJWKSExtra(kids[4], map[string]any{"issuer": "https://is.example/t1"}) // Entra style
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	e.ready(t)
	ev := e.rec.nextFetch(t)
	if ev.Class != ClassOK || ev.Keys != 3 || len(ev.Skipped) != 2 {
		t.Fatalf("event = %+v", ev)
	}
	if ev.Skipped[0].Reason != SkipMalformed || ev.Skipped[0].KID != kids[1] || ev.Skipped[1].Reason != SkipNotForSignature {
		t.Fatalf("skipped = %+v", ev.Skipped)
	}
	lookupOK(t, e.c, kids[0])
	if k := lookupOK(t, e.c, kids[2]); k.Alg != "" || k.Crv != "Ed25519" {
		t.Fatalf("key without alg = %+v", k)
	}
	if k := lookupOK(t, e.c, kids[4]); k.Issuer != "https://is.example/t1" {
		t.Fatalf("issuer = %q", k.Issuer)
	}
	if keys, err := e.c.Lookup(context.Background(), ""); err != nil || len(keys) != 3 {
		t.Fatalf("empty kid: %d keys, %v", len(keys), err)
	}
}

func TestCacheControlClamped(t *testing.T) {
	const lo, hi, def = 2 * time.Minute, 2 * time.Hour, 20 * time.Minute
	tests := []struct {
		header   string
		min, max time.Duration // of the scheduled interval
	}{
		{"public, max-age=600", 540 * time.Second, 600 * time.Second},
		{"max-age=10", lo, lo},
		{"max-age=0", lo, lo},
		{"max-age=86400", hi * 9 / 10, hi},
		{"no-store", def * 9 / 10, def},
		{"no-cache, max-age=600", def * 9 / 10, def},
		{"", def * 9 / 10, def},
		{"max-age=abc", def * 9 / 10, def},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			srv := oauthtest.NewT(t, oauthtest.WithJWKSCacheControl(tc.header))
			e := newEnv(t, Config{JWKSURL: srv.JWKSURL(), MinRefreshInterval: lo, MaxRefreshInterval: hi, DefaultRefreshInterval: def})
			e.ready(t)
			ev := e.rec.nextFetch(t)
			d := ev.NextRefresh.Sub(e.fc.Now())
			if d < tc.min || d > tc.max {
				t.Fatalf("next refresh in %v, want within [%v, %v]", d, tc.min, tc.max)
			}
			// The background loop waits exactly that long, then fetches.
			e.fc.waitTimerAt(t, ev.NextRefresh)
			e.fc.Advance(d - time.Nanosecond)
			if n := srv.Requests(oauthtest.EndpointJWKS); n != 1 {
				t.Fatalf("fetched before the interval: %d requests", n)
			}
			e.fc.Advance(time.Nanosecond)
			if ev := e.rec.nextFetch(t); ev.Cause != CauseScheduled || ev.Class != ClassOK {
				t.Fatalf("event = %+v", ev)
			}
			if n := srv.Requests(oauthtest.EndpointJWKS); n != 2 {
				t.Fatalf("JWKS requests = %d", n)
			}
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDiscovery(t *testing.T) {
	t.Run("openid form", func(t *testing.T) {
		srv := oauthtest.NewT(t, oauthtest.WithIssuerPath("/tenant-a/v2.0"))
		openid, rfc8414 := discoveryURLs(mustURL(t, srv.Issuer()))
		if openid != srv.DiscoveryURL() || rfc8414 != srv.MetadataURL() {
			t.Fatalf("discovery URLs %s %s, server %s %s", openid, rfc8414, srv.DiscoveryURL(), srv.MetadataURL())
		}
		srv.SetDiscoveryServed(true, false)
		e := newEnv(t, Config{Issuer: srv.Issuer()})
		e.ready(t)
		lookupOK(t, e.c, srv.SigningKeyID())
		if n := srv.Requests(oauthtest.EndpointDiscovery); n != 1 {
			t.Fatalf("discovery requests = %d", n)
		}
		// The discovered URL is kept while fetches succeed.
		if err := e.c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests(oauthtest.EndpointDiscovery); n != 1 {
			t.Fatalf("discovery requests = %d", n)
		}
	})
	t.Run("rfc 8414 form", func(t *testing.T) {
		srv := oauthtest.NewT(t, oauthtest.WithIssuerPath("/realms/acme"))
		srv.SetDiscoveryServed(false, true)
		e := newEnv(t, Config{Issuer: srv.Issuer()})
		e.ready(t)
		lookupOK(t, e.c, srv.SigningKeyID())
		if n := srv.Requests(oauthtest.EndpointDiscovery); n != 2 {
			t.Fatalf("discovery requests = %d, want 2 (OpenID 404, then RFC 8414)", n)
		}
	})
	t.Run("issuer without path", func(t *testing.T) {
		srv := oauthtest.NewT(t)
		e := newEnv(t, Config{Issuer: srv.Issuer()})
		e.ready(t)
		lookupOK(t, e.c, srv.SigningKeyID())
	})
	for _, tc := range []struct {
		name  string
		extra map[string]any
		class ErrorClass
	}{
		{"issuer with trailing slash", map[string]any{"issuer": "ISSUER/"}, ClassDiscovery},
		{"issuer case differs", map[string]any{"issuer": "HTTP://127.0.0.1"}, ClassDiscovery},
		{"issuer missing", map[string]any{"issuer": nil}, ClassDiscovery},
		{"jwks_uri missing", map[string]any{"jwks_uri": nil}, ClassDiscovery},
		{"jwks_uri not a string", map[string]any{"jwks_uri": 5}, ClassDiscovery},
		{"jwks_uri plain http elsewhere", map[string]any{"jwks_uri": "http://keys.example.com/jwks"}, ClassInsecureURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := oauthtest.NewT(t, oauthtest.WithIssuerPath("/t"))
			if v, ok := tc.extra["issuer"].(string); ok {
				tc.extra["issuer"] = strings.Replace(v, "ISSUER", srv.Issuer(), 1)
			}
			srv.SetDiscoveryExtra(tc.extra)
			e := newEnv(t, Config{Issuer: srv.Issuer()})
			if ev := e.rec.nextFetch(t); ev.Class != tc.class {
				t.Fatalf("event = %+v", ev)
			}
			fetchError(t, e.c.Refresh(context.Background()), tc.class)
			if n := srv.Requests(oauthtest.EndpointJWKS); n != 0 {
				t.Fatalf("JWKS fetched %d times despite bad metadata", n)
			}
			if e.c.Current() != nil {
				t.Fatal("keys served")
			}
		})
	}
}

func TestSeveralSources(t *testing.T) {
	a := oauthtest.NewT(t)
	b := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	ea := newEnv(t, Config{Name: "issuer-a", JWKSURL: a.JWKSURL()})
	eb := newEnv(t, Config{Name: "issuer-b", Issuer: b.Issuer()})
	ea.ready(t)
	eb.ready(t)
	if k := lookupOK(t, ea.c, a.SigningKeyID()); k.Source != "issuer-a" {
		t.Fatalf("source %q", k.Source)
	}
	if k := lookupOK(t, eb.c, b.SigningKeyID()); k.Source != "issuer-b" {
		t.Fatalf("source %q", k.Source)
	}
	lookupErr(t, ea.c, b.SigningKeyID(), ErrUnknownKey)
	if ea.c.Name() != "issuer-a" || eb.c.Stats().Source != "issuer-b" {
		t.Fatal("names")
	}
}

func TestCloseStopsEverything(t *testing.T) {
	srv := oauthtest.NewT(t)
	release := make(chan struct{})
	defer close(release)
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: release})
	fc, rec := newFakeClock(), newRecorder()
	c, err := New(context.Background(), Config{Name: "x", JWKSURL: srv.JWKSURL(), Now: fc.Now, NewTimer: fc.NewTimer, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held request", func() bool { return srv.Requests(oauthtest.EndpointJWKS) == 1 })
	readyErr := make(chan error)
	go func() { readyErr <- c.Ready(context.Background()) }()
	c.Close() // returns although the fetch was held: its request is cancelled
	if err := <-readyErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("Ready after Close = %v", err)
	}
	if ev := rec.nextFetch(t); ev.Class != ClassClosed {
		t.Fatalf("event = %+v", ev)
	}
	if err := c.Refresh(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Refresh after Close = %v", err)
	}
	fc.Advance(time.Minute)
	lookupErr(t, c, "any", ErrKeysUnavailable)
	if rec.miss(UnknownKIDClosed) != 1 {
		t.Fatal("no closed outcome")
	}
	c.Close() // idempotent
}

func TestConstructorContextStops(t *testing.T) {
	srv := oauthtest.NewT(t)
	ctx, cancel := context.WithCancel(context.Background())
	fc := newFakeClock()
	c, err := New(ctx, Config{Name: "x", JWKSURL: srv.JWKSURL(), Now: fc.Now, NewTimer: fc.NewTimer})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := c.Refresh(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Refresh = %v", err)
	}
	lookupOK(t, c, srv.SigningKeyID()) // keys still served
	c.wg.Wait()                        // every goroutine ended without Close
}

func TestRefreshWaitsForOlderFlight(t *testing.T) {
	srv := oauthtest.NewT(t)
	release := make(chan struct{})
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: release})
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	waitFor(t, "the held request", func() bool { return srv.Requests(oauthtest.EndpointJWKS) == 1 })
	kid1, err := srv.AddKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- e.c.Refresh(context.Background()) }()
	srv.ClearFault(oauthtest.EndpointJWKS)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The forced fetch started after the call, so it saw the new key.
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 2 {
		t.Fatalf("JWKS requests = %d", n)
	}
	lookupOK(t, e.c, kid1)
}

func TestLookupHitReadsNoClock(t *testing.T) {
	srv := oauthtest.NewT(t)
	fc := newFakeClock()
	var calls atomic.Int64
	now := func() time.Time { calls.Add(1); return fc.Now() }
	c, err := New(context.Background(), Config{Name: "x", JWKSURL: srv.JWKSURL(), Now: now, NewTimer: fc.NewTimer})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	fc.waitTimerAt(t, c.Stats().NextRefresh) // the loop is parked
	before := calls.Load()
	for range 100 {
		lookupOK(t, c, srv.SigningKeyID())
	}
	if n := calls.Load() - before; n != 0 {
		t.Fatalf("100 hits read the clock %d times", n)
	}
}

func TestStalenessAfterClose(t *testing.T) {
	srv := oauthtest.NewT(t)
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	e.ready(t)
	e.c.Close()
	lookupOK(t, e.c, srv.SigningKeyID()) // still served after Close
	e.fc.Advance(DefaultMaxStaleness - time.Second)
	lookupOK(t, e.c, srv.SigningKeyID())
	e.fc.Advance(time.Second)
	if e.c.Current() != nil {
		t.Fatal("stale set served after Close")
	}
	lookupErr(t, e.c, srv.SigningKeyID(), ErrKeysUnavailable)
}

func TestLookupDuringStartupSharesFirstFetch(t *testing.T) {
	srv := oauthtest.NewT(t)
	release := make(chan struct{})
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: release})
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL()})
	waitFor(t, "the held first fetch", func() bool { return srv.Requests(oauthtest.EndpointJWKS) == 1 })
	got := make(chan error)
	go func() {
		_, err := e.c.Lookup(context.Background(), srv.SigningKeyID())
		got <- err
	}()
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("lookup during start-up: %v", err)
	}
	if n := srv.Requests(oauthtest.EndpointJWKS); n != 1 {
		t.Fatalf("JWKS requests = %d, want 1", n)
	}
	// The lookup either joined the first fetch (the usual case) or, if
	// it ran after the release, hit the new set: it never started a fetch
	// of its own, and never failed with ErrKeysUnavailable.
	if e.rec.miss(UnknownKIDFetched) != 0 || e.rec.miss(UnknownKIDRateLimited) != 0 {
		t.Fatalf("outcomes %v", e.rec.misses)
	}
	t.Logf("shared: %d", e.rec.miss(UnknownKIDShared))
}
