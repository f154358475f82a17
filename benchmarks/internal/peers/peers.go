// Package peers configures the JWT libraries m2mauth is compared with, each
// the way its documentation recommends for an API that accepts
// client-credentials access tokens: signature with one known key and one
// algorithm, iss, aud, exp/nbf/iat with 30 s leeway, and the calling client
// (azp) checked against the allow list fixture.AllowedClients after the custom claims (azp, roles,
// tid, ver) are decoded. Every verifier returns nil only for a valid token.
package peers

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"time"

	auth0v2 "github.com/auth0/go-jwt-middleware/v2"
	auth0v2val "github.com/auth0/go-jwt-middleware/v2/validator"
	auth0v3 "github.com/auth0/go-jwt-middleware/v3"
	auth0v3val "github.com/auth0/go-jwt-middleware/v3/validator"
	"github.com/coreos/go-oidc/v3/oidc"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
)

// Leeway is the clock-skew allowance given to every library.
const Leeway = 30 * time.Second

// VerifyFunc verifies one token and reports whether it is acceptable.
type VerifyFunc func(ctx context.Context, token string) error

var errClient = errors.New("peers: client not allowed")

// allowed is the client allow list (fixture.AllowedClients) as a set.
var allowed = func() map[string]bool {
	m := make(map[string]bool, fixture.NumClients)
	for _, c := range fixture.AllowedClients() {
		m[c] = true
	}
	return m
}()

// AppClaims are the non-registered claims an API reads from the token.
type AppClaims struct {
	Azp   string   `json:"azp"`
	Roles []string `json:"roles"`
	Tid   string   `json:"tid"`
	Ver   string   `json:"ver"`
}

// --- golang-jwt/jwt/v5 ---

type gjwtClaims struct {
	AppClaims
	gjwt.RegisteredClaims
}

// GolangJWT returns a golang-jwt/jwt/v5 verifier.
func GolangJWT(f *fixture.Fixture) VerifyFunc {
	p := gjwt.NewParser(
		gjwt.WithValidMethods([]string{f.Alg}),
		gjwt.WithIssuer(fixture.Issuer),
		gjwt.WithAudience(fixture.Audience),
		gjwt.WithExpirationRequired(),
		gjwt.WithIssuedAt(),
		gjwt.WithLeeway(Leeway),
	)
	pub := f.Pub
	keyFunc := func(*gjwt.Token) (any, error) { return pub, nil }
	return func(_ context.Context, token string) error {
		var c gjwtClaims
		if _, err := p.ParseWithClaims(token, &c, keyFunc); err != nil {
			return err
		}
		if !allowed[c.Azp] {
			return errClient
		}
		return nil
	}
}

// --- lestrrat-go/jwx/v3 ---

func jwxAlg(alg string) jwa.SignatureAlgorithm {
	switch alg {
	case "RS256":
		return jwa.RS256()
	case "ES256":
		return jwa.ES256()
	case "EdDSA":
		return jwa.EdDSA()
	}
	panic("peers: unknown alg " + alg)
}

// JWX returns a jwx/v3 jwt.Parse verifier with validation.
func JWX(f *fixture.Fixture) VerifyFunc {
	opts := []jwxjwt.ParseOption{
		jwxjwt.WithKey(jwxAlg(f.Alg), f.Pub),
		jwxjwt.WithValidate(true),
		jwxjwt.WithIssuer(fixture.Issuer),
		jwxjwt.WithAudience(fixture.Audience),
		jwxjwt.WithAcceptableSkew(Leeway),
	}
	return func(_ context.Context, token string) error {
		t, err := jwxjwt.ParseString(token, opts...)
		if err != nil {
			return err
		}
		var azp string
		if err := t.Get("azp", &azp); err != nil || !allowed[azp] {
			return errClient
		}
		return nil
	}
}

// --- auth0/go-jwt-middleware v2 ---

type auth0Claims struct{ AppClaims }

// Validate implements the custom claims interface of both auth0 versions.
func (c *auth0Claims) Validate(context.Context) error {
	if !allowed[c.Azp] {
		return errClient
	}
	return nil
}

// Auth0V2Validator returns go-jwt-middleware v2's validator.
func Auth0V2Validator(f *fixture.Fixture) *auth0v2val.Validator {
	pub := f.Pub
	v, err := auth0v2val.New(
		func(context.Context) (any, error) { return pub, nil },
		auth0v2val.SignatureAlgorithm(f.Alg),
		fixture.Issuer,
		[]string{fixture.Audience},
		auth0v2val.WithCustomClaims(func() auth0v2val.CustomClaims { return &auth0Claims{} }),
		auth0v2val.WithAllowedClockSkew(Leeway),
	)
	if err != nil {
		panic(fmt.Sprintf("peers: auth0 v2 validator: %v", err))
	}
	return v
}

// Auth0V2 returns go-jwt-middleware v2's ValidateToken.
func Auth0V2(f *fixture.Fixture) VerifyFunc {
	v := Auth0V2Validator(f)
	return func(ctx context.Context, token string) error {
		_, err := v.ValidateToken(ctx, token)
		return err
	}
}

// Auth0V2Middleware wraps next in go-jwt-middleware v2's CheckJWT.
func Auth0V2Middleware(f *fixture.Fixture, next http.Handler) http.Handler {
	return auth0v2.New(Auth0V2Validator(f).ValidateToken).CheckJWT(next)
}

// --- auth0/go-jwt-middleware v3 ---

// Auth0V3Validator returns go-jwt-middleware v3's validator.
func Auth0V3Validator(f *fixture.Fixture) *auth0v3val.Validator {
	pub := f.Pub
	v, err := auth0v3val.New(
		auth0v3val.WithKeyFunc(func(context.Context) (any, error) { return pub, nil }),
		auth0v3val.WithAlgorithm(auth0v3val.SignatureAlgorithm(f.Alg)),
		auth0v3val.WithIssuer(fixture.Issuer),
		auth0v3val.WithAudience(fixture.Audience),
		auth0v3val.WithCustomClaims(func() *auth0Claims { return &auth0Claims{} }),
		auth0v3val.WithAllowedClockSkew(Leeway),
	)
	if err != nil {
		panic(fmt.Sprintf("peers: auth0 v3 validator: %v", err))
	}
	return v
}

// Auth0V3 returns go-jwt-middleware v3's ValidateToken.
func Auth0V3(f *fixture.Fixture) VerifyFunc {
	v := Auth0V3Validator(f)
	return func(ctx context.Context, token string) error {
		_, err := v.ValidateToken(ctx, token)
		return err
	}
}

// Auth0V3Middleware wraps next in go-jwt-middleware v3's CheckJWT.
func Auth0V3Middleware(f *fixture.Fixture, next http.Handler) http.Handler {
	m, err := auth0v3.New(auth0v3.WithValidator(Auth0V3Validator(f)))
	if err != nil {
		panic(fmt.Sprintf("peers: auth0 v3 middleware: %v", err))
	}
	return m.CheckJWT(next)
}

// --- coreos/go-oidc/v3 ---

// GoOIDC returns a go-oidc verifier over a static key set, with the
// audience check on (ClientID is the API's audience), followed by the
// decoding of the custom claims, as an API reading roles must do.
func GoOIDC(f *fixture.Fixture) VerifyFunc {
	v := oidc.NewVerifier(fixture.Issuer,
		&oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{f.Pub}},
		&oidc.Config{ClientID: fixture.Audience, SupportedSigningAlgs: []string{f.Alg}})
	return func(ctx context.Context, token string) error {
		t, err := v.Verify(ctx, token)
		if err != nil {
			return err
		}
		var c AppClaims
		if err := t.Claims(&c); err != nil {
			return err
		}
		if !allowed[c.Azp] {
			return errClient
		}
		return nil
	}
}

// Lib is one named peer verifier constructor.
type Lib struct {
	Name string
	New  func(*fixture.Fixture) VerifyFunc
}

// All lists the peers in report order.
var All = []Lib{
	{"golangjwt", GolangJWT},
	{"jwx", JWX},
	{"auth0v2", Auth0V2},
	{"auth0v3", Auth0V3},
	{"gooidc", GoOIDC},
}
