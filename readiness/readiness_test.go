package readiness_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/readiness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newCache starts a cache of is's JWKS whose retries are an hour away
// (every later fetch of a test is a Refresh).
func newCache(t *testing.T, name string, is *oauthtest.Server, now func() time.Time) *jwkscache.Cache {
	t.Helper()
	c, err := jwkscache.New(context.Background(), jwkscache.Config{Name: name, JWKSURL: is.JWKSURL(),
		BackoffInitial: time.Hour, BackoffMax: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitAttempt(t *testing.T, c *jwkscache.Cache) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second) // safety net only
	defer deadline.Stop()
	for c.Stats().LastAttempt.IsZero() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatal("no fetch")
		}
	}
}

func probe(t *testing.T, h http.Handler) (int, readiness.Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	var r readiness.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return rec.Code, r
}

func refresh(t *testing.T, c *jwkscache.Cache, ok bool) {
	t.Helper()
	if err := c.Refresh(context.Background()); (err == nil) != ok {
		t.Fatalf("Refresh = %v", err)
	}
}

// The default gate: not ready before every source had keys, ready from
// then on, also through a later outage (cached keys keep working).
func TestStartupGate(t *testing.T) {
	a, b := oauthtest.NewT(t), oauthtest.NewT(t)
	b.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusInternalServerError})
	ca, cb := newCache(t, "a", a, nil), newCache(t, "b", b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ca.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	waitAttempt(t, cb)
	chk, err := readiness.New(readiness.Options{}, ca, cb)
	if err != nil {
		t.Fatal(err)
	}
	code, r := probe(t, chk)
	if code != http.StatusServiceUnavailable || r.Ready || r.Mode != "startup" || len(r.Sources) != 2 {
		t.Fatalf("%d %+v", code, r)
	}
	if s := r.Sources[0]; s.Name != "a" || !s.Usable || !s.HadUsableKeys || s.KeysAgeSeconds == nil || s.LastFailure != "" || s.Failing {
		t.Fatalf("source a = %+v", s)
	}
	if s := r.Sources[1]; s.Name != "b" || s.Usable || s.HadUsableKeys || s.KeysAgeSeconds != nil ||
		s.LastFailure != jwkscache.ClassStatus || !s.Failing {
		t.Fatalf("source b = %+v", s)
	}

	rec := httptest.NewRecorder()
	chk.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	for _, want := range []string{`"ready":false`, `"mode":"startup"`, `"name":"b"`, `"usable":false`,
		`"last_failure":"http_status"`, `"failing":true`, `"keys_age_seconds":`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body %s lacks %s", rec.Body, want)
		}
	}

	b.ClearFault(oauthtest.EndpointJWKS)
	refresh(t, cb, true)
	if code, r := probe(t, chk); code != http.StatusOK || !r.Ready {
		t.Fatalf("after b's keys: %d %+v", code, r)
	}

	// An outage after start-up: still ready (keys cached), and it shows.
	a.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusBadGateway})
	refresh(t, ca, false)
	code, r = probe(t, chk)
	if code != http.StatusOK || !r.Ready || !r.Sources[0].Failing || r.Sources[0].LastFailure != jwkscache.ClassStatus || !r.Sources[0].Usable {
		t.Fatalf("during a's outage: %d %+v", code, r)
	}
	strict, err := readiness.New(readiness.Options{Mode: readiness.Strict}, ca, cb)
	if err != nil {
		t.Fatal(err)
	}
	if code, r := probe(t, strict); code != http.StatusOK || !r.Ready || r.Mode != "strict" {
		t.Fatalf("strict with cached keys: %d %+v", code, r)
	}
}

// Strict is not ready once a source's keys are too stale to serve; the
// start-up gate stays ready.
func TestStrictStaleKeys(t *testing.T) {
	is := oauthtest.NewT(t)
	clk := &clock{now: time.Now()}
	c := newCache(t, "corp", is, clk.Now)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// Closed, the cache checks staleness by its clock on every read: the
	// manual clock then decides alone.
	c.Close()
	gate, _ := readiness.New(readiness.Options{}, c)
	strict, _ := readiness.New(readiness.Options{Mode: readiness.Strict}, c)
	clk.Add(2 * time.Hour)
	code, r := probe(t, strict)
	if code != http.StatusOK || *r.Sources[0].KeysAgeSeconds != 7200 {
		t.Fatalf("strict, 2 h old keys: %d %+v", code, r)
	}
	clk.Add(jwkscache.DefaultMaxStaleness)
	if code, r := probe(t, strict); code != http.StatusServiceUnavailable || r.Ready || r.Sources[0].Usable {
		t.Fatalf("strict, stale keys: %d %+v", code, r)
	}
	if code, _ := probe(t, gate); code != http.StatusOK {
		t.Fatalf("start-up gate, stale keys: %d", code)
	}
}

func TestHandlerMethods(t *testing.T) {
	is := oauthtest.NewT(t)
	chk, _ := readiness.New(readiness.Options{}, newCache(t, "corp", is, nil))
	rec := httptest.NewRecorder()
	chk.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/readyz", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	chk.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/readyz", nil))
	if rec.Body.Len() != 0 {
		t.Fatalf("HEAD body %q", rec.Body)
	}
}

func TestNewValidates(t *testing.T) {
	is := oauthtest.NewT(t)
	c := newCache(t, "corp", is, nil)
	for name, f := range map[string]func() error{
		"no source":  func() error { _, err := readiness.New(readiness.Options{}); return err },
		"nil source": func() error { _, err := readiness.New(readiness.Options{}, c, nil); return err },
		"bad mode":   func() error { _, err := readiness.New(readiness.Options{Mode: 7}, c); return err },
		"negative":   func() error { _, err := readiness.New(readiness.Options{Interval: -1}, c); return err },
	} {
		if err := f(); !errors.Is(err, readiness.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// gRPC health checking through a real server: NOT_SERVING until the
// source has keys, then SERVING; Watch ends with its context.
func TestWatchFeedsGRPCHealth(t *testing.T) {
	is := oauthtest.NewT(t)
	is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	c := newCache(t, "corp", is, nil)
	waitAttempt(t, c)
	chk, _ := readiness.New(readiness.Options{Interval: 5 * time.Millisecond}, c)

	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	const svc = "orders.v1.Orders"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- chk.Watch(ctx, hs, svc) }()

	ctxT, cancelT := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelT()
	stream, err := client.Watch(ctxT, &healthpb.HealthCheckRequest{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	want := func(st healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("health watch: %v", err)
			}
			if resp.Status == st {
				return
			}
		}
	}
	want(healthpb.HealthCheckResponse_NOT_SERVING)
	is.ClearFault(oauthtest.EndpointJWKS)
	refresh(t, c, true)
	want(healthpb.HealthCheckResponse_SERVING)

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v", err)
	}
	if err := chk.Watch(context.Background(), nil, svc); !errors.Is(err, readiness.ErrInvalidConfig) {
		t.Fatalf("nil health server: %v", err)
	}
}
