package binding_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const audience = "https://api.example.test"

// env is an issuer with an mTLS token endpoint, a verifier of its tokens
// and a certificate client.
type env struct {
	is   *oauthtest.Server
	v    *jwtverify.Verifier
	cc   *oauthtest.ClientCert
	src  *binding.CertSource
	cfg  binding.Config
	hc   *http.Client // plain client of the JWKS
	bind func(p *jwtverify.Principal, proof binding.Proof) binding.Reason
}

func newEnv(t testing.TB, policy binding.Policy) *env {
	t.Helper()
	e := &env{cfg: binding.Config{Policy: policy, Methods: binding.Certificate}}
	e.is = oauthtest.NewT(t, oauthtest.WithMTLS())
	e.cc = oauthtest.NewClientCertT(t, "orders-worker")
	if err := e.is.RegisterCertClient(oauthtest.Client{ID: "orders-worker", Scopes: []string{"orders.read"}, Audiences: []string{audience}},
		oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient, Certificates: []*x509.Certificate{e.cc.Certificate}}); err != nil {
		t.Fatal(err)
	}
	e.is.RegisterClient(oauthtest.Client{ID: "bearer-worker", Secret: "s3cret", Scopes: []string{"orders.read"}, Audiences: []string{audience}})
	tr := &http.Transport{}
	e.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "idp", Issuer: e.is.Issuer(), HTTPClient: e.hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	// This test holds the binding package alone to RFC 8705 over real TLS:
	// the verifier lets cnf through and the test's adapter checks the
	// binding with this package. The adapters' own binding (through
	// jwtverify.VerifyBound) is tested in middleware, grpcauth and
	// securitysuite (rows J1-J6).
	e.v, err = jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: e.is.Issuer(), Keys: keys, Audiences: []string{audience},
		ClientIDs: []string{"orders-worker", "bearer-worker"}, Algorithms: []string{"RS256"},
		InsecureIgnoreConfirmation: true,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	e.src, err = binding.NewCertSource(binding.CertSourceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e.bind = func(p *jwtverify.Principal, proof binding.Proof) binding.Reason {
		var cnf binding.Confirmation
		if raw, ok := p.Claim("cnf"); ok {
			c, err := binding.ParseConfirmation(raw)
			if err != nil {
				return binding.ReasonOf(err)
			}
			cnf = c
		}
		return binding.Check(e.cfg, cnf, proof)
	}
	return e
}

// boundToken gets a certificate-bound token from the mTLS token endpoint
// with x/oauth2's clientcredentials, as a real caller does.
func (e *env) boundToken(t testing.TB) string {
	t.Helper()
	hc := e.cc.HTTPClient(e.is.MTLSRootCAs())
	defer hc.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	cfg := clientcredentials.Config{ClientID: "orders-worker", TokenURL: e.is.MTLSTokenURL(), AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func (e *env) bearerToken(t testing.TB) string {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.hc)
	cfg := clientcredentials.Config{ClientID: "bearer-worker", ClientSecret: "s3cret", TokenURL: e.is.TokenURL()}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// handler is a minimal binding-aware adapter: 401 with the reason in a
// test header when the token or its binding fails.
func (e *env) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("Authorization")
		if len(tok) < 7 {
			w.WriteHeader(401)
			return
		}
		p, err := e.v.Verify(r.Context(), tok[7:])
		if err != nil {
			w.Header().Set("X-Reason", string(jwtverify.ReasonOf(err)))
			w.WriteHeader(401)
			return
		}
		if why := e.bind(p, e.src.ProofFromRequest(r)); why != binding.Accepted {
			w.Header().Set("X-Reason", string(why))
			w.WriteHeader(401)
			return
		}
		_, _ = io.WriteString(w, p.ClientID())
	})
}

func call(t *testing.T, hc *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Reason")
}

// TestCertificateBindingOverTLS: a token from oauthtest's mTLS token
// endpoint, used on a real TLS connection to an API asking for client
// certificates, is accepted with the right certificate and refused with
// another, with none, and over plain HTTP; under Required a bearer token is
// refused, under Optional accepted.
func TestCertificateBindingOverTLS(t *testing.T) {
	for _, policy := range []binding.Policy{binding.Optional, binding.Required} {
		t.Run(policy.String(), func(t *testing.T) {
			e := newEnv(t, policy)
			api := oauthtest.NewMTLSServer(e.handler())
			defer api.Close()
			plain := httptest.NewServer(e.handler())
			defer plain.Close()
			roots := oauthtest.RootCAs(api)
			right := e.cc.HTTPClient(roots)
			wrong := oauthtest.NewClientCertT(t, "orders-worker").HTTPClient(roots)
			none := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
			for _, c := range []*http.Client{right, wrong, none, http.DefaultClient} {
				defer c.CloseIdleConnections()
			}
			bound := e.boundToken(t)
			bearer := e.bearerToken(t)

			for i := 0; i < 3; i++ { // repeated on one connection (the cached path)
				if st, why := call(t, right, api.URL, bound); st != 200 {
					t.Fatalf("right certificate: %d %s", st, why)
				}
			}
			cases := []struct {
				name string
				hc   *http.Client
				url  string
				tok  string
				want binding.Reason
			}{
				{"another certificate", wrong, api.URL, bound, binding.ReasonThumbprintMismatch},
				{"no certificate", none, api.URL, bound, binding.ReasonNoClientCertificate},
				{"plain HTTP", http.DefaultClient, plain.URL, bound, binding.ReasonNotTLS},
			}
			if policy == binding.Required {
				cases = append(cases, struct {
					name string
					hc   *http.Client
					url  string
					tok  string
					want binding.Reason
				}{"bearer token", right, api.URL, bearer, binding.ReasonBindingRequired})
			} else if st, why := call(t, none, api.URL, bearer); st != 200 {
				t.Fatalf("optional: bearer token refused: %s", why)
			}
			for _, c := range cases {
				if st, why := call(t, c.hc, c.url, c.tok); st != 401 || why != string(c.want) {
					t.Errorf("%s: %d %q, want 401 %q", c.name, st, why, c.want)
				}
			}
		})
	}
}

// TestPlainVerifyRefusesBoundToken: today's Verify (without
// InsecureIgnoreConfirmation) refuses the bound tokens oauthtest issues.
func TestPlainVerifyRefusesBoundToken(t *testing.T) {
	e := newEnv(t, binding.Optional)
	strict, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: e.is.Issuer(), Keys: mustKeys(t, e), Audiences: []string{audience},
		ClientIDs: []string{"orders-worker"}, Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Verify(context.Background(), e.boundToken(t)); jwtverify.ReasonOf(err) != jwtverify.ReasonType {
		t.Fatalf("plain Verify of a bound token: %v", err)
	}
}

func mustKeys(t testing.TB, e *env) jwkscache.KeySource {
	t.Helper()
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "idp", Issuer: e.is.Issuer(), HTTPClient: e.hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	return keys
}

// TestCertificateBindingOverGRPC: the same check in a gRPC interceptor over
// TLS, reading the certificate from peer.FromContext.
func TestCertificateBindingOverGRPC(t *testing.T) {
	e := newEnv(t, binding.Required)
	interceptor := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		auth := md.Get("authorization")
		if len(auth) != 1 || len(auth[0]) < 7 {
			return nil, status.Error(codes.Unauthenticated, "no token")
		}
		p, err := e.v.Verify(ctx, auth[0][7:])
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, string(jwtverify.ReasonOf(err)))
		}
		var cs *tls.ConnectionState
		if pr, ok := peer.FromContext(ctx); ok {
			if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok {
				cs = &ti.State
			}
		}
		if why := e.bind(p, e.src.ProofFromTLS(cs)); why != binding.Accepted {
			return nil, status.Error(codes.Unauthenticated, string(why))
		}
		return h(ctx, req)
	}
	api := oauthtest.NewMTLSServer(http.NotFoundHandler()) // for its certificate
	serverCert := api.TLS.Certificates[0]
	api.Close()
	lis, err := newListener()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequestClientCert})),
		grpc.UnaryInterceptor(interceptor))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	roots := oauthtest.RootCAs(api)

	bound := e.boundToken(t)
	dial := func(cc *oauthtest.ClientCert) healthpb.HealthClient {
		cfg := &tls.Config{RootCAs: roots, ServerName: "example.com"}
		if cc != nil {
			cfg = cc.TLSConfig(roots)
			cfg.ServerName = "example.com"
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return healthpb.NewHealthClient(conn)
	}
	check := func(c healthpb.HealthClient, tok string) error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(dial(e.cc), bound); err != nil {
		t.Fatalf("right certificate: %v", err)
	}
	for name, tc := range map[string]struct {
		c    healthpb.HealthClient
		want binding.Reason
	}{
		"another certificate": {dial(oauthtest.NewClientCertT(t, "x")), binding.ReasonThumbprintMismatch},
		"no certificate":      {dial(nil), binding.ReasonNoClientCertificate},
	} {
		err := check(tc.c, bound)
		if status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != string(tc.want) {
			t.Errorf("%s: %v, want Unauthenticated %s", name, err, tc.want)
		}
	}
	if err := check(dial(e.cc), e.bearerToken(t)); status.Convert(err).Message() != string(binding.ReasonBindingRequired) {
		t.Errorf("bearer token under Required: %v", err)
	}
}

func newListener() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
