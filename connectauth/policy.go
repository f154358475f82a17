package connectauth

import (
	"errors"

	"github.com/m2mauth/m2mauth/internal/rpcpolicy"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// DefaultRule says what happens to a procedure that no pattern of a Policy
// matches.
type DefaultRule int

const (
	// DefaultDeny refuses every undeclared procedure (the zero value). The
	// caller is still authenticated first, so an anonymous caller learns
	// nothing about which procedures the policy declares: it gets
	// Unauthenticated, a verified caller gets PermissionDenied.
	DefaultDeny DefaultRule = iota
	// DefaultAuthenticated lets any caller with a valid token call an
	// undeclared procedure (jwtverify.Authenticated()).
	DefaultAuthenticated
	// DefaultAllow lets anyone call an undeclared procedure, without
	// credentials, as if it were listed in Policy.Public.
	DefaultAllow
)

// String returns the name of the rule.
func (d DefaultRule) String() string {
	return rpcpolicy.Default(d).String()
}

// Patterns of the standard services that health checkers and tools call
// without credentials. Put them in Policy.Public (Policy.ExemptHealth and
// Policy.ExemptReflection do).
const (
	// HealthPattern matches grpc.health.v1.Health (Check, List, Watch), as
	// connectrpc.com/grpchealth serves it.
	HealthPattern = rpcpolicy.HealthPattern
	// ReflectionV1Pattern matches server reflection v1.
	ReflectionV1Pattern = rpcpolicy.ReflectionV1Pattern
	// ReflectionV1AlphaPattern matches server reflection v1alpha, which
	// grpcurl and older tools still call.
	ReflectionV1AlphaPattern = rpcpolicy.ReflectionV1AlphaPattern
)

// MaxPatternLength bounds a pattern of a Policy.
const MaxPatternLength = rpcpolicy.MaxPatternLength

// Policy says which requirement each procedure has.
//
// A pattern is either a procedure, "/package.Service/Method", as in
// connect.Spec.Procedure, or a whole-service wildcard,
// "/package.Service/*". Package, service and method names are protobuf
// identifiers (letters, digits, "_"; not starting with a digit); the
// package may have several dot-separated parts or none. Matching is exact
// and case-sensitive.
//
// For a procedure, the first of these that exists decides: its full-procedure
// pattern, its service wildcard, the Default. So a full-procedure entry
// overrides the wildcard of its service, whatever the lists they are in:
// `Deny: {"/a.B/*"}` with `Procedures: {"/a.B/Get": req}` denies every procedure
// of a.B except Get.
//
// A pattern may appear in only one of Procedures, Public and Deny, and only
// once; New reports every violation (ErrInvalidPattern, ErrDuplicateRule,
// ErrConflictingRule) as a *PolicyError.
//
// The zero Policy denies every procedure.
type Policy struct {
	// Procedures maps patterns to the requirement a caller's verified token
	// must meet. jwtverify.Authenticated() asks only for a valid token.
	Procedures map[string]jwtverify.Requirement
	// Public lists patterns callable without credentials: the interceptor
	// neither reads nor verifies a token for them and the handler's context
	// carries no Principal. Use it for health checks and reflection
	// (ExemptHealth, ExemptReflection).
	Public []string
	// Deny lists patterns nobody may call. Useful to carve a procedure out of
	// a service wildcard, or with a Default other than DefaultDeny.
	Deny []string
	// Default applies to procedures no pattern matches. The zero value is
	// DefaultDeny.
	Default DefaultRule
}

// ExemptHealth returns a copy of p whose Public list also holds
// HealthPattern (once).
func (p Policy) ExemptHealth() Policy {
	return p.exempt(HealthPattern)
}

// ExemptReflection returns a copy of p whose Public list also holds the
// server reflection services, v1 and v1alpha (once each).
func (p Policy) ExemptReflection() Policy {
	return p.exempt(ReflectionV1Pattern, ReflectionV1AlphaPattern)
}

func (p Policy) exempt(patterns ...string) Policy {
	p.Public = rpcpolicy.Exempt(p.Public, patterns...)
	return p
}

// Policy errors, wrapped by *PolicyError; test with errors.Is.
var (
	// ErrInvalidPattern: a pattern is neither "/pkg.Service/Method" nor
	// "/pkg.Service/*".
	ErrInvalidPattern = errors.New("connectauth: invalid procedure pattern")
	// ErrDuplicateRule: a pattern appears twice in Public or in Deny.
	ErrDuplicateRule = errors.New("connectauth: duplicate policy rule")
	// ErrConflictingRule: a pattern appears in more than one of Procedures,
	// Public and Deny.
	ErrConflictingRule = errors.New("connectauth: conflicting policy rules")
	// ErrInvalidDefault: Policy.Default is not one of the DefaultRule
	// constants.
	ErrInvalidDefault = errors.New("connectauth: invalid default rule")
)

// PolicyError describes one problem of a Policy. New joins all of them
// (errors.Join), so errors.As finds the first and errors.Is any sentinel.
type PolicyError struct {
	// Pattern is the offending pattern (empty for ErrInvalidDefault).
	Pattern string
	// Field is the Policy field holding it: "Procedures", "Public", "Deny"
	// or "Default"; for a conflict, the fields involved joined by "+".
	Field string
	// Detail explains the problem.
	Detail string
	// Err is one of ErrInvalidPattern, ErrDuplicateRule,
	// ErrConflictingRule, ErrInvalidDefault.
	Err error
}

// Error implements error.
func (e *PolicyError) Error() string {
	return rpcpolicy.ErrorString(e.Err, e.Pattern, e.Field, e.Detail)
}

// Unwrap returns the sentinel.
func (e *PolicyError) Unwrap() error { return e.Err }

// The compiled policy is shared with the other RPC adapter.
type compiled = rpcpolicy.Table

const (
	actionDeny    = rpcpolicy.Deny
	actionPublic  = rpcpolicy.Public
	actionRequire = rpcpolicy.Require
)

func compilePolicy(p Policy) (*compiled, error) {
	return rpcpolicy.Compile(rpcpolicy.Spec{
		Require: p.Procedures, RequireField: "Procedures", Public: p.Public, Deny: p.Deny,
		Default: rpcpolicy.Default(p.Default),
		Errors: rpcpolicy.Errors{InvalidPattern: ErrInvalidPattern, DuplicateRule: ErrDuplicateRule,
			ConflictingRule: ErrConflictingRule, InvalidDefault: ErrInvalidDefault},
	}, func(pr rpcpolicy.Problem) error {
		return &PolicyError{Pattern: pr.Pattern, Field: pr.Field, Detail: pr.Detail, Err: pr.Err}
	})
}
