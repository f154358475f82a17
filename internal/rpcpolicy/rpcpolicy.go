// Package rpcpolicy is the policy engine grpcauth and connectauth share: a
// gRPC full method name and a Connect procedure have the same
// "/package.Service/Method" form, so one implementation validates the
// patterns, compiles them and matches calls for both. Each adapter keeps
// its exported Policy, DefaultRule and PolicyError types (and their docs)
// and converts to and from this package.
package rpcpolicy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Default is the rule for a name no pattern matches; the adapters'
// DefaultRule constants have the same values.
type Default int

// Default rules.
const (
	DefaultDeny Default = iota
	DefaultAuthenticated
	DefaultAllow
)

// String returns the name of the rule ("DefaultRule(n)" for an invalid one).
func (d Default) String() string {
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
// without credentials.
const (
	HealthPattern            = "/grpc.health.v1.Health/*"
	ReflectionV1Pattern      = "/grpc.reflection.v1.ServerReflection/*"
	ReflectionV1AlphaPattern = "/grpc.reflection.v1alpha.ServerReflection/*"
)

// IsStandard reports whether pattern is one of the standard patterns, which
// the adapters' checks against registered services do not report.
func IsStandard(pattern string) bool {
	return pattern == HealthPattern || pattern == ReflectionV1Pattern || pattern == ReflectionV1AlphaPattern
}

// MaxPatternLength bounds a pattern.
const MaxPatternLength = 512

// Exempt returns a copy of public that also holds each of patterns (once).
func Exempt(public []string, patterns ...string) []string {
	pub := slices.Clone(public)
	for _, pat := range patterns {
		if !slices.Contains(pub, pat) {
			pub = append(pub, pat)
		}
	}
	return pub
}

// Action is what a rule does with a call.
type Action uint8

// Actions.
const (
	Deny Action = iota
	Public
	Require
)

// String returns the name of the action.
func (a Action) String() string {
	switch a {
	case Public:
		return "public"
	case Require:
		return "require"
	}
	return "deny"
}

// Rule is a compiled entry of a policy.
type Rule struct {
	// Pattern is the configured pattern, or "default"; safe to log.
	Pattern string
	Action  Action
	Req     jwtverify.Requirement
	// Field is the policy field the pattern came from ("" for the default).
	Field string
}

// Spec is a policy to compile, in the adapter-neutral form.
type Spec struct {
	// Require maps patterns to requirements; RequireField is the name of
	// the adapter's field holding them ("Methods", "Procedures").
	Require      map[string]jwtverify.Requirement
	RequireField string
	Public, Deny []string
	Default      Default
	// Errors are the sentinels of the Problems Compile reports.
	Errors Errors
}

// Errors are an adapter's sentinels, one per kind of problem.
type Errors struct {
	InvalidPattern, DuplicateRule, ConflictingRule, InvalidDefault error
}

// Problem is one mistake of a Spec; Err is the sentinel of Spec.Errors for
// its kind.
type Problem struct {
	Pattern, Field, Detail string
	Err                    error
}

// Table is an immutable, validated policy.
type Table struct {
	Exact    map[string]*Rule // "/pkg.Service/Method"
	Services map[string]*Rule // "/pkg.Service/" (the wildcard minus its "*")
	Default  *Rule
	// Rules are the pattern rules in the order configured (Require sorted,
	// then Public, then Deny).
	Rules []*Rule
}

// Match returns the rule for a full method name or procedure: its exact
// pattern, else its service wildcard, else the default. It does not
// allocate.
func (t *Table) Match(name string) *Rule {
	if r, ok := t.Exact[name]; ok {
		return r
	}
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		if r, ok := t.Services[name[:i+1]]; ok {
			return r
		}
	}
	return t.Default
}

// Compile validates s and compiles it. It reports every problem, each
// converted by toErr and joined with errors.Join, in a deterministic order.
func Compile(s Spec, toErr func(Problem) error) (*Table, error) {
	t := &Table{
		Exact:    make(map[string]*Rule, len(s.Require)+len(s.Public)+len(s.Deny)),
		Services: make(map[string]*Rule),
	}
	var errs []error
	fail := func(pattern, field string, sentinel error, detail string) {
		errs = append(errs, toErr(Problem{Pattern: pattern, Field: field, Detail: detail, Err: sentinel}))
	}

	switch s.Default {
	case DefaultDeny:
		t.Default = &Rule{Pattern: "default", Action: Deny}
	case DefaultAuthenticated:
		t.Default = &Rule{Pattern: "default", Action: Require, Req: jwtverify.Authenticated()}
	case DefaultAllow:
		t.Default = &Rule{Pattern: "default", Action: Public}
	default:
		fail("", "Default", s.Errors.InvalidDefault, "use DefaultDeny, DefaultAuthenticated or DefaultAllow")
	}

	// field records where each pattern was first seen.
	field := make(map[string]string, len(s.Require)+len(s.Public)+len(s.Deny))
	add := func(r *Rule) {
		pattern, in := r.Pattern, r.Field
		if detail := CheckPattern(pattern); detail != "" {
			fail(pattern, in, s.Errors.InvalidPattern, detail)
			return
		}
		if prev, ok := field[pattern]; ok {
			if prev == in {
				fail(pattern, in, s.Errors.DuplicateRule, "listed twice")
			} else {
				fail(pattern, prev+"+"+in, s.Errors.ConflictingRule, "a pattern belongs to one list only")
			}
			return
		}
		field[pattern] = in
		t.Rules = append(t.Rules, r)
		if svc, ok := strings.CutSuffix(pattern, "*"); ok {
			t.Services[svc] = r
		} else {
			t.Exact[pattern] = r
		}
	}

	// Map order is random: sort so that errors come out deterministically.
	keys := make([]string, 0, len(s.Require))
	for k := range s.Require {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(&Rule{Pattern: k, Action: Require, Req: s.Require[k], Field: s.RequireField})
	}
	for _, k := range s.Public {
		add(&Rule{Pattern: k, Action: Public, Field: "Public"})
	}
	for _, k := range s.Deny {
		add(&Rule{Pattern: k, Action: Deny, Field: "Deny"})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// ErrorString is the message of an adapter's PolicyError: the sentinel's
// text, the pattern (quoted, at most 64 bytes of it) and field, the detail.
func ErrorString(sentinel error, pattern, field, detail string) string {
	msg := sentinel.Error()
	if pattern != "" || field != "" {
		msg += " " + quoteBounded(pattern) + " in " + field
	}
	if detail != "" {
		msg += ": " + detail
	}
	return msg
}

func quoteBounded(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// CheckPattern returns "" when pattern is valid, else why not.
func CheckPattern(pattern string) string {
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
