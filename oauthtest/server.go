package oauthtest

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/dpop"
)

// Defaults of minted tokens when no client is named.
const (
	// DefaultClientID is the sub and client_id of tokens minted without
	// WithClient.
	DefaultClientID = "oauthtest-client"
	// DefaultAudience is the aud of tokens minted without WithClient, and of
	// tokens issued to a registered client without Audiences.
	DefaultAudience = "https://api.example.test"
	// DefaultScope is the scope of tokens minted without WithClient.
	DefaultScope = "read"
	// DefaultTokenLifetime is the lifetime of minted and issued tokens.
	DefaultTokenLifetime = time.Hour
	// DefaultJWKSCacheControl is the Cache-Control header of the JWKS answer.
	DefaultJWKSCacheControl = "public, max-age=300"
)

// Endpoint names one of the server's endpoints for faults and counters.
type Endpoint int

// The endpoints. EndpointDiscovery covers both discovery documents.
const (
	EndpointDiscovery Endpoint = iota
	EndpointJWKS
	EndpointToken
	EndpointIntrospect // RFC 7662 (introspect.go)
	EndpointRevoke     // RFC 7009 (introspect.go)
	numEndpoints
)

// String returns the endpoint's name.
func (e Endpoint) String() string {
	switch e {
	case EndpointDiscovery:
		return "discovery"
	case EndpointJWKS:
		return "jwks"
	case EndpointToken:
		return "token"
	case EndpointIntrospect:
		return "introspect"
	case EndpointRevoke:
		return "revoke"
	}
	return fmt.Sprintf("Endpoint(%d)", int(e))
}

// Server is an in-process OAuth 2.0 authorization server on 127.0.0.1 that
// serves discovery, a JWKS and a client credentials token endpoint, and mints
// tokens directly. All methods are safe for concurrent use.
type Server struct {
	srv        *httptest.Server
	issuerPath string
	now        func() time.Time
	closed     chan struct{}
	closeOnce  sync.Once

	counters [numEndpoints]atomic.Int64

	mu             sync.RWMutex
	keys           map[string]*key
	order          []string // kids in JWKS document order
	signer         string   // kid of the default signing key
	extras         map[string]map[string]any
	clients        map[string]Client
	faults         [numEndpoints]*Fault
	cacheControl   string
	lifetime       time.Duration
	discoveryExtra map[string]any
	serveOpenID    bool
	serveRFC8414   bool
	mtls           *mtlsState    // WithMTLS (mtls.go)
	opaque         *opaqueState  // introspect.go
	dpop           *dpop.Checker // DPoP proofs at the token endpoint (dpop.go)
}

type config struct {
	issuerPath   string
	keys         []initialKey
	err          error
	now          func() time.Time
	lifetime     time.Duration
	cacheControl string
	mtls         bool
}

// Option configures New.
type Option func(*config)

// WithIssuerPath gives the issuer a path, for example "/tenant-a/v2.0":
// Issuer() is URL()+p and the endpoints live under it. p must start with "/"
// and must not end with "/".
func WithIssuerPath(p string) Option { return func(c *config) { c.issuerPath = p } }

// initialKey is a key New publishes: a fresh one when priv is nil.
type initialKey struct {
	alg  string
	priv crypto.Signer
}

// WithKeyAlgs adds initial signing keys, one fresh key per algorithm; the
// first initial key is the default signer. Without WithKeyAlgs and
// WithPrivateKey the server has one fresh RS256 key.
func WithKeyAlgs(algs ...string) Option {
	return func(c *config) {
		if len(algs) == 0 {
			c.err = errors.New("oauthtest: WithKeyAlgs needs at least one algorithm")
		}
		for _, a := range algs {
			c.keys = append(c.keys, initialKey{alg: a})
		}
	}
}

// WithPrivateKey adds an initial signing key from existing key material (for
// example a fixed key of testdata/keys, which also saves generating an RSA
// key). It combines with WithKeyAlgs in option order; the first initial key
// is the default signer. Servers sharing a key can verify each other's
// tokens: give each issuer of a multi-issuer test its own key.
func WithPrivateKey(alg string, priv crypto.Signer) Option {
	return func(c *config) {
		if priv == nil {
			c.err = errors.New("oauthtest: WithPrivateKey needs a key")
		}
		c.keys = append(c.keys, initialKey{alg: alg, priv: priv})
	}
}

// WithClock sets the clock for iat, nbf and exp of minted and issued tokens.
// Default: time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithTokenLifetime sets the lifetime of minted and issued tokens. Default:
// DefaultTokenLifetime.
func WithTokenLifetime(d time.Duration) Option { return func(c *config) { c.lifetime = d } }

// WithJWKSCacheControl sets the Cache-Control header of the JWKS answer; ""
// sends none. Default: DefaultJWKSCacheControl.
func WithJWKSCacheControl(v string) Option { return func(c *config) { c.cacheControl = v } }

// New starts a server on 127.0.0.1 with one RS256 key (see WithKeyAlgs).
// Close it when done.
func New(opts ...Option) (*Server, error) {
	c := config{now: time.Now, lifetime: DefaultTokenLifetime, cacheControl: DefaultJWKSCacheControl}
	for _, o := range opts {
		o(&c)
	}
	if p := c.issuerPath; p != "" {
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#% \t\r\n") || strings.Contains(p, "//") {
			return nil, fmt.Errorf("oauthtest: invalid issuer path %q", p)
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(c.keys) == 0 {
		c.keys = []initialKey{{alg: "RS256"}}
	}
	if c.now == nil {
		return nil, errors.New("oauthtest: WithClock needs a function")
	}
	if c.lifetime <= 0 {
		return nil, errors.New("oauthtest: token lifetime must be positive")
	}
	s := &Server{
		issuerPath:   c.issuerPath,
		now:          c.now,
		closed:       make(chan struct{}),
		keys:         map[string]*key{},
		extras:       map[string]map[string]any{},
		clients:      map[string]Client{},
		cacheControl: c.cacheControl,
		lifetime:     c.lifetime,
		serveOpenID:  true,
		serveRFC8414: true,
		opaque:       newOpaqueState(),
	}
	for _, k := range c.keys {
		var err error
		if k.priv == nil {
			_, err = s.AddKey(k.alg)
		} else {
			_, err = s.AddPrivateKey(k.alg, k.priv)
		}
		if err != nil {
			return nil, err
		}
	}
	s.signer = s.order[0]
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	if c.mtls {
		if err := s.startMTLS(); err != nil {
			s.srv.Close()
			return nil, err
		}
	}
	if err := s.startDPoP(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// NewT is New for tests: it fails t on error and closes the server in
// t.Cleanup.
func NewT(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server: requests held by a fault delay are answered at
// once, and Close waits until every request has finished. Close is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.Close()
		s.closeMTLS()
	})
}

// URL is the server's origin, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.srv.URL }

// Issuer is the iss of minted tokens: URL() plus the issuer path.
func (s *Server) Issuer() string { return s.srv.URL + s.issuerPath }

// JWKSURL is the advertised jwks_uri, Issuer()+"/jwks".
func (s *Server) JWKSURL() string { return s.Issuer() + "/jwks" }

// TokenURL is the token endpoint, Issuer()+"/token".
func (s *Server) TokenURL() string { return s.Issuer() + "/token" }

// DiscoveryURL is the OpenID discovery document,
// Issuer()+"/.well-known/openid-configuration".
func (s *Server) DiscoveryURL() string { return s.Issuer() + "/.well-known/openid-configuration" }

// MetadataURL is the RFC 8414 authorization server metadata document:
// URL()+"/.well-known/oauth-authorization-server"+issuer path.
func (s *Server) MetadataURL() string {
	return s.srv.URL + "/.well-known/oauth-authorization-server" + s.issuerPath
}

// --- keys

// AddKey publishes a fresh key for alg (RS256, RS384, RS512, PS256, PS384,
// PS512, ES256, ES384, ES512 or EdDSA) and returns its kid (the RFC 7638
// thumbprint). The default signing key does not change.
func (s *Server) AddKey(alg string) (string, error) {
	priv, err := generateKey(alg)
	if err != nil {
		return "", err
	}
	return s.AddPrivateKey(alg, priv)
}

// AddPrivateKey publishes the given private key (for example a fixed key
// from testdata, or a 1024-bit RSA key for negative tests) for alg and
// returns its kid. It fails if the key does not fit alg or is already
// published.
func (s *Server) AddPrivateKey(alg string, priv crypto.Signer) (string, error) {
	k, err := newKey(alg, priv)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.keys[k.kid]; dup {
		return "", fmt.Errorf("oauthtest: key %s is already published", k.kid)
	}
	s.keys[k.kid] = k
	s.order = append(s.order, k.kid)
	return k.kid, nil
}

// RotateKey publishes a fresh key for alg and makes it the default signing
// key; the previous keys stay published.
func (s *Server) RotateKey(alg string) (string, error) {
	kid, err := s.AddKey(alg)
	if err != nil {
		return "", err
	}
	return kid, s.SetSigningKey(kid)
}

// RemoveKey unpublishes and forgets a key. Removing the default signing key
// makes the first remaining key the default signer (none when no key is
// left: Mint then fails).
func (s *Server) RemoveKey(kid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[kid]; !ok {
		return fmt.Errorf("oauthtest: unknown key %q", kid)
	}
	delete(s.keys, kid)
	delete(s.extras, kid)
	s.order = slices.DeleteFunc(s.order, func(k string) bool { return k == kid })
	if s.signer == kid {
		s.signer = ""
		if len(s.order) > 0 {
			s.signer = s.order[0]
		}
	}
	return nil
}

// SetSigningKey makes a published key the default signer of Mint and the
// token endpoint.
func (s *Server) SetSigningKey(kid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[kid]; !ok {
		return fmt.Errorf("oauthtest: unknown key %q", kid)
	}
	s.signer = kid
	return nil
}

// SigningKeyID returns the kid of the default signing key ("" if none).
func (s *Server) SigningKeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.signer
}

// KeyIDs returns the kids of the published keys in JWKS document order.
func (s *Server) KeyIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.order)
}

// PublicKey returns the public key of a published key: *rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey.
func (s *Server) PublicKey(kid string) (crypto.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[kid]
	if !ok {
		return nil, false
	}
	return k.priv.Public(), true
}

// SetJWKSCacheControl sets the Cache-Control header of the JWKS answer (""
// sends none).
func (s *Server) SetJWKSCacheControl(v string) {
	s.mu.Lock()
	s.cacheControl = v
	s.mu.Unlock()
}

// SetJWKSExtra sets extra or overriding members of one key's JWK in the
// served JWKS (for example "use": "enc", "issuer": "...", "kid": another
// key's kid, "e": "AQ"); a nil value removes the member ("alg": nil). It
// replaces earlier extras of that key; nil members clears them. Signing is
// not affected. Unknown kids are ignored.
func (s *Server) SetJWKSExtra(kid string, members map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[kid]; !ok {
		return
	}
	if members == nil {
		delete(s.extras, kid)
		return
	}
	s.extras[kid] = maps.Clone(members)
}

// jwksDocument renders the JWKS.
func (s *Server) jwksDocument() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]map[string]any, 0, len(s.order))
	for _, kid := range s.order {
		m := maps.Clone(s.keys[kid].jwk)
		for name, v := range s.extras[kid] {
			if v == nil {
				delete(m, name)
			} else {
				m[name] = v
			}
		}
		keys = append(keys, m)
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		// Only an unmarshalable SetJWKSExtra value gets here.
		return []byte(`{"keys":[]}`)
	}
	return b
}

// --- discovery

// SetDiscoveryExtra sets extra or overriding members of both discovery
// documents (for example "issuer": "https://elsewhere.test" or "jwks_uri":
// nil); a nil value removes the member. nil members clears the extras.
func (s *Server) SetDiscoveryExtra(members map[string]any) {
	s.mu.Lock()
	s.discoveryExtra = maps.Clone(members)
	s.mu.Unlock()
}

// SetDiscoveryServed chooses which discovery documents are served; a
// document that is not served answers 404 (the request is still counted).
// Both are served by default.
func (s *Server) SetDiscoveryServed(openID, rfc8414 bool) {
	s.mu.Lock()
	s.serveOpenID, s.serveRFC8414 = openID, rfc8414
	s.mu.Unlock()
}

func (s *Server) discoveryDocument() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var algs []string
	for _, kid := range s.order {
		if a := s.keys[kid].alg; !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	slices.Sort(algs)
	doc := map[string]any{
		"issuer":                                s.Issuer(),
		"jwks_uri":                              s.JWKSURL(),
		"token_endpoint":                        s.TokenURL(),
		"grant_types_supported":                 []string{"client_credentials"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"id_token_signing_alg_values_supported": algs,
	}
	s.mtlsMetadata(doc)
	s.introspectionMetadata(doc)
	doc["dpop_signing_alg_values_supported"] = s.dpop.Algorithms()
	for name, v := range s.discoveryExtra {
		if v == nil {
			delete(doc, name)
		} else {
			doc[name] = v
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}

// --- HTTP

// response is an answer before faults are applied.
type response struct {
	status int
	header http.Header
	body   []byte
}

func jsonResponse(status int, body []byte) response {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return response{status: status, header: h, body: body}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var e Endpoint
	var serve func(*http.Request) response
	switch p {
	case s.issuerPath + "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server" + s.issuerPath:
		e = EndpointDiscovery
		openID := p == s.issuerPath+"/.well-known/openid-configuration"
		serve = func(r *http.Request) response { return s.serveDiscovery(r, openID) }
	case s.issuerPath + "/jwks":
		e, serve = EndpointJWKS, s.serveJWKS
	case s.issuerPath + "/token":
		e, serve = EndpointToken, s.serveToken
	case s.issuerPath + "/introspect":
		e, serve = EndpointIntrospect, s.serveIntrospect
	case s.issuerPath + "/revoke":
		e, serve = EndpointRevoke, s.serveRevoke
	default:
		http.NotFound(w, r)
		return
	}
	s.counters[e].Add(1)
	s.mu.RLock()
	f := s.faults[e]
	s.mu.RUnlock()
	if f != nil && !s.wait(r, f) {
		// Cut the connection without an answer (net/http does not log this).
		panic(http.ErrAbortHandler)
	}
	resp := serve(r)
	if f != nil {
		resp = applyFault(resp, f)
	}
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	if f != nil && f.Truncate {
		// Announce the whole body, send half: the connection is cut.
		h.Set("Content-Length", fmt.Sprint(len(resp.body)))
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.body[:len(resp.body)/2])
		return
	}
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
}

func methodNotAllowed(allow string) response {
	resp := jsonResponse(http.StatusMethodNotAllowed, []byte(`{"error":"invalid_request","error_description":"method not allowed"}`))
	resp.header.Set("Allow", allow)
	return resp
}

func (s *Server) serveDiscovery(r *http.Request, openID bool) response {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed("GET, HEAD")
	}
	s.mu.RLock()
	served := s.serveOpenID
	if !openID {
		served = s.serveRFC8414
	}
	s.mu.RUnlock()
	if !served {
		resp := jsonResponse(http.StatusNotFound, []byte(`{"error":"not_found"}`))
		return resp
	}
	return jsonResponse(http.StatusOK, s.discoveryDocument())
}

func (s *Server) serveJWKS(r *http.Request) response {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed("GET, HEAD")
	}
	resp := jsonResponse(http.StatusOK, s.jwksDocument())
	s.mu.RLock()
	if s.cacheControl != "" {
		resp.header.Set("Cache-Control", s.cacheControl)
	}
	s.mu.RUnlock()
	return resp
}
