package authtest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Handle builds the adapter under test for v with the harness options plus
// opts, serving PathWhoAmI; the harness starts it on TLS or plain HTTP.
type Handle func(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) http.Handler

// BindEnv is an issuer with an mTLS token endpoint (RFC 8705) issuing
// certificate-bound tokens to CertClient, bearer tokens to ClientID.
type BindEnv struct {
	Issuer *oauthtest.Server
	Cert   *oauthtest.ClientCert // CertClient's certificate
	key    jwkscache.Key
}

// CertClient is the client that authenticates with its certificate.
const CertClient = "cert-worker"

// NewBindEnv starts the issuer.
func NewBindEnv(t testing.TB) *BindEnv {
	t.Helper()
	srv := oauthtest.NewT(t, oauthtest.WithMTLS())
	cc := oauthtest.NewClientCertT(t, CertClient)
	if err := srv.RegisterCertClient(oauthtest.Client{ID: CertClient, Scopes: []string{"orders.read"}, Audiences: []string{Audience}},
		oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient, Certificates: []*x509.Certificate{cc.Certificate}}); err != nil {
		t.Fatal(err)
	}
	srv.RegisterClient(oauthtest.Client{ID: ClientID, Secret: "s3cret", Scopes: []string{"orders.read"}, Audiences: []string{Audience}})
	kid := srv.SigningKeyID()
	pub, _ := srv.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	return &BindEnv{Issuer: srv, Cert: cc, key: key}
}

// Verifier trusts the issuer under the binding policy (certificates).
func (e *BindEnv) Verifier(t testing.TB, policy binding.Policy, obs jwtverify.Observer) *jwtverify.Verifier {
	t.Helper()
	cfg := verifierConfig(e.Issuer.Issuer(), jwkscache.NewStatic("test", e.key))
	cfg.Issuers[0].ClientIDs = []string{ClientID, CertClient}
	cfg.Issuers[0].Binding = binding.Config{Policy: policy, Methods: binding.Certificate}
	cfg.Observer = obs
	v, err := jwtverify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// BoundToken gets a certificate-bound token from the mTLS token endpoint
// with x/oauth2's clientcredentials, as a real caller does.
func (e *BindEnv) BoundToken(t testing.TB) string {
	t.Helper()
	hc := e.Cert.HTTPClient(e.Issuer.MTLSRootCAs())
	defer hc.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	cfg := clientcredentials.Config{ClientID: CertClient, TokenURL: e.Issuer.MTLSTokenURL(), AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// BearerToken gets an unbound token with a client secret.
func (e *BindEnv) BearerToken(t testing.TB) string {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr, Timeout: 10 * time.Second})
	cfg := clientcredentials.Config{ClientID: ClientID, ClientSecret: "s3cret", TokenURL: e.Issuer.TokenURL()}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// Answer is what a binding request got.
type Answer struct {
	Status    int
	Challenge string
	Body      string
}

// Call sends GET url with the bearer token and extra headers.
func Call(t testing.TB, hc *http.Client, u, token string, hdr http.Header) Answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return Answer{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)}
}

// BindingDescription is the fixed error_description of a binding refusal.
var BindingDescription = jwtverify.ReasonBinding.Description()

// WantBindingRefusal checks a 401 invalid_token with the binding
// description and that the observer saw rule as the precise reason.
func WantBindingRefusal(t testing.TB, name string, a Answer, rec *Recorder, rule binding.Reason) {
	t.Helper()
	if a.Status != http.StatusUnauthorized || param(a.Challenge, "error") != jwtverify.CodeInvalidToken ||
		param(a.Challenge, "error_description") != BindingDescription {
		t.Errorf("%s: %d %q, want 401 invalid_token with the binding description", name, a.Status, a.Challenge)
	}
	evs := rec.Take()
	if len(evs) != 1 || evs[0].Reason != jwtverify.ReasonBinding || evs[0].Rule != string(rule) || evs[0].Result != jwtverify.DecisionUnauthenticated {
		t.Errorf("%s: events %+v, want one unauthenticated, reason binding, rule %s", name, evs, rule)
	}
}

// RunBinding holds an adapter to certificate binding (RFC 8705) over real
// TLS (tls.RequestClientCert) with tokens from oauthtest's mTLS token
// endpoint, under each policy.
func RunBinding(t *testing.T, env *BindEnv, handle Handle) {
	bound := env.BoundToken(t)
	bearerTok := env.BearerToken(t)
	wrongCert := oauthtest.NewClientCertT(t, CertClient)
	for _, policy := range []binding.Policy{binding.Off, binding.Optional, binding.Required} {
		t.Run(policy.String(), func(t *testing.T) {
			rec := &Recorder{}
			v := env.Verifier(t, policy, nil)
			h := handle(t, v, middleware.WithObserver(rec))
			api := oauthtest.NewMTLSServer(h)
			t.Cleanup(api.Close)
			plain := NewServer(t, h)
			roots := oauthtest.RootCAs(api)
			right := env.Cert.HTTPClient(roots)
			wrong := wrongCert.HTTPClient(roots)
			none := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
			plainC := &http.Client{Transport: &http.Transport{}}
			for _, c := range []*http.Client{right, wrong, none, plainC} {
				t.Cleanup(c.CloseIdleConnections)
			}
			who := api.URL + PathWhoAmI
			if policy == binding.Off {
				// As before: a bound token is refused whatever the
				// certificate; a bearer token passes.
				a := Call(t, right, who, bound, nil)
				if a.Status != 401 || param(a.Challenge, "error") != jwtverify.CodeInvalidToken {
					t.Errorf("off, bound token: %d %q", a.Status, a.Challenge)
				}
				if evs := rec.Take(); len(evs) != 1 || evs[0].Reason != jwtverify.ReasonType {
					t.Errorf("off, bound token: events %+v", evs)
				}
				if a := Call(t, none, who, bearerTok, nil); a.Status != 200 {
					t.Errorf("off, bearer token: %d", a.Status)
				}
				return
			}
			for i := 0; i < 3; i++ { // repeated on one connection: the cached path
				if a := Call(t, right, who, bound, nil); a.Status != 200 || !strings.Contains(a.Body, "client="+CertClient) {
					t.Fatalf("right certificate #%d: %d %q %q", i, a.Status, a.Challenge, a.Body)
				}
			}
			rec.Take()
			WantBindingRefusal(t, "another certificate", Call(t, wrong, who, bound, nil), rec, binding.ReasonThumbprintMismatch)
			WantBindingRefusal(t, "no certificate", Call(t, none, who, bound, nil), rec, binding.ReasonNoClientCertificate)
			WantBindingRefusal(t, "plain HTTP", Call(t, plainC, plain.URL+PathWhoAmI, bound, nil), rec, binding.ReasonNotTLS)
			// A forwarded-certificate header while forwarding is off has
			// no effect, in every format, with or without TLS.
			der := env.Cert.Certificate.Raw
			for name, hdr := range ForwardedHeaders(der) {
				WantBindingRefusal(t, "plain HTTP + "+name, Call(t, plainC, plain.URL+PathWhoAmI, bound, hdr), rec, binding.ReasonNotTLS)
				WantBindingRefusal(t, "no certificate + "+name, Call(t, none, who, bound, hdr), rec, binding.ReasonNoClientCertificate)
			}
			if policy == binding.Required {
				WantBindingRefusal(t, "required, bearer token", Call(t, right, who, bearerTok, nil), rec, binding.ReasonBindingRequired)
			} else if a := Call(t, none, who, bearerTok, nil); a.Status != 200 {
				t.Errorf("optional, bearer token: %d %q", a.Status, a.Challenge)
			}
		})
	}
}

// ForwardedHeaders are the right certificate in each forwarded format,
// under each format's default header (X-SSL-Client-Cert for escaped PEM).
func ForwardedHeaders(der []byte) map[string]http.Header {
	return map[string]http.Header{
		"client-cert": {"Client-Cert": {EncodeForwarded(binding.FormatClientCert, der)}},
		"xfcc":        {"X-Forwarded-Client-Cert": {EncodeForwarded(binding.FormatXFCC, der)}},
		"escaped-pem": {"X-Ssl-Client-Cert": {EncodeForwarded(binding.FormatEscapedPEM, der)}},
		"base64-der":  {"X-Forwarded-Tls-Client-Cert": {EncodeForwarded(binding.FormatBase64DER, der)}},
	}
}

// ForwardedHeader is the header name the harness uses for f.
func ForwardedHeader(f binding.Format) string {
	switch f {
	case binding.FormatClientCert:
		return "Client-Cert"
	case binding.FormatXFCC:
		return "X-Forwarded-Client-Cert"
	case binding.FormatEscapedPEM:
		return "X-Ssl-Client-Cert"
	}
	return "X-Forwarded-Tls-Client-Cert"
}

// EncodeForwarded encodes a DER certificate as a proxy sets it in format f.
func EncodeForwarded(f binding.Format, der []byte) string {
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	switch f {
	case binding.FormatClientCert:
		return ":" + base64.StdEncoding.EncodeToString(der) + ":"
	case binding.FormatXFCC:
		sum := sha256.Sum256(der)
		return "By=spiffe://cluster.local/ns/default/sa/api;Hash=" + hex.EncodeToString(sum[:]) + `;Cert="` + url.PathEscape(p) + `"`
	case binding.FormatEscapedPEM:
		return url.PathEscape(p)
	}
	return url.QueryEscape(base64.StdEncoding.EncodeToString(der))
}

// RunForwarding holds an adapter to each forwarded-certificate format (an
// API behind a TLS-terminating proxy, here plain HTTP on loopback): the
// right certificate passes; another, two values, an oversized value, a
// malformed certificate, a second XFCC element are refused; the
// connection's own certificate is not consulted.
func RunForwarding(t *testing.T, env *BindEnv, handle Handle) {
	bound := env.BoundToken(t)
	der := env.Cert.Certificate.Raw
	other := oauthtest.NewClientCertT(t, CertClient).Certificate.Raw
	for _, f := range []binding.Format{binding.FormatClientCert, binding.FormatXFCC, binding.FormatEscapedPEM, binding.FormatBase64DER} {
		t.Run(f.String(), func(t *testing.T) {
			rec := &Recorder{}
			v := env.Verifier(t, binding.Required, nil)
			name := ForwardedHeader(f)
			h := handle(t, v, middleware.WithObserver(rec),
				middleware.WithForwardedClientCert(binding.Forwarding{Format: f, Header: name, MaxBytes: 4096}))
			api := NewServer(t, h)
			hc := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(hc.CloseIdleConnections)
			who := api.URL + PathWhoAmI
			one := func(v ...string) http.Header { return http.Header{name: v} }
			for i := 0; i < 2; i++ {
				if a := Call(t, hc, who, bound, one(EncodeForwarded(f, der))); a.Status != 200 {
					t.Fatalf("right certificate: %d %q", a.Status, a.Challenge)
				}
			}
			rec.Take()
			good := EncodeForwarded(f, der)
			WantBindingRefusal(t, "another certificate", Call(t, hc, who, bound, one(EncodeForwarded(f, other))), rec, binding.ReasonThumbprintMismatch)
			WantBindingRefusal(t, "no header", Call(t, hc, who, bound, nil), rec, binding.ReasonNoClientCertificate)
			WantBindingRefusal(t, "two values", Call(t, hc, who, bound, one(good, good)), rec, binding.ReasonForwardedRepeated)
			WantBindingRefusal(t, "oversized", Call(t, hc, who, bound, one(good+strings.Repeat("A", 4096))), rec, binding.ReasonForwardedTooLarge)
			bad := EncodeForwarded(f, append([]byte{0x30, 0x03, 0x02, 0x01, 0x01}, der[5:40]...))
			if f == binding.FormatXFCC {
				bad = "Hash=zz" + strings.Repeat("0", 62)
			}
			WantBindingRefusal(t, "malformed certificate", Call(t, hc, who, bound, one(bad)), rec, binding.ReasonForwardedMalformed)
			if f == binding.FormatXFCC {
				WantBindingRefusal(t, "second XFCC element", Call(t, hc, who, bound, one(good+","+good)), rec, binding.ReasonForwardedRepeated)
			}
			// Another format's header is ignored (only the configured one
			// is read), as is the connection: over TLS with the right
			// certificate and no header, refused.
			for other, hdr := range ForwardedHeaders(der) {
				if other == f.String() || http.CanonicalHeaderKey(name) == http.CanonicalHeaderKey(firstKey(hdr)) {
					continue
				}
				WantBindingRefusal(t, "header of "+other, Call(t, hc, who, bound, hdr), rec, binding.ReasonNoClientCertificate)
			}
			tlsAPI := oauthtest.NewMTLSServer(h)
			t.Cleanup(tlsAPI.Close)
			right := env.Cert.HTTPClient(oauthtest.RootCAs(tlsAPI))
			t.Cleanup(right.CloseIdleConnections)
			WantBindingRefusal(t, "connection certificate with forwarding on", Call(t, right, tlsAPI.URL+PathWhoAmI, bound, nil), rec, binding.ReasonNoClientCertificate)
		})
	}
}

func firstKey(h http.Header) string {
	for k := range h {
		return k
	}
	return ""
}

// CheckBindingMetadata checks that the RFC 9728 document of the shared
// Authenticator advertises tls_client_certificate_bound_access_tokens
// exactly when an issuer binds tokens to certificates.
func CheckBindingMetadata(t *testing.T, env *BindEnv) {
	for _, policy := range []binding.Policy{binding.Off, binding.Optional, binding.Required} {
		v := env.Verifier(t, policy, nil)
		a, err := middleware.NewAuthenticator(v, "http", middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "http://127.0.0.1/api"}))
		if err != nil {
			t.Fatal(err)
		}
		rr := httptest.NewRecorder()
		a.MetadataHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, a.MetadataURL(), nil))
		var doc map[string]any
		if err := json.Unmarshal(rr.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		got, present := doc["tls_client_certificate_bound_access_tokens"]
		if want := policy != binding.Off; present != want || want && got != true {
			t.Errorf("%s: tls_client_certificate_bound_access_tokens = %v (present %v)", policy, got, present)
		}
	}
}
