package securitysuite

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The API every transport serves: "read" needs the scope oauthtest grants
// by default, "admin" needs one more.
const (
	scopeRead      = oauthtest.DefaultScope // "read"
	scopeAdmin     = "admin"
	realm          = middleware.DefaultRealm
	grpcService    = "sec.v1.API"
	grpcRead       = "/" + grpcService + "/Read"
	grpcAdmin      = "/" + grpcService + "/Admin"
	grpcWatch      = "/" + grpcService + "/Watch"
	grpcAdminWatch = "/" + grpcService + "/AdminWatch"
	maxHeaderLen   = 4 << 20 // the test servers' MaxHeaderBytes (C4 sends 1 MB)
)

var (
	reqRead  = jwtverify.RequireAll(scopeRead)
	reqAdmin = jwtverify.RequireAll(scopeAdmin, scopeRead)
	// adminScope is the scope attribute a 403 on the admin route carries.
	adminScope = strings.Join(reqAdmin.Scopes(), " ")
)

// algs are the algorithms of the issuer's keys (and the verifier's allow
// list), in publication order; the first is the default signer.
var algs = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}

// fixedKeys are the keys of testdata/keys (no RSA generation per test).
var fixedKeys = sync.OnceValues(func() (map[string]crypto.Signer, error) {
	files := map[string]string{"RS256": "rsa2048", "PS256": "rsa4096", "ES256": "p256", "ES384": "p384", "EdDSA": "ed25519", "RSA1024": "rsa1024"}
	out := map[string]crypto.Signer{}
	for alg, name := range files {
		b, err := os.ReadFile("../testdata/keys/" + name + ".pem")
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM block in " + name)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out[alg] = k.(crypto.Signer)
	}
	return out, nil
})

func fixedKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	ks, err := fixedKeys()
	if err != nil {
		t.Fatal(err)
	}
	return ks[name]
}

// ---- a fake clock for the issuer, the key cache and the verifier

type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk     *fakeClock
	c       chan time.Time
	at      time.Time
	done    bool
	stopped bool
}

func newClock() *fakeClock { return &fakeClock{now: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped || t.done {
			continue
		}
		if !t.at.After(c.now) {
			t.done = true
			t.c <- c.now
			continue
		}
		keep = append(keep, t)
	}
	c.timers = keep
}

func (c *fakeClock) NewTimer(d time.Duration) jwkscache.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1), at: c.now.Add(d)}
	if d <= 0 {
		t.done = true
		t.c <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.done && !t.stopped
	t.stopped = true
	return was
}

// ---- logs

// syncBuffer collects the adapters' logs (every level) for the
// "never logged" checks.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ---- the fixture: issuer, key cache, verifier and the three servers

type fixtureOptions struct {
	// issuer changes the issuer before the key cache first fetches.
	issuer func(t testing.TB, f *fixture)
	// issuerConfig changes the verifier's issuer configuration.
	issuerConfig func(f *fixture, ic *jwtverify.IssuerConfig)
	// cacheConfig changes the key cache configuration.
	cacheConfig func(c *jwkscache.Config)
	// noWait: do not wait for the first good key set.
	noWait bool
	// bare: no exempt path and no CORS preflight skipping.
	bare bool
	// middleware options added to both HTTP adapters.
	mwOpts []middleware.Option
}

type fixture struct {
	clk     *fakeClock
	iss     *oauthtest.Server
	kid     map[string]string // alg -> kid of the issuer's key
	keys    *jwkscache.Cache
	v       *jwtverify.Verifier
	fetches chan jwkscache.FetchEvent
	logs    *syncBuffer

	httpHandler http.Handler // the net/http stack (middleware + mux)
	echoHandler http.Handler // the Echo instance
	httpSrv     *httptest.Server
	echoSrv     *httptest.Server
	gic         *grpcauth.Interceptor
	conn        *grpc.ClientConn
	hc          *http.Client
}

func newFixture(t testing.TB, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{clk: newClock(), kid: map[string]string{}, fetches: make(chan jwkscache.FetchEvent, 4096), logs: &syncBuffer{}}
	opts := []oauthtest.Option{oauthtest.WithClock(f.clk.Now)}
	for _, a := range algs {
		opts = append(opts, oauthtest.WithPrivateKey(a, fixedKey(t, a)))
	}
	f.iss = oauthtest.NewT(t, opts...)
	ids := f.iss.KeyIDs()
	if len(ids) != len(algs) {
		t.Fatalf("issuer has %d keys", len(ids))
	}
	for i, a := range algs {
		f.kid[a] = ids[i]
	}
	if o.issuer != nil {
		o.issuer(t, f)
	}

	tr := &http.Transport{}
	f.hc = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)

	cc := jwkscache.Config{
		Name: "oauthtest", Issuer: f.iss.Issuer(), HTTPClient: f.hc,
		Now: f.clk.Now, NewTimer: f.clk.NewTimer,
		Observer: jwkscache.ObserverFuncs{OnFetch: func(e jwkscache.FetchEvent) {
			select {
			case f.fetches <- e:
			default:
			}
		}},
	}
	if o.cacheConfig != nil {
		o.cacheConfig(&cc)
	}
	keys, err := jwkscache.New(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	f.keys = keys
	if !o.noWait {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := keys.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		// Ready returns when the set is published; the fetch event follows.
		// Consume it so that tests start with no event pending.
		f.waitFetch(t, func(e jwkscache.FetchEvent) bool { return e.Class == jwkscache.ClassOK })
	}

	ic := jwtverify.IssuerConfig{
		Name:       "oauthtest",
		Issuer:     f.iss.Issuer(),
		Keys:       keys,
		Audiences:  []string{oauthtest.DefaultAudience},
		ClientIDs:  []string{oauthtest.DefaultClientID},
		Algorithms: algs,
	}
	if o.issuerConfig != nil {
		o.issuerConfig(f, &ic)
	}
	f.v, err = jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mwOpts := []middleware.Option{middleware.WithObserver(authlog.New(logger, authlog.Options{}))}
	if !o.bare {
		mwOpts = append(mwOpts, middleware.WithExemptPaths("/healthz"), middleware.AllowCORSPreflight())
	}
	mwOpts = append(mwOpts, o.mwOpts...)

	// net/http.
	mw, err := middleware.New(f.v, mwOpts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/read", mw.Require(reqRead)(http.HandlerFunc(okHandler)))
	mux.Handle("/api/admin", mw.Require(reqAdmin)(http.HandlerFunc(okHandler)))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "healthy") })
	f.httpHandler = mw.Handler(mux)
	f.httpSrv = startHTTP(t, f.httpHandler)

	// Echo.
	ea, err := echoauth.New(f.v, mwOpts...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(ea.Authenticate)
	echoOK := func(c echo.Context) error {
		okHandler(c.Response(), c.Request())
		return nil
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
		e.Add(m, "/api/read", echoOK, ea.Require(reqRead))
		e.Add(m, "/api/admin", echoOK, ea.Require(reqAdmin))
	}
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "healthy") })
	f.echoHandler = e
	f.echoSrv = startHTTP(t, e)

	// gRPC.
	pol := grpcauth.Policy{Methods: map[string]jwtverify.Requirement{grpcRead: reqRead, grpcAdmin: reqAdmin,
		grpcWatch: reqRead, grpcAdminWatch: reqAdmin}}
	if !o.bare {
		pol = pol.ExemptHealth()
	}
	f.gic, err = grpcauth.New(f.v, pol, grpcauth.WithObserver(authlog.New(logger, authlog.Options{})))
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(
		grpc.ChainUnaryInterceptor(f.gic.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(f.gic.StreamServerInterceptor()),
	)
	gs.RegisterService(&apiDesc, struct{}{})
	healthpb.RegisterHealthServer(gs, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	f.conn, err = grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.conn.Close()
		gs.Stop()
		<-served
	})
	return f
}

func startHTTP(t testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Config.MaxHeaderBytes = maxHeaderLen
	s.Config.ErrorLog = nil
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// okHandler answers 200 "ok <client>" when the adapter put a Principal in
// the context, 500 otherwise (an adapter that let a request through
// without one).
func okHandler(w http.ResponseWriter, r *http.Request) {
	p, ok := jwtverify.FromContext(r.Context())
	if !ok {
		if r.Method == http.MethodOptions {
			_, _ = io.WriteString(w, "preflight")
			return
		}
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, "ok "+p.ClientID())
}

// apiDesc is a hand-written gRPC service over wrapperspb messages.
var apiDesc = grpc.ServiceDesc{
	ServiceName: grpcService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{unary("Read"), unary("Admin")},
	Streams: []grpc.StreamDesc{
		{StreamName: "Watch", ServerStreams: true, Handler: watch},
		{StreamName: "AdminWatch", ServerStreams: true, Handler: watch},
	},
}

// watch is a server-streaming method: one request, two answers naming the
// caller.
func watch(_ any, s grpc.ServerStream) error {
	p, ok := jwtverify.FromContext(s.Context())
	if !ok {
		return status.Error(codes.Internal, "no principal")
	}
	in := new(wrapperspb.StringValue)
	if err := s.RecvMsg(in); err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		if err := s.SendMsg(wrapperspb.String("ok " + p.ClientID())); err != nil {
			return err
		}
	}
	return nil
}

func unary(name string) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				p, ok := jwtverify.FromContext(ctx)
				if !ok {
					return nil, status.Error(codes.Internal, "no principal")
				}
				return wrapperspb.String("ok " + p.ClientID()), nil
			}
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + grpcService + "/" + name}, h)
		},
	}
}

// waitFetch waits for a fetch event matching ok (the cache's observer
// reports every fetch), failing after a generous real-time bound.
func (f *fixture) waitFetch(t testing.TB, ok func(jwkscache.FetchEvent) bool) jwkscache.FetchEvent {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case e := <-f.fetches:
			if ok(e) {
				return e
			}
		case <-deadline.C:
			t.Fatal("no matching JWKS fetch")
			return jwkscache.FetchEvent{}
		}
	}
}

// advanceUntilFetch advances the clock by d until a fetch matching ok is
// reported, as often as needed: the key cache arms its next timer after it
// reports a fetch and re-plans when a fetch (an unknown kid's) completes, so
// a single Advance can come before the timer it should fire exists. For
// recoveries only, where advancing further changes nothing the test checks.
func (f *fixture) advanceUntilFetch(t testing.TB, d time.Duration, ok func(jwkscache.FetchEvent) bool) jwkscache.FetchEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f.clk.Advance(d)
		wait := time.NewTimer(100 * time.Millisecond)
		for waiting := true; waiting; {
			select {
			case e := <-f.fetches:
				if ok(e) {
					wait.Stop()
					return e
				}
			case <-wait.C:
				waiting = false
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no matching JWKS fetch")
			return jwkscache.FetchEvent{}
		}
	}
}

// drainFetches forgets the fetch events reported so far.
func (f *fixture) drainFetches() {
	for {
		select {
		case <-f.fetches:
		default:
			return
		}
	}
}

// ---- tokens

// mint returns a token of the issuer (default: RS256 key, RFC 9068 claims).
func (f *fixture) mint(t testing.TB, opts ...oauthtest.MintOption) string {
	t.Helper()
	return f.iss.MintT(t, opts...)
}

// claims returns the default claims of a token at the fixture's time,
// with over merged (nil deletes).
func (f *fixture) claims(over map[string]any) map[string]any {
	now := f.clk.Now().Unix()
	c := map[string]any{
		"iss": f.iss.Issuer(), "sub": oauthtest.DefaultClientID, "client_id": oauthtest.DefaultClientID,
		"aud": oauthtest.DefaultAudience, "scope": scopeRead, "iat": now, "nbf": now, "exp": now + 3600, "jti": "j1",
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func (f *fixture) claimsJSON(over map[string]any) []byte { return mustJSON(f.claims(over)) }

// header returns the JSON header of the issuer's key for alg.
func (f *fixture) header(alg string, over map[string]any) []byte {
	h := map[string]any{"alg": alg, "kid": f.kid[alg], "typ": "at+jwt"}
	for k, v := range over {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	return mustJSON(h)
}

// sign signs exact header and payload bytes with the issuer's key for alg.
func (f *fixture) sign(t testing.TB, alg string, header, payload []byte) string {
	t.Helper()
	tok, err := f.iss.Sign(f.kid[alg], header, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// ---- requests and answers, per transport

type transport string

const (
	trHTTP transport = "http"
	trEcho transport = "echo"
	trGRPC transport = "grpc"
)

var transports = []transport{trHTTP, trEcho, trGRPC}

// request is one call in transport-neutral terms.
type request struct {
	// auth are the Authorization header values (gRPC: "authorization"
	// metadata values); none when nil.
	auth []string
	// route is "read" (default), "admin" or "healthz".
	route string
	// HTTP only.
	method      string
	query       string
	body        string
	contentType string
	header      http.Header
	// grpcMD replaces the metadata built from auth (gRPC only).
	grpcMD metadata.MD
}

func bearer(tok string) request { return request{auth: []string{"Bearer " + tok}} }

func (r request) with(route string) request { r.route = route; return r }

// answer is what came back.
type answer struct {
	status int // HTTP status
	header http.Header
	body   string
	code   codes.Code // gRPC
	msg    string
	info   *errdetails.ErrorInfo
	err    error // transport-level failure
}

func (f *fixture) send(t testing.TB, tr transport, r request) answer {
	t.Helper()
	switch tr {
	case trGRPC:
		return f.sendGRPC(t, r)
	case trEcho:
		return f.sendHTTP(t, f.echoSrv.URL, r)
	default:
		return f.sendHTTP(t, f.httpSrv.URL, r)
	}
}

func (f *fixture) sendHTTP(t testing.TB, base string, r request) answer {
	t.Helper()
	route := r.route
	if route == "" {
		route = "read"
	}
	path := "/api/" + route
	if route == "healthz" {
		path = "/healthz"
	}
	u := base + path
	if r.query != "" {
		u += "?" + r.query
	}
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.auth != nil {
		req.Header["Authorization"] = r.auth
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{err: err}
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (f *fixture) sendGRPC(t testing.TB, r request) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	md := r.grpcMD
	if md == nil && r.auth != nil {
		md = metadata.MD{"authorization": r.auth}
	}
	if r.route != "healthz" && hasControl(md) {
		// grpc-go refuses to send control or non-ASCII bytes in metadata;
		// other HTTP/2 clients can. Run the interceptor's decision on them
		// in process.
		m := grpcRead
		if r.route == "admin" {
			m = grpcAdmin
		}
		return f.directGRPC(md, m)
	}
	if md != nil {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	var err error
	var got string
	var hmd, tmd metadata.MD
	copts := []grpc.CallOption{grpc.Header(&hmd), grpc.Trailer(&tmd)}
	switch r.route {
	case "healthz":
		var resp *healthpb.HealthCheckResponse
		resp, err = healthpb.NewHealthClient(f.conn).Check(ctx, &healthpb.HealthCheckRequest{}, copts...)
		if err == nil {
			got = resp.GetStatus().String()
		}
	default:
		m := grpcRead
		if r.route == "admin" {
			m = grpcAdmin
		}
		out := new(wrapperspb.StringValue)
		err = f.conn.Invoke(ctx, m, wrapperspb.String("x"), out, copts...)
		got = out.GetValue()
	}
	st := status.Convert(err)
	// Header and trailer metadata, as an http.Header for the reflection
	// checks.
	h := http.Header{}
	for _, md := range []metadata.MD{hmd, tmd} {
		for k, vs := range md {
			h[k] = append(h[k], vs...)
		}
	}
	return answer{code: st.Code(), msg: st.Message(), body: got, info: infoOf(st), header: h}
}

func hasControl(md metadata.MD) bool {
	for _, vs := range md {
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] >= 0x7f {
					return true
				}
			}
		}
	}
	return false
}

func infoOf(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// ---- expected outcomes (SECURITY.md's codes)

type outcome int

const (
	accept   outcome = iota // A
	invalidT                // 401-T
	expiredT                // 401-T with the "expired" description
	invalidR                // 400-R
	bare401                 // 401-0
	scope403                // 403-S
	unavail                 // 503
	unavailI                // 503 of an introspection that cannot decide (gRPC: INTROSPECTION_UNAVAILABLE)
)

func (o outcome) String() string {
	return [...]string{"A", "401-T", "401-T(expired)", "400-R", "401-0", "403-S", "503", "503(introspection)"}[o]
}

const (
	descInvalid  = "The access token is invalid"
	descExpired  = "The access token expired"
	descScope    = "The access token lacks the permissions this request requires"
	descRequest  = "The request carries malformed or ambiguous bearer credentials"
	descNoCreds  = "Bearer authentication is required"
	realmParam   = `Bearer realm="` + realm + `"`
	challengeT   = realmParam + `, error="invalid_token", error_description="` + descInvalid + `"`
	challengeExp = realmParam + `, error="invalid_token", error_description="` + descExpired + `"`
	challengeR   = realmParam + `, error="invalid_request", error_description="` + descRequest + `"`
)

// expect checks the exact answer for outcome want; scope is the scope
// attribute of a 403 (the route's requirement).
func expect(t testing.TB, tr transport, a answer, want outcome, scope string) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("%s: transport error: %v", tr, a.err)
	}
	if tr == trGRPC {
		expectGRPC(t, a, want, scope)
		return
	}
	type spec struct {
		status    int
		challenge string
		errCode   string
		desc      string
	}
	s := map[outcome]spec{
		accept:   {status: 200},
		invalidT: {401, challengeT, "invalid_token", descInvalid},
		expiredT: {401, challengeExp, "invalid_token", descExpired},
		invalidR: {400, challengeR, "invalid_request", descRequest},
		bare401:  {401, realmParam, "unauthorized", descNoCreds},
		scope403: {403, realmParam + `, error="insufficient_scope", error_description="` + descScope + `", scope="` + scope + `"`, "insufficient_scope", descScope},
		unavail:  {503, "", "temporarily_unavailable", ""},
		unavailI: {503, "", "temporarily_unavailable", ""},
	}[want]
	if a.status != s.status {
		t.Fatalf("%s: status %d, want %d (%s); WWW-Authenticate %q body %q", tr, a.status, s.status, want, a.header.Get("WWW-Authenticate"), a.body)
	}
	if want == accept {
		if !strings.HasPrefix(a.body, "ok ") && a.body != "healthy" && a.body != "preflight" {
			t.Fatalf("%s: accepted with body %q", tr, a.body)
		}
		if h := a.header.Values("WWW-Authenticate"); len(h) != 0 {
			t.Fatalf("%s: challenge on success: %q", tr, h)
		}
		return
	}
	if h := a.header.Values("WWW-Authenticate"); s.challenge == "" && len(h) != 0 {
		t.Fatalf("%s: %s with a challenge %q", tr, want, h)
	} else if s.challenge != "" && (len(h) != 1 || h[0] != s.challenge) {
		t.Fatalf("%s: WWW-Authenticate %q, want %q", tr, h, s.challenge)
	}
	if (want == unavail || want == unavailI) && a.header.Get("Retry-After") == "" {
		t.Fatalf("%s: 503 without Retry-After", tr)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("%s: Cache-Control %q", tr, cc)
	}
	var body struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(a.body), &body); err != nil {
		t.Fatalf("%s: body %q is not the JSON error object: %v", tr, a.body, err)
	}
	if body.Error != s.errCode || (s.desc != "" && body.Desc != s.desc) {
		t.Fatalf("%s: body %q, want error %q description %q", tr, a.body, s.errCode, s.desc)
	}
}

func expectGRPC(t testing.TB, a answer, want outcome, scope string) {
	t.Helper()
	type spec struct {
		code codes.Code
		info string
		msg  string
	}
	s := map[outcome]spec{
		accept:   {codes.OK, "", ""},
		invalidT: {codes.Unauthenticated, grpcauth.InfoInvalidToken, descInvalid},
		expiredT: {codes.Unauthenticated, grpcauth.InfoTokenExpired, descExpired},
		invalidR: {codes.Unauthenticated, grpcauth.InfoInvalidRequest, descRequest},
		bare401:  {codes.Unauthenticated, grpcauth.InfoMissingToken, descNoCreds},
		scope403: {codes.PermissionDenied, grpcauth.InfoInsufficientScope, ""},
		unavail:  {codes.Unavailable, grpcauth.InfoKeysUnavailable, "The access token cannot be verified at the moment"},
		unavailI: {codes.Unavailable, grpcauth.InfoIntrospectionUnavailable, "The access token cannot be verified at the moment"},
	}[want]
	if a.code != s.code {
		t.Fatalf("grpc: code %v (%q), want %v (%s)", a.code, a.msg, s.code, want)
	}
	if want == accept {
		if !strings.HasPrefix(a.body, "ok ") && a.body != "SERVING" {
			t.Fatalf("grpc: accepted with %q", a.body)
		}
		return
	}
	if a.info == nil || a.info.GetReason() != s.info || a.info.GetDomain() != grpcauth.Domain {
		t.Fatalf("grpc: ErrorInfo %v, want reason %s", a.info, s.info)
	}
	if s.msg != "" && a.msg != s.msg {
		t.Fatalf("grpc: message %q, want %q", a.msg, s.msg)
	}
	if want == scope403 {
		if got := a.info.GetMetadata()[grpcauth.MetadataScope]; got != scope {
			t.Fatalf("grpc: scope metadata %q, want %q", got, scope)
		}
	}
}

// check sends r over tr as a named subtest and checks the answer.
func (f *fixture) check(t *testing.T, tr transport, name string, r request, want outcome) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Helper()
		scope := ""
		if want == scope403 {
			scope = scopeRead
			if r.route == "admin" {
				scope = adminScope
			}
		}
		expect(t, tr, f.send(t, tr, r), want, scope)
		// Again: an accepted token now comes from the verified-token
		// cache, a refused one is verified again (failures are never
		// cached); the answer must not change.
		expect(t, tr, f.send(t, tr, r), want, scope)
	})
}

// checkToken sends "Bearer <tok>" to the read route.
func (f *fixture) checkToken(t *testing.T, tr transport, name, tok string, want outcome) {
	t.Helper()
	f.check(t, tr, name, bearer(tok), want)
}
