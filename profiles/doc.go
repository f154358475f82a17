// Package profiles holds one preset per token issuer m2mauth knows:
// Microsoft Entra ID (v1.0 and v2.0, single and multi-tenant), Azure AD
// B2C, Auth0, Okta, Keycloak, AWS Cognito, Ory Hydra and any RFC 9068
// issuer.
//
// Each constructor checks its options (misconfiguration fails here, with a
// *ConfigError) and returns a Profile: a jwtverify.IssuerConfig with the
// provider's exact issuer, audience forms, client-ID claim, permission
// claims, token type policy, AppOnly hook and special rules, plus the URL
// of the provider's key set. Every field can be overridden before the
// configuration is handed to jwtverify.New.
//
// # Rules
//
// The provider's rules are IssuerConfig.Rules: pure functions of the
// verified claims and the options, run once per token (a cache hit reuses
// their verdict). Each refuses with a fixed sub-reason code from a closed
// set (RuleCodes), recorded in jwtverify.Error.Rule and so in logs and
// events: RuleEntraTenantMissing, RuleEntraTenantNotGUID,
// RuleEntraTenantNotAllowed, RuleEntraIssuerTenant, RuleEntraVersion,
// RuleEntraNoPermissions, RuleEntraDelegated, RuleB2CPolicy,
// RuleB2CPolicyMissing, RuleKeycloakTokenType, RuleCognitoTokenUse and
// RuleHydraEmptyAudience. Validate is the user's: Profile.AddRule and
// Profile.AddRuleCode append to it, and it runs on every Verify, cache hit
// or not, after the provider's rules. A rule added with AddRule refuses
// with the code jwtverify.RuleCustom, one added with AddRuleCode with its
// own declared code.
//
// Keys: pass a jwkscache.KeySource in the options (tests, offline use), or
// leave it nil and let Profile.StartKeys start a jwkscache.Cache on the
// profile's JWKSURL (or discovery) and set Profile.Keys:
//
//	p, err := profiles.Okta(profiles.OktaOptions{
//		Issuer:    "https://acme.okta.com/oauth2/default",
//		Audience:  "api://default",
//		ClientIDs: []string{"0oa8acv8gbBPRCZ7I5d7"},
//	})
//	if err != nil {
//		return err // a *ConfigError: the options are wrong
//	}
//	keys, err := p.StartKeys(ctx, jwkscache.Config{}) // runs until ctx ends or keys.Close()
//	if err != nil {
//		return err
//	}
//	defer keys.Close()
//	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
//
// Entra ID returns one profile per accepted token version, because v1.0 and
// v2.0 tokens have different issuers, audiences and client claims and are
// verified against their own key documents.
//
// The oauthtest package mints each provider's token shape
// ((*oauthtest.Server).MintProvider), and testdata/providers holds one
// documented sample per provider.
package profiles
