package connectauth

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	switch d {
	case DefaultDeny:
		return "deny"
	case DefaultAuthenticated:
		return "authenticated"
	case DefaultAllow:
		return "allow"
	}
	return "DefaultRule(" + strconv.Itoa(int(d)) + ")"
}

// Patterns of the standard services that health checkers and tools call
// without credentials. Put them in Policy.Public (Policy.ExemptHealth and
// Policy.ExemptReflection do).
const (
	// HealthPattern matches grpc.health.v1.Health (Check, List, Watch), as
	// connectrpc.com/grpchealth serves it.
	HealthPattern = "/grpc.health.v1.Health/*"
	// ReflectionV1Pattern matches server reflection v1.
	ReflectionV1Pattern = "/grpc.reflection.v1.ServerReflection/*"
	// ReflectionV1AlphaPattern matches server reflection v1alpha, which
	// grpcurl and older tools still call.
	ReflectionV1AlphaPattern = "/grpc.reflection.v1alpha.ServerReflection/*"
)

// MaxPatternLength bounds a pattern of a Policy.
const MaxPatternLength = 512

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
	pub := slices.Clone(p.Public)
	for _, pat := range patterns {
		if !slices.Contains(pub, pat) {
			pub = append(pub, pat)
		}
	}
	p.Public = pub
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
	msg := e.Err.Error()
	if e.Pattern != "" || e.Field != "" {
		msg += " " + quoteBounded(e.Pattern) + " in " + e.Field
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel.
func (e *PolicyError) Unwrap() error { return e.Err }

func quoteBounded(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

type action uint8

const (
	actionDeny action = iota
	actionPublic
	actionRequire
)

func (a action) String() string {
	switch a {
	case actionPublic:
		return "public"
	case actionRequire:
		return "require"
	}
	return "deny"
}

// rule is a compiled entry of a Policy.
type rule struct {
	// pattern is the configured pattern, or "default"; safe to log.
	pattern string
	action  action
	req     jwtverify.Requirement
}

// compiled is an immutable, validated Policy.
type compiled struct {
	procedures map[string]*rule // "/pkg.Service/Method"
	services   map[string]*rule // "/pkg.Service/" (the wildcard minus its "*")
	def        *rule
	// patterns are the configured patterns in order, field the Policy
	// field of each (for CheckProcedures).
	patterns []string
	field    map[string]string
}

// match returns the rule for a procedure. It does not allocate.
func (c *compiled) match(fullMethod string) *rule {
	if r, ok := c.procedures[fullMethod]; ok {
		return r
	}
	if i := strings.LastIndexByte(fullMethod, '/'); i > 0 {
		if r, ok := c.services[fullMethod[:i+1]]; ok {
			return r
		}
	}
	return c.def
}

func compilePolicy(p Policy) (*compiled, error) {
	c := &compiled{
		procedures: make(map[string]*rule, len(p.Procedures)+len(p.Public)+len(p.Deny)),
		services:   make(map[string]*rule),
	}
	var errs []error
	fail := func(pattern, field string, sentinel error, detail string) {
		errs = append(errs, &PolicyError{Pattern: pattern, Field: field, Detail: detail, Err: sentinel})
	}

	switch p.Default {
	case DefaultDeny:
		c.def = &rule{pattern: "default", action: actionDeny}
	case DefaultAuthenticated:
		c.def = &rule{pattern: "default", action: actionRequire, req: jwtverify.Authenticated()}
	case DefaultAllow:
		c.def = &rule{pattern: "default", action: actionPublic}
	default:
		fail("", "Default", ErrInvalidDefault, "use DefaultDeny, DefaultAuthenticated or DefaultAllow")
	}

	// field records where each pattern was first seen.
	field := make(map[string]string, len(p.Procedures)+len(p.Public)+len(p.Deny))
	add := func(pattern, in string, r *rule) {
		if detail := checkPattern(pattern); detail != "" {
			fail(pattern, in, ErrInvalidPattern, detail)
			return
		}
		if prev, ok := field[pattern]; ok {
			if prev == in {
				fail(pattern, in, ErrDuplicateRule, "listed twice")
			} else {
				fail(pattern, prev+"+"+in, ErrConflictingRule, "a pattern belongs to one list only")
			}
			return
		}
		field[pattern] = in
		c.patterns = append(c.patterns, pattern)
		if svc, ok := strings.CutSuffix(pattern, "*"); ok {
			c.services[svc] = r
		} else {
			c.procedures[pattern] = r
		}
	}

	// Map order is random: sort so that errors come out deterministically.
	keys := make([]string, 0, len(p.Procedures))
	for k := range p.Procedures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, "Procedures", &rule{pattern: k, action: actionRequire, req: p.Procedures[k]})
	}
	for _, k := range p.Public {
		add(k, "Public", &rule{pattern: k, action: actionPublic})
	}
	for _, k := range p.Deny {
		add(k, "Deny", &rule{pattern: k, action: actionDeny})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.field = field
	return c, nil
}

// checkPattern returns "" when pattern is valid, else why not.
func checkPattern(pattern string) string {
	if pattern == "" {
		return "empty"
	}
	if len(pattern) > MaxPatternLength {
		return fmt.Sprintf("longer than %d bytes", MaxPatternLength)
	}
	if pattern[0] != '/' {
		return `must start with "/"`
	}
	svc, method, ok := strings.Cut(pattern[1:], "/")
	if !ok {
		return `want "/package.Service/Method" or "/package.Service/*"`
	}
	if svc == "" {
		return "empty service name"
	}
	for part := range strings.SplitSeq(svc, ".") {
		if !isIdent(part) {
			return "service name is not a dot-separated list of identifiers"
		}
	}
	if method == "*" {
		return ""
	}
	if !isIdent(method) {
		if strings.Contains(method, "*") {
			return `"*" only stands for a whole method name`
		}
		return "method name is not an identifier"
	}
	return ""
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
