package grpcauth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The API of the tests: an audience, two callers with different scopes.
const (
	audience = "api://echo"

	readerID, readerSecret = "reader", "reader-secret"
	writerID, writerSecret = "writer", "writer-secret"
)

// testPolicy protects the echo service; test.v1.Admin is undeclared, so the
// default (deny) applies to it.
func testPolicy() grpcauth.Policy {
	return grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{
			"/test.v1.Echo/*":     jwtverify.RequireAll("echo.read"),
			"/test.v1.Echo/Write": jwtverify.RequireAll("echo.write"),
			"/test.v1.Echo/Chat":  jwtverify.RequireAll("echo.read", "echo.chat"),
			"/test.v1.Long/*":     jwtverify.RequireAll("echo.read"),
		},
	}.ExemptHealth().ExemptReflection()
}

// ---- the echo service: a hand-written ServiceDesc over wrapperspb messages.

// whoami describes the Principal of ctx, or fails with Internal when the
// interceptor did not put one there.
func whoami(ctx context.Context) (string, error) {
	p, ok := jwtverify.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Internal, "test: no principal in the handler's context")
	}
	return p.ClientID() + " " + strings.Join(p.Scopes(), ","), nil
}

func unaryMethod(service, name string, fn func(ctx context.Context, in string) (string, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				out, err := fn(ctx, req.(*wrapperspb.StringValue).GetValue())
				if err != nil {
					return nil, err
				}
				return wrapperspb.String(out), nil
			}
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + service + "/" + name}, h)
		},
	}
}

func recvString(s grpc.ServerStream) (string, error) {
	m := new(wrapperspb.StringValue)
	if err := s.RecvMsg(m); err != nil {
		return "", err
	}
	return m.GetValue(), nil
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "test.v1.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		unaryMethod("test.v1.Echo", "Whoami", func(ctx context.Context, _ string) (string, error) { return whoami(ctx) }),
		// Ping answers its input: the benchmarks' trivial handler.
		unaryMethod("test.v1.Echo", "Ping", func(_ context.Context, in string) (string, error) { return in, nil }),
		unaryMethod("test.v1.Echo", "Write", func(ctx context.Context, in string) (string, error) {
			who, err := whoami(ctx)
			return who + " wrote " + in, err
		}),
	},
	Streams: []grpc.StreamDesc{
		{
			// Server streaming: one request, three answers.
			StreamName: "Watch", ServerStreams: true,
			Handler: func(_ any, s grpc.ServerStream) error {
				who, err := whoami(s.Context())
				if err != nil {
					return err
				}
				in, err := recvString(s)
				if err != nil {
					return err
				}
				for n := range 3 {
					if err := s.SendMsg(wrapperspb.String(fmt.Sprintf("%s %s #%d", who, in, n))); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			// Client streaming: many requests, one answer.
			StreamName: "Collect", ClientStreams: true,
			Handler: func(_ any, s grpc.ServerStream) error {
				who, err := whoami(s.Context())
				if err != nil {
					return err
				}
				var got []string
				for {
					in, err := recvString(s)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return err
					}
					got = append(got, in)
				}
				return s.SendMsg(wrapperspb.String(who + " " + strings.Join(got, "+")))
			},
		},
		{
			// Bidirectional: echo every message.
			StreamName: "Chat", ServerStreams: true, ClientStreams: true,
			Handler: func(_ any, s grpc.ServerStream) error {
				who, err := whoami(s.Context())
				if err != nil {
					return err
				}
				for {
					in, err := recvString(s)
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					if err := s.SendMsg(wrapperspb.String(who + ": " + in)); err != nil {
						return err
					}
				}
			},
		},
	},
}

// adminDesc is a service the policy does not declare.
var adminDesc = grpc.ServiceDesc{
	ServiceName: "test.v1.Admin",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		unaryMethod("test.v1.Admin", "Reset", func(context.Context, string) (string, error) { return "reset", nil }),
	},
}

// ---- TLS

// selfSignedTLS returns a server config with a fresh self-signed P-256
// certificate for 127.0.0.1 and the pool a client trusts it with.
func selfSignedTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "grpcauth test"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: cert}},
		MinVersion:   tls.VersionTLS13,
	}, pool
}

// ---- observer and logs

// recorder is a DecisionObserver keeping every event.
type recorder struct {
	mu     sync.Mutex
	events []jwtverify.DecisionEvent
}

func (r *recorder) ObserveDecision(ev jwtverify.DecisionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev.Missing = slices.Clone(ev.Missing)
	r.events = append(r.events, ev)
}

// take returns the events since the last take.
func (r *recorder) take() []jwtverify.DecisionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (slog handlers
// serialize their own writes, but tests read while servers write).
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

// ---- the environment: issuer, verifier, TLS gRPC server and client

type env struct {
	iss      *oauthtest.Server
	keys     *jwkscache.Cache
	verifier *jwtverify.Verifier
	ic       *grpcauth.Interceptor
	conn     *grpc.ClientConn
	obs      *recorder
	logs     *syncBuffer
	hc       *http.Client
	long     *longServer
	srv      *grpc.Server
	// probed counts calls that reached the interceptor chained after
	// ours, and withPrincipal those of them whose context held a Principal.
	probed, withPrincipal atomic.Int64
}

type envConfig struct {
	// jwksDown makes the issuer's JWKS endpoint answer 503 from the
	// start: the verifier never gets a key set (SECURITY.md B13a).
	jwksDown bool
	// server options replacing the interceptors of this package (AuthFunc
	// tests); nil: ours, chained with a probe.
	serverOpts func(e *env) []grpc.ServerOption
	tls        bool
	// now is the verifier's clock (default time.Now); leeway its
	// IssuerConfig.Leeway.
	now    func() time.Time
	leeway time.Duration
	// validate is the issuer's Validate rule.
	validate func(*jwtverify.Principal) error
	// icOpts are added to the interceptor's options.
	icOpts []grpcauth.Option
}

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	e := &env{obs: &recorder{}, logs: &syncBuffer{}}
	e.iss = oauthtest.NewT(t)
	e.iss.RegisterClient(oauthtest.Client{ID: readerID, Secret: readerSecret, Scopes: []string{"echo.read"}, Audiences: []string{audience}})
	e.iss.RegisterClient(oauthtest.Client{ID: writerID, Secret: writerSecret, Scopes: []string{"echo.read", "echo.write", "echo.chat"}, Audiences: []string{audience}})

	// The token and JWKS requests go through a client of our own, so that
	// no idle connection outlives the test (goleak).
	tr := &http.Transport{}
	e.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)

	// The keys: the issuer's JWKS, found by discovery, as in production.
	if cfg.jwksDown {
		e.iss.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	}
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "oauthtest", Issuer: e.iss.Issuer(), HTTPClient: e.hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	e.keys = keys
	if !cfg.jwksDown {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := keys.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Logs wired the documented way: an authlog.Logger observing the
	// interceptor (not the verifier: the benchmarks measure it bare).
	lg := authlog.New(slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), authlog.Options{})
	v, err := jwtverify.New(jwtverify.Config{Now: cfg.now, Issuers: []jwtverify.IssuerConfig{{
		Name:       "oauthtest",
		Issuer:     e.iss.Issuer(),
		Keys:       keys,
		Audiences:  []string{audience},
		ClientIDs:  []string{readerID, writerID},
		Algorithms: []string{"RS256"},
		Leeway:     cfg.leeway,
		Validate:   cfg.validate,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	e.verifier = v
	e.ic, err = grpcauth.New(v, testPolicy(),
		append([]grpcauth.Option{grpcauth.WithObserver(e.obs), grpcauth.WithObserver(lg)}, cfg.icOpts...)...)
	if err != nil {
		t.Fatal(err)
	}

	var opts []grpc.ServerOption
	if cfg.serverOpts != nil {
		opts = cfg.serverOpts(e)
	} else {
		opts = []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(e.ic.UnaryServerInterceptor(), e.unaryProbe),
			grpc.ChainStreamInterceptor(e.ic.StreamServerInterceptor(), e.streamProbe),
		}
	}
	clientCreds := grpc.WithTransportCredentials(insecure.NewCredentials())
	if cfg.tls {
		serverTLS, pool := selfSignedTLS(t)
		opts = append(opts, grpc.Creds(credentials.NewTLS(serverTLS)))
		clientCreds = grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}))
	}
	srv := grpc.NewServer(opts...)
	e.srv = srv
	srv.RegisterService(&echoDesc, nil)
	srv.RegisterService(&adminDesc, nil)
	e.long = &longServer{seen: make(chan longReport, 16)}
	srv.RegisterService(&longDesc, e.long)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv) // v1 and v1alpha

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		hs.Shutdown()
		srv.Stop()
		<-served
	})

	e.conn, err = grpc.NewClient(lis.Addr().String(), clientCreds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.conn.Close() })

	return e
}

func (e *env) unaryProbe(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	e.probe(ctx)
	return h(ctx, req)
}

func (e *env) streamProbe(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	e.probe(ss.Context())
	return h(srv, ss)
}

func (e *env) probe(ctx context.Context) {
	e.probed.Add(1)
	if _, ok := jwtverify.FromContext(ctx); ok {
		e.withPrincipal.Add(1)
	}
}

// oauthCreds returns per-RPC credentials that get their token from the
// issuer's token endpoint with the client credentials grant, as a real
// caller does.
func (e *env) oauthCreds(id, secret string) credentials.PerRPCCredentials {
	cc := clientcredentials.Config{
		ClientID:     id,
		ClientSecret: secret,
		TokenURL:     e.iss.TokenURL(),
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.hc)
	return oauth.TokenSource{TokenSource: cc.TokenSource(ctx)}
}

// errorInfo returns the m2mauth ErrorInfo detail of err, failing t if there
// is not exactly one.
func errorInfo(t testing.TB, err error) *errdetails.ErrorInfo {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a status: %v", err)
	}
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, ei)
		}
	}
	if len(infos) != 1 {
		t.Fatalf("%d ErrorInfo details in %v, want 1", len(infos), st.Proto())
	}
	if infos[0].GetDomain() != grpcauth.Domain {
		t.Errorf("ErrorInfo domain %q, want %q", infos[0].GetDomain(), grpcauth.Domain)
	}
	return infos[0]
}

// wantStatus checks the code and ErrorInfo reason of err.
func wantStatus(t testing.TB, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code %v (%v), want %v", got, err, code)
	}
	ei := errorInfo(t, err)
	if ei.GetReason() != reason {
		t.Errorf("ErrorInfo reason %q, want %q", ei.GetReason(), reason)
	}
	return ei
}
