package profiles_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// mustRefuseWith checks that token is refused by the rule code, with the
// reason of sentinel.
func mustRefuseWith(t testing.TB, v *jwtverify.Verifier, token, code string, sentinel *jwtverify.Error) {
	t.Helper()
	_, err := verify(t, v, token)
	var e *jwtverify.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a refusal by %s, got %v", code, err)
	}
	if e.Rule != code || !errors.Is(err, sentinel) {
		t.Fatalf("refusal rule %q reason %q (%v), want rule %q reason %q", e.Rule, e.Reason, err, code, sentinel.Reason)
	}
}

// TestBuiltInRuleCodes: every built-in rule's refusal carries its code
// (errors.As to *jwtverify.Error, .Rule). Some rules back up a generic
// check of the core; they are reached here by weakening the profile's
// configuration, as a user overriding a field could.
func TestBuiltInRuleCodes(t *testing.T) {
	s := newServer(t)
	covered := map[string]bool{}
	run := func(code string, sentinel *jwtverify.Error, v *jwtverify.Verifier, token string) {
		t.Helper()
		t.Run(code, func(t *testing.T) { mustRefuseWith(t, v, token, code, sentinel) })
		covered[code] = true
	}
	v2 := oauthtest.ProviderEntraV2
	single := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV2})...)
	roles := []string{"Orders.Read.All"}
	run(profiles.RuleEntraTenantMissing, jwtverify.ErrMissingClaim, single,
		s.MintProviderT(t, v2, oauthtest.ProviderToken{Roles: roles, Claims: map[string]any{"tid": 42}}))
	run(profiles.RuleEntraTenantNotGUID, jwtverify.ErrIssuer, single,
		s.MintProviderT(t, v2, oauthtest.ProviderToken{Roles: roles, Claims: map[string]any{"tid": "common"}}))
	run(profiles.RuleEntraTenantNotAllowed, jwtverify.ErrIssuer, single,
		s.MintProviderT(t, v2, oauthtest.ProviderToken{Roles: roles, TenantID: tenantB, Issuer: s.ProviderIssuer(v2, tenantA)}))
	weak := entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV2})
	weak[0].Issuer = s.ProviderIssuer(v2, tenantB) // a user's override: the rule still ties iss to tid
	run(profiles.RuleEntraIssuerTenant, jwtverify.ErrIssuer, newVerifier(t, weak...),
		s.MintProviderT(t, v2, oauthtest.ProviderToken{Roles: roles, TenantID: tenantA, Issuer: s.ProviderIssuer(v2, tenantB)}))
	run(profiles.RuleEntraVersion, jwtverify.ErrType, single,
		s.MintProviderT(t, v2, oauthtest.ProviderToken{Roles: roles, Claims: map[string]any{"ver": "1.0"}}))
	run(profiles.RuleEntraNoPermissions, jwtverify.ErrMissingClaim, single, s.MintProviderT(t, v2, oauthtest.ProviderToken{}))
	run(profiles.RuleEntraDelegated, jwtverify.ErrType, single,
		s.MintProviderT(t, v2, oauthtest.ProviderToken{Scopes: []string{"Orders.Read"}}))

	b2cV := newVerifier(t, b2c(t, s, false))
	run(profiles.RuleB2CPolicy, jwtverify.ErrIssuer, b2cV,
		s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Policy: "B2C_1_other"}))
	run(profiles.RuleB2CPolicyMissing, jwtverify.ErrMissingClaim, b2cV,
		s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Policy: "-"}))

	run(profiles.RuleKeycloakTokenType, jwtverify.ErrType, keycloak(t, s, profiles.KeycloakOptions{RoleClients: []string{"orders-api"}}),
		s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders:read"}, Claims: map[string]any{"typ": "bearer"}}))

	hp := mustProfile(t)(profiles.Hydra(profiles.HydraOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderHydra, ""),
		Audience: "https://api.example.test", ClientIDs: []string{"orders-worker"}, Keys: staticKeys(t, s, "")}))
	hp.Audiences, hp.InsecureSkipAudienceCheck = nil, true
	run(profiles.RuleHydraEmptyAudience, jwtverify.ErrAudience, newVerifier(t, hp),
		s.MintProviderT(t, oauthtest.ProviderHydra, oauthtest.ProviderToken{Audience: []string{}, Scopes: []string{"orders.read"}}))

	// The core already refuses every token_use but "access" (without a
	// rule code); Cognito's rule is its backup, checked directly on a
	// verified Principal without token_use.
	cp := mustProfile(t)(profiles.Cognito(profiles.CognitoOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderCognito, ""),
		ClientIDs: []string{"3hq6k2examplecid0000000000"}, Keys: staticKeys(t, s, "")}))
	pr := mustAccept(t, hydra(t, s), s.MintProviderT(t, oauthtest.ProviderHydra, oauthtest.ProviderToken{Scopes: []string{"orders.read"}}),
		want{client: "orders-worker", scopes: []string{"orders.read"}, delegated: []string{"orders.read"}, appOnly: true})
	if len(cp.Rules) != 1 || cp.Rules[0].Code != profiles.RuleCognitoTokenUse || !errors.Is(cp.Rules[0].Check(pr), jwtverify.ErrType) {
		t.Errorf("Cognito rules %+v", cp.Rules)
	}
	covered[profiles.RuleCognitoTokenUse] = true

	for _, code := range profiles.RuleCodes() {
		if !covered[code] {
			t.Errorf("rule code %q not tested", code)
		}
	}
	if n := len(profiles.RuleCodes()); n != len(covered) {
		t.Errorf("%d codes, %d tested", n, len(covered))
	}
	// Every profile's rules use codes of the closed set, and leave
	// Validate to the user.
	for _, p := range append(entra(t, s, profiles.EntraOptions{TenantID: tenantA}), b2c(t, s, false), cp, hp) {
		if p.Validate != nil || len(p.ValidateCodes) != 0 {
			t.Errorf("%s: Validate set by the profile", p.Name)
		}
		for _, r := range p.Rules {
			if !slices.Contains(profiles.RuleCodes(), r.Code) {
				t.Errorf("%s: code %q outside RuleCodes", p.Name, r.Code)
			}
		}
	}
}

// TestB2CPolicyMustBeProven is the regression test of issue 16 finding 4:
// on the previous main a token with no policy claim, or with a non-string
// one, was accepted whatever policy was configured.
func TestB2CPolicyMustBeProven(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, b2c(t, s, false))
	mint := func(policy string, claims map[string]any) string {
		return s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Policy: policy, Claims: claims})
	}
	refused := []struct {
		name, token, code string
	}{
		{"no_claim", mint("-", nil), profiles.RuleB2CPolicyMissing},
		{"tfp_array", mint("-", map[string]any{"tfp": []string{oauthtest.DefaultB2CPolicy}}), profiles.RuleB2CPolicy},
		{"tfp_number", mint("-", map[string]any{"tfp": 1}), profiles.RuleB2CPolicy},
		{"acr_array", mint("-", map[string]any{"acr": []string{oauthtest.DefaultB2CPolicy}}), profiles.RuleB2CPolicy},
		{"acr_number", mint("-", map[string]any{"acr": 0}), profiles.RuleB2CPolicy},
		{"acr_object", mint("-", map[string]any{"acr": map[string]any{"p": oauthtest.DefaultB2CPolicy}}), profiles.RuleB2CPolicy},
		{"tfp_ok_acr_number", mint("", map[string]any{"acr": 1}), profiles.RuleB2CPolicy},
		{"tfp_ok_acr_other", mint("", map[string]any{"acr": "B2C_1_other"}), profiles.RuleB2CPolicy},
		{"tfp_other", mint("B2C_1_other", nil), profiles.RuleB2CPolicy},
		{"tfp_empty", mint("", map[string]any{"tfp": ""}), profiles.RuleB2CPolicy},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			sentinel := jwtverify.ErrIssuer
			if c.code == profiles.RuleB2CPolicyMissing {
				sentinel = jwtverify.ErrMissingClaim
			}
			mustRefuseWith(t, v, c.token, c.code, sentinel)
		})
	}
	accepted := map[string]string{
		"tfp":            mint("", nil),
		"tfp_lower_case": mint("b2c_1a_susi", nil),
		"acr_only":       mint("-", map[string]any{"acr": "b2c_1a_susi"}),
		"tfp_and_acr":    mint("", map[string]any{"acr": oauthtest.DefaultB2CPolicy}),
	}
	for name, token := range accepted {
		if _, err := verify(t, v, token); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The /tfp/ issuer names the policy: no claim needed, but a present
	// claim must still agree.
	tp := b2c(t, s, true)
	tv := newVerifier(t, tp)
	tmint := func(policy string, claims map[string]any) string {
		return s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Policy: policy,
			Issuer: tp.Issuer, Claims: claims})
	}
	if _, err := verify(t, tv, tmint("-", nil)); err != nil {
		t.Errorf("tfp issuer without claim: %v", err)
	}
	mustRefuseWith(t, tv, tmint("-", map[string]any{"tfp": []string{"x"}}), profiles.RuleB2CPolicy, jwtverify.ErrIssuer)
	mustRefuseWith(t, tv, tmint("B2C_1_other", nil), profiles.RuleB2CPolicy, jwtverify.ErrIssuer)

	// The loud option accepts tokens without any policy claim, nothing else.
	ip := b2c(t, s, false)
	ip2, err := profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: oauthtest.DefaultB2CTenantID,
		Policy: oauthtest.DefaultB2CPolicy, ClientID: b2cAPI, ClientIDs: []string{b2cCaller}, Instance: s.URL(),
		Keys: ip.Keys, InsecureAcceptTokensWithoutPolicyClaim: true})
	if err != nil {
		t.Fatal(err)
	}
	iv := newVerifier(t, ip2)
	if _, err := verify(t, iv, mint("-", nil)); err != nil {
		t.Errorf("InsecureAcceptTokensWithoutPolicyClaim: %v", err)
	}
	mustRefuseWith(t, iv, mint("-", map[string]any{"tfp": 7}), profiles.RuleB2CPolicy, jwtverify.ErrIssuer)
	mustRefuseWith(t, iv, mint("B2C_1_other", nil), profiles.RuleB2CPolicy, jwtverify.ErrIssuer)

	// An Issuer override in the /tfp/ form must name Policy.
	_, err = profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: oauthtest.DefaultB2CTenantID,
		Policy: oauthtest.DefaultB2CPolicy, ClientID: b2cAPI, AllowAnyClient: true,
		Issuer: "https://contoso.b2clogin.com/tfp/" + oauthtest.DefaultB2CTenantID + "/b2c_1_other/v2.0/"})
	if !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Errorf("tfp issuer naming another policy: %v", err)
	}
}

// TestUserRulesRunOnEveryVerify: rules added with AddRule and AddRuleCode
// run on every Verify, cache hit or not (issue 16 finding 1), after the
// provider's rules, with their codes.
func TestUserRulesRunOnEveryVerify(t *testing.T) {
	s := newServer(t)
	p := b2c(t, s, false)
	var deny, block atomic.Bool
	var calls atomic.Int64
	p.AddRule(func(*jwtverify.Principal) error {
		calls.Add(1)
		if deny.Load() {
			return errors.New("denied")
		}
		return nil
	})
	p.AddRuleCode("client_blocked", func(pr *jwtverify.Principal) error {
		if block.Load() && pr.ClientID() == b2cCaller {
			return jwtverify.ErrClient
		}
		return nil
	})
	p.AddRuleCode("unused", nil)
	if !slices.Equal(p.ValidateCodes, []string{"client_blocked"}) {
		t.Fatalf("ValidateCodes %q", p.ValidateCodes)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)}) // cache on
	if err != nil {
		t.Fatal(err)
	}
	token := s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}})
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	deny.Store(true)
	mustRefuseWith(t, v, token, jwtverify.RuleCustom, jwtverify.ErrMissingClaim)
	deny.Store(false)
	block.Store(true)
	mustRefuseWith(t, v, token, "client_blocked", jwtverify.ErrClient)
	block.Store(false)
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	if st := v.CacheStats(); st.Hits != 3 || st.Misses != 1 {
		t.Fatalf("the calls were not cache hits: %+v", st)
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("user rule ran %d times for 4 Verify calls", n)
	}
	// A provider rule refuses before any user rule runs.
	before := calls.Load()
	mustRefuseWith(t, v, s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Policy: "B2C_1_x"}),
		profiles.RuleB2CPolicy, jwtverify.ErrIssuer)
	if calls.Load() != before {
		t.Fatal("user rule ran after a provider rule refused")
	}
	// A bad code fails at construction.
	bad := b2c(t, s, false)
	bad.AddRuleCode("Bad Code", func(*jwtverify.Principal) error { return nil })
	if _, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(bad)}); err == nil {
		t.Fatal("bad code accepted")
	}
}
