package introspect

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// AuthMethod is how the Source authenticates to the introspection endpoint
// (RFC 7662 section 2.1 requires some authorization; RFC 7591 names the
// methods). The zero value is invalid: the method must be chosen.
type AuthMethod int

// The authentication methods.
const (
	authUnset AuthMethod = iota
	// AuthNone sends no client authentication. Ory Hydra's admin endpoint
	// (/admin/oauth2/introspect) expects this: that endpoint MUST be
	// reachable only from trusted networks (it is Hydra's admin API), and
	// anyone who can reach it can introspect any token.
	AuthNone
	// AuthClientSecretBasic sends ClientID and ClientSecret in an HTTP Basic
	// Authorization header, each form-urlencoded first (RFC 6749 section
	// 2.3.1).
	AuthClientSecretBasic
	// AuthClientSecretPost sends client_id and client_secret in the body.
	AuthClientSecretPost
	// AuthPrivateKeyJWT sends a client assertion signed with Key (RFC 7523
	// section 2.2, OpenID Connect Core section 9): iss and sub ClientID, aud
	// the introspection endpoint, a fresh jti, a lifetime of one minute.
	AuthPrivateKeyJWT
)

// String returns the RFC 7591 name of the method.
func (m AuthMethod) String() string {
	switch m {
	case AuthNone:
		return "none"
	case AuthClientSecretBasic:
		return "client_secret_basic"
	case AuthClientSecretPost:
		return "client_secret_post"
	case AuthPrivateKeyJWT:
		return "private_key_jwt"
	}
	return fmt.Sprintf("AuthMethod(%d)", int(m))
}

// ClientAuth is the API's own credential at the introspection endpoint.
type ClientAuth struct {
	// Method is required.
	Method AuthMethod
	// ClientID is the API's client ID (every method but AuthNone).
	ClientID string
	// ClientSecret is the secret of the client_secret methods. It is never
	// logged or put in an error.
	ClientSecret string
	// Key signs the private_key_jwt assertion: an *ecdsa.PrivateKey (P-256,
	// P-384, P-521), *rsa.PrivateKey (2048 bits or more) or
	// ed25519.PrivateKey.
	Key crypto.Signer
	// Alg is the JWS algorithm for Key: ES256, ES384, ES512, RS256, PS256 or
	// EdDSA. Default: ES256/ES384/ES512 by curve, RS256 for RSA, EdDSA for
	// Ed25519.
	Alg string
	// KeyID, when set, is the assertion's kid header.
	KeyID string
}

// Provider selects the provider-specific checks: a token format pre-check
// and the member that tells an access token from a refresh token.
type Provider int

// The providers. See the package documentation for what each answers.
const (
	// ProviderGeneric: RFC 7662 only. Tokens must be RFC 6750 b64token
	// characters.
	ProviderGeneric Provider = iota
	// ProviderHydra: Ory Hydra. Tokens must be ory_at_ + 43 base64url + "."
	// + 43 base64url (ory_rt_ refresh tokens are refused without a call);
	// "token_use" must be "access_token".
	ProviderHydra
	// ProviderKeycloak: Keycloak. "typ", when present, must be "Bearer"
	// (Keycloak answers "Refresh" for refresh tokens, "ID" for ID tokens).
	ProviderKeycloak
	// ProviderOkta: Okta. RFC 7662 with token_type "Bearer".
	ProviderOkta
	// ProviderZitadel: ZITADEL. RFC 7662 with token_type "Bearer".
	ProviderZitadel
)

// String returns the provider's name.
func (p Provider) String() string {
	switch p {
	case ProviderGeneric:
		return "generic"
	case ProviderHydra:
		return "hydra"
	case ProviderKeycloak:
		return "keycloak"
	case ProviderOkta:
		return "okta"
	case ProviderZitadel:
		return "zitadel"
	}
	return fmt.Sprintf("Provider(%d)", int(p))
}

// Defaults of Config.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	DefaultMaxTokenBytes    = 4096
	DefaultLeeway           = 30 * time.Second
	// DefaultMaxAge is how long an active answer is reused at most: the
	// revocation delay.
	DefaultMaxAge          = 60 * time.Second
	DefaultNegativeTTL     = 5 * time.Second
	DefaultMaxEntries      = 10000
	DefaultMaxCacheBytes   = 32 << 20
	DefaultMaxConcurrent   = 8
	DefaultRate            = 20.0 // calls per second
	DefaultBurst           = 40
	DefaultDiscoveryRetry  = 10 * time.Second
	maxLeeway              = 5 * time.Minute
	maxMaxAge              = time.Hour
	defaultRetryAfterFloor = time.Second
)

// Config configures a Source for one issuer. The zero values of the
// security fields refuse to build: every check is on unless a loudly named
// field turns it off.
type Config struct {
	// Name labels metrics, logs and errors. Default: Issuer.
	Name string
	// Issuer is the issuer identifier, exactly as in its metadata and
	// in "iss" (required).
	Issuer string
	// Endpoint is the introspection endpoint. Empty: discovered from
	// "introspection_endpoint" in {Issuer}/.well-known/openid-configuration,
	// then RFC 8414 metadata, whose "issuer" must equal Issuer exactly.
	// Hydra does not advertise its admin endpoint: configure it.
	Endpoint string
	// AllowedEndpointHosts lists hosts ("host" or "host:port") a discovered
	// endpoint may be on besides the metadata document's own host.
	AllowedEndpointHosts []string
	// InsecureAllowHTTP allows http to non-loopback hosts when the issuer
	// (and Endpoint) are http. It MUST NOT be used in production: tokens
	// and client secrets travel in clear text. http is always allowed for
	// loopback hosts, and never after https (no downgrade).
	InsecureAllowHTTP bool
	// HTTPClient makes the calls. Default: a client with Timeout. Redirects
	// are always refused (a POST carrying a bearer token is never
	// forwarded).
	HTTPClient *http.Client
	// Auth is the API's credential at the endpoint (required).
	Auth ClientAuth
	// Provider selects provider checks. Default: ProviderGeneric.
	Provider Provider

	// Audiences: an answer's "aud" must name one of them. Required unless
	// InsecureSkipAudienceCheck.
	Audiences []string
	// InsecureSkipAudienceCheck accepts any audience. It MUST NOT be set
	// when the issuer issues tokens for other APIs.
	InsecureSkipAudienceCheck bool
	// AllowMissingAudience accepts answers without "aud" (or with an empty
	// array, as Hydra answers for tokens issued without audience). A present
	// "aud" is still checked. Default: "aud" is required.
	AllowMissingAudience bool
	// ClientIDs is the allow list of calling clients ("client_id").
	// Required unless AnyClient.
	ClientIDs []string
	// AnyClient accepts every client of the issuer: an explicit choice,
	// never implied by an empty ClientIDs.
	AnyClient bool
	// AcceptConfirmation accepts answers for sender-constrained tokens: a
	// "cnf" member (RFC 7800; mutual-TLS x5t#S256, RFC 8705, or DPoP jkt,
	// RFC 9449), and token_type DPoP when a cnf is present. The binding is
	// then the caller's to enforce: jwtverify does, under the issuer's
	// Binding policy, exactly as for a JWT's cnf claim (refused by Verify,
	// checked against the request's proof by VerifyBound). Result.Bound
	// tells such a Result. Default: such answers are refused (ReasonBound).
	// You MUST NOT set it when Results are used without a binding check.
	AcceptConfirmation bool
	// InsecureAllowNoExpiry accepts active answers without "exp". It MUST
	// NOT be set unless the issuer is known to omit exp and revocation is
	// otherwise handled: such answers are cached for MaxAge.
	InsecureAllowNoExpiry bool
	// Leeway for exp, nbf and iat. Zero means DefaultLeeway; NoLeeway
	// means none; at most 5 min.
	Leeway time.Duration

	// Timeout bounds one call. Default DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds the answer. Default DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// MaxTokenBytes bounds the token; longer tokens are refused without a
	// call. Default DefaultMaxTokenBytes.
	MaxTokenBytes int

	// MaxAge bounds how long an active answer is reused (and never past its
	// exp): the revocation delay. Default DefaultMaxAge, at most 1 h.
	MaxAge time.Duration
	// NegativeTTL is how long a refusal by the server is reused. Default
	// DefaultNegativeTTL; negative disables negative caching.
	NegativeTTL time.Duration
	// MaxEntries and MaxCacheBytes bound the cache. Defaults
	// DefaultMaxEntries and DefaultMaxCacheBytes.
	MaxEntries    int
	MaxCacheBytes int64

	// MaxConcurrent bounds calls in flight to the endpoint. Default
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// Rate (calls per second) and Burst bound the call rate with a token
	// bucket. Defaults DefaultRate and DefaultBurst. Beyond the budget
	// Introspect answers ReasonOverBudget at once.
	Rate  float64
	Burst int

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Observer receives events. Default: none. A ContextObserver (for
	// example otelauth's) also gives each call a context for its requests.
	Observer Observer
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("introspect: config: "+format, args...)
}

func (c *Config) normalize() error {
	if c.Issuer == "" {
		return configErr("Issuer is required")
	}
	if c.Name == "" {
		c.Name = c.Issuer
	}
	switch c.Auth.Method {
	case authUnset:
		return configErr("Auth.Method is required (AuthNone only for a network-protected endpoint such as Hydra's admin API)")
	case AuthNone:
	case AuthClientSecretBasic, AuthClientSecretPost:
		if c.Auth.ClientID == "" || c.Auth.ClientSecret == "" {
			return configErr("%s needs ClientID and ClientSecret", c.Auth.Method)
		}
	case AuthPrivateKeyJWT:
		if c.Auth.ClientID == "" || c.Auth.Key == nil {
			return configErr("private_key_jwt needs ClientID and Key")
		}
		alg, err := assertionAlg(c.Auth.Key, c.Auth.Alg)
		if err != nil {
			return configErr("private_key_jwt: %v", err)
		}
		c.Auth.Alg = alg
	default:
		return configErr("unknown Auth.Method %d", int(c.Auth.Method))
	}
	if c.Provider < ProviderGeneric || c.Provider > ProviderZitadel {
		return configErr("unknown Provider %d", int(c.Provider))
	}
	if len(c.Audiences) == 0 && !c.InsecureSkipAudienceCheck {
		return configErr("Audiences is required (or set InsecureSkipAudienceCheck)")
	}
	if len(c.ClientIDs) == 0 && !c.AnyClient {
		return configErr("ClientIDs is required (or set AnyClient)")
	}
	switch {
	case c.Leeway == NoLeeway:
		c.Leeway = 0
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0 || c.Leeway > maxLeeway:
		return configErr("Leeway must be within [0, %s] or NoLeeway", maxLeeway)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, DefaultTimeout)
	def(&c.MaxAge, DefaultMaxAge)
	def(&c.NegativeTTL, DefaultNegativeTTL)
	if c.Timeout < 0 || c.MaxAge < 0 || c.MaxAge > maxMaxAge {
		return configErr("Timeout must be positive and MaxAge within (0, %s]", maxMaxAge)
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxCacheBytes == 0 {
		c.MaxCacheBytes = DefaultMaxCacheBytes
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxResponseBytes < 0 || c.MaxTokenBytes < 0 || c.MaxEntries < 0 || c.MaxCacheBytes < 0 ||
		c.MaxConcurrent < 0 || c.Rate < 0 || c.Burst < 0 {
		return configErr("limits must not be negative")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return nil
}

// NoLeeway disables the clock-skew allowance (as jwtverify.NoLeeway).
const NoLeeway time.Duration = -1

var errNoRedirect = errors.New("redirect refused")
