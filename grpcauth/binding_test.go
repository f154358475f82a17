package grpcauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

const certClientID = "cert-worker"

// bindEnv: an issuer with an mTLS token endpoint, a bound and a bearer
// token from it.
type bindEnv struct {
	iss           *oauthtest.Server
	cc            *oauthtest.ClientCert
	key           jwkscache.Key
	bound, bearer string
}

func newBindEnv(t *testing.T) *bindEnv {
	t.Helper()
	e := &bindEnv{iss: oauthtest.NewT(t, oauthtest.WithMTLS()), cc: oauthtest.NewClientCertT(t, certClientID)}
	if err := e.iss.RegisterCertClient(oauthtest.Client{ID: certClientID, Scopes: []string{"echo.read"}, Audiences: []string{audience}},
		oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient, Certificates: []*x509.Certificate{e.cc.Certificate}}); err != nil {
		t.Fatal(err)
	}
	e.iss.RegisterClient(oauthtest.Client{ID: readerID, Secret: readerSecret, Scopes: []string{"echo.read"}, Audiences: []string{audience}})
	kid := e.iss.SigningKeyID()
	pub, _ := e.iss.PublicKey(kid)
	var err error
	if e.key, err = jwkscache.NewKey(kid, "RS256", pub); err != nil {
		t.Fatal(err)
	}
	hc := e.cc.HTTPClient(e.iss.MTLSRootCAs())
	defer hc.CloseIdleConnections()
	tok, err := (&clientcredentials.Config{ClientID: certClientID, TokenURL: e.iss.MTLSTokenURL(), AuthStyle: oauth2.AuthStyleInParams}).
		Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
	if err != nil {
		t.Fatal(err)
	}
	e.bound = tok.AccessToken
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	tok, err = (&clientcredentials.Config{ClientID: readerID, ClientSecret: readerSecret, TokenURL: e.iss.TokenURL()}).
		Token(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr, Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	e.bearer = tok.AccessToken
	return e
}

func (e *bindEnv) verifier(t *testing.T, policy binding.Policy) *jwtverify.Verifier {
	t.Helper()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "oauthtest", Issuer: e.iss.Issuer(), Keys: jwkscache.NewStatic("k", e.key), Audiences: []string{audience},
		ClientIDs: []string{readerID, certClientID}, Algorithms: []string{"RS256"},
		Binding: binding.Config{Policy: policy, Methods: binding.Certificate},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// serveGRPC serves the echo service with opts on loopback, over TLS asking
// for client certificates (tls.RequestClientCert) when tlsOn, and returns
// a dialer: cc nil dials without a client certificate.
func serveGRPC(t *testing.T, tlsOn bool, opts ...grpc.ServerOption) func(cc *oauthtest.ClientCert) *grpc.ClientConn {
	t.Helper()
	var pool *x509.CertPool
	if tlsOn {
		var cfg *tls.Config
		cfg, pool = selfSignedTLS(t)
		cfg.ClientAuth = tls.RequestClientCert
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&echoDesc, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return func(cc *oauthtest.ClientCert) *grpc.ClientConn {
		creds := insecure.NewCredentials()
		if tlsOn {
			cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
			if cc != nil {
				cfg = cc.TLSConfig(pool)
			}
			creds = credentials.NewTLS(cfg)
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
}

// whoamiCall calls Whoami with the token and extra metadata (pairs).
func whoamiCall(conn *grpc.ClientConn, token string, kv ...string) error {
	ctx := metadata.AppendToOutgoingContext(context.Background(), append([]string{"authorization", "Bearer " + token}, kv...)...)
	return conn.Invoke(ctx, "/test.v1.Echo/Whoami", wrapperspb.String(""), new(wrapperspb.StringValue))
}

// wantBinding checks an Unauthenticated INVALID_TOKEN answer with the
// fixed binding message and one event with rule.
func wantBinding(t *testing.T, name string, err error, rec *recorder, rule binding.Reason) {
	t.Helper()
	if status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != jwtverify.ReasonBinding.Description() {
		t.Errorf("%s: %v, want Unauthenticated with the binding message", name, err)
	} else if ei := errorInfo(t, err); ei.GetReason() != grpcauth.InfoInvalidToken {
		t.Errorf("%s: ErrorInfo %v", name, ei)
	}
	evs := rec.take()
	if len(evs) != 1 || evs[0].Reason != jwtverify.ReasonBinding || evs[0].Rule != string(rule) {
		t.Errorf("%s: events %+v, want reason binding, rule %s", name, evs, rule)
	}
}

// TestCertificateBinding: RFC 8705 over gRPC with TLS (the certificate from
// peer.FromContext), unary and streaming, under every policy (SECURITY.md
// J1-J4); AuthFunc (plain Verify) refuses bound tokens.
func TestCertificateBinding(t *testing.T) {
	e := newBindEnv(t)
	other := oauthtest.NewClientCertT(t, certClientID)
	for _, policy := range []binding.Policy{binding.Off, binding.Optional, binding.Required} {
		t.Run(policy.String(), func(t *testing.T) {
			rec := &recorder{}
			ic, err := grpcauth.New(e.verifier(t, policy), testPolicy(), grpcauth.WithObserver(rec))
			if err != nil {
				t.Fatal(err)
			}
			sopts := []grpc.ServerOption{grpc.UnaryInterceptor(ic.UnaryServerInterceptor()), grpc.StreamInterceptor(ic.StreamServerInterceptor())}
			dial := serveGRPC(t, true, sopts...)
			right := dial(e.cc)
			if policy == binding.Off {
				err := whoamiCall(right, e.bound)
				wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidToken)
				if evs := rec.take(); len(evs) != 1 || evs[0].Reason != jwtverify.ReasonType {
					t.Errorf("off: events %+v", evs)
				}
				if err := whoamiCall(dial(nil), e.bearer); err != nil {
					t.Errorf("off, bearer: %v", err)
				}
				return
			}
			for i := 0; i < 3; i++ {
				if err := whoamiCall(right, e.bound); err != nil {
					t.Fatalf("right certificate #%d: %v", i, err)
				}
			}
			// A stream on the same connection.
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.bound)
			st, err := right.NewStream(ctx, &echoDesc.Streams[0], "/test.v1.Echo/Watch")
			if err == nil {
				err = st.SendMsg(wrapperspb.String(""))
			}
			if err == nil {
				err = st.CloseSend()
			}
			if err == nil {
				err = st.RecvMsg(new(wrapperspb.StringValue))
			}
			if err != nil {
				t.Fatalf("stream, right certificate: %v", err)
			}
			rec.take()
			wantBinding(t, "another certificate", whoamiCall(dial(other), e.bound), rec, binding.ReasonThumbprintMismatch)
			wantBinding(t, "no certificate", whoamiCall(dial(nil), e.bound), rec, binding.ReasonNoClientCertificate)
			plain := serveGRPC(t, false, sopts...)(nil)
			wantBinding(t, "plain gRPC", whoamiCall(plain, e.bound), rec, binding.ReasonNotTLS)
			// A forwarded-certificate header while forwarding is off: no
			// effect.
			fwd := ":" + base64.StdEncoding.EncodeToString(e.cc.Certificate.Raw) + ":"
			wantBinding(t, "plain gRPC + client-cert", whoamiCall(plain, e.bound, "client-cert", fwd), rec, binding.ReasonNotTLS)
			if policy == binding.Required {
				wantBinding(t, "required, bearer", whoamiCall(right, e.bearer), rec, binding.ReasonBindingRequired)
			} else if err := whoamiCall(dial(nil), e.bearer); err != nil {
				t.Errorf("optional, bearer: %v", err)
			}

			// AuthFunc verifies with plain Verify: the bound token is
			// refused even with the right certificate.
			authFn := ic.AuthFunc()
			viaAuthFunc := serveGRPC(t, true, grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				ctx, err := authFn(ctx)
				if err != nil {
					return nil, err
				}
				return h(ctx, req)
			}))(e.cc)
			rec.take()
			wantStatus(t, whoamiCall(viaAuthFunc, e.bound), codes.Unauthenticated, grpcauth.InfoInvalidToken)
			if evs := rec.take(); len(evs) != 1 || evs[0].Reason != jwtverify.ReasonType {
				t.Errorf("AuthFunc: events %+v", evs)
			}
		})
	}
}

// TestForwardedClientCert: behind a TLS-terminating proxy, the certificate
// comes from the configured metadata header only, strictly (SECURITY.md
// J5).
func TestForwardedClientCert(t *testing.T) {
	e := newBindEnv(t)
	src, err := binding.NewCertSource(binding.CertSourceConfig{Forwarding: &binding.Forwarding{Format: binding.FormatClientCert, MaxBytes: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ic, err := grpcauth.New(e.verifier(t, binding.Required), testPolicy(), grpcauth.WithObserver(rec), grpcauth.WithCertSource(src))
	if err != nil {
		t.Fatal(err)
	}
	dial := serveGRPC(t, false, grpc.UnaryInterceptor(ic.UnaryServerInterceptor()))
	conn := dial(nil)
	good := ":" + base64.StdEncoding.EncodeToString(e.cc.Certificate.Raw) + ":"
	if err := whoamiCall(conn, e.bound, "client-cert", good); err != nil {
		t.Fatalf("right certificate: %v", err)
	}
	rec.take()
	otherDER := oauthtest.NewClientCertT(t, "x").Certificate.Raw
	wantBinding(t, "another certificate", whoamiCall(conn, e.bound, "client-cert", ":"+base64.StdEncoding.EncodeToString(otherDER)+":"), rec, binding.ReasonThumbprintMismatch)
	wantBinding(t, "no header", whoamiCall(conn, e.bound), rec, binding.ReasonNoClientCertificate)
	wantBinding(t, "two values", whoamiCall(conn, e.bound, "client-cert", good, "client-cert", good), rec, binding.ReasonForwardedRepeated)
	wantBinding(t, "oversized", whoamiCall(conn, e.bound, "client-cert", ":"+strings.Repeat("A", 4096)+":"), rec, binding.ReasonForwardedTooLarge)
	wantBinding(t, "malformed", whoamiCall(conn, e.bound, "client-cert", ":AAAA:"), rec, binding.ReasonForwardedMalformed)
	if _, err := grpcauth.New(e.verifier(t, binding.Optional), testPolicy(), grpcauth.WithCertSource(nil)); err == nil {
		t.Error("WithCertSource(nil) accepted")
	}
}
