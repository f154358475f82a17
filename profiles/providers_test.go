package profiles_test

import (
	"errors"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

const (
	b2cAPI    = "11111111-2222-3333-4444-555555555555"
	b2cCaller = "33333333-0000-0000-0000-000000000000"
)

func b2c(t testing.TB, s *oauthtest.Server, tfp bool) profiles.Profile {
	t.Helper()
	return mustProfile(t)(profiles.AzureB2C(profiles.AzureB2COptions{
		TenantName: "contoso", TenantID: oauthtest.DefaultB2CTenantID, Policy: oauthtest.DefaultB2CPolicy,
		ClientID: b2cAPI, ClientIDs: []string{b2cCaller}, TFPIssuer: tfp,
		Instance: s.URL(), Keys: staticKeys(t, s, ""),
	}))
}

func TestAzureB2CAccepted(t *testing.T) {
	s := newServer(t)
	p := b2c(t, s, false)
	if want := s.URL() + "/" + oauthtest.DefaultB2CTenantID + "/v2.0/"; p.Issuer != want {
		t.Fatalf("issuer %q, want %q", p.Issuer, want)
	}
	if want := s.URL() + "/contoso.onmicrosoft.com/B2C_1A_SUSI/discovery/v2.0/keys"; p.JWKSURL != want {
		t.Fatalf("JWKS %q, want %q", p.JWKSURL, want)
	}
	v := newVerifier(t, p)
	tok := s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read", "app.write"}})
	mustAccept(t, v, tok, want{client: b2cCaller, scopes: []string{"app.read", "app.write"},
		delegated: []string{"app.read", "app.write"}, appOnly: true})
	// Policy names are compared without regard to case (a token without a
	// policy claim is refused: TestB2CPolicyMustBeProven).
	for _, pol := range []string{"b2c_1a_susi"} {
		tok = s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Policy: pol})
		if _, err := verify(t, v, tok); err != nil {
			t.Errorf("policy %q: %v", pol, err)
		}
	}
	// The issuer's trailing slash matters.
	tok = s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"},
		Issuer: s.URL() + "/" + oauthtest.DefaultB2CTenantID + "/v2.0"})
	mustReject(t, v, tok, jwtverify.ErrIssuer)
}

func TestAzureB2CWrongPolicyRejected(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, b2c(t, s, false))
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{
		Scopes: []string{"app.read"}, Policy: "B2C_1_other"}), jwtverify.ErrIssuer)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{
		Scopes: []string{"app.read"}, Policy: "-", Claims: map[string]any{"acr": "b2c_1_other"}}), jwtverify.ErrIssuer)

	// tfp issuer form: the policy is in the issuer; another policy's issuer is refused.
	s2 := newServer(t)
	p := b2c(t, s2, true)
	if want := s2.URL() + "/tfp/" + oauthtest.DefaultB2CTenantID + "/b2c_1a_susi/v2.0/"; p.Issuer != want {
		t.Fatalf("tfp issuer %q, want %q", p.Issuer, want)
	}
	v = newVerifier(t, p)
	good := s2.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Issuer: p.Issuer})
	mustAccept(t, v, good, want{client: b2cCaller, scopes: []string{"app.read"}, delegated: []string{"app.read"}, appOnly: true})
	other := s2.MintProviderT(t, oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"app.read"}, Policy: "B2C_1_other",
		Issuer: s2.URL() + "/tfp/" + oauthtest.DefaultB2CTenantID + "/b2c_1_other/v2.0/"})
	mustReject(t, v, other, jwtverify.ErrIssuer)
}

func TestAuth0Accepted(t *testing.T) {
	s := newServer(t)
	iss := s.ProviderIssuer(oauthtest.ProviderAuth0, "")
	p := mustProfile(t)(profiles.Auth0(profiles.Auth0Options{Issuer: iss, Audience: "https://api.example.com",
		ClientIDs: []string{"Zk3mPq7RtY2vW9xB4nC6dF8gH1jK5lM0"}, Keys: staticKeys(t, s, "")}))
	if p.JWKSURL != iss+".well-known/jwks.json" {
		t.Fatalf("JWKS %q", p.JWKSURL)
	}
	v := newVerifier(t, p)
	tok := s.MintProviderT(t, oauthtest.ProviderAuth0, oauthtest.ProviderToken{
		Scopes: []string{"read:orders", "write:orders"}, Roles: []string{"read:orders", "write:orders"}})
	mustAccept(t, v, tok, want{client: "Zk3mPq7RtY2vW9xB4nC6dF8gH1jK5lM0", scopes: []string{"read:orders", "write:orders"},
		delegated: []string{"read:orders", "write:orders"}, roles: []string{"read:orders", "write:orders"}, appOnly: true})
	// aud as an array with /userinfo.
	tok = s.MintProviderT(t, oauthtest.ProviderAuth0, oauthtest.ProviderToken{Scopes: []string{"read:orders"},
		Audience: []string{"https://api.example.com", iss + "userinfo"}})
	if _, err := verify(t, v, tok); err != nil {
		t.Errorf("aud array: %v", err)
	}
	// iss without its trailing slash is another issuer.
	tok = s.MintProviderT(t, oauthtest.ProviderAuth0, oauthtest.ProviderToken{Issuer: s.URL()})
	mustReject(t, v, tok, jwtverify.ErrIssuer)
	if _, err := profiles.Auth0(profiles.Auth0Options{Issuer: s.URL(), Audience: "a", AllowAnyClient: true}); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Errorf("issuer without trailing slash: err = %v", err)
	}
	p2 := mustProfile(t)(profiles.Auth0(profiles.Auth0Options{Domain: "acme.us.auth0.com", Audience: "a", AllowAnyClient: true}))
	if p2.Issuer != "https://acme.us.auth0.com/" || p2.JWKSURL != "https://acme.us.auth0.com/.well-known/jwks.json" {
		t.Errorf("domain profile = %q %q", p2.Issuer, p2.JWKSURL)
	}
}

func TestOktaAccepted(t *testing.T) {
	s := newServer(t, oauthtest.WithIssuerPath("/oauth2/default"))
	p := mustProfile(t)(profiles.Okta(profiles.OktaOptions{Issuer: s.Issuer(), Audience: "api://default",
		ClientIDs: []string{"0oa8acv8gbBPRCZ7I5d7"}, Keys: staticKeys(t, s, "")}))
	if p.JWKSURL != s.Issuer()+"/v1/keys" {
		t.Fatalf("JWKS %q", p.JWKSURL)
	}
	v := newVerifier(t, p)
	tok := s.MintProviderT(t, oauthtest.ProviderOkta, oauthtest.ProviderToken{Scopes: []string{"pega.search:full", "orders.read"}})
	mustAccept(t, v, tok, want{client: "0oa8acv8gbBPRCZ7I5d7", scopes: []string{"orders.read", "pega.search:full"},
		delegated: []string{"orders.read", "pega.search:full"}, appOnly: true})
	// A user token (uid present) is not app-only.
	tok = s.MintProviderT(t, oauthtest.ProviderOkta, oauthtest.ProviderToken{Scopes: []string{"orders.read"}, Subject: "jane@example.com",
		Claims: map[string]any{"uid": "00u1"}})
	if p, err := verify(t, v, tok); err != nil || p.AppOnly() {
		t.Errorf("user token: err %v, app-only %v", err, err == nil && p.AppOnly())
	}
}

func TestOktaOrgIssuerRejected(t *testing.T) {
	s := newServer(t, oauthtest.WithIssuerPath("/oauth2/default"))
	for _, iss := range []string{s.URL(), s.URL() + "/", s.URL() + "/oauth2/v1", s.URL() + "/oauth2/default/", s.URL() + "/oauth2"} {
		if _, err := profiles.Okta(profiles.OktaOptions{Issuer: iss, Audience: "api://default", AllowAnyClient: true}); !errors.Is(err, profiles.ErrInvalidConfig) {
			t.Errorf("issuer %q: err = %v, want ErrInvalidConfig", iss, err)
		}
	}
	// A token of the org authorization server, signed by a key the verifier trusts, is refused.
	v := newVerifier(t, mustProfile(t)(profiles.Okta(profiles.OktaOptions{Issuer: s.Issuer(), Audience: "api://default",
		AllowAnyClient: true, Keys: staticKeys(t, s, "")})))
	tok := s.MintProviderT(t, oauthtest.ProviderOkta, oauthtest.ProviderToken{Issuer: s.URL(), Scopes: []string{"okta.users.read"}})
	mustReject(t, v, tok, jwtverify.ErrIssuer)
}

func keycloak(t testing.TB, s *oauthtest.Server, o profiles.KeycloakOptions) *jwtverify.Verifier {
	t.Helper()
	o.URL, o.Realm = s.URL(), "acme"
	if o.ClientIDs == nil && !o.AllowAnyClient {
		o.ClientIDs = []string{"orders-worker"}
	}
	o.Keys = staticKeys(t, s, "")
	p := mustProfile(t)(profiles.Keycloak(o))
	if p.Issuer != s.URL()+"/realms/acme" || p.JWKSURL != p.Issuer+"/protocol/openid-connect/certs" {
		t.Fatalf("profile %q %q", p.Issuer, p.JWKSURL)
	}
	return newVerifier(t, p)
}

func TestKeycloakAccepted(t *testing.T) {
	s := newServer(t)
	v := keycloak(t, s, profiles.KeycloakOptions{RoleClients: []string{"orders-api"}})
	tok := s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders:read"}})
	mustAccept(t, v, tok, want{client: "orders-worker",
		scopes:    []string{"default-roles-acme", "email", "offline_access", "orders:read", "profile"},
		delegated: []string{"email", "profile"},
		roles:     []string{"default-roles-acme", "offline_access", "orders:read"}, appOnly: true})
	// No aud at all (no audience mapper): the azp allow list binds it.
	tok = s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders:read"}, Audience: []string{}})
	if _, err := verify(t, v, tok); err != nil {
		t.Errorf("token without aud: %v", err)
	}
	// Another client of the realm is refused.
	tok = s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{ClientID: "billing-worker", Roles: []string{"orders:read"}})
	mustReject(t, v, tok, jwtverify.ErrClient)
}

func TestKeycloakRefreshAndIDTokensRejected(t *testing.T) {
	s := newServer(t)
	v := keycloak(t, s, profiles.KeycloakOptions{RoleClients: []string{"orders-api"}})
	for _, typ := range []any{"Refresh", "ID", "Offline", "Logout", "bearer", nil, 1} {
		tok := s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders:read"},
			Claims: map[string]any{"typ": typ}})
		if _, err := verify(t, v, tok); err == nil {
			t.Errorf("payload typ %v accepted", typ)
		}
	}
	tok := s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Claims: map[string]any{"typ": "Refresh"}})
	mustReject(t, v, tok, jwtverify.ErrType)
}

func TestKeycloakForeignClientRolesNotMapped(t *testing.T) {
	s := newServer(t)
	v := keycloak(t, s, profiles.KeycloakOptions{RoleClients: []string{"orders-api"}, IgnoreRealmRoles: true})
	// Roles of the "account" client and of another API are in the token; only orders-api's count.
	tok := s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders:read"},
		Claims: map[string]any{"resource_access": map[string]any{
			"orders-api":  map[string]any{"roles": []string{"orders:read"}},
			"billing-api": map[string]any{"roles": []string{"orders:write", "admin"}},
			"account":     map[string]any{"roles": []string{"manage-account"}},
		}}})
	p := mustAccept(t, v, tok, want{client: "orders-worker", scopes: []string{"email", "orders:read", "profile"},
		delegated: []string{"email", "profile"}, roles: []string{"orders:read"}, appOnly: true})
	for _, foreign := range []string{"orders:write", "admin", "manage-account", "default-roles-acme"} {
		if p.Has(foreign) {
			t.Errorf("foreign role %q mapped", foreign)
		}
	}
}

func TestKeycloakAudienceOption(t *testing.T) {
	s := newServer(t)
	// With Audience set, aud is checked and AllowAnyClient becomes possible.
	v := keycloak(t, s, profiles.KeycloakOptions{Audience: "orders-api", AllowAnyClient: true})
	tok := s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders:read"}})
	mustAccept(t, v, tok, want{client: "orders-worker",
		scopes:    []string{"default-roles-acme", "email", "offline_access", "orders:read", "profile"},
		delegated: []string{"email", "profile"},
		roles:     []string{"default-roles-acme", "offline_access", "orders:read"}, appOnly: true})
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Audience: []string{}}), jwtverify.ErrAudience)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Audience: []string{"account"}}), jwtverify.ErrAudience)
	// Without Audience, AllowAnyClient is refused at construction.
	if _, err := profiles.Keycloak(profiles.KeycloakOptions{URL: s.URL(), Realm: "acme", AllowAnyClient: true}); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Errorf("AllowAnyClient without Audience: err = %v", err)
	}
}

func cognito(t testing.TB, s *oauthtest.Server) *jwtverify.Verifier {
	t.Helper()
	p := mustProfile(t)(profiles.Cognito(profiles.CognitoOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderCognito, ""),
		ClientIDs: []string{"3hq6k2examplecid0000000000"}, Keys: staticKeys(t, s, "")}))
	if !p.InsecureSkipAudienceCheck || len(p.ClientIDs) != 1 || p.AllowAnyClient {
		t.Fatalf("Cognito must skip aud and bind on client_id: %+v", p.IssuerConfig)
	}
	return newVerifier(t, p)
}

func TestCognitoAccepted(t *testing.T) {
	s := newServer(t)
	v := cognito(t, s)
	tok := s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{Scopes: []string{"orders-api/read", "orders-api/write"}})
	mustAccept(t, v, tok, want{client: "3hq6k2examplecid0000000000", scopes: []string{"orders-api/read", "orders-api/write"},
		delegated: []string{"orders-api/read", "orders-api/write"}, appOnly: true})
}

func TestCognitoIDTokenAndWrongClientRejected(t *testing.T) {
	s := newServer(t)
	v := cognito(t, s)
	// A real ID token: token_use id, aud = client, no client_id.
	id := s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{Audience: []string{"3hq6k2examplecid0000000000"},
		Claims: map[string]any{"token_use": "id", "client_id": nil, "scope": nil, "cognito:username": "jane"}})
	mustReject(t, v, id, nil)
	// Even with a client_id, token_use id is refused.
	id = s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{Claims: map[string]any{"token_use": "id"}})
	mustReject(t, v, id, jwtverify.ErrType)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{Claims: map[string]any{"token_use": nil}}), nil)
	// Another app client of the same pool.
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{ClientID: "7otherclient000000000000000"}), jwtverify.ErrClient)

	// Construction: the allow list is required, AllowAnyClient does not exist.
	if _, err := profiles.Cognito(profiles.CognitoOptions{UserPoolID: "eu-west-1_AbCdEf"}); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Errorf("no ClientIDs: err = %v", err)
	}
	p := mustProfile(t)(profiles.Cognito(profiles.CognitoOptions{UserPoolID: "eu-west-1_AbCdEf", ClientIDs: []string{"c"}}))
	if p.Issuer != "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf" || p.JWKSURL != p.Issuer+"/.well-known/jwks.json" {
		t.Errorf("pool profile = %q %q", p.Issuer, p.JWKSURL)
	}
}

func hydra(t testing.TB, s *oauthtest.Server) *jwtverify.Verifier {
	t.Helper()
	return newVerifier(t, mustProfile(t)(profiles.Hydra(profiles.HydraOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderHydra, ""),
		Audience: "https://api.example.test", ClientIDs: []string{"orders-worker"}, Keys: staticKeys(t, s, "")})))
}

func TestHydraAccepted(t *testing.T) {
	s := newServer(t)
	v := hydra(t, s)
	tok := s.MintProviderT(t, oauthtest.ProviderHydra, oauthtest.ProviderToken{Scopes: []string{"orders.read", "orders.write"}})
	mustAccept(t, v, tok, want{client: "orders-worker", scopes: []string{"orders.read", "orders.write"},
		delegated: []string{"orders.read", "orders.write"}, appOnly: true})
	// Hydra configured for a scope string.
	tok = s.MintProviderT(t, oauthtest.ProviderHydra, oauthtest.ProviderToken{Claims: map[string]any{"scp": nil, "scope": "orders.read"}})
	mustAccept(t, v, tok, want{client: "orders-worker", scopes: []string{"orders.read"}, delegated: []string{"orders.read"}, appOnly: true})
}

func TestHydraEmptyAudienceRejected(t *testing.T) {
	s := newServer(t)
	v := hydra(t, s)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderHydra, oauthtest.ProviderToken{Audience: []string{}, Scopes: []string{"orders.read"}}), jwtverify.ErrAudience)
	if _, err := profiles.Hydra(profiles.HydraOptions{Issuer: s.URL(), AllowAnyClient: true}); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Errorf("Hydra without Audience: err = %v", err)
	}
}

func rfc9068(t testing.TB, s *oauthtest.Server) *jwtverify.Verifier {
	t.Helper()
	return newVerifier(t, mustProfile(t)(profiles.RFC9068(profiles.RFC9068Options{Issuer: s.ProviderIssuer(oauthtest.ProviderRFC9068, ""),
		Audience: "https://api.example.test", ClientIDs: []string{"e2e-client"}, Keys: staticKeys(t, s, "")})))
}

func TestRFC9068Accepted(t *testing.T) {
	s := newServer(t)
	v := rfc9068(t, s)
	tok := s.MintProviderT(t, oauthtest.ProviderRFC9068, oauthtest.ProviderToken{Scopes: []string{"read", "write"}})
	mustAccept(t, v, tok, want{client: "e2e-client", scopes: []string{"read", "write"}, delegated: []string{"read", "write"}, appOnly: true})
	// typ variants RFC 9068 allows.
	for _, typ := range []string{"application/at+jwt", "AT+JWT"} {
		tok = s.MintProviderT(t, oauthtest.ProviderRFC9068, oauthtest.ProviderToken{}, oauthtest.WithHeader(map[string]any{"typ": typ}))
		if _, err := verify(t, v, tok); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
}

func TestRFC9068TypJWTRejected(t *testing.T) {
	s := newServer(t)
	v := rfc9068(t, s)
	for _, typ := range []any{"JWT", nil, "jwt", "at+jwt2"} {
		tok := s.MintProviderT(t, oauthtest.ProviderRFC9068, oauthtest.ProviderToken{Scopes: []string{"read"}},
			oauthtest.WithHeader(map[string]any{"typ": typ}))
		mustReject(t, v, tok, jwtverify.ErrType)
	}
	for _, claim := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} {
		tok := s.MintProviderT(t, oauthtest.ProviderRFC9068, oauthtest.ProviderToken{Claims: map[string]any{claim: nil}})
		if _, err := verify(t, v, tok); err == nil {
			t.Errorf("token without %s accepted", claim)
		}
	}
}

func TestProfilesRequireClientChoice(t *testing.T) {
	errs := map[string]error{}
	_, errs["b2c"] = profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: tenantA, Policy: "p", ClientID: "c"})
	_, errs["auth0"] = profiles.Auth0(profiles.Auth0Options{Domain: "acme.auth0.com", Audience: "a"})
	_, errs["okta"] = profiles.Okta(profiles.OktaOptions{Issuer: "https://acme.okta.com/oauth2/default", Audience: "a"})
	_, errs["keycloak"] = profiles.Keycloak(profiles.KeycloakOptions{URL: "https://kc.example.com", Realm: "acme"})
	_, errs["cognito"] = profiles.Cognito(profiles.CognitoOptions{UserPoolID: "eu-west-1_AbCdEf"})
	_, errs["hydra"] = profiles.Hydra(profiles.HydraOptions{Issuer: "https://hydra.example.com/", Audience: "a"})
	_, errs["rfc9068"] = profiles.RFC9068(profiles.RFC9068Options{Issuer: "https://op.example.com", Audience: "a"})
	_, errs["both"] = profiles.Hydra(profiles.HydraOptions{Issuer: "https://hydra.example.com/", Audience: "a", ClientIDs: []string{"x"}, AllowAnyClient: true})
	_, errs["blank"] = profiles.Hydra(profiles.HydraOptions{Issuer: "https://hydra.example.com/", Audience: "a", ClientIDs: []string{" "}})
	_, errs["http"] = profiles.Hydra(profiles.HydraOptions{Issuer: "http://hydra.example.com/", Audience: "a", AllowAnyClient: true})
	_, errs["query"] = profiles.RFC9068(profiles.RFC9068Options{Issuer: "https://op.example.com/?x=1", Audience: "a", AllowAnyClient: true})
	_, errs["pool"] = profiles.Cognito(profiles.CognitoOptions{UserPoolID: "AbCdEf", ClientIDs: []string{"c"}})
	_, errs["region"] = profiles.Cognito(profiles.CognitoOptions{UserPoolID: "eu-west-1_AbCdEf", Region: "us-east-1", ClientIDs: []string{"c"}})
	_, errs["realm"] = profiles.Keycloak(profiles.KeycloakOptions{URL: "https://kc.example.com", ClientIDs: []string{"c"}})
	_, errs["b2c policy"] = profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: tenantA, Policy: "a/b", ClientID: "c", AllowAnyClient: true})
	for name, err := range errs {
		if !errors.Is(err, profiles.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestAddRuleKeepsProviderRules(t *testing.T) {
	s := newServer(t)
	p := mustProfile(t)(profiles.Cognito(profiles.CognitoOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderCognito, ""),
		ClientIDs: []string{"3hq6k2examplecid0000000000"}, Keys: staticKeys(t, s, "")}))
	calls := 0
	p.AddRule(func(pr *jwtverify.Principal) error {
		calls++
		if !pr.Has("orders-api/read") {
			return jwtverify.ErrInsufficientScope
		}
		return nil
	})
	v := newVerifier(t, p)
	mustAccept(t, v, s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{Scopes: []string{"orders-api/read"}}),
		want{client: "3hq6k2examplecid0000000000", scopes: []string{"orders-api/read"}, delegated: []string{"orders-api/read"}, appOnly: true})
	if _, err := verify(t, v, s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{})); err == nil {
		t.Error("user rule not applied")
	}
	// The provider rule still runs first: the ID token never reaches the user rule.
	before := calls
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderCognito, oauthtest.ProviderToken{Scopes: []string{"orders-api/read"},
		Claims: map[string]any{"token_use": "id"}}), jwtverify.ErrType)
	if calls != before {
		t.Error("user rule ran before the provider's")
	}
}
