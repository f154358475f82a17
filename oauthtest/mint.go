package oauthtest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Client is a registered client of the client credentials grant.
type Client struct {
	// ID is the client_id; it is also the sub of the client's tokens.
	ID string
	// Secret authenticates the client (client_secret_basic or
	// client_secret_post).
	Secret string
	// Scopes are the grantable scopes. A request without a scope parameter
	// gets all of them; the "scope" claim is space-separated and absent
	// when empty.
	Scopes []string
	// Roles go into a "roles" array claim when non-empty.
	Roles []string
	// Audiences are the allowed audience and resource values; the first is
	// the default aud. Empty means {DefaultAudience}.
	Audiences []string
	// Claims are extra claims of the client's tokens, merged over the
	// defaults (a nil value deletes a claim).
	Claims map[string]any
}

// RegisterClient adds or replaces a client (by ID).
func (s *Server) RegisterClient(c Client) {
	c.Scopes = slices.Clone(c.Scopes)
	c.Roles = slices.Clone(c.Roles)
	c.Audiences = slices.Clone(c.Audiences)
	c.Claims = maps.Clone(c.Claims)
	s.mu.Lock()
	s.clients[c.ID] = c
	s.mu.Unlock()
}

func (s *Server) client(id string) (Client, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	return c, ok
}

// MintOption changes one minted token.
type MintOption func(*mint)

type mint struct {
	clientID  string
	claimOps  []map[string]any
	headerOps []map[string]any
	kid       string
	untrusted string
	rawClaims []byte
	rawHeader []byte
	lifetime  time.Duration
	sigFn     func(string, []byte) []byte
}

// WithClaims merges c over the default claims; a nil value deletes the
// claim. Several WithClaims apply in order.
func WithClaims(c map[string]any) MintOption {
	c = maps.Clone(c)
	return func(m *mint) { m.claimOps = append(m.claimOps, c) }
}

// WithHeader merges h over the default header (alg, kid, typ "at+jwt"); a
// nil value deletes the member. When "alg" names an algorithm the signing
// key can compute (RS*/PS* for RSA, ES* for EC keys of any curve, EdDSA), the
// signature is computed with it; otherwise with the key's own algorithm.
func WithHeader(h map[string]any) MintOption {
	h = maps.Clone(h)
	return func(m *mint) { m.headerOps = append(m.headerOps, h) }
}

// WithKeyID signs with this published key instead of the default signer.
func WithKeyID(kid string) MintOption { return func(m *mint) { m.kid = kid } }

// WithUntrustedKey signs with a fresh key for alg that is never published.
// The header kid is that key's own thumbprint (unknown to the server); set
// "kid" with WithHeader to claim a published kid.
func WithUntrustedKey(alg string) MintOption { return func(m *mint) { m.untrusted = alg } }

// WithRawClaims uses b as the exact payload bytes (duplicate members,
// trailing bytes, a BOM...). Claim options are then ignored.
func WithRawClaims(b []byte) MintOption {
	b = bytes.Clone(b)
	if b == nil {
		b = []byte{}
	}
	return func(m *mint) { m.rawClaims = b }
}

// WithRawHeader uses b as the exact header bytes; the token is still signed
// with the chosen key (with the header's alg when it is a JSON object
// naming one the key can compute). Header options are then ignored.
func WithRawHeader(b []byte) MintOption {
	b = bytes.Clone(b)
	if b == nil {
		b = []byte{}
	}
	return func(m *mint) { m.rawHeader = b }
}

// WithLifetime sets exp to iat plus d (d may be negative: an expired token).
func WithLifetime(d time.Duration) MintOption { return func(m *mint) { m.lifetime = d } }

// WithClient mints the token a registered client would get from the token
// endpoint with no scope or audience parameter: sub and client_id are its
// ID, its scopes, roles, first audience and claims. Mint fails for an
// unknown client.
func WithClient(id string) MintOption { return func(m *mint) { m.clientID = id } }

// WithSignatureFunc replaces the signature: f gets the signing input
// (base64url header "." base64url payload) and the real signature and
// returns the bytes to encode (empty for "alg": "none", a DER or zero
// ECDSA signature, an HMAC over the input...).
func WithSignatureFunc(f func(signingInput string, sig []byte) []byte) MintOption {
	return func(m *mint) { m.sigFn = f }
}

// Mint returns a signed compact JWS access token. Defaults (RFC 9068):
// header {"alg", "kid", "typ": "at+jwt"} of the default signing key; claims
// iss (Issuer()), sub and client_id (DefaultClientID), aud
// (DefaultAudience), scope (DefaultScope), iat and nbf (now), exp (now plus
// the token lifetime) and a random jti.
func (s *Server) Mint(opts ...MintOption) (string, error) {
	var m mint
	for _, o := range opts {
		o(&m)
	}
	k, err := s.mintKey(&m)
	if err != nil {
		return "", err
	}
	// Header.
	hdrAlg := k.alg
	header := m.rawHeader
	if header == nil {
		h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
		for _, op := range m.headerOps {
			merge(h, op)
		}
		if a, ok := h["alg"].(string); ok {
			hdrAlg = a
		}
		if header, err = marshal(h); err != nil {
			return "", err
		}
	} else {
		var h struct {
			Alg string `json:"alg"`
		}
		if json.Unmarshal(header, &h) == nil && h.Alg != "" {
			hdrAlg = h.Alg
		}
	}
	// Claims.
	payload := m.rawClaims
	if payload == nil {
		lifetime := s.lifetime
		if m.lifetime != 0 {
			lifetime = m.lifetime
		}
		c := Client{ID: DefaultClientID, Scopes: []string{DefaultScope}}
		if m.clientID != "" {
			var ok bool
			if c, ok = s.client(m.clientID); !ok {
				return "", fmt.Errorf("oauthtest: unknown client %q", m.clientID)
			}
		}
		claims, err := s.claims(c, nil, c.Scopes, lifetime)
		if err != nil {
			return "", err
		}
		for _, op := range m.claimOps {
			merge(claims, op)
		}
		if payload, err = marshal(claims); err != nil {
			return "", err
		}
	}
	return compact(k, hdrAlg, header, payload, m.sigFn)
}

// MintT is Mint for tests: it fails t on error.
func (s *Server) MintT(t testing.TB, opts ...MintOption) string {
	t.Helper()
	tok, err := s.Mint(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Sign returns a compact JWS over the exact header and payload bytes,
// signed with the published key kid (with the header's alg when it names
// one the key can compute, else the key's own). For byte-level hostile
// tokens.
func (s *Server) Sign(kid string, header, payload []byte) (string, error) {
	if kid == "" {
		return "", fmt.Errorf("oauthtest: Sign needs a kid")
	}
	return s.Mint(WithKeyID(kid), WithRawHeader(header), WithRawClaims(payload))
}

func (s *Server) mintKey(m *mint) (*key, error) {
	if m.untrusted != "" {
		priv, err := generateKey(m.untrusted)
		if err != nil {
			return nil, err
		}
		return newKey(m.untrusted, priv)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	kid := m.kid
	if kid == "" {
		kid = s.signer
		if kid == "" {
			return nil, fmt.Errorf("oauthtest: no signing key published")
		}
	}
	k, ok := s.keys[kid]
	if !ok {
		return nil, fmt.Errorf("oauthtest: unknown key %q", kid)
	}
	return k, nil
}

// claims builds the default claims of a token for c with the given audiences
// (nil: c's default) and granted scopes.
func (s *Server) claims(c Client, aud []string, scopes []string, lifetime time.Duration) (map[string]any, error) {
	now := s.now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return nil, fmt.Errorf("oauthtest: %w", err)
	}
	if aud == nil {
		aud = c.Audiences
		if len(aud) == 0 {
			aud = []string{DefaultAudience}
		}
		aud = aud[:1]
	}
	claims := map[string]any{
		"iss":       s.Issuer(),
		"sub":       c.ID,
		"client_id": c.ID,
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(lifetime).Unix(),
		"jti":       b64.EncodeToString(jti),
	}
	if len(aud) == 1 {
		claims["aud"] = aud[0]
	} else {
		claims["aud"] = slices.Clone(aud)
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if len(c.Roles) > 0 {
		claims["roles"] = slices.Clone(c.Roles)
	}
	merge(claims, c.Claims)
	return claims, nil
}

// merge applies op over dst: nil values delete.
func merge(dst, op map[string]any) {
	for k, v := range op {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("oauthtest: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
