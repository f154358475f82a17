package profiles_test

import (
	"context"
	"fmt"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/profiles"
)

// The package doc's usage, compiled (TestSnippetsCompile in the root
// package checks that the doc's lines stand here); not run, since it
// reaches Okta.
func Example_packageDoc() {
	start := func(ctx context.Context, serve func(*jwtverify.Verifier) error) error {
		p, err := profiles.Okta(profiles.OktaOptions{
			Issuer:    "https://acme.okta.com/oauth2/default",
			Audience:  "api://default",
			ClientIDs: []string{"0oa8acv8gbBPRCZ7I5d7"},
		})
		if err != nil {
			return err
		}
		keys, err := p.StartKeys(ctx, jwkscache.Config{}) // runs until ctx ends or keys.Close()
		if err != nil {
			return err
		}
		defer keys.Close()
		v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
		if err != nil {
			return err
		}
		return serve(v)
	}
	_ = start
}

// The constructors of the README's provider sections, run: each builds
// (options checked), with the issuer it accepts.
func Example_providers() {
	show := func(p profiles.Profile, err error) {
		if err != nil {
			panic(err)
		}
		fmt.Println(p.Provider, p.Issuer)
	}
	{ // Microsoft Entra ID
		ps, err := profiles.EntraID(profiles.EntraOptions{
			TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", AppIDURI: "api://orders-api",
			ClientID:  "6e74172b-be56-4843-9ff4-e66a39bb12e3",           // the API's app ID
			ClientIDs: []string{"75dbe77f-10a3-4e59-85fd-8c127544f17c"}, // calling apps (appid / azp)
		}) // one profile per version (v1 sts.windows.net/{tid}/, v2 login.microsoftonline.com/{tid}/v2.0):
		// start the keys of each: ps[i].StartKeys(ctx, jwkscache.Config{})
		for _, p := range ps {
			show(p, err)
		}
	}
	{ // Azure AD B2C
		p, err := profiles.AzureB2C(profiles.AzureB2COptions{
			TenantName: "contoso", TenantID: "775527ff-9a37-4307-8b3d-cc311f58d925", Policy: "B2C_1A_SUSI",
			ClientID:  "9b1f3c2e-4d5a-4e6f-8a7b-1c2d3e4f5a6b",           // the API's app ID
			ClientIDs: []string{"0c8d7e6f-5a4b-4c3d-9e2f-1a0b9c8d7e6f"}, // calling apps
		}) // iss https://contoso.b2clogin.com/{tenantId}/v2.0/ (TFPIssuer: true for the /tfp/ form)
		show(p, err)
	}
	{ // Auth0
		p, err := profiles.Auth0(profiles.Auth0Options{
			Domain: "acme.us.auth0.com", Audience: "https://api.example.com",
			ClientIDs: []string{"Zk3mPq7RtW9xY2bN4cV6dF8gH1jK5lM0"}, // azp
		}) // iss https://acme.us.auth0.com/ (trailing slash), keys /.well-known/jwks.json
		show(p, err)
	}
	{ // Okta (custom authorization server)
		p, err := profiles.Okta(profiles.OktaOptions{
			Issuer: "https://acme.okta.com/oauth2/default", Audience: "api://default",
			ClientIDs: []string{"0oa8acv8gbBPRCZ7I5d7"}, // cid
		}) // keys {issuer}/v1/keys; permissions from the scp array
		show(p, err)
	}
	{ // Keycloak
		p, err := profiles.Keycloak(profiles.KeycloakOptions{
			URL: "https://kc.example.com", Realm: "acme",
			ClientIDs:   []string{"orders-worker"}, // azp: required when no Audience is set
			RoleClients: []string{"orders-api"},    // resource_access.orders-api.roles
		}) // + Audience: "orders-api" once an audience mapper is configured
		show(p, err)
	}
	{ // AWS Cognito
		p, err := profiles.Cognito(profiles.CognitoOptions{
			UserPoolID: "eu-west-1_AbCdEf",
			ClientIDs:  []string{"3hq6k2examplecid"}, // required: access tokens carry no aud
		})
		show(p, err)
	}
	{ // Ory Hydra
		p, err := profiles.Hydra(profiles.HydraOptions{
			Issuer:   "https://hydra.example.com/", // exactly as urls.self.issuer
			Audience: "https://api.example.com", ClientIDs: []string{"orders-worker"},
		})
		show(p, err)
	}
	{ // Any RFC 9068 issuer
		p, err := profiles.RFC9068(profiles.RFC9068Options{
			Issuer: "https://op.example.com", Audience: "https://api.example.com",
			ClientIDs: []string{"e2e-client"},
		}) // keys via p.DiscoveryURL (jwks_uri is not always under /.well-known/)
		show(p, err)
	}
	// Output:
	// entra https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/
	// entra https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0
	// azure-b2c https://contoso.b2clogin.com/775527ff-9a37-4307-8b3d-cc311f58d925/v2.0/
	// auth0 https://acme.us.auth0.com/
	// okta https://acme.okta.com/oauth2/default
	// keycloak https://kc.example.com/realms/acme
	// cognito https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf
	// hydra https://hydra.example.com/
	// rfc9068 https://op.example.com
}
