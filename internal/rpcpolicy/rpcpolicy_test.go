package rpcpolicy

import (
	"errors"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
)

var testErrors = Errors{
	InvalidPattern:  errors.New("invalid"),
	DuplicateRule:   errors.New("duplicate"),
	ConflictingRule: errors.New("conflict"),
	InvalidDefault:  errors.New("default"),
}

type problemErr struct{ Problem }

func (p problemErr) Error() string { return ErrorString(p.Err, p.Pattern, p.Field, p.Detail) }
func (p problemErr) Unwrap() error { return p.Err }

// Every kind of problem is reported with the adapter's sentinel and the
// field name the adapter chose for its requirement map.
func TestCompileReportsTheAdaptersSentinels(t *testing.T) {
	_, err := Compile(Spec{
		Require:      map[string]jwtverify.Requirement{"/a.B/C": jwtverify.Authenticated(), "bad": jwtverify.Authenticated()},
		RequireField: "Procedures",
		Public:       []string{"/a.B/D", "/a.B/D"},
		Deny:         []string{"/a.B/C"},
		Default:      Default(7),
		Errors:       testErrors,
	}, func(p Problem) error { return problemErr{p} })
	for _, want := range []struct {
		sentinel     error
		pattern, fld string
	}{
		{testErrors.InvalidDefault, "", "Default"},
		{testErrors.InvalidPattern, "bad", "Procedures"},
		{testErrors.DuplicateRule, "/a.B/D", "Public"},
		{testErrors.ConflictingRule, "/a.B/C", "Procedures+Deny"},
	} {
		found := false
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var p problemErr
			if errors.As(e, &p) && p.Err == want.sentinel && p.Pattern == want.pattern && p.Field == want.fld {
				found = true
			}
		}
		if !found {
			t.Errorf("no %v for %q in %s: %v", want.sentinel, want.pattern, want.fld, err)
		}
	}
}

// A full name beats its service wildcard, which beats the default; Rules
// keep the configured order; Match does not allocate.
func TestMatch(t *testing.T) {
	tb, err := Compile(Spec{
		Require:      map[string]jwtverify.Requirement{"/a.B/Get": jwtverify.Authenticated()},
		RequireField: "Methods",
		Public:       []string{HealthPattern},
		Deny:         []string{"/a.B/*"},
		Default:      DefaultAllow,
		Errors:       testErrors,
	}, func(p Problem) error { return problemErr{p} })
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Action{"/a.B/Get": Require, "/a.B/Put": Deny, "/grpc.health.v1.Health/Check": Public, "/x.Y/Z": Public} {
		if r := tb.Match(name); r.Action != want {
			t.Errorf("Match(%q) = %v, want %v", name, r.Action, want)
		}
	}
	if r := tb.Match("/x.Y/Z"); r != tb.Default {
		t.Errorf("undeclared name matched %q, want the default", r.Pattern)
	}
	if len(tb.Rules) != 3 || tb.Rules[0].Field != "Methods" || tb.Rules[1].Pattern != HealthPattern || tb.Rules[2].Field != "Deny" {
		t.Errorf("Rules = %+v", tb.Rules)
	}
	if n := testing.AllocsPerRun(100, func() { _ = tb.Match("/a.B/Put") }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}
