package dpop

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Defaults of Config.
const (
	// DefaultIATWindow is the default Config.IATWindow.
	DefaultIATWindow = 60 * time.Second
	// DefaultMaxProofSize is the default Config.MaxProofSize: a proof with
	// an RSA-4096 jwk and a 4096-bit signature is about 2.2 KiB.
	DefaultMaxProofSize = 8 << 10
	// MaxJTILength bounds the jti claim (bytes after JSON unescaping).
	MaxJTILength = 256
)

// DefaultAlgorithms are the proof algorithms accepted when
// Config.Algorithms is empty.
var defaultAlgorithms = []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"}

// DefaultAlgorithms returns the proof algorithms accepted when
// Config.Algorithms is empty: ES256, ES384, PS256, RS256, EdDSA.
func DefaultAlgorithms() []string { return slices.Clone(defaultAlgorithms) }

// Config configures a Checker. The zero value of every field but
// PublicOrigins is a documented default; New copies the Config.
type Config struct {
	// Algorithms are the accepted proof algorithms (the header's alg):
	// any of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
	// ES512, EdDSA (Ed25519). "none", HS* and unknown names make New fail.
	// Default: DefaultAlgorithms().
	Algorithms []string
	// IATWindow is how far a proof's iat may be from now, in either
	// direction (RFC 9449 section 11.1). It is also how long Commit keeps a
	// proof's jti. Default DefaultIATWindow (60 s); at most 10 minutes.
	IATWindow time.Duration
	// MaxProofSize bounds the DPoP header value, in bytes. Default
	// DefaultMaxProofSize (8 KiB); at most 64 KiB.
	MaxProofSize int
	// PublicOrigins are the URIs clients use to reach this API, REQUIRED:
	// "https://api.example.com", "https://api.example.com:8443" or, for an
	// API a proxy publishes under a path prefix it strips,
	// "https://example.com/orders" (scheme http or https, host, optional
	// port and path prefix; no user info, query or fragment). A proof's
	// htu must equal one of them followed by the request's escaped path
	// (r.URL.EscapedPath()), after normalisation. The request's Host and
	// X-Forwarded-* headers are never used: they are the client's to set.
	// New validates and normalises each origin (case of scheme and host,
	// default port dropped, trailing slash of the prefix dropped).
	PublicOrigins []string
	// Replay records accepted proofs (Commit). Default:
	// NewMemoryStore(DefaultMaxEntries), a per-process store: with several
	// replicas, plug in a shared store, or a proof may be replayed once
	// against each replica.
	Replay ReplayStore
	// Nonces, when set, makes every proof carry a current server nonce
	// (RFC 9449 section 9); a proof without one is refused with
	// ReasonNonce. Default nil: no nonce is required (and one sent is
	// ignored).
	Nonces *Nonces
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Checker checks DPoP proofs (RFC 9449 section 4.3) for a resource server
// (Check, then Commit) or an authorization server's token endpoint
// (CheckTokenRequest, then Commit). It is safe for concurrent use.
type Checker struct {
	algs    []string
	algMask uint16 // bit per algID
	window  time.Duration
	maxSize int
	origins []origin
	replay  ReplayStore
	nonces  *Nonces
	now     func() time.Time
	ecKeys  ecKeyCache // parsed EC keys of recent proofs
}

// New validates cfg and returns a Checker.
func New(cfg Config) (*Checker, error) {
	c := &Checker{
		window:  cfg.IATWindow,
		maxSize: cfg.MaxProofSize,
		replay:  cfg.Replay,
		nonces:  cfg.Nonces,
		now:     cfg.Now,
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = defaultAlgorithms
	}
	for _, a := range algs {
		id, ok := algByName(a)
		if !ok {
			return nil, fmt.Errorf("dpop: algorithm %q is not an accepted asymmetric JWS algorithm", a)
		}
		if c.algMask&(1<<id) == 0 {
			c.algMask |= 1 << id
			c.algs = append(c.algs, a)
		}
	}
	switch {
	case c.window == 0:
		c.window = DefaultIATWindow
	case c.window < 0 || c.window > 10*time.Minute:
		return nil, errors.New("dpop: IATWindow must be between 0 (default) and 10 minutes")
	}
	switch {
	case c.maxSize == 0:
		c.maxSize = DefaultMaxProofSize
	case c.maxSize < 0 || c.maxSize > 64<<10:
		return nil, errors.New("dpop: MaxProofSize must be between 0 (default) and 64 KiB")
	}
	if len(cfg.PublicOrigins) == 0 {
		return nil, errors.New("dpop: PublicOrigins is required (the scheme, host and optional path prefix clients use)")
	}
	for _, s := range cfg.PublicOrigins {
		o, err := parseOrigin(s)
		if err != nil {
			return nil, err
		}
		c.origins = append(c.origins, o)
	}
	if c.replay == nil {
		c.replay = NewMemoryStore(DefaultMaxEntries)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Algorithms returns the accepted proof algorithms, for the challenge's
// algs="..." parameter (section 7.1) and the RFC 9728 metadata member
// dpop_signing_alg_values_supported.
func (c *Checker) Algorithms() []string { return slices.Clone(c.algs) }

// Nonce returns the current server nonce for a DPoP-Nonce header (on a 401
// ReasonNonce answer and, section 8.2, on successful answers), or "" when
// Config.Nonces is nil.
func (c *Checker) Nonce() string {
	if c.nonces == nil {
		return ""
	}
	return c.nonces.At(c.now())
}

// Verified is a proof that passed every check of Check or
// CheckTokenRequest. It is a small value, safe to copy; the zero value is no
// proof. Pass it to Commit once the access token was accepted.
type Verified struct {
	jkt   [32]byte
	key   [32]byte // replay key: SHA-256 over jkt, htu and jti
	until time.Time
	ok    bool
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the proof's jwk,
// for binding.Proof.WithDPoP (compared with the token's cnf.jkt).
func (v Verified) Thumbprint() [32]byte { return v.jkt }

// JKT returns Thumbprint in base64url without padding, the form of the
// cnf "jkt" member (section 6.1).
func (v Verified) JKT() string { return base64.RawURLEncoding.EncodeToString(v.jkt[:]) }

// Expires returns the end of the proof's acceptance window (iat plus
// Config.IATWindow): Commit keeps its jti until then.
func (v Verified) Expires() time.Time { return v.until }

// IsZero reports whether v is the zero Verified (no proof).
func (v Verified) IsZero() bool { return !v.ok }

// Check verifies the request's DPoP proof (the value of its one "DPoP"
// header) for accessToken: every check of RFC 9449 section 4.3 (and
// section 9 with Config.Nonces) except the replay check, which Commit does
// after the access token is accepted, so that junk never fills the replay
// store. It reads the request's method, URL path and DPoP header values
// and nothing else. The error is an *Error.
func (c *Checker) Check(r *http.Request, accessToken string) (Verified, error) {
	return c.check(r, accessToken, true)
}

// CheckTokenRequest is Check for an authorization server's token endpoint
// (RFC 9449 section 5): there is no access token, and a proof carrying ath
// is refused.
func (c *Checker) CheckTokenRequest(r *http.Request) (Verified, error) {
	return c.check(r, "", false)
}

// Commit records an accepted proof's jti (hashed with the key thumbprint
// and htu) in the replay store until the end of its acceptance window. Call
// it after the access token and its binding were accepted, once per
// request. It returns nil, an *Error with ReasonReplay (the proof was seen
// before: 401 invalid_dpop_proof) or an *Error with ReasonStoreUnavailable
// wrapping the store's error (503).
func (c *Checker) Commit(ctx context.Context, v Verified) error {
	if !v.ok {
		return refuse(ReasonMissing, "no verified proof")
	}
	err := c.replay.Record(ctx, v.key, c.now(), v.until)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplay):
		return refuse(ReasonReplay, "proof already used")
	default:
		return &Error{Reason: ReasonStoreUnavailable, Detail: "cannot record the proof", Err: err}
	}
}
