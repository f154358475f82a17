package grpcauth

import (
	"errors"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
)

func TestPolicyValidation(t *testing.T) {
	auth := jwtverify.Authenticated()
	long := "/a." + strings.Repeat("x", MaxPatternLength) + "/M"
	tests := []struct {
		name   string
		policy Policy
		want   []error // sentinels, each must be found
		count  int     // number of *PolicyError joined
	}{
		{name: "zero policy", policy: Policy{}},
		{name: "valid", policy: Policy{
			Methods: map[string]jwtverify.Requirement{
				"/orders.v1.Orders/*":   auth,
				"/orders.v1.Orders/Get": auth,
				"/Svc/M":                auth, // no package
				"/_a.b_2.C/m_1":         auth,
			},
			Public:  []string{HealthPattern, ReflectionV1Pattern, ReflectionV1AlphaPattern},
			Deny:    []string{"/orders.v1.Orders/Delete"},
			Default: DefaultAuthenticated,
		}},
		{name: "empty", policy: Policy{Public: []string{""}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "no leading slash", policy: Policy{Public: []string{"orders.v1.Orders/Get"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "no method", policy: Policy{Public: []string{"/orders.v1.Orders"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "empty method", policy: Policy{Public: []string{"/orders.v1.Orders/"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "three parts", policy: Policy{Public: []string{"/orders.v1.Orders/Get/x"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "global wildcard", policy: Policy{Public: []string{"/*"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "service wildcard part", policy: Policy{Public: []string{"/orders.*/Get"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "method prefix wildcard", policy: Policy{Public: []string{"/orders.v1.Orders/Get*"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "empty package part", policy: Policy{Public: []string{"/orders..Orders/Get"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "leading digit", policy: Policy{Public: []string{"/1orders.Orders/Get"}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "space", policy: Policy{Public: []string{"/orders.Orders/Get "}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "too long", policy: Policy{Public: []string{long}}, want: []error{ErrInvalidPattern}, count: 1},
		{name: "duplicate public", policy: Policy{Public: []string{HealthPattern, HealthPattern}}, want: []error{ErrDuplicateRule}, count: 1},
		{name: "duplicate deny", policy: Policy{Deny: []string{"/a.B/C", "/a.B/C"}}, want: []error{ErrDuplicateRule}, count: 1},
		{name: "methods and public", policy: Policy{
			Methods: map[string]jwtverify.Requirement{"/a.B/C": auth},
			Public:  []string{"/a.B/C"},
		}, want: []error{ErrConflictingRule}, count: 1},
		{name: "public and deny", policy: Policy{Public: []string{"/a.B/*"}, Deny: []string{"/a.B/*"}}, want: []error{ErrConflictingRule}, count: 1},
		{name: "bad default", policy: Policy{Default: DefaultRule(7)}, want: []error{ErrInvalidDefault}, count: 1},
		{name: "every problem at once", policy: Policy{
			Methods: map[string]jwtverify.Requirement{"bad": auth, "/a.B/C": auth},
			Public:  []string{"/a.B/C", "/x.Y/*", "/x.Y/*"},
			Default: -1,
		}, want: []error{ErrInvalidPattern, ErrConflictingRule, ErrDuplicateRule, ErrInvalidDefault}, count: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := compilePolicy(tt.policy)
			if len(tt.want) == 0 {
				if err != nil || c == nil {
					t.Fatalf("compilePolicy: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("compilePolicy accepted an invalid policy")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q is not %v", err, w)
				}
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PolicyError", err)
			}
			if !strings.HasPrefix(err.Error(), "grpcauth: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("error %T is not joined", err)
			}
			if n := len(joined.Unwrap()); n != tt.count {
				t.Errorf("%d errors, want %d: %v", n, tt.count, err)
			}
		})
	}
}

func TestPolicyErrorMessageBounded(t *testing.T) {
	_, err := compilePolicy(Policy{Public: []string{"/" + strings.Repeat("a", 10000)}})
	if err == nil {
		t.Fatal("accepted")
	}
	if len(err.Error()) > 200 {
		t.Errorf("message of %d bytes: the pattern is not truncated", len(err.Error()))
	}
}

func TestPolicyMatch(t *testing.T) {
	auth := jwtverify.Authenticated()
	p := Policy{
		Methods: map[string]jwtverify.Requirement{
			"/orders.v1.Orders/*":   auth,
			"/orders.v1.Orders/Get": auth,
			"/admin.v1.Admin/Reset": auth,
		},
		Deny: []string{"/orders.v1.Orders/Delete", "/admin.v1.Admin/*"},
	}.ExemptHealth().ExemptReflection()
	for _, def := range []DefaultRule{DefaultDeny, DefaultAuthenticated, DefaultAllow} {
		p.Default = def
		c, err := compilePolicy(p)
		if err != nil {
			t.Fatal(err)
		}
		defAction := map[DefaultRule]action{DefaultDeny: actionDeny, DefaultAuthenticated: actionRequire, DefaultAllow: actionPublic}[def]
		tests := []struct {
			method      string
			wantPattern string
			wantAction  action
		}{
			{"/orders.v1.Orders/Get", "/orders.v1.Orders/Get", actionRequire},
			{"/orders.v1.Orders/List", "/orders.v1.Orders/*", actionRequire},
			{"/orders.v1.Orders/Delete", "/orders.v1.Orders/Delete", actionDeny},
			{"/admin.v1.Admin/Reset", "/admin.v1.Admin/Reset", actionRequire},
			{"/admin.v1.Admin/Drop", "/admin.v1.Admin/*", actionDeny},
			{"/grpc.health.v1.Health/Check", HealthPattern, actionPublic},
			{"/grpc.health.v1.Health/Watch", HealthPattern, actionPublic},
			{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", ReflectionV1Pattern, actionPublic},
			{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", ReflectionV1AlphaPattern, actionPublic},
			// Case-sensitive, exact, no prefix games.
			{"/orders.v1.orders/Get", "default", defAction},
			{"/orders.v1.Orders.x/Get", "default", defAction},
			{"/orders.v1/Orders/Get", "default", defAction},
			{"/other.v1.Other/Get", "default", defAction},
			{"", "default", defAction},
			{"/", "default", defAction},
			{"orders.v1.Orders/Get", "default", defAction},
		}
		for _, tt := range tests {
			r := c.Match(tt.method)
			if r.Pattern != tt.wantPattern || r.Action != tt.wantAction {
				t.Errorf("default %v: match(%q) = %q %v, want %q %v", def, tt.method, r.Pattern, r.Action, tt.wantPattern, tt.wantAction)
			}
		}
	}
}

func TestExemptIsIdempotentAndCopies(t *testing.T) {
	pub := make([]string, 1, 8)
	pub[0] = "/a.B/*"
	p := Policy{Public: pub}
	q := p.ExemptHealth().ExemptHealth().ExemptReflection().ExemptReflection()
	want := []string{"/a.B/*", HealthPattern, ReflectionV1Pattern, ReflectionV1AlphaPattern}
	if strings.Join(q.Public, ",") != strings.Join(want, ",") {
		t.Errorf("Public = %v, want %v", q.Public, want)
	}
	if len(p.Public) != 1 || pub[:2][1] != "" {
		t.Errorf("ExemptHealth modified the caller's slice: %v", pub[:2])
	}
	if _, err := compilePolicy(q); err != nil {
		t.Error(err)
	}
}

func TestDefaultRuleString(t *testing.T) {
	for d, want := range map[DefaultRule]string{DefaultDeny: "deny", DefaultAuthenticated: "authenticated", DefaultAllow: "allow", 9: "DefaultRule(9)"} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(d), got, want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	c, err := compilePolicy(Policy{Methods: map[string]jwtverify.Requirement{"/a.B/*": jwtverify.Authenticated()}})
	if err != nil {
		t.Fatal(err)
	}
	m := "/a.B/" + strings.Repeat("C", 3) // not a constant: a real lookup
	if n := testing.AllocsPerRun(100, func() { _ = c.Match(m) }); n != 0 {
		t.Errorf("match allocates %v times", n)
	}
}

// FuzzPolicyPattern: checkPattern never panics, accepts only what the
// grammar allows, and an accepted pattern is found by match exactly as
// written (a full method) or for any method of its service (a wildcard).
func FuzzPolicyPattern(f *testing.F) {
	for _, s := range []string{"/a.B/C", "/a.B/*", "/B/C", "", "/", "//", "/a.B/", "/a..B/C", "/*", "/a.B/C/D", "/a.B/C*", "/é.B/C", "/1a.B/C", "/_.B/_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		if checkPattern(pattern) != "" {
			if _, err := compilePolicy(Policy{Deny: []string{pattern}}); !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("compilePolicy(%q) = %v, want ErrInvalidPattern", pattern, err)
			}
			return
		}
		if len(pattern) > MaxPatternLength || pattern[0] != '/' || strings.Count(pattern, "/") != 2 {
			t.Fatalf("accepted %q", pattern)
		}
		for i := 0; i < len(pattern); i++ {
			c := pattern[i]
			if !(c == '/' || c == '.' || c == '_' || c == '*' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				t.Fatalf("accepted %q with byte %q", pattern, c)
			}
		}
		c, err := compilePolicy(Policy{Public: []string{pattern}})
		if err != nil {
			t.Fatalf("compilePolicy(%q): %v", pattern, err)
		}
		method := pattern
		if svc, ok := strings.CutSuffix(pattern, "*"); ok {
			method = svc + "AnyMethod"
		}
		if r := c.Match(method); r.Pattern != pattern || r.Action != actionPublic {
			t.Fatalf("match(%q) = %q %v", method, r.Pattern, r.Action)
		}
	})
}
