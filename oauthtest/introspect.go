package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"hash"
	"maps"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// OpaqueFormat is the shape of the opaque access tokens the server issues to
// a client chosen with SetOpaqueClient.
type OpaqueFormat int

// The opaque token formats.
const (
	// OpaqueJWT (the zero value) issues JWTs: the client is not opaque.
	OpaqueJWT OpaqueFormat = iota
	// OpaqueRandom issues 43 random base64url characters.
	OpaqueRandom
	// OpaqueHydra issues Ory Hydra's format, "ory_at_" + 43 base64url + "."
	// + 43 base64url, and answers introspection with Hydra's
	// "token_use": "access_token".
	OpaqueHydra
)

// IntrospectionClient is a resource server allowed to call the
// introspection endpoint (RFC 7662 section 2.1).
type IntrospectionClient struct {
	// ID is its client_id.
	ID string
	// Secret authenticates it with client_secret_basic or
	// client_secret_post.
	Secret string
	// PublicKey, when set, authenticates it with private_key_jwt (RFC 7523):
	// *ecdsa.PublicKey (ES256/384/512), *rsa.PublicKey (RS256, PS256) or
	// ed25519.PublicKey. The assertion's aud must be the introspection URL
	// or the issuer, and a jti is accepted once.
	PublicKey crypto.PublicKey
}

// opaqueState is the server's opaque token, introspection and revocation
// state.
type opaqueState struct {
	mu           sync.Mutex
	formats      map[string]OpaqueFormat   // by client ID
	tokens       map[string]map[string]any // live opaque token -> claims
	clients      map[string]IntrospectionClient
	authOptional bool
	extra        map[string]any
	seenJTI      map[string]bool
}

func newOpaqueState() *opaqueState {
	return &opaqueState{
		formats: map[string]OpaqueFormat{}, tokens: map[string]map[string]any{},
		clients: map[string]IntrospectionClient{}, seenJTI: map[string]bool{},
	}
}

// IntrospectionURL is the RFC 7662 endpoint, Issuer()+"/introspect".
func (s *Server) IntrospectionURL() string { return s.Issuer() + "/introspect" }

// RevocationURL is the RFC 7009 endpoint, Issuer()+"/revoke".
func (s *Server) RevocationURL() string { return s.Issuer() + "/revoke" }

// SetOpaqueClient makes the token endpoint issue opaque tokens of format f
// to the client (OpaqueJWT goes back to JWTs).
func (s *Server) SetOpaqueClient(clientID string, f OpaqueFormat) {
	s.opaque.mu.Lock()
	defer s.opaque.mu.Unlock()
	if f == OpaqueJWT {
		delete(s.opaque.formats, clientID)
		return
	}
	s.opaque.formats[clientID] = f
}

// RegisterIntrospectionClient adds or replaces a client of the
// introspection endpoint.
func (s *Server) RegisterIntrospectionClient(c IntrospectionClient) {
	s.opaque.mu.Lock()
	s.opaque.clients[c.ID] = c
	s.opaque.mu.Unlock()
}

// SetIntrospectionAuthOptional makes the introspection endpoint answer
// without client authentication, as Ory Hydra's admin endpoint does.
// Default: authentication required.
func (s *Server) SetIntrospectionAuthOptional(optional bool) {
	s.opaque.mu.Lock()
	s.opaque.authOptional = optional
	s.opaque.mu.Unlock()
}

// SetIntrospectionExtra sets extra or overriding members of every active
// introspection answer (for example "active": "true", "exp": nil, "cnf":
// {...}); a nil value removes the member. nil members clears them.
func (s *Server) SetIntrospectionExtra(members map[string]any) {
	s.opaque.mu.Lock()
	s.opaque.extra = maps.Clone(members)
	s.opaque.mu.Unlock()
}

// MintOpaque issues an opaque access token to a client without a token
// request, with the claims the token endpoint would give it (an
// unregistered ID gets DefaultScope), in the client's format (OpaqueRandom
// when not set). Only opaque tokens are introspected: a JWT is answered
// {"active":false}.
func (s *Server) MintOpaque(clientID string) (string, error) {
	c, ok := s.client(clientID)
	if !ok {
		c = Client{ID: clientID, Scopes: []string{DefaultScope}}
	}
	s.mu.RLock()
	lifetime := s.lifetime
	s.mu.RUnlock()
	claims, err := s.claims(c, nil, c.Scopes, lifetime)
	if err != nil {
		return "", err
	}
	return s.issueOpaque(c.ID, claims, true)
}

// Revoke makes an opaque token inactive at once (as RFC 7009 revocation
// does). It reports whether the token was live.
func (s *Server) Revoke(token string) bool {
	s.opaque.mu.Lock()
	defer s.opaque.mu.Unlock()
	_, ok := s.opaque.tokens[token]
	delete(s.opaque.tokens, token)
	return ok
}

// accessToken issues the token endpoint's access token: a JWT, or an
// opaque token for a client chosen with SetOpaqueClient.
func (s *Server) accessToken(clientID string, claims map[string]any) (string, error) {
	tok, err := s.issueOpaque(clientID, claims, false)
	if err != nil || tok != "" {
		return tok, err
	}
	return s.Mint(WithRawClaims(mustMarshal(claims)))
}

// issueOpaque stores claims under a fresh opaque token; "" when the client
// is not opaque and force is false.
func (s *Server) issueOpaque(clientID string, claims map[string]any, force bool) (string, error) {
	s.opaque.mu.Lock()
	defer s.opaque.mu.Unlock()
	f, ok := s.opaque.formats[clientID]
	if !ok {
		if !force {
			return "", nil
		}
		f = OpaqueRandom
	}
	r := make([]byte, 64)
	if _, err := rand.Read(r); err != nil {
		return "", err
	}
	tok := b64.EncodeToString(r[:32])
	claims = maps.Clone(claims)
	if f == OpaqueHydra {
		tok = "ory_at_" + tok + "." + b64.EncodeToString(r[32:])
		claims["token_use"] = "access_token"
		if a, ok := claims["aud"].(string); ok {
			claims["aud"] = []string{a} // Hydra always answers an array
		}
	}
	s.opaque.tokens[tok] = claims
	return tok, nil
}

// serveIntrospect implements RFC 7662.
func (s *Server) serveIntrospect(r *http.Request) response {
	form, terr := s.opaqueRequest(r)
	if terr != nil {
		return terr.response()
	}
	s.opaque.mu.Lock()
	defer s.opaque.mu.Unlock()
	if terr := s.introspectionAuth(r, form); terr != nil {
		return terr.response()
	}
	answer := map[string]any{"active": false}
	if claims, ok := s.opaque.tokens[form.Get("token")]; ok {
		if s.now().Unix() < unixSeconds(claims["exp"]) {
			answer = maps.Clone(claims)
			answer["active"] = true
			answer["token_type"] = "Bearer"
			for name, v := range s.opaque.extra {
				if v == nil {
					delete(answer, name)
				} else {
					answer[name] = v
				}
			}
		}
	}
	b, err := json.Marshal(answer)
	if err != nil {
		return (&tokenError{http.StatusInternalServerError, "server_error", "cannot encode"}).response()
	}
	resp := jsonResponse(http.StatusOK, b)
	resp.header.Set("Cache-Control", "no-store")
	return resp
}

// unixSeconds reads a NumericDate claim set by this package or by
// Client.Claims (0 when absent or not a number).
func unixSeconds(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	case json.Number:
		f, _ := n.Float64()
		return int64(f)
	}
	return 0
}

// serveRevoke implements RFC 7009 for the token endpoint's clients: a
// client may revoke its own tokens; unknown tokens answer 200.
func (s *Server) serveRevoke(r *http.Request) response {
	form, terr := s.opaqueRequest(r)
	if terr != nil {
		return terr.response()
	}
	id, secret, _, terr := clientCredentials(r, form)
	if terr != nil {
		return terr.response()
	}
	c, known := s.client(id)
	if !known || c.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return errInvalidClient.response()
	}
	s.opaque.mu.Lock()
	defer s.opaque.mu.Unlock()
	tok := form.Get("token")
	if claims, ok := s.opaque.tokens[tok]; ok {
		if claims["client_id"] != id {
			return (&tokenError{http.StatusBadRequest, "unauthorized_client", "token belongs to another client"}).response()
		}
		delete(s.opaque.tokens, tok)
	}
	return response{status: http.StatusOK, header: http.Header{}}
}

// opaqueRequest parses a POST form with a single token parameter.
func (s *Server) opaqueRequest(r *http.Request) (url.Values, *tokenError) {
	if r.Method != http.MethodPost {
		return nil, &tokenError{http.StatusMethodNotAllowed, "invalid_request", "method not allowed"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errInvalidRequest("content type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		return nil, errInvalidRequest("malformed request body")
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, errInvalidRequest("repeated parameter " + name)
		}
	}
	if r.PostForm.Get("token") == "" {
		return nil, errInvalidRequest("missing token")
	}
	return r.PostForm, nil
}

// introspectionAuth authenticates the caller; s.opaque.mu is held.
func (s *Server) introspectionAuth(r *http.Request, form url.Values) *tokenError {
	if form.Get("client_assertion_type") != "" || form.Get("client_assertion") != "" {
		return s.assertionAuth(form)
	}
	_, hasAuth := r.Header["Authorization"]
	if !hasAuth && form.Get("client_id") == "" && s.opaque.authOptional {
		return nil
	}
	id, secret, _, terr := clientCredentials(r, form)
	if terr != nil {
		return terr
	}
	c, ok := s.opaque.clients[id]
	if !ok || c.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return errInvalidClient
	}
	return nil
}

// assertionAuth checks an RFC 7523 client assertion.
func (s *Server) assertionAuth(form url.Values) *tokenError {
	if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return errInvalidClient
	}
	parts := strings.Split(form.Get("client_assertion"), ".")
	if len(parts) != 3 {
		return errInvalidClient
	}
	var hdr struct{ Alg string }
	var cl struct {
		Iss, Sub, Jti string
		Aud           any
		Exp           int64
	}
	hb, err1 := b64.DecodeString(parts[0])
	cb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if errors.Join(err1, err2, err3) != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &cl) != nil {
		return errInvalidClient
	}
	c, ok := s.opaque.clients[cl.Iss]
	if !ok || c.PublicKey == nil || cl.Sub != cl.Iss || (form.Get("client_id") != "" && form.Get("client_id") != cl.Iss) {
		return errInvalidClient
	}
	if !verifyJWS(c.PublicKey, hdr.Alg, []byte(parts[0]+"."+parts[1]), sig) {
		return errInvalidClient
	}
	aud := []string{}
	switch a := cl.Aud.(type) {
	case string:
		aud = append(aud, a)
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	if !slices.Contains(aud, s.IntrospectionURL()) && !slices.Contains(aud, s.Issuer()) {
		return errInvalidClient
	}
	if cl.Exp <= s.now().Unix() || cl.Jti == "" || s.opaque.seenJTI[cl.Jti] {
		return errInvalidClient
	}
	s.opaque.seenJTI[cl.Jti] = true
	return nil
}

// verifyJWS checks a JWS signature with the standard library.
func verifyJWS(pub crypto.PublicKey, alg string, input, sig []byte) bool {
	var h hash.Hash
	var ch crypto.Hash
	switch alg {
	case "ES256", "RS256", "PS256":
		h, ch = sha256.New(), crypto.SHA256
	case "ES384":
		h, ch = sha512.New384(), crypto.SHA384
	case "ES512":
		h, ch = sha512.New(), crypto.SHA512
	case "EdDSA":
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, input, sig)
	default:
		return false
	}
	h.Write(input)
	d := h.Sum(nil)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if alg[0] != 'E' || len(sig) != 2*size {
			return false
		}
		return ecdsa.Verify(k, d, new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:]))
	case *rsa.PublicKey:
		switch alg {
		case "RS256":
			return rsa.VerifyPKCS1v15(k, ch, d, sig) == nil
		case "PS256":
			return rsa.VerifyPSS(k, ch, d, sig, nil) == nil
		}
	}
	return false
}

// introspectionMetadata adds the RFC 7662 and RFC 7009 members to a
// discovery document.
func (s *Server) introspectionMetadata(doc map[string]any) {
	methods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	doc["introspection_endpoint"] = s.IntrospectionURL()
	doc["introspection_endpoint_auth_methods_supported"] = methods
	doc["revocation_endpoint"] = s.RevocationURL()
	doc["revocation_endpoint_auth_methods_supported"] = methods[:2]
}
