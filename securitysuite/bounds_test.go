package securitysuite

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Resource bounds, shown by allocation and byte counts, never by wall
// clock.

// bytesPerRun returns the bytes allocated per call of fn, averaged over
// runs (after one warm-up call).
func bytesPerRun(runs int, fn func()) uint64 {
	fn()
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	for i := 0; i < runs; i++ {
		fn()
	}
	runtime.ReadMemStats(&b)
	return (b.TotalAlloc - a.TotalAlloc) / uint64(runs)
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBoundHugeAuthorizationHeader (C4): a 1 MB Authorization value costs
// the adapters no more memory than a 1 KB one. The handlers are called
// directly, so the servers' MaxHeaderBytes plays no part.
func TestBoundHugeAuthorizationHeader(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	values := map[string]string{
		"1KB_dots":   "Bearer " + strings.Repeat(".", 1<<10),
		"1MB_dots":   "Bearer " + strings.Repeat(".", 1<<20),
		"1KB_shaped": "Bearer " + strings.Repeat("A", 500) + "." + strings.Repeat("B", 500) + ".C",
		"1MB_shaped": "Bearer " + strings.Repeat("A", 1<<19) + "." + strings.Repeat("B", 1<<19) + ".C",
		"1MB_spaces": "Bearer x" + strings.Repeat(" ", 1<<20) + "y",
	}
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			cost := map[string]uint64{}
			allocs := map[string]float64{}
			for name, v := range values {
				var call func()
				if tr == trGRPC {
					ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {v}})
					call = func() { _, _ = f.gic.Authorize(ctx, grpcRead) }
				} else {
					h := f.httpHandler
					if tr == trEcho {
						h = f.echoHandler
					}
					r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
					r.Header.Set("Authorization", v)
					call = func() { h.ServeHTTP(httptest.NewRecorder(), r) }
				}
				cost[name] = bytesPerRun(50, call)
				allocs[name] = testing.AllocsPerRun(50, call)
			}
			t.Logf("bytes/op %v, allocs/op %v", cost, allocs)
			for _, big := range []string{"1MB_dots", "1MB_shaped", "1MB_spaces"} {
				small := strings.Replace(big, "1MB", "1KB", 1)
				if big == "1MB_spaces" {
					small = "1KB_dots"
				}
				if cost[big] > cost[small]+16<<10 || cost[big] > 64<<10 {
					t.Errorf("%s costs %d B/op against %d B/op for %s: memory grows with the header", big, cost[big], cost[small], small)
				}
				if allocs[big] > allocs[small]+2 {
					t.Errorf("%s: %.0f allocs/op against %.0f", big, allocs[big], allocs[small])
				}
			}
		})
	}
}

// TestBoundDeepJSON: a claims document nested thousands deep costs what a
// flat document of the same size costs (no recursion, no tree).
func TestBoundDeepJSON(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	base := f.claimsJSON(nil)
	const n = 5000
	deep := f.sign(t, "ES256", f.header("ES256", nil), []byte(`{"d":`+strings.Repeat("[", n)+strings.Repeat("]", n)+","+string(base[1:])))
	flat := f.sign(t, "ES256", f.header("ES256", nil), []byte(`{"d":"`+strings.Repeat("x", 2*n-2)+`",`+string(base[1:])))
	deepObj := f.sign(t, "ES256", f.header("ES256", nil), []byte(`{"d":`+strings.Repeat(`{"a":`, n/5)+"1"+strings.Repeat("}", n/5)+","+string(base[1:])))
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, deep); !errors.Is(err, jwtverify.ErrMalformed) {
		t.Fatalf("deep: %v", err)
	}
	if _, err := f.v.Verify(ctx, flat); err != nil {
		t.Fatalf("flat: %v", err)
	}
	costDeep := bytesPerRun(200, func() { _, _ = f.v.Verify(ctx, deep) })
	costObj := bytesPerRun(200, func() { _, _ = f.v.Verify(ctx, deepObj) })
	// The flat token is cached after its first verification: measure the
	// uncached path with a verifier without cache.
	nc := newVerifier(t, f, func(c *jwtverify.Config) { c.Cache.Disabled = true })
	costFlat := bytesPerRun(200, func() { _, _ = nc.Verify(ctx, flat) })
	t.Logf("bytes/op: deep arrays %d, deep objects %d, flat same size %d (token %d bytes)", costDeep, costObj, costFlat, len(deep))
	// Noise margin 4 KiB; a parser building a tree or recursing per level
	// would cost tens of bytes per level, hundreds of KiB here.
	if costDeep > costFlat+4<<10 || costObj > costFlat+4<<10 {
		t.Fatalf("deep JSON costs more than flat JSON of the same size: %d, %d > %d", costDeep, costObj, costFlat)
	}
}

// newVerifier builds another verifier over f's issuer and key cache.
func newVerifier(t testing.TB, f *fixture, mod func(*jwtverify.Config)) *jwtverify.Verifier {
	t.Helper()
	cfg := jwtverify.Config{Now: f.clk.Now, Issuers: []jwtverify.IssuerConfig{{
		Name: "oauthtest", Issuer: f.iss.Issuer(), Keys: f.keys, Audiences: []string{oauthtest.DefaultAudience},
		ClientIDs: []string{oauthtest.DefaultClientID}, Algorithms: algs}}}
	if mod != nil {
		mod(&cfg)
	}
	v, err := jwtverify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// hugeJWKS serves the issuer's real JWKS until big is set, then a 10 MB
// JSON document streamed from one preallocated chunk (so the test process's
// allocations are the client's alone).
type hugeJWKS struct {
	real    func() []byte
	size    atomic.Int64 // 0: serve the real document
	written atomic.Int64
}

var chunk = []byte(strings.Repeat("a", 32<<10))

func (h *hugeJWKS) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	size := h.size.Load()
	if size == 0 {
		_, _ = w.Write(h.real())
		return
	}
	_, _ = w.Write([]byte(`{"keys":[],"x":"`))
	for n := int64(0); n < size; n += int64(len(chunk)) {
		m, err := w.Write(chunk)
		h.written.Add(int64(m))
		if err != nil {
			return
		}
	}
	_, _ = w.Write([]byte(`"}`))
}

// TestBoundHugeJWKS: a 10 MB JWKS is refused after at most
// MaxResponseBytes (1 MiB) read; the old keys stay; the refusal allocates
// a bounded amount, not 10 MB.
func TestBoundHugeJWKS(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	// The real document, fetched once from the issuer.
	resp, err := f.hc.Get(f.iss.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	realDoc := make([]byte, 0, 16<<10)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		realDoc = append(realDoc, buf[:n]...)
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	h := &hugeJWKS{real: func() []byte { return realDoc }}
	srv := httptest.NewServer(h)
	defer srv.Close()
	fetched := make(chan jwkscache.FetchEvent, 16)
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "huge", JWKSURL: srv.URL, HTTPClient: f.hc,
		Now: f.clk.Now, NewTimer: f.clk.NewTimer,
		Observer: jwkscache.ObserverFuncs{OnFetch: func(e jwkscache.FetchEvent) { fetched <- e }}})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	if err := keys.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-fetched
	v := newVerifier(t, f, func(c *jwtverify.Config) { c.Issuers[0].Keys = keys })
	gen := keys.Current().Generation
	refuse := func(size int64) uint64 {
		h.size.Store(size)
		var ferr error
		cost := bytesPerRun(3, func() { ferr = keys.Refresh(context.Background()) })
		var fe *jwkscache.FetchError
		if !errors.As(ferr, &fe) || fe.Class != jwkscache.ClassTooLarge {
			t.Fatalf("refresh of a %d byte JWKS: %v", size, ferr)
		}
		return cost
	}
	// Just over the cap, then ten times the cap: the refusal costs the same.
	small := refuse(jwkscache.DefaultMaxResponseBytes + 64<<10)
	big := refuse(10 << 20)
	t.Logf("refused JWKS: 1.06 MiB costs %d B, 10 MiB costs %d B allocated per fetch (MaxResponseBytes %d)", small, big, jwkscache.DefaultMaxResponseBytes)
	if big > small+small/2+256<<10 || big > 10<<20 {
		t.Fatalf("a refused 10 MiB JWKS allocated %d bytes against %d for 1.06 MiB: the read is not bounded", big, small)
	}
	if cur := keys.Current(); cur == nil || cur.Generation != gen {
		t.Fatal("the old key set was not kept")
	}
	if _, err := v.Verify(context.Background(), f.mint(t)); err != nil {
		t.Fatalf("old keys no longer verify: %v", err)
	}
}

// TestBoundUnknownKIDFlood: 20 000 tokens with random kids leave no trace:
// no cache entry, no growth of the live heap, at most one JWKS fetch.
func TestBoundUnknownKIDFlood(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.clk.Advance(2 * time.Second)
	claims := enc(f.claimsJSON(nil))
	sig := enc(make([]byte, 64))
	const n = 20000
	toks := make([]string, n)
	for i := range toks {
		toks[i] = enc(mustJSON(map[string]any{"alg": "ES256", "kid": randomKID(24)})) + "." + claims + "." + sig
	}
	ctx := context.Background()
	before := f.iss.Requests(oauthtest.EndpointJWKS)
	st0 := f.v.CacheStats()
	heap0 := heapInUse()
	i := 0
	cost := bytesPerRun(n-1, func() {
		if _, err := f.v.Verify(ctx, toks[i]); !errors.Is(err, jwtverify.ErrUnknownKey) {
			t.Fatalf("token %d: %v", i, err)
		}
		i++
	})
	heap1 := heapInUse()
	st1 := f.v.CacheStats()
	fetches := f.iss.Requests(oauthtest.EndpointJWKS) - before
	grow := int64(heap1) - int64(heap0)
	t.Logf("%d unknown kids: %d B/op, live heap %+d B, cache entries %d -> %d, JWKS fetches %d", n, cost, grow, st0.Entries, st1.Entries, fetches)
	if st1.Entries != st0.Entries || st1.Bytes != st0.Bytes {
		t.Fatal("unknown kids changed the verified-token cache")
	}
	if fetches > 1 {
		t.Fatalf("%d JWKS fetches", fetches)
	}
	if grow > 256<<10 {
		t.Fatalf("live heap grew by %d bytes", grow)
	}
	if cost > 8<<10 {
		t.Fatalf("%d bytes per unknown kid", cost)
	}
	runtime.KeepAlive(toks)
}

// validTokens mints n distinct valid ES256 tokens with our own signer
// (cheaper than oauthtest for thousands), each with pad bytes of claims.
func validTokens(t testing.TB, f *fixture, n, pad int) func(i int) string {
	priv := fixedKey(t, "ES256")
	h := enc(f.header("ES256", nil)) + "."
	base := f.claimsJSON(map[string]any{"jti": nil})
	prefix := string(base[:len(base)-1]) + `,"pad":"` + strings.Repeat("p", pad) + `","jti":"flood-`
	return func(i int) string {
		in := h + enc([]byte(prefix+strconv.Itoa(i)+`"}`))
		return in + "." + enc(rawSig(t, "ES256", priv, []byte(in)))
	}
}

// TestBoundDistinctValidTokens: a flood of distinct valid tokens keeps the
// verified-token cache within its entry and byte caps, and the accounted
// bytes match the live heap the cache holds.
func TestBoundDistinctValidTokens(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	flood := func(t *testing.T, v *jwtverify.Verifier, n, pad int) (jwtverify.CacheStats, int64) {
		next := validTokens(t, f, n, pad)
		heap0 := heapInUse()
		for i := 0; i < n; i++ {
			if _, err := v.Verify(ctx, next(i)); err != nil {
				t.Fatalf("token %d: %v", i, err)
			}
		}
		grow := int64(heapInUse()) - int64(heap0)
		st := v.CacheStats()
		t.Logf("%d tokens of ~%d B: entries %d/%d, bytes %d/%d, evictions %d, live heap %+d B", n, len(next(0)), st.Entries, st.MaxEntries, st.Bytes, st.MaxBytes, st.Evictions, grow)
		if st.Entries > int64(st.MaxEntries) || st.Bytes > st.MaxBytes {
			t.Fatalf("cache over its caps: %+v", st)
		}
		return st, grow
	}
	t.Run("entry_cap", func(t *testing.T) {
		v := newVerifier(t, f, func(c *jwtverify.Config) { c.Cache.MaxEntries = 256 })
		st, _ := flood(t, v, 2000, 0)
		if st.Entries < 128 {
			t.Fatalf("cache nearly empty (%d entries): the test shows nothing", st.Entries)
		}
	})
	t.Run("byte_cap", func(t *testing.T) {
		v := newVerifier(t, f, func(c *jwtverify.Config) { c.Cache.MaxBytes = 512 << 10 })
		st, grow := flood(t, v, 1000, 4000)
		if st.Bytes < 256<<10 {
			t.Fatalf("cache holds %d bytes: the test shows nothing", st.Bytes)
		}
		// The accounting is honest: the live heap the flood left behind is
		// of the order of the accounted bytes.
		if grow > 2*st.Bytes+128<<10 {
			t.Fatalf("live heap grew %d bytes for %d accounted", grow, st.Bytes)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		if testing.Short() || raceEnabled {
			t.Skip("12 000 signatures: run without -short and -race")
		}
		v := newVerifier(t, f, nil)
		st, grow := flood(t, v, jwtverify.DefaultCacheEntries+2000, 0)
		if st.Entries < jwtverify.DefaultCacheEntries/2 {
			t.Fatalf("only %d entries", st.Entries)
		}
		if grow > 2*st.Bytes+1<<20 {
			t.Fatalf("live heap grew %d bytes for %d accounted", grow, st.Bytes)
		}
	})
}

// TestBoundHugeQuery: the query is scanned for access_token on every
// request (to refuse a header token next to a query token). A 1 MB query
// must cost bounded memory whatever its keys look like.
//
// Regression test: middleware's isAccessTokenKey called url.QueryUnescape
// for every short key holding '%', one allocation per key: a 1 MB query of
// "%61&" allocated about 2 MB per request.
func TestBoundHugeQuery(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, tr := range []transport{trHTTP, trEcho} {
		h := f.httpHandler
		if tr == trEcho {
			h = f.echoHandler
		}
		t.Run(string(tr), func(t *testing.T) {
			cost := map[string]uint64{}
			for name, q := range map[string]string{
				"plain_1MB":   strings.Repeat("abc&", 1<<18),
				"escaped_1MB": strings.Repeat("%61&", 1<<18),
				"near_1MB":    strings.Repeat("access%5Ftoke%6E1=1&", 1<<16),
			} {
				r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
				r.URL.RawQuery = q
				r.Header.Set("Authorization", "Bearer x.y.z")
				cost[name] = bytesPerRun(5, func() { h.ServeHTTP(httptest.NewRecorder(), r) })
			}
			t.Logf("bytes/op %v", cost)
			for name, c := range cost {
				if c > 64<<10 {
					t.Errorf("%s: %d bytes allocated per request for a 1 MB query", name, c)
				}
			}
		})
	}
}
