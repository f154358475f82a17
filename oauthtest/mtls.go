package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"
)

// The client authentication methods of RFC 8705 section 2.
const (
	// AuthTLSClient is tls_client_auth (PKI): the client's certificate
	// chains to a CA the server trusts (here the server's client CA, see
	// IssueClientCert) and its subject DN is the registered one.
	AuthTLSClient = "tls_client_auth"
	// AuthSelfSignedTLSClient is self_signed_tls_client_auth: the client
	// presents one of its registered certificates.
	AuthSelfSignedTLSClient = "self_signed_tls_client_auth"
)

// clientCertLifetime is the validity of the certificates oauthtest makes.
const clientCertLifetime = 24 * time.Hour

// WithMTLS starts a second listener on 127.0.0.1 for mutual TLS (RFC 8705):
// TLS with a fresh server certificate (trust it with MTLSRootCAs), asking
// every client for a certificate (tls.RequestClientCert: the token endpoint
// checks it). It serves the same endpoints as URL(); its token endpoint,
// MTLSTokenURL(), authenticates clients registered with RegisterCertClient
// and binds their tokens to the certificate ("cnf": {"x5t#S256": ...}).
// The discovery documents then advertise
// "tls_client_certificate_bound_access_tokens": true and
// "mtls_endpoint_aliases" (RFC 8705 section 5). Issuer(), the JWKS and the
// plain token endpoint do not change.
func WithMTLS() Option { return func(c *config) { c.mtls = true } }

// mtlsState is the mutual TLS side of a Server (nil without WithMTLS).
type mtlsState struct {
	srv    *httptest.Server
	ca     *x509.Certificate
	caKey  crypto.Signer
	caPool *x509.CertPool
	// clients by ID, guarded by Server.mu.
	clients map[string]CertAuth
}

// startMTLS makes the client CA and starts the mTLS listener.
func (s *Server) startMTLS() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("oauthtest: %w", err)
	}
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "oauthtest client CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(clientCertLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return fmt.Errorf("oauthtest: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("oauthtest: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	m := &mtlsState{ca: ca, caKey: caKey, caPool: pool, clients: map[string]CertAuth{}}
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	m.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	m.srv.StartTLS()
	s.mtls = m
	return nil
}

func (s *Server) closeMTLS() {
	if s.mtls != nil {
		s.mtls.srv.Close()
	}
}

// MTLSURL is the mutual TLS listener's origin, "https://127.0.0.1:PORT"
// ("" without WithMTLS).
func (s *Server) MTLSURL() string {
	if s.mtls == nil {
		return ""
	}
	return s.mtls.srv.URL
}

// MTLSTokenURL is the token endpoint on the mutual TLS listener, the
// "token_endpoint" of "mtls_endpoint_aliases" ("" without WithMTLS).
func (s *Server) MTLSTokenURL() string {
	if s.mtls == nil {
		return ""
	}
	return s.mtls.srv.URL + s.issuerPath + "/token"
}

// MTLSRootCAs returns a pool trusting the mutual TLS listener's server
// certificate (nil without WithMTLS), for ClientCert.TLSConfig.
func (s *Server) MTLSRootCAs() *x509.CertPool {
	if s.mtls == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.mtls.srv.Certificate())
	return pool
}

// ClientCA returns the CA certificate of IssueClientCert (nil without
// WithMTLS), for an API that also verifies client certificate chains.
func (s *Server) ClientCA() *x509.Certificate {
	if s.mtls == nil {
		return nil
	}
	return s.mtls.ca
}

// mtlsMetadata adds the RFC 8705 members to a discovery document.
func (s *Server) mtlsMetadata(doc map[string]any) {
	if s.mtls == nil {
		return
	}
	doc["tls_client_certificate_bound_access_tokens"] = true
	doc["mtls_endpoint_aliases"] = map[string]any{"token_endpoint": s.MTLSTokenURL()}
	if m, ok := doc["token_endpoint_auth_methods_supported"].([]string); ok {
		doc["token_endpoint_auth_methods_supported"] = append(slices.Clone(m), AuthTLSClient, AuthSelfSignedTLSClient)
	}
}

// CertAuth is how a client authenticates with its certificate at the token
// endpoint (RFC 8705 section 2).
type CertAuth struct {
	// Method is AuthTLSClient or AuthSelfSignedTLSClient.
	Method string
	// SubjectDN is, for AuthTLSClient, the subject DN the certificate must
	// carry (tls_client_auth_subject_dn), compared with
	// (*x509.Certificate).Subject.String(). Required for AuthTLSClient.
	SubjectDN string
	// Certificates are, for AuthSelfSignedTLSClient, the client's
	// registered certificates (its jwks "x5c"); the presented certificate
	// must be one of them. Required for AuthSelfSignedTLSClient.
	Certificates []*x509.Certificate
}

// RegisterCertClient adds or replaces a client (by ID) that authenticates
// with a certificate on the mutual TLS token endpoint (MTLSTokenURL) and
// gets certificate-bound tokens. Its Secret is ignored: such a client cannot
// use the secret methods. WithClient(c.ID) mints its unbound shape (add
// WithCertificateBinding). It fails without WithMTLS or with an incomplete
// auth.
func (s *Server) RegisterCertClient(c Client, auth CertAuth) error {
	if s.mtls == nil {
		return errors.New("oauthtest: RegisterCertClient needs WithMTLS")
	}
	switch auth.Method {
	case AuthTLSClient:
		if auth.SubjectDN == "" {
			return errors.New("oauthtest: tls_client_auth needs a SubjectDN")
		}
	case AuthSelfSignedTLSClient:
		if len(auth.Certificates) == 0 || slices.Contains(auth.Certificates, nil) {
			return errors.New("oauthtest: self_signed_tls_client_auth needs Certificates")
		}
	default:
		return fmt.Errorf("oauthtest: unknown certificate auth method %q", auth.Method)
	}
	c.Secret = ""
	auth.Certificates = slices.Clone(auth.Certificates)
	s.RegisterClient(c)
	s.mu.Lock()
	s.mtls.clients[c.ID] = auth
	s.mu.Unlock()
	return nil
}

// certAuthenticate authenticates a client registered with
// RegisterCertClient (RFC 8705 section 2): isCert is false when id names
// no such client (the secret methods then apply). On success it returns the
// SHA-256 thumbprint of the client's certificate, for the cnf claim.
func (s *Server) certAuthenticate(r *http.Request, form url.Values, id string, basic bool) (thumb [32]byte, isCert bool, terr *tokenError) {
	if s.mtls == nil || id == "" {
		return thumb, false, nil
	}
	s.mu.RLock()
	auth, ok := s.mtls.clients[id]
	s.mu.RUnlock()
	if !ok {
		return thumb, false, nil
	}
	// Section 2: the client_id parameter identifies the client; no other
	// credentials may be sent.
	if basic || form.Has("client_secret") || form.Has("client_assertion") || form.Get("client_id") != id {
		return thumb, true, errInvalidRequest("certificate clients authenticate with their certificate only")
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return thumb, true, errInvalidClient
	}
	leaf := r.TLS.PeerCertificates[0]
	switch auth.Method {
	case AuthTLSClient:
		inter := x509.NewCertPool()
		for _, ic := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: s.mtls.caPool, Intermediates: inter,
			CurrentTime: s.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil || leaf.Subject.String() != auth.SubjectDN {
			return thumb, true, errInvalidClient
		}
	case AuthSelfSignedTLSClient:
		found := false
		for _, rc := range auth.Certificates {
			if subtle.ConstantTimeCompare(rc.Raw, leaf.Raw) == 1 {
				found = true
			}
		}
		if !found {
			return thumb, true, errInvalidClient
		}
	}
	return sha256.Sum256(leaf.Raw), true, nil
}

// cnfClaim is the RFC 8705 section 3.1 confirmation of a certificate.
func cnfClaim(thumb [32]byte) map[string]any {
	return map[string]any{"x5t#S256": b64.EncodeToString(thumb[:])}
}

// WithCertificateBinding binds the minted token to cert: claim "cnf":
// {"x5t#S256": base64url(SHA-256(cert.Raw))} (RFC 8705 section 3.1), merged
// after the other claims. It combines with every shape:
// s.MintProvider(oauthtest.ProviderAuth0, tok, oauthtest.WithCertificateBinding(cc.Certificate)).
func WithCertificateBinding(cert *x509.Certificate) MintOption {
	var thumb [32]byte
	if cert != nil {
		thumb = sha256.Sum256(cert.Raw)
	}
	return WithClaims(map[string]any{"cnf": cnfClaim(thumb)})
}

// ClientCert is a client certificate with its private key, for calling
// mutual TLS endpoints: the token endpoint of WithMTLS and the API under
// test.
type ClientCert struct {
	// Certificate is the leaf certificate.
	Certificate *x509.Certificate
	// PrivateKey is its ECDSA P-256 key.
	PrivateKey crypto.Signer
	// Chain holds the DER certificates sent after the leaf (none for the
	// certificates oauthtest makes: its CA is the trust anchor).
	Chain [][]byte
}

// NewClientCert makes a fresh self-signed client certificate (ECDSA P-256,
// client authentication usage) with this common name, valid for a day, for
// self_signed_tls_client_auth or for an API that checks only the binding.
func NewClientCert(commonName string) (*ClientCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("oauthtest: %w", err)
	}
	tmpl := clientCertTemplate(commonName, time.Now())
	return makeClientCert(tmpl, tmpl, key, key)
}

// NewClientCertT is NewClientCert for tests: it fails t on error.
func NewClientCertT(t testing.TB, commonName string) *ClientCert {
	t.Helper()
	c, err := NewClientCert(commonName)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// IssueClientCert makes a client certificate with this common name signed
// by the server's client CA (ClientCA), for tls_client_auth: register it
// with CertAuth{Method: AuthTLSClient, SubjectDN:
// cc.Certificate.Subject.String()}. It fails without WithMTLS.
func (s *Server) IssueClientCert(commonName string) (*ClientCert, error) {
	if s.mtls == nil {
		return nil, errors.New("oauthtest: IssueClientCert needs WithMTLS")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("oauthtest: %w", err)
	}
	return makeClientCert(clientCertTemplate(commonName, s.now()), s.mtls.ca, key, s.mtls.caKey)
}

func clientCertTemplate(cn string, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"oauthtest"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(clientCertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func makeClientCert(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (*ClientCert, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("oauthtest: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("oauthtest: %w", err)
	}
	return &ClientCert{Certificate: cert, PrivateKey: key}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// Thumbprint is the SHA-256 of the DER certificate, the value a bound
// token's cnf "x5t#S256" carries.
func (c *ClientCert) Thumbprint() [32]byte { return sha256.Sum256(c.Certificate.Raw) }

// X5tS256 is Thumbprint in base64url, as in cnf.
func (c *ClientCert) X5tS256() string {
	t := c.Thumbprint()
	return b64.EncodeToString(t[:])
}

// TLSCertificate returns the certificate for tls.Config.Certificates.
func (c *ClientCert) TLSCertificate() tls.Certificate {
	chain := append([][]byte{c.Certificate.Raw}, c.Chain...)
	return tls.Certificate{Certificate: chain, PrivateKey: c.PrivateKey, Leaf: c.Certificate}
}

// TLSConfig returns a client TLS configuration that presents the
// certificate and trusts roots (nil: the system roots). For gRPC:
// grpc.WithTransportCredentials(credentials.NewTLS(cc.TLSConfig(roots))).
func (c *ClientCert) TLSConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.TLSCertificate()},
		RootCAs:      roots,
		MinVersion:   tls.VersionTLS12,
	}
}

// HTTPClient returns an *http.Client presenting the certificate and
// trusting roots (nil: the system roots), with HTTP/2 enabled. Use it with
// golang.org/x/oauth2/clientcredentials (through the context's
// oauth2.HTTPClient) against MTLSTokenURL, and to call the API.
func (c *ClientCert) HTTPClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: c.TLSConfig(roots), ForceAttemptHTTP2: true},
		Timeout:   30 * time.Second,
	}
}

// NewMTLSServer starts an httptest TLS server on 127.0.0.1 running h that
// asks clients for a certificate without verifying it
// (tls.RequestClientCert), the configuration certificate binding needs:
// the token's issuer vouched for the certificate. Its Certificate() is the
// root to trust (RootCAs(srv)). Close it when done.
func NewMTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	return srv
}

// RootCAs returns a pool trusting an httptest TLS server's certificate.
func RootCAs(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}
