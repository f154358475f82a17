package profiles_test

import (
	"errors"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

const (
	tenantA = oauthtest.DefaultEntraTenantID
	tenantB = "0c9a9e4e-3d2b-4b8f-9b1a-5f6e7d8c9b0a"
	tenantC = "4d3c2b1a-0f9e-4d8c-8b7a-6f5e4d3c2b1a"
	caller  = oauthtest.DefaultEntraClientID
	apiID   = oauthtest.DefaultEntraAPIID
)

// entra builds Entra profiles against s with o's rules.
func entra(t testing.TB, s *oauthtest.Server, o profiles.EntraOptions) []profiles.Profile {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = apiID
	}
	if o.AppIDURI == "" {
		o.AppIDURI = oauthtest.DefaultEntraAppIDURI
	}
	if o.ClientIDs == nil && !o.AllowAnyClient {
		o.ClientIDs = []string{caller}
	}
	o.Instance, o.V1Instance = s.URL(), s.URL()
	if o.Keys == nil {
		o.Keys = staticKeys(t, s, "")
	}
	ps, err := profiles.EntraID(o)
	if err != nil {
		t.Fatalf("EntraID: %v", err)
	}
	return ps
}

func TestEntraV2SingleTenantAccepted(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV2})...)
	tok := s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All", "Orders.Write.All"}})
	p := mustAccept(t, v, tok, want{client: caller, tenant: tenantA,
		scopes: []string{"Orders.Read.All", "Orders.Write.All"}, roles: []string{"Orders.Read.All", "Orders.Write.All"}, appOnly: true})
	if !p.HasRole("Orders.Read.All") || p.HasScope("Orders.Read.All") {
		t.Error("an app role must be a role, not a delegated scope")
	}
	if p.IssuerName() != "entra-v2" {
		t.Errorf("IssuerName = %q", p.IssuerName())
	}
}

func TestEntraV1SingleTenantAccepted(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV1})...)
	// v1: aud is the App ID URI, client in appid, header x5t + kid, key without alg.
	tok := s.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}})
	mustAccept(t, v, tok, want{client: caller, tenant: tenantA,
		scopes: []string{"Orders.Read.All"}, roles: []string{"Orders.Read.All"}, appOnly: true})
	// use_guid: the v1 aud may be the API's GUID.
	tok = s.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}, Audience: []string{apiID}})
	mustAccept(t, v, tok, want{client: caller, tenant: tenantA,
		scopes: []string{"Orders.Read.All"}, roles: []string{"Orders.Read.All"}, appOnly: true})
}

func TestEntraBothVersionsByDefault(t *testing.T) {
	s := newServer(t)
	ps := entra(t, s, profiles.EntraOptions{TenantID: tenantA})
	if len(ps) != 2 || ps[0].Name != "entra-v1" || ps[1].Name != "entra-v2" {
		t.Fatalf("profiles = %d (%v)", len(ps), ps)
	}
	v := newVerifier(t, ps...)
	for _, pr := range []oauthtest.Provider{oauthtest.ProviderEntraV1, oauthtest.ProviderEntraV2} {
		tok := s.MintProviderT(t, pr, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}})
		mustAccept(t, v, tok, want{client: caller, tenant: tenantA,
			scopes: []string{"Orders.Read.All"}, roles: []string{"Orders.Read.All"}, appOnly: true})
	}
}

func TestEntraV1TokenRejectedWhenOnlyV2(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV2})...)
	tok := s.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}})
	mustReject(t, v, tok, jwtverify.ErrIssuer)
	// A v1 body under the v2 issuer (ver 1.0, appid): refused too.
	tok = s.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{
		Roles: []string{"Orders.Read.All"}, Audience: []string{apiID},
		Issuer: s.ProviderIssuer(oauthtest.ProviderEntraV2, tenantA)})
	mustReject(t, v, tok, nil)
}

func TestEntraNeitherRolesNorScpRejected(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA})...)
	for _, pr := range []oauthtest.Provider{oauthtest.ProviderEntraV1, oauthtest.ProviderEntraV2} {
		tok := s.MintProviderT(t, pr, oauthtest.ProviderToken{})
		mustReject(t, v, tok, jwtverify.ErrMissingClaim)
		for _, empty := range []map[string]any{{"roles": []string{}}, {"scp": " "}, {"roles": []string{}, "scp": ""}} {
			tok = s.MintProviderT(t, pr, oauthtest.ProviderToken{Claims: empty})
			mustReject(t, v, tok, jwtverify.ErrMissingClaim)
		}
	}
	// Explicit authorization by client-ID allow list accepts them.
	v = newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, AuthorizeByClientIDs: true})...)
	tok := s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{})
	mustAccept(t, v, tok, want{client: caller, tenant: tenantA, appOnly: true})
	// ... but only for the listed clients.
	tok = s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{ClientID: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"})
	mustReject(t, v, tok, jwtverify.ErrClient)
}

func TestEntraDelegatedIsOptIn(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA})...)
	user := oauthtest.ProviderToken{Scopes: []string{"Orders.Read"}}
	for _, pr := range []oauthtest.Provider{oauthtest.ProviderEntraV1, oauthtest.ProviderEntraV2} {
		mustReject(t, v, s.MintProviderT(t, pr, user), jwtverify.ErrType)
		// Without the optional idtyp claim, scp alone marks a user token.
		mustReject(t, v, s.MintProviderT(t, pr, oauthtest.ProviderToken{Scopes: user.Scopes,
			Claims: map[string]any{"idtyp": nil}}), jwtverify.ErrType)
	}
	v = newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, AllowDelegated: true})...)
	p := mustAccept(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, user), want{client: caller, tenant: tenantA,
		scopes: []string{"Orders.Read"}, delegated: []string{"Orders.Read"}, appOnly: false})
	if p.HasRole("Orders.Read") {
		t.Error("a delegated scope must not count as an app role")
	}
}

func TestEntraMultiTenantAccepted(t *testing.T) {
	s := newServer(t)
	// The common key set: no alg, an issuer template on the key.
	keys := staticKeys(t, s, s.URL()+"/{tenantid}/v2.0")
	ps := entra(t, s, profiles.EntraOptions{AllowedTenants: []string{tenantA, tenantB}, Versions: profiles.EntraV2, Keys: keys})
	if ps[0].Issuer != s.URL()+"/{tenantid}/v2.0" || ps[0].JWKSURL != s.URL()+"/common/discovery/v2.0/keys" || ps[0].DiscoveryURL != "" {
		t.Fatalf("profile = %q %q %q", ps[0].Issuer, ps[0].JWKSURL, ps[0].DiscoveryURL)
	}
	v := newVerifier(t, ps...)
	for _, tid := range []string{tenantA, tenantB} {
		tok := s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tid, Roles: []string{"Orders.Read.All"}})
		mustAccept(t, v, tok, want{client: caller, tenant: tid,
			scopes: []string{"Orders.Read.All"}, roles: []string{"Orders.Read.All"}, appOnly: true})
	}
}

func TestEntraKeyIssuerHonoured(t *testing.T) {
	s := newServer(t)
	// The key says it signs for tenant B only; a tenant-A token signed with it is refused.
	keys := staticKeys(t, s, s.URL()+"/"+tenantB+"/v2.0")
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{AllowedTenants: []string{tenantA, tenantB}, Versions: profiles.EntraV2, Keys: keys})...)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tenantA, Roles: []string{"r"}}), nil)
	mustAccept(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tenantB, Roles: []string{"r"}}),
		want{client: caller, tenant: tenantB, scopes: []string{"r"}, roles: []string{"r"}, appOnly: true})
}

func TestF12_EntraTenantNotAllowed(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{AllowedTenants: []string{tenantA}})...)
	for _, pr := range []oauthtest.Provider{oauthtest.ProviderEntraV1, oauthtest.ProviderEntraV2} {
		// A well-formed token of another tenant (iss and tid agree), signed by the shared keys.
		tok := s.MintProviderT(t, pr, oauthtest.ProviderToken{TenantID: tenantC, Roles: []string{"Orders.Read.All"}})
		mustReject(t, v, tok, jwtverify.ErrIssuer)
	}
	// Single-tenant: the other tenant's token is refused too.
	v = newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA})...)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tenantC, Roles: []string{"r"}}), jwtverify.ErrIssuer)
}

func TestF13_EntraIssTenantDiffersFromTid(t *testing.T) {
	s := newServer(t)
	multi := newVerifier(t, entra(t, s, profiles.EntraOptions{AllowedTenants: []string{tenantA, tenantB}})...)
	single := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA})...)
	for _, pr := range []oauthtest.Provider{oauthtest.ProviderEntraV1, oauthtest.ProviderEntraV2} {
		// iss names tenant A, tid says B: both allowed, still refused.
		tok := s.MintProviderT(t, pr, oauthtest.ProviderToken{TenantID: tenantB, Roles: []string{"r"},
			Issuer: s.ProviderIssuer(pr, tenantA)})
		mustReject(t, multi, tok, jwtverify.ErrIssuer)
		mustReject(t, single, tok, jwtverify.ErrIssuer)
		// And the other way round.
		tok = s.MintProviderT(t, pr, oauthtest.ProviderToken{TenantID: tenantA, Roles: []string{"r"},
			Issuer: s.ProviderIssuer(pr, tenantB)})
		mustReject(t, multi, tok, jwtverify.ErrIssuer)
		mustReject(t, single, tok, jwtverify.ErrIssuer)
	}
}

func TestF13_EntraTidNotGUID(t *testing.T) {
	s := newServer(t)
	// Even accepting any tenant, a tid that is not a GUID is refused.
	ps := entra(t, s, profiles.EntraOptions{InsecureAnyTenant: true})
	v := newVerifier(t, ps...)
	for _, pr := range []oauthtest.Provider{oauthtest.ProviderEntraV1, oauthtest.ProviderEntraV2} {
		for _, bad := range []string{"contoso.onmicrosoft.com", "common", "72f988bf86f141af91ab2d7cd011db47", "../" + tenantA} {
			tok := s.MintProviderT(t, pr, oauthtest.ProviderToken{TenantID: bad, Roles: []string{"r"}})
			mustReject(t, v, tok, nil)
		}
		// tid missing or not a string.
		mustReject(t, v, s.MintProviderT(t, pr, oauthtest.ProviderToken{Roles: []string{"r"}, Claims: map[string]any{"tid": nil}}), nil)
		mustReject(t, v, s.MintProviderT(t, pr, oauthtest.ProviderToken{Roles: []string{"r"}, Claims: map[string]any{"tid": 42}}), nil)
		// A GUID tenant is accepted in this (insecure) mode.
		mustAccept(t, v, s.MintProviderT(t, pr, oauthtest.ProviderToken{TenantID: tenantC, Roles: []string{"r"}}),
			want{client: caller, tenant: tenantC, scopes: []string{"r"}, roles: []string{"r"}, appOnly: true})
	}
}

func TestEntraAudienceForms(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV1})...)
	ok := []string{apiID, "api://" + apiID, oauthtest.DefaultEntraAppIDURI}
	for _, aud := range ok {
		tok := s.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{Audience: []string{aud}, Roles: []string{"r"}})
		if _, err := verify(t, v, tok); err != nil {
			t.Errorf("aud %q refused: %v", aud, err)
		}
	}
	for _, aud := range []string{oauthtest.DefaultEntraAppIDURI + "/", "API://ORDERS-API", "https://graph.microsoft.com"} {
		tok := s.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{Audience: []string{aud}, Roles: []string{"r"}})
		mustReject(t, v, tok, jwtverify.ErrAudience)
	}
}

func TestEntraConfigErrors(t *testing.T) {
	base := func() profiles.EntraOptions {
		return profiles.EntraOptions{TenantID: tenantA, ClientID: apiID, ClientIDs: []string{caller}}
	}
	cases := map[string]func(o *profiles.EntraOptions){
		"no client ID":           func(o *profiles.EntraOptions) { o.ClientID = "" },
		"client ID not GUID":     func(o *profiles.EntraOptions) { o.ClientID = "orders-api" },
		"tenant domain":          func(o *profiles.EntraOptions) { o.TenantID = "contoso.onmicrosoft.com" },
		"consumers":              func(o *profiles.EntraOptions) { o.TenantID = "consumers" },
		"no callers":             func(o *profiles.EntraOptions) { o.ClientIDs = nil },
		"callers and any":        func(o *profiles.EntraOptions) { o.AllowAnyClient = true },
		"multi without tenants":  func(o *profiles.EntraOptions) { o.TenantID = "" },
		"common without tenants": func(o *profiles.EntraOptions) { o.TenantID = "common" },
		"bad allowed tenant":     func(o *profiles.EntraOptions) { o.TenantID, o.AllowedTenants = "", []string{"contoso.com"} },
		"single with allowed":    func(o *profiles.EntraOptions) { o.AllowedTenants = []string{tenantB} },
		"any tenant and allow list": func(o *profiles.EntraOptions) {
			o.TenantID, o.InsecureAnyTenant, o.AllowedTenants = "", true, []string{tenantA}
		},
		"any tenant any client": func(o *profiles.EntraOptions) {
			o.TenantID, o.InsecureAnyTenant, o.ClientIDs, o.AllowAnyClient = "", true, nil, true
		},
		"acl without callers": func(o *profiles.EntraOptions) {
			o.ClientIDs, o.AllowAnyClient, o.AuthorizeByClientIDs = nil, true, true
		},
		"http instance": func(o *profiles.EntraOptions) { o.Instance = "http://login.example.com" },
		"bad versions":  func(o *profiles.EntraOptions) { o.Versions = 4 },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			o := base()
			mut(&o)
			_, err := profiles.EntraID(o)
			if !errors.Is(err, profiles.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			var ce *profiles.ConfigError
			if !errors.As(err, &ce) || ce.Field == "" {
				t.Fatalf("err = %#v, want a *ConfigError naming the field", err)
			}
		})
	}
	ps, err := profiles.EntraID(base())
	if err != nil {
		t.Fatal(err)
	}
	if got := ps[0].Issuer; got != "https://sts.windows.net/"+tenantA+"/" {
		t.Errorf("v1 issuer = %q", got)
	}
	if got := ps[1].Issuer; got != "https://login.microsoftonline.com/"+tenantA+"/v2.0" {
		t.Errorf("v2 issuer = %q", got)
	}
	if got := ps[1].JWKSURL; got != "https://login.microsoftonline.com/"+tenantA+"/discovery/v2.0/keys" {
		t.Errorf("v2 JWKS = %q", got)
	}
	if got := ps[0].JWKSURL; got != "https://login.microsoftonline.com/"+tenantA+"/discovery/keys" {
		t.Errorf("v1 JWKS = %q", got)
	}
	o := base()
	o.TenantID, o.AllowedTenants = "organizations", []string{tenantA}
	ps, err = profiles.EntraID(o)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].JWKSURL != "https://login.microsoftonline.com/common/discovery/keys" || ps[0].Issuer != "https://sts.windows.net/{tenantid}/" {
		t.Errorf("multi-tenant v1 = %q %q", ps[0].Issuer, ps[0].JWKSURL)
	}
}

// TestEntraRulesSurviveWeakenedCore shows the profile's own tenant rules:
// with the core's tenant checks switched off by overriding the
// IssuerConfig, the profile's Validate still refuses other tenants (F12)
// and a tid that is not the iss tenant (F13).
func TestEntraRulesSurviveWeakenedCore(t *testing.T) {
	s := newServer(t)
	ps := entra(t, s, profiles.EntraOptions{AllowedTenants: []string{tenantA}, Versions: profiles.EntraV2})
	ps[0].AllowedTenants, ps[0].InsecureAllowAnyTenant = nil, true
	v := newVerifier(t, ps...)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tenantC, Roles: []string{"r"}}), jwtverify.ErrIssuer)
	mustAccept(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tenantA, Roles: []string{"r"}}),
		want{client: caller, tenant: tenantA, scopes: []string{"r"}, roles: []string{"r"}, appOnly: true})

	// An exact issuer (no template): the core does not look at tid, the profile does.
	ps = entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV2})
	v = newVerifier(t, ps...)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tenantB, Roles: []string{"r"},
		Issuer: s.ProviderIssuer(oauthtest.ProviderEntraV2, tenantA)}), jwtverify.ErrIssuer)
}

func TestEntraAppSigningKeys(t *testing.T) {
	ps, err := profiles.EntraID(profiles.EntraOptions{TenantID: tenantA, ClientID: apiID, ClientIDs: []string{caller},
		Versions: profiles.EntraV2, AppSigningKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://login.microsoftonline.com/" + tenantA + "/discovery/v2.0/keys?appid=" + apiID; ps[0].JWKSURL != want {
		t.Errorf("JWKSURL %q, want %q", ps[0].JWKSURL, want)
	}
}
