package profiles

import (
	"errors"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// The sub-reason codes of the built-in provider rules: a closed set, each
// recorded in jwtverify.Error.Rule (and so in logs and events) when its
// rule refuses a token. They never carry token text. Rules users add with
// Profile.AddRule record jwtverify.RuleCustom; AddRuleCode declares others.
const (
	// RuleEntraTenantMissing: the Entra token has no string tid.
	RuleEntraTenantMissing = "entra_tenant_missing"
	// RuleEntraTenantNotGUID: tid is not a GUID.
	RuleEntraTenantNotGUID = "entra_tenant_not_guid"
	// RuleEntraTenantNotAllowed: tid is not the configured tenant (single
	// tenant) or not in AllowedTenants (multi-tenant).
	RuleEntraTenantNotAllowed = "entra_tenant_not_allowed"
	// RuleEntraIssuerTenant: iss does not name the tenant in tid.
	RuleEntraIssuerTenant = "entra_issuer_tenant"
	// RuleEntraVersion: ver is not the token version of the profile.
	RuleEntraVersion = "entra_version"
	// RuleEntraNoPermissions: neither roles nor scp (unless
	// AuthorizeByClientIDs).
	RuleEntraNoPermissions = "entra_no_permissions"
	// RuleEntraDelegated: a delegated (user) token while only app-only
	// tokens are accepted (unless AllowDelegated).
	RuleEntraDelegated = "entra_delegated"
	// RuleB2CPolicy: a policy claim (tfp or acr) that is not a string
	// naming the configured policy.
	RuleB2CPolicy = "b2c_policy"
	// RuleB2CPolicyMissing: the token proves no policy: no policy claim,
	// and an issuer without the configured policy in its path.
	RuleB2CPolicyMissing = "b2c_policy_missing"
	// RuleKeycloakTokenType: the payload typ is not "Bearer" (ID, Refresh
	// and Logout tokens).
	RuleKeycloakTokenType = "keycloak_token_type"
	// RuleCognitoTokenUse: token_use is not "access".
	RuleCognitoTokenUse = "cognito_token_use"
	// RuleHydraEmptyAudience: aud is empty (the client requested none).
	RuleHydraEmptyAudience = "hydra_empty_audience"
)

// RuleCodes returns the closed set of built-in rule codes (a new slice
// each call), for metric label allow lists and documentation.
func RuleCodes() []string {
	return []string{
		RuleEntraTenantMissing, RuleEntraTenantNotGUID, RuleEntraTenantNotAllowed,
		RuleEntraIssuerTenant, RuleEntraVersion, RuleEntraNoPermissions, RuleEntraDelegated,
		RuleB2CPolicy, RuleB2CPolicyMissing, RuleKeycloakTokenType, RuleCognitoTokenUse,
		RuleHydraEmptyAudience,
	}
}

// AddRule appends rule to the profile's user rules (IssuerConfig.Validate,
// after any rule already there). It runs on every Verify, cache hit or
// not, after the provider's built-in Rules; a refusal records the
// sub-reason jwtverify.RuleCustom (use AddRuleCode to record a code of
// your own). A nil rule is ignored.
func (p *Profile) AddRule(rule func(*jwtverify.Principal) error) {
	if rule == nil {
		return
	}
	prev := p.Validate
	if prev == nil {
		p.Validate = rule
		return
	}
	p.Validate = func(pr *jwtverify.Principal) error {
		if err := prev(pr); err != nil {
			return err
		}
		return rule(pr)
	}
}

// AddRuleCode is AddRule for a rule with its own sub-reason code: code is
// appended to ValidateCodes (jwtverify.New checks it: 1 to 32 bytes of
// [a-z0-9_], unique within the issuer, not "custom") and recorded in
// jwtverify.Error.Rule whenever rule refuses a token. The reason is that
// of the first *jwtverify.Error rule's error wraps (wrap a sentinel such
// as jwtverify.ErrClient), else jwtverify.ReasonMissingClaim. A nil rule
// is ignored.
func (p *Profile) AddRuleCode(code string, rule func(*jwtverify.Principal) error) {
	if rule == nil {
		return
	}
	p.ValidateCodes = append(p.ValidateCodes[:len(p.ValidateCodes):len(p.ValidateCodes)], code)
	p.AddRule(func(pr *jwtverify.Principal) error {
		err := rule(pr)
		if err == nil {
			return nil
		}
		r := jwtverify.ReasonMissingClaim
		var ve *jwtverify.Error
		if errors.As(err, &ve) && ve.Reason != "" {
			r = ve.Reason
		}
		return &jwtverify.Error{Reason: r, Rule: code, Err: err}
	})
}

// check adapts a rule body to a jwtverify.Rule.
func check(code string, f func(*jwtverify.Principal) error) jwtverify.Rule {
	return jwtverify.Rule{Code: code, Check: f}
}
