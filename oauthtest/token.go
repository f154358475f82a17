package oauthtest

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxTokenRequestBytes bounds the token request body.
const maxTokenRequestBytes = 64 << 10

// tokenError is an RFC 6749 section 5.2 error answer.
type tokenError struct {
	status int
	code   string
	desc   string
}

func (e *tokenError) response() response {
	b, _ := json.Marshal(map[string]string{"error": e.code, "error_description": e.desc})
	resp := jsonResponse(e.status, b)
	resp.header.Set("Cache-Control", "no-store")
	resp.header.Set("Pragma", "no-cache")
	if e.code == "invalid_client" {
		resp.header.Set("WWW-Authenticate", `Basic realm="oauthtest"`)
	}
	return resp
}

func errInvalidRequest(desc string) *tokenError {
	return &tokenError{http.StatusBadRequest, "invalid_request", desc}
}

var errInvalidClient = &tokenError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}

// serveToken implements the client credentials grant (RFC 6749 section 4.4)
// with client_secret_basic and client_secret_post, scope, audience and
// resource (RFC 8707).
func (s *Server) serveToken(r *http.Request) response {
	tok, terr := s.token(r)
	if terr != nil {
		return terr.response()
	}
	return tok
}

func (s *Server) token(r *http.Request) (response, *tokenError) {
	if r.Method != http.MethodPost {
		return methodNotAllowed("POST"), nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return response{}, errInvalidRequest("content type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return response{}, errInvalidRequest("request body too large")
		}
		return response{}, errInvalidRequest("malformed request body")
	}
	form := r.PostForm
	// RFC 6749 section 3.2: parameters must not repeat (resource may, RFC 8707).
	for name, vs := range form {
		if len(vs) > 1 && name != "resource" {
			return response{}, errInvalidRequest("repeated parameter " + name)
		}
	}

	// Client authentication (RFC 6749 section 2.3.1).
	id, secret, basic, terr := clientCredentials(r, form)
	if terr != nil {
		return response{}, terr
	}
	// RFC 8705 section 2: certificate clients (mtls.go).
	thumb, certAuth, terr := s.certAuthenticate(r, form, id, basic)
	if terr != nil {
		return response{}, terr
	}
	if !basic && form.Get("client_secret") == "" && id == "" {
		return response{}, errInvalidClient
	}
	c, known := s.client(id)
	if !known || !certAuth && (c.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1) {
		return response{}, errInvalidClient
	}

	switch gt := form.Get("grant_type"); gt {
	case "":
		return response{}, errInvalidRequest("missing grant_type")
	case "client_credentials":
	default:
		return response{}, &tokenError{http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported"}
	}

	// Scopes (RFC 6749 section 3.3).
	scopes := c.Scopes
	if _, ok := form["scope"]; ok {
		scopes = nil
		for _, sc := range strings.Split(form.Get("scope"), " ") {
			if sc == "" {
				continue
			}
			if !slices.Contains(c.Scopes, sc) {
				return response{}, &tokenError{http.StatusBadRequest, "invalid_scope", "scope not allowed for this client"}
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}

	// Audiences: audience (Auth0 style) and resource (RFC 8707).
	allowed := c.Audiences
	if len(allowed) == 0 {
		allowed = []string{DefaultAudience}
	}
	var aud []string
	for _, res := range form["resource"] {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return response{}, errInvalidRequest("resource must be an absolute URI without fragment")
		}
		if !slices.Contains(allowed, res) {
			return response{}, &tokenError{http.StatusBadRequest, "invalid_target", "resource not allowed for this client"}
		}
		if !slices.Contains(aud, res) {
			aud = append(aud, res)
		}
	}
	if a, ok := form["audience"]; ok {
		if !slices.Contains(allowed, a[0]) {
			return response{}, &tokenError{http.StatusBadRequest, "invalid_target", "audience not allowed for this client"}
		}
		if !slices.Contains(aud, a[0]) {
			aud = append(aud, a[0])
		}
	}

	s.mu.RLock()
	lifetime := s.lifetime
	s.mu.RUnlock()
	claims, err := s.claims(c, aud, scopes, lifetime)
	if err != nil {
		return response{}, &tokenError{http.StatusInternalServerError, "server_error", "cannot mint"}
	}
	if certAuth {
		claims["cnf"] = cnfClaim(thumb)
	}
	// RFC 9449 section 5: a DPoP proof binds the token to its key.
	jkt, bound, terr := s.dpopProof(r)
	if terr != nil {
		return response{}, terr
	}
	if bound {
		cnf, _ := claims["cnf"].(map[string]any)
		if cnf == nil {
			cnf = map[string]any{}
		}
		cnf["jkt"] = jkt
		claims["cnf"] = cnf
	}
	at, err := s.accessToken(c.ID, claims) // a JWT, or opaque (introspect.go)
	if err != nil {
		return response{}, &tokenError{http.StatusInternalServerError, "server_error", "cannot mint"}
	}
	answer := map[string]any{
		"access_token": at,
		"token_type":   tokenType(bound),
		"expires_in":   int64(lifetime.Seconds()),
	}
	if len(scopes) > 0 {
		answer["scope"] = strings.Join(scopes, " ")
	}
	resp := jsonResponse(http.StatusOK, mustMarshal(answer))
	resp.header.Set("Cache-Control", "no-store")
	resp.header.Set("Pragma", "no-cache")
	return resp, nil
}

// clientCredentials extracts the client ID and secret from the Authorization
// header (client_secret_basic) or the body (client_secret_post). Using both
// is an invalid_request (RFC 6749 section 2.3).
func clientCredentials(r *http.Request, form url.Values) (id, secret string, basic bool, terr *tokenError) {
	auth := r.Header.Values("Authorization")
	if len(auth) == 0 {
		return form.Get("client_id"), form.Get("client_secret"), false, nil
	}
	if len(auth) > 1 {
		return "", "", true, errInvalidRequest("repeated Authorization header")
	}
	scheme, cred, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", true, errInvalidClient
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", true, errInvalidClient
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, errInvalidClient
	}
	// The ID and secret are form-urlencoded before base64 (section 2.3.1).
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", true, errInvalidClient
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", true, errInvalidClient
	}
	if _, ok := form["client_secret"]; ok {
		return "", "", true, errInvalidRequest("more than one client authentication method")
	}
	if fid, ok := form["client_id"]; ok && fid[0] != id {
		return "", "", true, errInvalidRequest("client_id does not match the authenticated client")
	}
	return id, secret, true, nil
}

func mustMarshal(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		// Only values built by this package get here.
		panic(err)
	}
	return b
}
