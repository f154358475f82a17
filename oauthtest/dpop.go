package oauthtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/m2mauth/m2mauth/dpop"
)

// DPoPProver is a DPoP client (RFC 9449): it holds a private key and makes
// proofs with it, for tests of DPoP-protected APIs and of the token
// endpoint's DPoP support. Proof options make hostile proofs. It is safe for
// concurrent use.
type DPoPProver struct {
	k   *key
	jwk map[string]any // public members only
	jkt string
	now func() time.Time
}

// NewDPoPProver returns a prover with a fresh key for alg: "ES256" (the
// default when alg is ""), ES384, ES512, RS256, RS384, RS512, PS256, PS384,
// PS512 or EdDSA.
func NewDPoPProver(alg string) (*DPoPProver, error) {
	if alg == "" {
		alg = "ES256"
	}
	priv, err := generateKey(alg)
	if err != nil {
		return nil, err
	}
	return NewDPoPProverKey(alg, priv)
}

// NewDPoPProverKey returns a prover signing with priv (an *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey fitting alg).
func NewDPoPProverKey(alg string, priv crypto.Signer) (*DPoPProver, error) {
	k, err := newKey(alg, priv)
	if err != nil {
		return nil, err
	}
	jwk, jkt, err := publicJWK(priv.Public())
	if err != nil {
		return nil, err
	}
	return &DPoPProver{k: k, jwk: jwk, jkt: jkt, now: time.Now}, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the prover's public
// key in base64url: the cnf "jkt" value of tokens bound to it.
func (p *DPoPProver) Thumbprint() string { return p.jkt }

// Algorithm returns the prover's signing algorithm.
func (p *DPoPProver) Algorithm() string { return p.k.alg }

// ProofOption changes one proof made by DPoPProver.Proof.
type ProofOption func(*proofSpec)

type proofSpec struct {
	headerOps []map[string]any
	claimOps  []map[string]any
	jwkOps    []map[string]any
	rawHeader []byte
	rawClaims []byte
	signer    string
	sigFn     func(string, []byte) []byte
	iat       time.Time
}

// WithProofHeader merges h over the proof header ({"typ": "dpop+jwt",
// "alg", "jwk"}); a nil value deletes the member. An "alg" the key can
// compute is used for the signature, as with WithHeader.
func WithProofHeader(h map[string]any) ProofOption {
	h = maps.Clone(h)
	return func(s *proofSpec) { s.headerOps = append(s.headerOps, h) }
}

// WithProofClaims merges c over the proof claims (jti, htm, htu, iat, and
// ath and nonce when given); a nil value deletes the claim.
func WithProofClaims(c map[string]any) ProofOption {
	c = maps.Clone(c)
	return func(s *proofSpec) { s.claimOps = append(s.claimOps, c) }
}

// WithProofJWK merges m over the members of the header's jwk (for example
// a private "d", or another "crv"); a nil value deletes the member.
func WithProofJWK(m map[string]any) ProofOption {
	m = maps.Clone(m)
	return func(s *proofSpec) { s.jwkOps = append(s.jwkOps, m) }
}

// WithProofTime sets iat to t instead of now.
func WithProofTime(t time.Time) ProofOption { return func(s *proofSpec) { s.iat = t } }

// WithProofSigner signs the proof with a fresh key for alg while the
// header's jwk stays the prover's key: a signature the jwk does not verify.
func WithProofSigner(alg string) ProofOption { return func(s *proofSpec) { s.signer = alg } }

// WithProofSignatureFunc replaces the signature, as WithSignatureFunc does
// for tokens.
func WithProofSignatureFunc(f func(signingInput string, sig []byte) []byte) ProofOption {
	return func(s *proofSpec) { s.sigFn = f }
}

// WithRawProofHeader uses b as the exact header bytes (signed with the
// prover's key); header options are then ignored.
func WithRawProofHeader(b []byte) ProofOption {
	b = append([]byte{}, b...)
	return func(s *proofSpec) { s.rawHeader = b }
}

// WithRawProofClaims uses b as the exact payload bytes; claim options are
// then ignored.
func WithRawProofClaims(b []byte) ProofOption {
	b = append([]byte{}, b...)
	return func(s *proofSpec) { s.rawClaims = b }
}

// Proof returns a DPoP proof (RFC 9449 section 4.2) for a request with this
// method to rawURL (its query and fragment are dropped for htu). With an
// accessToken it carries ath, base64url(SHA-256(accessToken)), as a
// resource server expects (section 7); without, none, as a token endpoint
// expects. A non-empty nonce goes into the nonce claim. jti is 16 random
// bytes, iat is now.
func (p *DPoPProver) Proof(method, rawURL, accessToken, nonce string, opts ...ProofOption) (string, error) {
	var s proofSpec
	for _, o := range opts {
		o(&s)
	}
	htu, err := htuOf(rawURL)
	if err != nil {
		return "", err
	}
	header := s.rawHeader
	hdrAlg := p.k.alg
	if header == nil {
		jwk := maps.Clone(p.jwk)
		for _, op := range s.jwkOps {
			merge(jwk, op)
		}
		h := map[string]any{"typ": "dpop+jwt", "alg": p.k.alg, "jwk": jwk}
		for _, op := range s.headerOps {
			merge(h, op)
		}
		if a, ok := h["alg"].(string); ok {
			hdrAlg = a
		}
		if header, err = marshal(h); err != nil {
			return "", err
		}
	}
	payload := s.rawClaims
	if payload == nil {
		jti := make([]byte, 16)
		if _, err := rand.Read(jti); err != nil {
			return "", fmt.Errorf("oauthtest: %w", err)
		}
		iat := s.iat
		if iat.IsZero() {
			iat = p.now()
		}
		c := map[string]any{"jti": b64.EncodeToString(jti), "htm": method, "htu": htu, "iat": iat.Unix()}
		if accessToken != "" {
			sum := sha256.Sum256([]byte(accessToken))
			c["ath"] = b64.EncodeToString(sum[:])
		}
		if nonce != "" {
			c["nonce"] = nonce
		}
		for _, op := range s.claimOps {
			merge(c, op)
		}
		if payload, err = marshal(c); err != nil {
			return "", err
		}
	}
	k := p.k
	if s.signer != "" {
		priv, err := generateKey(s.signer)
		if err != nil {
			return "", err
		}
		if k, err = newKey(s.signer, priv); err != nil {
			return "", err
		}
	}
	return compact(k, hdrAlg, header, payload, s.sigFn)
}

// htuOf drops the query and fragment of rawURL.
func htuOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("oauthtest: DPoP target %q is not an absolute URL", rawURL)
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String(), nil
}

// Transport returns an http.RoundTripper that sends each request with
// "Authorization: DPoP <token>", the token taken from the request's own
// Authorization header (scheme Bearer or DPoP), and a fresh proof for the
// request's method and URL. It remembers the last DPoP-Nonce each origin
// sent and puts it in later proofs; on a 401 with error="use_dpop_nonce"
// and a DPoP-Nonce header it retries once with that nonce (a request with
// a body only when the body can be replayed: GetBody set, as
// http.NewRequest does for common body types). base nil means
// http.DefaultTransport.
func (p *DPoPProver) Transport(base http.RoundTripper) http.RoundTripper {
	return p.TransportWithToken(base, nil)
}

// TransportWithToken is Transport with the access token from token (for
// example a cache over DPoPProver.FetchToken) instead of the request's
// Authorization header. A token error fails the request.
func (p *DPoPProver) TransportWithToken(base http.RoundTripper, token func(ctx context.Context) (string, error)) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &dpopTransport{p: p, base: base, token: token, nonces: map[string]string{}}
}

// maxNonceOrigins bounds the nonces a transport remembers.
const maxNonceOrigins = 64

type dpopTransport struct {
	p      *DPoPProver
	base   http.RoundTripper
	token  func(ctx context.Context) (string, error)
	mu     sync.Mutex
	nonces map[string]string // origin -> last DPoP-Nonce
}

var errNoToken = errors.New("oauthtest: DPoP transport: the request has no access token (Authorization: Bearer or DPoP)")

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.accessToken(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	origin := req.URL.Scheme + "://" + req.URL.Host
	resp, err := t.send(req, req.Body, tok, t.nonce(origin))
	if err != nil {
		return nil, err
	}
	n := resp.Header.Get("DPoP-Nonce")
	if n != "" {
		t.setNonce(origin, n)
	}
	if resp.StatusCode != http.StatusUnauthorized || n == "" || !asksNonce(resp) {
		return resp, nil
	}
	body := req.Body
	if body != nil && body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.send(req, body, tok, n)
}

func (t *dpopTransport) send(req *http.Request, body io.ReadCloser, tok, nonce string) (*http.Response, error) {
	proof, err := t.p.Proof(req.Method, req.URL.String(), tok, nonce)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set("DPoP", proof)
	return t.base.RoundTrip(r)
}

func (t *dpopTransport) accessToken(req *http.Request) (string, error) {
	if t.token != nil {
		return t.token(req.Context())
	}
	scheme, tok, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || tok == "" || !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP") {
		return "", errNoToken
	}
	return tok, nil
}

func (t *dpopTransport) nonce(origin string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonces[origin]
}

func (t *dpopTransport) setNonce(origin, n string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.nonces[origin]; !ok && len(t.nonces) >= maxNonceOrigins {
		clear(t.nonces)
	}
	t.nonces[origin] = n
}

// asksNonce reports whether a 401 carries a DPoP challenge with
// error="use_dpop_nonce".
func asksNonce(resp *http.Response) bool {
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if strings.Contains(v, `error="use_dpop_nonce"`) {
			return true
		}
	}
	return false
}

// FetchToken asks the token endpoint at tokenURL for a DPoP-bound token with
// the client credentials grant (client_secret_basic) and a proof of the
// prover's key, and returns the access token. extra adds form parameters
// (scope, audience, resource). It fails unless the answer is 200 with
// token_type "DPoP".
func (p *DPoPProver) FetchToken(ctx context.Context, client *http.Client, tokenURL, clientID, secret string, extra url.Values) (string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	form := url.Values{}
	for k, v := range extra {
		form[k] = v
	}
	form.Set("grant_type", "client_credentials")
	proof, err := p.Proof(http.MethodPost, tokenURL, "", "")
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("oauthtest: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	req.Header.Set("DPoP", proof)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("oauthtest: token request: %w", err)
	}
	defer resp.Body.Close()
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&answer); err != nil {
		return "", fmt.Errorf("oauthtest: token answer (%d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || answer.TokenType != "DPoP" || answer.AccessToken == "" {
		return "", fmt.Errorf("oauthtest: token request: status %d, error %q, token_type %q", resp.StatusCode, answer.Error, answer.TokenType)
	}
	return answer.AccessToken, nil
}

// startDPoP makes the token endpoint's proof checker: htu is checked
// against the server's own origins (plain and, with WithMTLS, mutual TLS).
func (s *Server) startDPoP() error {
	origins := []string{s.URL()}
	if u := s.MTLSURL(); u != "" {
		origins = append(origins, u)
	}
	c, err := dpop.New(dpop.Config{
		PublicOrigins: origins,
		Algorithms:    []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"},
		Now:           s.now,
	})
	if err != nil {
		return fmt.Errorf("oauthtest: %w", err)
	}
	s.dpop = c
	return nil
}

// dpopProof checks the token request's DPoP proof, if it has one (RFC 9449
// section 5): it returns the jkt to bind the token to, or a 400
// invalid_dpop_proof error.
func (s *Server) dpopProof(r *http.Request) (jkt string, bound bool, terr *tokenError) {
	if len(r.Header.Values("DPoP")) == 0 {
		return "", false, nil
	}
	v, err := s.dpop.CheckTokenRequest(r)
	if err == nil {
		err = s.dpop.Commit(r.Context(), v)
	}
	if err != nil {
		return "", false, &tokenError{http.StatusBadRequest, "invalid_dpop_proof", "invalid DPoP proof"}
	}
	return v.JKT(), true, nil
}

func tokenType(dpopBound bool) string {
	if dpopBound {
		return "DPoP"
	}
	return "Bearer"
}

// WithDPoPBinding binds the minted token to the DPoP key with this
// thumbprint (DPoPProver.Thumbprint): claim "cnf": {"jkt": jkt} (RFC 9449
// section 6.1), merged after the other claims.
func WithDPoPBinding(jkt string) MintOption {
	return WithClaims(map[string]any{"cnf": map[string]any{"jkt": jkt}})
}
