package profiles_test

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

func ExampleEntraID() {
	ps, err := profiles.EntraID(profiles.EntraOptions{
		TenantID:  "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID:  "6e74172b-be56-4843-9ff4-e66a39bb12e3", // the API's application ID
		AppIDURI:  "api://orders-api",
		ClientIDs: []string{"75dbe77f-10a3-4e59-85fd-8c127544f17c"}, // the calling daemon
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range ps {
		fmt.Println(p.Name, p.Issuer, p.JWKSURL)
	}
	// Output:
	// entra-v1 https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/ https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/keys
	// entra-v2 https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0 https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys
}

func ExampleEntraID_multiTenant() {
	ps, err := profiles.EntraID(profiles.EntraOptions{
		ClientID:       "6e74172b-be56-4843-9ff4-e66a39bb12e3",
		Versions:       profiles.EntraV2,
		AllowedTenants: []string{"72f988bf-86f1-41af-91ab-2d7cd011db47", "0c9a9e4e-3d2b-4b8f-9b1a-5f6e7d8c9b0a"},
		ClientIDs:      []string{"75dbe77f-10a3-4e59-85fd-8c127544f17c"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ps[0].Issuer)
	fmt.Println(ps[0].JWKSURL)
	// Output:
	// https://login.microsoftonline.com/{tenantid}/v2.0
	// https://login.microsoftonline.com/common/discovery/v2.0/keys
}

// The whole path against oauthtest: an Entra v2 app-only token, minted in
// Entra's shape, verified through the profile.
func ExampleEntraID_oauthtest() {
	s, err := oauthtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	pub, _ := s.PublicKey(s.SigningKeyID())
	key, err := jwkscache.NewKey(s.SigningKeyID(), "", pub) // Entra's JWKs carry no alg
	if err != nil {
		log.Fatal(err)
	}
	ps, err := profiles.EntraID(profiles.EntraOptions{
		TenantID:  oauthtest.DefaultEntraTenantID,
		ClientID:  oauthtest.DefaultEntraAPIID,
		ClientIDs: []string{oauthtest.DefaultEntraClientID},
		Versions:  profiles.EntraV2,
		Instance:  s.URL(), // the test server plays login.microsoftonline.com
		Keys:      jwkscache.NewStatic("entra", key),
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(ps...)})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := s.MintProvider(oauthtest.ProviderEntraV2, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.ClientID(), p.TenantID(), p.Roles(), p.AppOnly())
	// Output:
	// 75dbe77f-10a3-4e59-85fd-8c127544f17c 72f988bf-86f1-41af-91ab-2d7cd011db47 [Orders.Read.All] true
}

func ExampleAzureB2C() {
	p, err := profiles.AzureB2C(profiles.AzureB2COptions{
		TenantName: "contoso",
		TenantID:   "775527ff-9a37-4307-8b3d-cc311f58d925",
		Policy:     "B2C_1A_SUSI",
		ClientID:   "11111111-2222-3333-4444-555555555555",
		ClientIDs:  []string{"33333333-0000-0000-0000-000000000000"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Issuer)
	fmt.Println(p.JWKSURL)
	// Output:
	// https://contoso.b2clogin.com/775527ff-9a37-4307-8b3d-cc311f58d925/v2.0/
	// https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1A_SUSI/discovery/v2.0/keys
}

func ExampleAuth0() {
	p, err := profiles.Auth0(profiles.Auth0Options{
		Domain:    "acme.us.auth0.com",
		Audience:  "https://api.example.com",
		ClientIDs: []string{"Zk3mPq7RtY2vW9xB4nC6dF8gH1jK5lM0"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Issuer)
	fmt.Println(p.JWKSURL)
	// Output:
	// https://acme.us.auth0.com/
	// https://acme.us.auth0.com/.well-known/jwks.json
}

func ExampleOkta() {
	p, err := profiles.Okta(profiles.OktaOptions{
		Issuer:    "https://acme.okta.com/oauth2/default",
		Audience:  "api://default",
		ClientIDs: []string{"0oa8acv8gbBPRCZ7I5d7"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.JWKSURL)
	_, err = profiles.Okta(profiles.OktaOptions{Issuer: "https://acme.okta.com", Audience: "api://default", AllowAnyClient: true})
	fmt.Println(err != nil)
	// Output:
	// https://acme.okta.com/oauth2/default/v1/keys
	// true
}

func ExampleKeycloak() {
	p, err := profiles.Keycloak(profiles.KeycloakOptions{
		URL:         "https://kc.example.com",
		Realm:       "acme",
		ClientIDs:   []string{"orders-worker"},
		RoleClients: []string{"orders-api"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Issuer)
	fmt.Println(p.JWKSURL)
	// Output:
	// https://kc.example.com/realms/acme
	// https://kc.example.com/realms/acme/protocol/openid-connect/certs
}

func ExampleCognito() {
	p, err := profiles.Cognito(profiles.CognitoOptions{
		UserPoolID: "eu-west-1_AbCdEf",
		ClientIDs:  []string{"3hq6k2examplecid0000000000"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Issuer)
	fmt.Println(p.JWKSURL)
	// Output:
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf/.well-known/jwks.json
}

func ExampleHydra() {
	p, err := profiles.Hydra(profiles.HydraOptions{
		Issuer:    "https://hydra.example.com/",
		Audience:  "https://api.example.com",
		ClientIDs: []string{"orders-worker"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.JWKSURL)
	// Output:
	// https://hydra.example.com/.well-known/jwks.json
}

func ExampleRFC9068() {
	p, err := profiles.RFC9068(profiles.RFC9068Options{
		Issuer:    "https://op.example.com",
		Audience:  "https://api.example.com",
		ClientIDs: []string{"e2e-client"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.DiscoveryURL)
	fmt.Println(p.TokenType == jwtverify.TypeStrictRFC9068)
	// Output:
	// https://op.example.com/.well-known/openid-configuration
	// true
}

func ExampleProfile_AddRule() {
	p, err := profiles.Hydra(profiles.HydraOptions{
		Issuer:         "https://hydra.example.com/",
		Audience:       "https://api.example.com",
		AllowAnyClient: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	// The provider's rules run first (once per token), then this one (on
	// every Verify, cache hit or not); its refusals are coded "custom".
	p.AddRule(func(pr *jwtverify.Principal) error {
		if ext, ok := pr.Claim("ext"); !ok || string(ext) == "{}" {
			return fmt.Errorf("orders: token without ext: %w", jwtverify.ErrMissingClaim)
		}
		return nil
	})
	fmt.Println(p.Validate != nil, p.Rules[0].Code)
	// Output: true hydra_empty_audience
}

func ExampleProfile_AddRuleCode() {
	p, err := profiles.Hydra(profiles.HydraOptions{
		Issuer:    "https://hydra.example.com/",
		Audience:  "https://api.example.com",
		ClientIDs: []string{"orders-worker", "old-batch"},
	})
	if err != nil {
		log.Fatal(err)
	}
	var disabled sync.Map // client ID -> true, changed at run time
	// Runs on every Verify: disabling a client refuses its cached tokens
	// at their next use, with the sub-reason "client_disabled".
	p.AddRuleCode("client_disabled", func(pr *jwtverify.Principal) error {
		if _, off := disabled.Load(pr.ClientID()); off {
			return jwtverify.ErrClient
		}
		return nil
	})
	disabled.Store("old-batch", true)
	fmt.Println(p.ValidateCodes)
	// Output: [client_disabled]
}

// StartKeys fetches the profile's keys with a jwkscache.Cache; here the
// oauthtest server plays a Keycloak realm, and the test points the profile
// at its JWKS.
func ExampleProfile_StartKeys() {
	s, err := oauthtest.New(oauthtest.WithIssuerPath("/realms/acme"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	p, err := profiles.Keycloak(profiles.KeycloakOptions{
		Issuer:      s.Issuer(),
		ClientIDs:   []string{"orders-worker"},
		RoleClients: []string{"orders-api"},
	})
	if err != nil {
		log.Fatal(err)
	}
	p.JWKSURL = s.JWKSURL() // a real realm serves {issuer}/protocol/openid-connect/certs
	ctx := context.Background()
	keys, err := p.StartKeys(ctx, jwkscache.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	if err := keys.Ready(ctx); err != nil {
		log.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := s.MintProvider(oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders:read"}})
	if err != nil {
		log.Fatal(err)
	}
	pr, err := v.Verify(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pr.ClientID(), pr.Roles(), pr.HasRole("view-profile"))
	// Output:
	// orders-worker [default-roles-acme offline_access orders:read] false
}
