package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/profiles"
)

// The permissions of the protected services: reading needs "read", writing
// needs "write", on every transport.
const (
	scopeRead  = "read"
	scopeWrite = "write"
)

// fakeClock is the JWKS cache's clock: the unknown-kid cooldown passes when
// the test says so, not after a sleep. Verification itself runs on real
// time (Hydra's tokens carry real iat/exp).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// idleTimer never fires: with the fake clock, the cache's only fetches are
// the initial one, unknown-kid refreshes and Refresh.
type idleTimer struct{}

func (idleTimer) C() <-chan time.Time { return nil }
func (idleTimer) Stop() bool          { return true }

// recorder keeps the last decision of any adapter, to check that a
// rejection happened for the expected reason.
type recorder struct {
	mu   sync.Mutex
	last jwtverify.DecisionEvent
	n    int
}

func (r *recorder) ObserveDecision(ev jwtverify.DecisionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = ev
	r.n++
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.n = jwtverify.DecisionEvent{}, 0
}

func (r *recorder) get() (jwtverify.DecisionEvent, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.n
}

// stack is one m2mauth configuration for a Hydra (profiles.Hydra over a
// jwkscache discovery of its issuer) protecting three real services.
type stack struct {
	clock    *fakeClock
	cache    *jwkscache.Cache
	verifier *jwtverify.Verifier
	rec      *recorder

	httpURL, echoURL string
	grpc             testpb.TestServiceClient
	http             *http.Client
}

// unknownKIDWait is how far the fake clock must move for an unknown kid to
// trigger a refresh again (cooldown plus the gap after any fetch).
const unknownKIDWait = jwkscache.DefaultUnknownKIDCooldown + jwkscache.MinFetchGap + time.Second

// newStack builds the verifier for h accepting clientIDs and starts the
// net/http, Echo and gRPC services, all closed when t ends.
func newStack(t *testing.T, h *hydraProcess, clientIDs ...string) *stack {
	t.Helper()
	return buildStack(t, h.discovery(t).Issuer, true, clientIDs...)
}

// buildStack is newStack for the issuer URL; with waitReady false it does
// not wait for the first key set (the issuer may be down).
func buildStack(t *testing.T, issuer string, waitReady bool, clientIDs ...string) *stack {
	t.Helper()
	return buildStackWith(t, issuer, waitReady, nil, clientIDs...)
}

// buildStackWith is buildStack; with intro not nil the issuer is in
// jwt-or-introspect mode: Hydra's JWTs go through the JWT pipeline, its
// opaque tokens (OpaquePrefix "ory_at_") to intro.
func buildStackWith(t *testing.T, issuer string, waitReady bool, intro *introspect.Source, clientIDs ...string) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &stack{clock: newFakeClock(), rec: &recorder{}, http: httpClient(t)}

	cache, err := jwkscache.New(context.Background(), jwkscache.Config{
		Name:               "hydra",
		Issuer:             issuer, // discovery: {issuer}/.well-known/openid-configuration
		HTTPClient:         httpClient(t),
		UnknownKIDCooldown: jwkscache.DefaultUnknownKIDCooldown,
		Now:                s.clock.Now,
		NewTimer:           func(time.Duration) jwkscache.Timer { return idleTimer{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	if waitReady {
		if err := cache.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s.cache = cache

	prof, err := profiles.Hydra(profiles.HydraOptions{
		Issuer:    issuer,
		Audience:  apiAudience,
		ClientIDs: clientIDs,
		Keys:      cache,
	})
	if err != nil {
		t.Fatal(err)
	}
	ics := profiles.IssuerConfigs(prof)
	if intro != nil {
		ics[0].Mode = jwtverify.ModeJWTOrIntrospect
		ics[0].Introspection = intro
		ics[0].OpaquePrefix = "ory_at_"
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: ics})
	if err != nil {
		t.Fatal(err)
	}
	s.verifier = v

	s.httpURL = s.startHTTP(t)
	s.echoURL = s.startEcho(t)
	s.grpc = s.startGRPC(t)
	return s
}

// whoami answers the caller's client ID and scopes (proof that the
// Principal reached the handler).
func whoami(p *jwtverify.Principal, ok bool) string {
	if !ok {
		return "no principal"
	}
	return "client=" + p.ClientID() + " scopes=" + strings.Join(p.Scopes(), ",")
}

func (s *stack) startHTTP(t *testing.T) string {
	mw, err := middleware.New(s.verifier, middleware.WithObserver(s.rec))
	if err != nil {
		t.Fatal(err)
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, whoami(jwtverify.FromContext(r.Context())))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", mw.RequireFunc(jwtverify.RequireAll(scopeRead), h))
	mux.Handle("POST /orders", mw.RequireFunc(jwtverify.RequireAll(scopeWrite), h))
	srv := httptest.NewServer(mw.Handler(mux))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (s *stack) startEcho(t *testing.T) string {
	auth, err := echoauth.New(s.verifier, middleware.WithObserver(s.rec))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(auth.Authenticate)
	h := func(c echo.Context) error {
		return c.String(http.StatusOK, whoami(echoauth.Principal(c)))
	}
	e.GET("/orders", h, auth.Require(jwtverify.RequireAll(scopeRead)))
	e.POST("/orders", h, auth.Require(jwtverify.RequireAll(scopeWrite)))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

// testService is a real gRPC service (grpc's interop TestService):
// EmptyCall and StreamingOutputCall read, UnaryCall writes.
type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	if _, ok := jwtverify.FromContext(ctx); !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return &testpb.Empty{}, nil
}

func (testService) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	p, ok := jwtverify.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return &testpb.SimpleResponse{Username: p.ClientID()}, nil
}

func (testService) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, st grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	if _, ok := jwtverify.FromContext(st.Context()); !ok {
		return status.Error(codes.Internal, "no principal")
	}
	for range 2 {
		if err := st.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	return nil
}

func (s *stack) startGRPC(t *testing.T) testpb.TestServiceClient {
	ic, err := grpcauth.New(s.verifier, grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{
			"/grpc.testing.TestService/EmptyCall":           jwtverify.RequireAll(scopeRead),
			"/grpc.testing.TestService/StreamingOutputCall": jwtverify.RequireAll(scopeRead),
			"/grpc.testing.TestService/UnaryCall":           jwtverify.RequireAll(scopeWrite),
		},
	}, grpcauth.WithObserver(s.rec))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(ic.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(ic.StreamServerInterceptor()),
	)
	testpb.RegisterTestServiceServer(srv, testService{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-served
	})
	return testpb.NewTestServiceClient(conn)
}

// Expected results of a call.
type want int

const (
	allowed         want = iota // 200 / OK
	unauthenticated             // 401 invalid_token / Unauthenticated
	forbidden                   // 403 insufficient_scope / PermissionDenied
	unavailable                 // 503 / Unavailable: no usable key set, introspection unavailable
	unexpected                  // anything else
)

func (w want) String() string {
	return [...]string{"allowed", "unauthenticated", "forbidden", "unavailable", "unexpected"}[w]
}

// op is what a call does: read or write.
type op string

const (
	opRead  op = scopeRead
	opWrite op = scopeWrite
)

// expect calls every transport with tok doing o and checks the outcome and,
// for a rejection, the reason m2mauth decided on.
func (s *stack) expect(t *testing.T, tok string, o op, w want, reason jwtverify.Reason) {
	t.Helper()
	for _, tr := range []string{"http", "echo", "grpc"} {
		s.rec.reset()
		got, detail := s.call(t, tr, tok, o)
		ev, n := s.rec.get()
		if got != w {
			t.Errorf("%s %s: got %v (%s), want %v", tr, o, got, detail, w)
			continue
		}
		if n == 0 {
			t.Errorf("%s %s: no decision observed", tr, o)
			continue
		}
		if w != allowed && ev.Reason != reason {
			t.Errorf("%s %s: rejected for %q, want %q", tr, o, ev.Reason, reason)
		}
		if w == allowed && ev.Result != jwtverify.DecisionAllowed {
			t.Errorf("%s %s: decision %q, want %q", tr, o, ev.Result, jwtverify.DecisionAllowed)
		}
	}
	if o == opRead {
		s.expectStream(t, tok, w)
	}
}

// call performs one request on transport tr and classifies the answer.
func (s *stack) call(t *testing.T, tr, tok string, o op) (want, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if tr == "grpc" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		var err error
		if o == opRead {
			_, err = s.grpc.EmptyCall(ctx, &testpb.Empty{})
		} else {
			var resp *testpb.SimpleResponse
			resp, err = s.grpc.UnaryCall(ctx, &testpb.SimpleRequest{})
			if err == nil && resp.GetUsername() == "" {
				t.Errorf("grpc: handler saw no client ID")
			}
		}
		return classifyGRPC(t, err)
	}
	base := s.httpURL
	if tr == "echo" {
		base = s.echoURL
	}
	method := http.MethodGet
	if o == opWrite {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", tr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	challenge := resp.Header.Get("WWW-Authenticate")
	detail := fmt.Sprintf("%d %q %s", resp.StatusCode, challenge, body)
	switch resp.StatusCode {
	case http.StatusOK:
		if !strings.HasPrefix(string(body), "client=") {
			t.Errorf("%s: handler saw no principal: %s", tr, body)
		}
		return allowed, detail
	case http.StatusUnauthorized:
		if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("%s: 401 challenge %q, want Bearer error=\"invalid_token\"", tr, challenge)
		}
		return unauthenticated, detail
	case http.StatusForbidden:
		if !strings.Contains(challenge, `error="insufficient_scope"`) || !strings.Contains(challenge, `scope="`+string(o)+`"`) {
			t.Errorf("%s: 403 challenge %q, want insufficient_scope naming scope %q", tr, challenge, o)
		}
		return forbidden, detail
	case http.StatusServiceUnavailable:
		return unavailable, detail
	}
	return unexpected, detail
}

func classifyGRPC(t *testing.T, err error) (want, string) {
	t.Helper()
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.OK:
		return allowed, "OK"
	case codes.Unauthenticated:
		return unauthenticated, st.String()
	case codes.PermissionDenied:
		return forbidden, st.String()
	case codes.Unavailable:
		return unavailable, st.String()
	}
	return unexpected, st.String()
}

// expectStream checks the stream interceptor with a server-streaming read.
func (s *stack) expectStream(t *testing.T, tok string, w want) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	st, err := s.grpc.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
	if err == nil {
		n := 0
		for {
			_, err = st.Recv()
			if err != nil {
				break
			}
			n++
		}
		if errors.Is(err, io.EOF) {
			err = nil
			if n != 2 {
				t.Errorf("grpc stream: %d messages, want 2", n)
			}
		}
	}
	if got, detail := classifyGRPC(t, err); got != w {
		t.Errorf("grpc stream: got %v (%s), want %v", got, detail, w)
	}
}
