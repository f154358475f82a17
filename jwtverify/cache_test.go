package jwtverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// clock is an injectable, settable clock.
type clock struct{ t atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.t.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) add(d time.Duration) {
	c.t.Add(int64(d))
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu  sync.Mutex
	evs []VerifyEvent
}

func (r *recorder) ObserveVerify(ev VerifyEvent) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) last() VerifyEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evs[len(r.evs)-1]
}

func TestCacheHit(t *testing.T) {
	rec := &recorder{}
	v := newV(t, func(c *Config) { c.Observer = rec })
	token := tok("ES256", nil, nil)
	p1, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if ev := rec.last(); ev.CacheHit || ev.Issuer != "test" || ev.ClientID != testClient || ev.Reason != "" || ev.Err != nil {
		t.Fatalf("first event %+v", ev)
	}
	p2, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Fatal("hit returned another principal")
	}
	if ev := rec.last(); !ev.CacheHit || ev.Issuer != "test" || ev.ClientID != testClient {
		t.Fatalf("hit event %+v", ev)
	}
	st := v.CacheStats()
	if st.Hits != 1 || st.Misses != 1 || st.Entries != 1 || st.Bytes <= int64(len(token)) || st.MaxEntries != DefaultCacheEntries || st.MaxBytes != DefaultCacheBytes {
		t.Fatalf("stats %+v", st)
	}
	// A different string for the same token (an ECDSA signature is
	// malleable, a prefix or a padding is not) is a miss, and a corrupted
	// one fails.
	if _, err := v.Verify(context.Background(), token+"A"); err == nil {
		t.Fatal("mutated token accepted")
	}
	// Same signature segment (and so the same hash), other header: the
	// entry is matched on the whole string, never on the hash.
	other := b64([]byte(`{"alg":"ES256","kid":"ES256"}`)) + token[strings.IndexByte(token, '.'):]
	if _, err := v.Verify(context.Background(), other); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("same-tail token: %v", err)
	}
	if n := v.CacheStats().Entries; n != 1 {
		t.Fatalf("entries %d", n)
	}
}

func TestCacheHitAllocs(t *testing.T) {
	v := newV(t, func(c *Config) { c.Observer = &nopObserver{} })
	token := tok("EdDSA", nil, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = v.Verify(ctx, token) }); n != 0 {
		t.Fatalf("hit allocates %v times", n)
	}
}

type nopObserver struct{ n atomic.Int64 }

func (o *nopObserver) ObserveVerify(VerifyEvent) { o.n.Add(1) }

func TestCacheExpiryOnHit(t *testing.T) {
	clk := newClock(testNow)
	v := newV(t, func(c *Config) { c.Now = clk.now })
	token := tok("EdDSA", nil, map[string]any{"exp": testNow.Unix() + 100})
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	clk.add(100*time.Second + DefaultLeeway - time.Microsecond)
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("inside leeway: %v", err)
	}
	if v.CacheStats().Hits != 1 {
		t.Fatal("not a hit")
	}
	clk.add(time.Microsecond)
	_, err := v.Verify(context.Background(), token)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("want expired, got %v", err)
	}
	if st := v.CacheStats(); st.Entries != 0 || st.Bytes != 0 || st.Evictions != 1 {
		t.Fatalf("expired entry kept: %+v", st)
	}
	// And again, from scratch: still expired, never re-cached.
	if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrExpired) {
		t.Fatalf("want expired, got %v", err)
	}
	if v.CacheStats().Entries != 0 {
		t.Fatal("failure cached")
	}
}

func TestCacheNotBeforeOnHit(t *testing.T) {
	// The clock goes backwards (NTP step) after the token was cached.
	clk := newClock(testNow)
	v := newV(t, func(c *Config) { c.Now = clk.now })
	token := tok("EdDSA", nil, map[string]any{"nbf": testNow.Unix()})
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	clk.add(-time.Hour)
	if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("want not_yet_valid, got %v", err)
	}
}

func TestCacheKeyRemoved(t *testing.T) {
	src := newSwapSource(fx("ES256").key, fx("EdDSA").key)
	v := newV(t, func(c *Config) { c.Issuers[0].Keys = src })
	token := tok("ES256", nil, nil)
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	// A refresh that still publishes the key: still a hit.
	src.publish(fx("EdDSA").key, fx("ES256").key)
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	if st := v.CacheStats(); st.Hits != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Same kid, other key material: the thumbprint differs, dropped.
	other := mustKey("ES256", "ES256", genEC().Public())
	src.publish(other)
	if _, err := v.Verify(context.Background(), token); err == nil {
		t.Fatal("accepted after the key changed")
	}
	// Key removed.
	src.publish(fx("EdDSA").key)
	_, err := v.Verify(context.Background(), token)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("want unknown_key, got %v", err)
	}
	if st := v.CacheStats(); st.Entries != 0 {
		t.Fatalf("entry kept: %+v", st)
	}
}

func TestCacheKeysUnavailableOnHit(t *testing.T) {
	src := newSwapSource(fx("ES256").key)
	v := newV(t, func(c *Config) { c.Issuers[0].Keys = src })
	token := tok("ES256", nil, nil)
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	src.down.Store(true)
	_, err := v.Verify(context.Background(), token)
	if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, jwkscache.ErrKeysUnavailable) {
		t.Fatalf("want keys_unavailable, got %v", err)
	}
	src.down.Store(false)
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
}

// manyTokens mints n distinct valid tokens.
func manyTokens(n int, alg string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = tok(alg, nil, map[string]any{"jti": fmt.Sprintf("jti-%d", i)})
	}
	return out
}

func TestCacheBoundEntries(t *testing.T) {
	v := newV(t, func(c *Config) { c.Cache.MaxEntries = 10 })
	for _, tk := range manyTokens(60, "EdDSA") {
		if _, err := v.Verify(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
		if st := v.CacheStats(); st.Entries > 10 {
			t.Fatalf("entries %d > 10", st.Entries)
		}
	}
	if st := v.CacheStats(); st.Entries < 5 || st.Evictions < 50 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheBoundBytes(t *testing.T) {
	tokens := manyTokens(40, "EdDSA")
	probe := newV(t, nil)
	if _, err := probe.Verify(context.Background(), tokens[0]); err != nil {
		t.Fatal(err)
	}
	per := probe.CacheStats().Bytes
	limit := 3*per + per/2
	v := newV(t, func(c *Config) { c.Cache.MaxBytes = limit })
	for _, tk := range tokens {
		if _, err := v.Verify(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
		if st := v.CacheStats(); st.Bytes > limit || st.Entries > 3 {
			t.Fatalf("stats %+v over %d", st, limit)
		}
	}
	// An entry larger than the whole budget is not cached.
	tiny := newV(t, func(c *Config) { c.Cache.MaxBytes = 100 })
	if _, err := tiny.Verify(context.Background(), tokens[0]); err != nil {
		t.Fatal(err)
	}
	if st := tiny.CacheStats(); st.Entries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheEvictsExpiredFirst(t *testing.T) {
	clk := newClock(testNow)
	v := newV(t, func(c *Config) { c.Now = clk.now; c.Cache.MaxEntries = 4 })
	short := tok("EdDSA", nil, map[string]any{"exp": testNow.Unix() + 10, "jti": "short"})
	long := manyTokens(3, "EdDSA")
	for _, tk := range append([]string{short}, long...) {
		if _, err := v.Verify(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(time.Minute)
	if _, err := v.Verify(context.Background(), tok("EdDSA", nil, map[string]any{"jti": "new"})); err != nil {
		t.Fatal(err)
	}
	for _, tk := range long {
		if _, err := v.Verify(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	if st := v.CacheStats(); st.Hits != 3 {
		t.Fatalf("a live entry was evicted before the expired one: %+v", st)
	}
}

func TestCacheFailuresNotCached(t *testing.T) {
	v := newV(t, nil)
	bad := signToken("EdDSA", fx("EdDSA").priv, hdrJSON("ES256"), mustJSON(baseClaims()))
	for i := 0; i < 3; i++ {
		if _, err := v.Verify(context.Background(), bad); err == nil {
			t.Fatal("accepted")
		}
	}
	exp := tok("EdDSA", nil, map[string]any{"exp": testNow.Unix() - 3600})
	if _, err := v.Verify(context.Background(), exp); !errors.Is(err, ErrExpired) {
		t.Fatal(err)
	}
	if st := v.CacheStats(); st.Entries != 0 || st.Hits != 0 || st.Misses != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheDisabled(t *testing.T) {
	v := newV(t, func(c *Config) { c.Cache.Disabled = true })
	token := tok("EdDSA", nil, nil)
	for i := 0; i < 2; i++ {
		if _, err := v.Verify(context.Background(), token); err != nil {
			t.Fatal(err)
		}
	}
	if st := v.CacheStats(); st != (CacheStats{}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestCacheConcurrent mixes hits, misses, failures, evictions and key set
// swaps from several goroutines (run with -race).
func TestCacheConcurrent(t *testing.T) {
	src := newSwapSource(fx("EdDSA").key, fx("ES256").key)
	v := newV(t, func(c *Config) { c.Issuers[0].Keys = src; c.Cache.MaxEntries = 16 })
	good := manyTokens(40, "EdDSA")
	bad := signToken("EdDSA", fx("EdDSA").priv, hdrJSON("ES256"), mustJSON(baseClaims()))
	var wg sync.WaitGroup
	var accepted, rejected atomic.Int64
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if i%10 == g {
					if _, err := v.Verify(context.Background(), bad); err == nil {
						t.Error("bad token accepted")
					}
					rejected.Add(1)
					continue
				}
				p, err := v.Verify(context.Background(), good[(i*7+g)%len(good)])
				if err != nil || p.ClientID() != testClient {
					t.Errorf("good token: %v", err)
					return
				}
				accepted.Add(1)
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			src.publish(fx("ES256").key, fx("EdDSA").key)
			runtime.Gosched()
		}
	}()
	wg.Wait()
	st := v.CacheStats()
	if st.Entries > 16 || st.Entries < 1 || st.Hits == 0 || st.Hits+st.Misses != uint64(accepted.Load()+rejected.Load()) {
		t.Fatalf("stats %+v accepted %d rejected %d", st, accepted.Load(), rejected.Load())
	}
}

// TestCacheEntrySize checks the ~2 KiB per entry budget for an 800-byte
// token, measuring the heap.
func TestCacheEntrySize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates")
	}
	const n = 2000
	v := newV(t, func(c *Config) { c.Cache.MaxEntries = n })
	tokens := make([]string, n)
	for i := range tokens {
		c := benchClaims()
		c["jti"] = fmt.Sprintf("%036d", i)
		tokens[i] = signToken("EdDSA", fx("EdDSA").priv, []byte(`{"alg":"EdDSA","kid":"EdDSA","typ":"at+jwt"}`), mustJSON(c))
	}
	tl := len(tokens[0])
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, tk := range tokens {
		if _, err := v.Verify(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := v.CacheStats()
	if st.Entries < n*98/100 {
		t.Fatalf("entries %d", st.Entries)
	}
	// The token strings were allocated by the test: add them to the heap
	// growth. Normalise to an 800-byte token.
	perEntry := float64(after.HeapAlloc-before.HeapAlloc)/float64(st.Entries) + float64(tl)
	norm := perEntry - float64(tl) + 800
	t.Logf("token %d bytes; heap per entry %.0f bytes (%.0f for an 800-byte token); accounted %d", tl, perEntry, norm, st.Bytes/n)
	if norm > 2.5*1024 {
		t.Fatalf("%.0f bytes per entry", norm)
	}
	runtime.KeepAlive(tokens)
}

func genEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}
