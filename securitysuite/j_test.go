package securitysuite

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Rows J1-J6: certificate-bound access tokens (RFC 8705). The fixture's
// net/http and Echo stacks and an interceptor like the fixture's run
// behind real TLS servers that ask for client certificates
// (tls.RequestClientCert); the plain servers of the fixture stand for
// "not TLS".

// descBinding is the one description of every binding refusal.
var descBinding = jwtverify.ReasonBinding.Description()

// jEnv is the fixture under a binding policy plus TLS servers for each
// adapter.
type jEnv struct {
	f        *fixture
	cc       *oauthtest.ClientCert // the certificate tokens are bound to
	other    *oauthtest.ClientCert
	roots    *x509.CertPool
	httpTLS  *httptest.Server
	echoTLS  *httptest.Server
	grpcAddr string // TLS gRPC server with the fixture's interceptor
}

// peer says which connection a request goes over.
type peer int

const (
	viaRight peer = iota // TLS presenting the bound certificate
	viaOther             // TLS presenting another certificate
	viaNone              // TLS without a client certificate
	viaPlain             // no TLS
)

func newJEnv(t *testing.T, policy binding.Policy, opts ...middleware.Option) *jEnv {
	t.Helper()
	f := newFixture(t, fixtureOptions{
		issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) {
			ic.Binding = binding.Config{Policy: policy, Methods: binding.Certificate}
		},
		mwOpts: opts,
	})
	e := &jEnv{f: f, cc: oauthtest.NewClientCertT(t, "bound"), other: oauthtest.NewClientCertT(t, "other")}
	e.httpTLS = oauthtest.NewMTLSServer(f.httpHandler)
	t.Cleanup(e.httpTLS.Close)
	e.echoTLS = oauthtest.NewMTLSServer(f.echoHandler)
	t.Cleanup(e.echoTLS.Close)
	e.roots = oauthtest.RootCAs(e.httpTLS)
	e.grpcAddr = serveGRPCTLS(t, e.httpTLS.TLS.Certificates[0], f.gic)
	return e
}

// serveGRPCTLS serves the fixture's API with ic over TLS asking for client
// certificates.
func serveGRPCTLS(t *testing.T, cert tls.Certificate, ic *grpcauth.Interceptor) string {
	t.Helper()
	gs := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})),
		grpc.ChainUnaryInterceptor(ic.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(ic.StreamServerInterceptor()),
	)
	gs.RegisterService(&apiDesc, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-done })
	return lis.Addr().String()
}

// boundToken is a token of the fixture's issuer bound to cert.
func (e *jEnv) boundToken(t testing.TB, cert *x509.Certificate) string {
	return e.f.sign(t, "RS256", e.f.header("RS256", nil), e.f.claimsJSON(map[string]any{
		"cnf": map[string]any{"x5t#S256": binding.EncodeThumbprint(binding.Thumbprint(cert.Raw))},
	}))
}

func (e *jEnv) bearerToken(t testing.TB) string {
	return e.f.sign(t, "RS256", e.f.header("RS256", nil), e.f.claimsJSON(nil))
}

func (e *jEnv) tlsConfig(p peer) *tls.Config {
	switch p {
	case viaRight:
		return e.cc.TLSConfig(e.roots)
	case viaOther:
		return e.other.TLSConfig(e.roots)
	}
	return &tls.Config{RootCAs: e.roots}
}

// send calls the read route over tr and p with the token and extra
// headers (gRPC: metadata, lower-cased).
func (e *jEnv) send(t *testing.T, tr transport, p peer, tok string, hdr http.Header) answer {
	t.Helper()
	if tr == trGRPC {
		md := metadata.MD{"authorization": {"Bearer " + tok}}
		for k, vs := range hdr {
			md[strings.ToLower(k)] = vs
		}
		if p == viaPlain {
			return e.f.send(t, trGRPC, request{grpcMD: md})
		}
		conn, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(e.tlsConfig(p))))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), 20*time.Second)
		defer cancel()
		out := new(wrapperspb.StringValue)
		st := status.Convert(conn.Invoke(ctx, grpcRead, wrapperspb.String("x"), out))
		return answer{code: st.Code(), msg: st.Message(), body: out.GetValue(), info: infoOf(st)}
	}
	r := bearer(tok)
	r.header = hdr
	if p == viaPlain {
		return e.f.send(t, tr, r)
	}
	srv := e.httpTLS
	if tr == trEcho {
		srv = e.echoTLS
	}
	tp := &http.Transport{TLSClientConfig: e.tlsConfig(p), ForceAttemptHTTP2: true}
	defer tp.CloseIdleConnections()
	saved := e.f.hc
	e.f.hc = &http.Client{Transport: tp, Timeout: 20 * time.Second}
	defer func() { e.f.hc = saved }()
	return e.f.sendHTTP(t, srv.URL, r)
}

// expectBinding checks the one answer of a binding refusal: 401
// invalid_token with the fixed binding description (gRPC Unauthenticated,
// INVALID_TOKEN), and that the precise reason went to the logs only.
func (e *jEnv) expectBinding(t *testing.T, tr transport, a answer, rule binding.Reason) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("%s: %v", tr, a.err)
	}
	if tr == trGRPC {
		if a.code != codes.Unauthenticated || a.msg != descBinding || a.info == nil || a.info.GetReason() != grpcauth.InfoInvalidToken {
			t.Fatalf("grpc: %v %q %v, want Unauthenticated INVALID_TOKEN %q", a.code, a.msg, a.info, descBinding)
		}
		if strings.Contains(a.msg, string(rule)) {
			t.Fatalf("grpc: the answer names the reason: %q", a.msg)
		}
	} else {
		want := realmParam + `, error="invalid_token", error_description="` + descBinding + `"`
		if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") != want {
			t.Fatalf("%s: %d %q, want 401 %q", tr, a.status, a.header.Get("WWW-Authenticate"), want)
		}
		if strings.Contains(a.body, string(rule)) {
			t.Fatalf("%s: the answer names the reason: %q", tr, a.body)
		}
	}
	if logs := e.f.logs.String(); !strings.Contains(logs, "rule="+string(rule)) {
		t.Fatalf("%s: the logs lack rule=%s:\n%s", tr, rule, logs)
	}
}

// TestJ1 is row J1: a certificate-bound token is accepted only over TLS
// presenting that certificate, repeatedly (the cached path), under
// Optional and Required; another certificate, none, or no TLS is refused.
func TestJ1(t *testing.T) {
	for _, policy := range []binding.Policy{binding.Optional, binding.Required} {
		t.Run(policy.String(), func(t *testing.T) {
			e := newJEnv(t, policy)
			tok := e.boundToken(t, e.cc.Certificate)
			for _, tr := range transports {
				t.Run(string(tr), func(t *testing.T) {
					for i := 0; i < 2; i++ {
						expect(t, tr, e.send(t, tr, viaRight, tok, nil), accept, "")
					}
					e.expectBinding(t, tr, e.send(t, tr, viaOther, tok, nil), binding.ReasonThumbprintMismatch)
					e.expectBinding(t, tr, e.send(t, tr, viaNone, tok, nil), binding.ReasonNoClientCertificate)
					e.expectBinding(t, tr, e.send(t, tr, viaPlain, tok, nil), binding.ReasonNotTLS)
					expect(t, tr, e.send(t, tr, viaRight, tok, nil), accept, "")
				})
			}
		})
	}
}

// TestJ2 is row J2: under Required an unbound token is refused, even over
// TLS with a certificate; under Optional it is a bearer token.
func TestJ2(t *testing.T) {
	for _, policy := range []binding.Policy{binding.Optional, binding.Required} {
		t.Run(policy.String(), func(t *testing.T) {
			e := newJEnv(t, policy)
			tok := e.bearerToken(t)
			for _, tr := range transports {
				t.Run(string(tr), func(t *testing.T) {
					for _, p := range []peer{viaRight, viaPlain} {
						a := e.send(t, tr, p, tok, nil)
						if policy == binding.Required {
							e.expectBinding(t, tr, a, binding.ReasonBindingRequired)
						} else {
							expect(t, tr, a, accept, "")
						}
					}
				})
			}
		})
	}
}

// TestJ3 is row J3: under Off (the default) a bound token is refused as
// before, even with its certificate; plain Verify (which grpcauth's
// AuthFunc and users' own code call) refuses it under every policy.
func TestJ3(t *testing.T) {
	e := newJEnv(t, binding.Off)
	tok := e.boundToken(t, e.cc.Certificate)
	for _, tr := range transports {
		expect(t, tr, e.send(t, tr, viaRight, tok, nil), invalidT, "")
	}
	for _, policy := range []binding.Policy{binding.Off, binding.Optional, binding.Required} {
		e := newJEnv(t, policy)
		tok := e.boundToken(t, e.cc.Certificate)
		if policy != binding.Off {
			// Cached first by an accepted request: the hit is refused too.
			expect(t, trHTTP, e.send(t, trHTTP, viaRight, tok, nil), accept, "")
		}
		if _, err := e.f.v.Verify(context.Background(), tok); jwtverify.ReasonOf(err) != jwtverify.ReasonType {
			t.Errorf("%s: Verify of a bound token: %v", policy, err)
		}
		md := metadata.MD{"authorization": {"Bearer " + tok}}
		ctx := grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(context.Background(), md), &methodStream{grpcRead})
		if _, err := e.f.gic.AuthFunc()(ctx); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: AuthFunc of a bound token: %v", policy, err)
		}
	}
}

// methodStream names the method of a context for grpc.Method.
type methodStream struct{ m string }

func (s *methodStream) Method() string                  { return s.m }
func (s *methodStream) SetHeader(metadata.MD) error     { return nil }
func (s *methodStream) SendHeader(metadata.MD) error    { return nil }
func (s *methodStream) SetTrailer(md metadata.MD) error { return nil }

// TestJ4 is row J4: under a binding policy a cnf that is not a strict
// confirmation (unknown member, wrong length, padding, not an object) is
// refused, never ignored, whatever the certificate.
func TestJ4(t *testing.T) {
	e := newJEnv(t, binding.Optional)
	good := binding.EncodeThumbprint(binding.Thumbprint(e.cc.Certificate.Raw))
	for name, cnf := range map[string]any{
		"unknown member": map[string]any{"x5t#S256": good, "jwk": map[string]any{"kty": "EC"}},
		"short":          map[string]any{"x5t#S256": good[:40]},
		"padded":         map[string]any{"x5t#S256": good + "="},
		"not an object":  good,
		"empty":          map[string]any{},
	} {
		tok := e.f.sign(t, "RS256", e.f.header("RS256", nil), e.f.claimsJSON(map[string]any{"cnf": cnf}))
		for _, tr := range transports {
			t.Run(name+"/"+string(tr), func(t *testing.T) {
				e.expectBinding(t, tr, e.send(t, tr, viaRight, tok, nil), binding.ReasonMalformedConfirmation)
			})
		}
	}
}

// TestJ5 is row J5: a forwarded-certificate header is ignored unless
// forwarding is configured; with it, exactly the configured header is
// read, one value, bounded, strictly parsed, and the connection's own
// certificate no longer counts.
func TestJ5(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e := newJEnv(t, binding.Required)
		tok := e.boundToken(t, e.cc.Certificate)
		der := e.cc.Certificate.Raw
		hdrs := map[string]http.Header{
			"client-cert": {"Client-Cert": {":" + base64.StdEncoding.EncodeToString(der) + ":"}},
			"xfcc":        {"X-Forwarded-Client-Cert": {"Hash=" + hexThumb(der)}},
			"base64-der":  {"X-Forwarded-Tls-Client-Cert": {base64.StdEncoding.EncodeToString(der)}},
		}
		for _, h := range hdrs {
			for _, tr := range transports {
				e.expectBinding(t, tr, e.send(t, tr, viaPlain, tok, h), binding.ReasonNotTLS)
				e.expectBinding(t, tr, e.send(t, tr, viaNone, tok, h), binding.ReasonNoClientCertificate)
			}
		}
	})
	t.Run("client-cert", func(t *testing.T) {
		fwd := binding.Forwarding{Format: binding.FormatClientCert, MaxBytes: 4096}
		e := newJEnv(t, binding.Required, middleware.WithForwardedClientCert(fwd))
		src, err := binding.NewCertSource(binding.CertSourceConfig{Forwarding: &fwd})
		if err != nil {
			t.Fatal(err)
		}
		gic, err := grpcauth.New(e.f.v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{grpcRead: reqRead}}, grpcauth.WithCertSource(src),
			grpcauth.WithObserver(authlog.New(slog.New(slog.NewTextHandler(e.f.logs, nil)), authlog.Options{})))
		if err != nil {
			t.Fatal(err)
		}
		e.grpcAddr = serveGRPCTLS(t, e.httpTLS.TLS.Certificates[0], gic)
		tok := e.boundToken(t, e.cc.Certificate)
		enc := func(der []byte) string { return ":" + base64.StdEncoding.EncodeToString(der) + ":" }
		one := func(v ...string) http.Header { return http.Header{"Client-Cert": v} }
		good := enc(e.cc.Certificate.Raw)
		for _, tr := range transports {
			t.Run(string(tr), func(t *testing.T) {
				expect(t, tr, e.send(t, tr, viaNone, tok, one(good)), accept, "")
				e.expectBinding(t, tr, e.send(t, tr, viaNone, tok, one(enc(e.other.Certificate.Raw))), binding.ReasonThumbprintMismatch)
				e.expectBinding(t, tr, e.send(t, tr, viaNone, tok, one(good, good)), binding.ReasonForwardedRepeated)
				e.expectBinding(t, tr, e.send(t, tr, viaNone, tok, one(":"+strings.Repeat("A", 4100)+":")), binding.ReasonForwardedTooLarge)
				e.expectBinding(t, tr, e.send(t, tr, viaNone, tok, one(":AAAA:")), binding.ReasonForwardedMalformed)
				// The connection's certificate is not consulted.
				e.expectBinding(t, tr, e.send(t, tr, viaRight, tok, nil), binding.ReasonNoClientCertificate)
				// Another format's header is not read.
				e.expectBinding(t, tr, e.send(t, tr, viaNone, tok, http.Header{"X-Forwarded-Client-Cert": {"Hash=" + hexThumb(e.cc.Certificate.Raw)}}), binding.ReasonNoClientCertificate)
			})
		}
	})
}

// TestJ6 is row J6: binding refusals look alike to the caller (one fixed
// description for every cause); the causes differ only in logs.
func TestJ6(t *testing.T) {
	e := newJEnv(t, binding.Required)
	tok := e.boundToken(t, e.cc.Certificate)
	for _, tr := range transports {
		var bodies []string
		for _, p := range []peer{viaOther, viaNone, viaPlain} {
			a := e.send(t, tr, p, tok, nil)
			bodies = append(bodies, a.body+a.msg+a.header.Get("WWW-Authenticate"))
		}
		if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
			t.Errorf("%s: refusals differ: %q", tr, bodies)
		}
	}
}

func hexThumb(der []byte) string {
	t := binding.Thumbprint(der)
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 64)
	for _, c := range t {
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}
