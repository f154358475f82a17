package jwtverify

// CONTRACT FILE: the public surface other packages (middleware, grpcauth,
// metrics, profiles) are written against. Implementations live in other
// files of this package. Change a signature here only together with its
// callers.

import (
	"context"
	"time"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwkscache"
)

// Reason is the machine-readable cause of a rejection, from a fixed set
// (safe as a metric label).
type Reason string

// The fixed set of reasons.
const (
	ReasonMalformed         Reason = "malformed"
	ReasonUnsupportedAlg    Reason = "unsupported_alg"
	ReasonUnknownKey        Reason = "unknown_key"
	ReasonBadSignature      Reason = "bad_signature"
	ReasonExpired           Reason = "expired"
	ReasonNotYetValid       Reason = "not_yet_valid"
	ReasonIssuer            Reason = "issuer"
	ReasonAudience          Reason = "audience"
	ReasonClient            Reason = "client"
	ReasonType              Reason = "type"
	ReasonMissingClaim      Reason = "missing_claim"
	ReasonKeysUnavailable   Reason = "keys_unavailable"
	ReasonInsufficientScope Reason = "insufficient_scope"
	// ReasonBinding: a sender-constrained token (RFC 8705, RFC 9449) whose
	// binding this request does not prove, a malformed cnf claim, or an
	// unbound token under binding.Required. Error.Rule holds the precise
	// binding.Reason (for example "thumbprint_mismatch").
	ReasonBinding Reason = "binding"
	// ReasonIntrospectionUnavailable: an opaque token of an issuer that
	// introspects cannot be decided now: its introspection endpoint is
	// down, answered 5xx or something unparsable, or the issuer's call
	// budget is spent. Error.Rule holds the precise introspect.Reason. A
	// server condition: 503 with Retry-After, never 401.
	ReasonIntrospectionUnavailable Reason = "introspection_unavailable"
	// ReasonDPoPProof: the request's DPoP proof (RFC 9449) is missing,
	// malformed, fails a check of section 4.3, or replays an accepted
	// proof. Error.Rule holds the precise dpop reason. 401 with a DPoP
	// challenge, error="invalid_dpop_proof".
	ReasonDPoPProof Reason = "dpop_proof"
	// ReasonDPoPNonce: the DPoP proof lacks the server-provided nonce or
	// carries a stale one (RFC 9449 section 9): 401 with
	// error="use_dpop_nonce" and a fresh DPoP-Nonce header.
	ReasonDPoPNonce Reason = "dpop_nonce"
	// ReasonReplayUnavailable: the DPoP replay store cannot record a proof
	// (full, or a shared store failing). A server condition: 503, never
	// an acceptance.
	ReasonReplayUnavailable Reason = "replay_unavailable"
	// ReasonInactive: the issuer's introspection endpoint answered that
	// the opaque token is not active (RFC 7662: revoked, expired or never
	// issued). 401 invalid_token. Error.Rule is "inactive".
	ReasonInactive Reason = "inactive"
)

// RFC 6750 section 3.1 error codes.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
	// RFC 9449 section 7.1 and 12.2 error codes of the DPoP scheme.
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
)

// TypePolicy says which JOSE header "typ" values an issuer accepts.
type TypePolicy int

const (
	// TypeDefault accepts "at+jwt" (any case, optional "application/"),
	// "JWT" (any case) or no typ. Any other typ is refused.
	TypeDefault TypePolicy = iota
	// TypeStrictRFC9068 accepts only "at+jwt" (any case, optional
	// "application/"), as RFC 9068 section 4 requires.
	TypeStrictRFC9068
)

// PermissionKind says whether a permission is a delegated scope or an
// application role (app permission).
type PermissionKind int

const (
	// KindScope is a delegated scope (e.g. Entra "scp", OAuth "scope").
	KindScope PermissionKind = iota + 1
	// KindRole is an application role / app permission (e.g. Entra
	// "roles", Auth0 "permissions", Keycloak roles).
	KindRole
)

// PermissionClaim says where permissions are read from and what they are.
// The claim value may be a space-separated string or an array of strings.
type PermissionClaim struct {
	// Path is the claim path: one element for a top-level claim ("scp"),
	// several for nested objects ({"realm_access", "roles"}).
	Path []string
	// Kind of the permissions found there.
	Kind PermissionKind
}

// IssuerConfig describes one trusted issuer.
type IssuerConfig struct {
	// Name identifies the issuer in logs and metric labels. Required,
	// unique.
	Name string
	// Issuer is the exact "iss" value. It may contain the placeholder
	// "{tenantid}" (Entra multi-tenant): the token's "tid" claim, which must
	// be a GUID and listed in AllowedTenants (unless
	// InsecureAllowAnyTenant), is substituted and the result must equal iss
	// exactly. A key whose Issuer member is set must match too.
	Issuer string
	// AllowedTenants lists the tenant IDs accepted when Issuer holds
	// "{tenantid}".
	AllowedTenants []string
	// InsecureAllowAnyTenant accepts any tenant for a "{tenantid}" issuer.
	// Any tenant of the provider can then mint accepted tokens: you MUST
	// NOT set it unless another check (ClientIDs) binds callers.
	InsecureAllowAnyTenant bool
	// Keys is the key source. Required, except under ModeIntrospect
	// (where no JWT is verified with keys).
	Keys jwkscache.KeySource
	// Audiences: the token's aud must contain one of these exactly.
	// Required unless InsecureSkipAudienceCheck.
	Audiences []string
	// InsecureSkipAudienceCheck disables the audience check. A token minted
	// for another API of the same issuer is then accepted: you MUST NOT set
	// it unless ClientIDs binds callers to this API.
	InsecureSkipAudienceCheck bool
	// ClientIDs is the allow list of calling applications, matched against
	// the first present claim of ClientIDClaims. Required unless
	// AllowAnyClient: an empty list never means "any client".
	ClientIDs []string
	// AllowAnyClient accepts every client the issuer issues tokens to.
	AllowAnyClient bool
	// ClientIDClaims lists the claims holding the client ID, first present
	// wins. Default: azp, client_id, appid, cid.
	ClientIDClaims []string
	// Algorithms is the exact, case-sensitive allow list (RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA). Required
	// (except under ModeIntrospect); "none" and HMAC are refused at
	// construction.
	Algorithms []string
	// Leeway for exp, nbf and iat. Zero means 30 s; NoLeeway means none;
	// capped at 5 minutes.
	Leeway time.Duration
	// TokenType is the typ header policy. Default TypeDefault.
	TokenType TypePolicy
	// RequiredClaims must be present (any JSON type but null).
	RequiredClaims []string
	// Permissions says where scopes and roles are read from. Default:
	// "scope" and "scp" as KindScope, "roles" and "permissions" as KindRole.
	Permissions []PermissionClaim
	// AppOnly classifies a verified token as app-only (client
	// credentials). Default: idtyp == "app", or gty == "client-credentials",
	// or sub equals the client ID, or the token carries no delegated scope
	// claim.
	AppOnly func(p *Principal) bool
	// InsecureIgnoreConfirmation accepts tokens carrying a "cnf"
	// (confirmation, RFC 7800) claim as plain bearer tokens. Such tokens
	// are bound to a key the caller must prove it holds (DPoP, RFC 9449;
	// mutual TLS, RFC 8705); without Binding m2mauth does not check that
	// proof, so by default it refuses them (ReasonType). You MUST NOT set
	// this unless a component in front of the API (a gateway terminating
	// mTLS or checking DPoP proofs) enforces the binding. It cannot be
	// combined with a Binding policy other than binding.Off (New fails).
	InsecureIgnoreConfirmation bool
	// Binding is the issuer's sender-constrained token policy (RFC 8705
	// certificate binding; see package binding). The zero value,
	// binding.Off, refuses every token with a cnf claim (ReasonType), as
	// before. Under binding.Optional or binding.Required the cnf claim is
	// parsed strictly (binding.ParseConfirmation; a malformed one refuses
	// with ReasonBinding, Rule "malformed_cnf"), kept on the Principal
	// (Principal.Confirmation) and checked by VerifyBound against what
	// the request proved. Plain Verify can check no proof: it refuses
	// every bound token (ReasonType) and, under binding.Required, every
	// unbound one (ReasonBinding, Rule "binding_required").
	Binding binding.Config
	// Rules are checks that are pure functions of the verified claims and
	// this configuration (profiles put their built-in rules here). They run
	// after every generic check passed, once per token: a cache hit reuses
	// their verdict. A rule that depends on anything else (a deny list, a
	// kill switch, the time) MUST go in Validate instead.
	Rules []Rule
	// Validate runs the user's rule on every Verify, cache hit or not,
	// after Rules; a non-nil error rejects the token (wrap a sentinel such
	// as ErrType or ErrMissingClaim to choose the reason, default
	// ReasonMissingClaim). Its sub-reason (Error.Rule) is a code it
	// declared in ValidateCodes (return an error built by RuleError), or
	// RuleCustom. It runs on the request path, concurrently for one cached
	// Principal: it must be safe for concurrent use and fast (a trivial
	// rule adds a few nanoseconds to a cache hit; see
	// BenchmarkHotUserRuleVsHot).
	Validate func(p *Principal) error
	// ValidateCodes declares the sub-reason codes Validate may return
	// through RuleError. Codes follow the Rule.Code syntax.
	ValidateCodes []string

	// Mode says how the issuer's tokens are verified: ModeJWT (the zero
	// value, JWTs only), ModeIntrospect or ModeJWTOrIntrospect (opaque
	// tokens by RFC 7662 introspection). See "Opaque tokens" in the
	// package documentation for the routing rules.
	Mode Mode
	// Introspection decides on the tokens this issuer introspects
	// (usually an *introspect.Source for this issuer). Required unless
	// ModeJWT, refused with ModeJWT. Audiences, ClientIDs and
	// Permissions of this IssuerConfig apply to its answers exactly as to
	// a JWT's claims (the Source checks its own lists too: give it the
	// same ones).
	Introspection Introspector
	// OpaquePrefix, when set, routes the opaque tokens that start with it
	// (for example "ory_at_") to this issuer; an introspecting issuer
	// without one takes every opaque token no prefix claims. New refuses
	// two introspecting issuers without a prefix and prefixes of which one
	// starts the other: an opaque token is never sent to more than one
	// endpoint. 1 to 32 b64token characters, no dot. Only with ModeIntrospect
	// or ModeJWTOrIntrospect.
	OpaquePrefix string
}

// Rule is a named check of a verified token. See IssuerConfig.Rules.
type Rule struct {
	// Code is the sub-reason recorded when the rule refuses a token: a
	// short fixed word of [a-z0-9_], at most 32 bytes, never token text
	// (logs carry it by default, metrics may carry it as a label).
	// Required; unique within an issuer; RuleCustom is reserved.
	Code string
	// Check returns nil to accept; a non-nil error refuses (wrap a
	// sentinel such as ErrType to choose the reason, default
	// ReasonMissingClaim).
	Check func(p *Principal) error
}

// RuleCustom is the sub-reason of a refusal by a rule that declared no
// code of its own.
const RuleCustom = "custom"

// NoIssuer is the issuer name in events, logs and metric labels for a
// token refused before a trusted issuer was chosen. It is reserved: no
// configured issuer may be named so.
const NoIssuer = "none"

// NoLeeway disables the clock-skew allowance.
const NoLeeway time.Duration = -1

// CacheConfig bounds the verified-token cache.
type CacheConfig struct {
	// Disabled turns the cache off: every Verify checks the signature.
	Disabled bool
	// MaxEntries caps the number of cached tokens. Default 10000.
	MaxEntries int
	// MaxBytes caps the memory accounted to cached entries. Default 32 MiB.
	MaxBytes int64
}

// Config configures a Verifier. It is copied by New.
type Config struct {
	// Issuers are the trusted issuers. At least one.
	Issuers []IssuerConfig
	// MaxTokenSize is the largest token accepted, in bytes, checked before
	// any parsing. Default 16384.
	MaxTokenSize int
	// Cache configures the verified-token cache.
	Cache CacheConfig
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Observer receives one event per Verify. Optional. When it is a
	// ContextObserver it receives the context of the Verify call too.
	Observer Observer
}

// VerifyEvent describes one Verify call. It never carries the token or an
// unverified claim.
type VerifyEvent struct {
	// Issuer is the configured name of the issuer, NoIssuer when the
	// token was rejected before an issuer was chosen.
	Issuer string
	// Reason is empty on success.
	Reason Reason
	// Rule is the sub-reason code of the rule that refused the token
	// (Error.Rule), empty otherwise.
	Rule string
	// CacheHit reports whether the verified-token cache answered.
	CacheHit bool
	// Duration of the call.
	Duration time.Duration
	// ClientID is the verified client ID, only on success.
	ClientID string
	// Err is the rejection (a *Error), nil on success. For logs only.
	Err error
}

// Observer receives verification events. Implementations must be safe for
// concurrent use and fast: they run on the request path.
type Observer interface {
	ObserveVerify(ev VerifyEvent)
}

// DecisionEvent describes one authorization decision of an adapter.
type DecisionEvent struct {
	// Transport is "http", "echo" or "grpc".
	Transport string
	// Result is one of DecisionAllowed, DecisionUnauthenticated,
	// DecisionForbidden, DecisionInvalidRequest, DecisionUnavailable,
	// DecisionSkipped.
	Result string
	// Reason is the rejection reason, empty when allowed.
	Reason Reason
	// Rule is the sub-reason code of the rule that refused the token
	// (Error.Rule), empty otherwise.
	Rule string
	// Route is where the decision was made, as the adapter knows it
	// without trusting the caller: the pattern a Require wrapper was
	// registered under, Echo's route path, a gRPC full method registered
	// on the server, or RouteUnknown. Never the raw path or query.
	Route string
	// Issuer is the configured issuer name, NoIssuer when none was chosen.
	Issuer string
	// ClientID is the verified client ID when the token verified.
	ClientID string
	// Missing lists the missing permissions on DecisionForbidden.
	Missing []string
}

// RouteUnknown is DecisionEvent.Route when the adapter cannot name the
// route without trusting the caller.
const RouteUnknown = "unknown"

// Decision results.
const (
	DecisionAllowed         = "allowed"
	DecisionUnauthenticated = "unauthenticated"
	DecisionForbidden       = "forbidden"
	DecisionInvalidRequest  = "invalid_request"
	DecisionUnavailable     = "unavailable"
	DecisionSkipped         = "skipped"
)

// DecisionObserver receives adapter decisions. Implementations must be safe
// for concurrent use and fast.
type DecisionObserver interface {
	ObserveDecision(ev DecisionEvent)
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying p. Every adapter uses it.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the Principal stored by an adapter, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(*Principal)
	return p, ok && p != nil
}
