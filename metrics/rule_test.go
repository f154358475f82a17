package metrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestRuleLabel: the opt-in sub-reason label on a real registry: "none"
// for successes and generic refusals, the rule's code, and "custom" for a
// value that is not a code (so a broken rule cannot put text in a label).
func TestRuleLabel(t *testing.T) {
	s := newStack(t, metrics.Options{RuleLabel: true})
	ctx := context.Background()
	if _, err := s.v.Verify(ctx, s.srv.MintT(t, oauthtest.WithClient("reader"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.v.Verify(ctx, "not-a-token"); err == nil {
		t.Fatal("garbage accepted")
	}
	for _, rule := range []string{"delegated_token", "delegated_token", jwtverify.RuleCustom, "Attacker Text", strings.Repeat("a", 33)} {
		s.m.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonType, Rule: rule})
	}
	want := `
# HELP m2mauth_token_validations_total Token validations by configured issuer name, result (valid, invalid) and reason (none on success) and the sub-reason of the refusing issuer rule (none when no rule refused).
# TYPE m2mauth_token_validations_total counter
m2mauth_token_validations_total{issuer="corp",reason="none",result="valid",rule="none"} 1
m2mauth_token_validations_total{issuer="corp",reason="type",result="invalid",rule="custom"} 3
m2mauth_token_validations_total{issuer="corp",reason="type",result="invalid",rule="delegated_token"} 2
m2mauth_token_validations_total{issuer="none",reason="malformed",result="invalid",rule="none"} 1
m2mauth_token_validations_total{issuer="none",reason="none",result="valid",rule="none"} 0
`
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), "m2mauth_token_validations_total"); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(s.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestNoRuleLabelByDefault: without the option the label set is unchanged
// and refusals by different rules share a series.
func TestNoRuleLabelByDefault(t *testing.T) {
	s := newStack(t, metrics.Options{})
	s.m.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonType, Rule: "a"})
	s.m.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonType, Rule: "b"})
	s.m.ObserveVerify(jwtverify.VerifyEvent{Reason: jwtverify.ReasonMalformed})
	want := `
# HELP m2mauth_token_validations_total Token validations by configured issuer name, result (valid, invalid) and reason (none on success).
# TYPE m2mauth_token_validations_total counter
m2mauth_token_validations_total{issuer="corp",reason="none",result="valid"} 0
m2mauth_token_validations_total{issuer="corp",reason="type",result="invalid"} 2
m2mauth_token_validations_total{issuer="none",reason="malformed",result="invalid"} 1
m2mauth_token_validations_total{issuer="none",reason="none",result="valid"} 0
`
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), "m2mauth_token_validations_total"); err != nil {
		t.Fatal(err)
	}
}
