// Package oauthtest is an in-process OAuth 2.0 authorization server for
// tests, in the spirit of net/http/httptest. It listens on 127.0.0.1 and
// serves:
//
//   - OpenID discovery at Issuer()+"/.well-known/openid-configuration" and
//     RFC 8414 metadata at URL()+"/.well-known/oauth-authorization-server"
//     plus the issuer path (an issuer may carry a path, as Entra ID's
//     "https://login.microsoftonline.com/{tenant}/v2.0" does);
//   - a JWKS at JWKSURL() with a configurable Cache-Control header;
//   - a token endpoint (TokenURL()) implementing the client credentials grant
//     of RFC 6749 section 4.4 with client_secret_basic and
//     client_secret_post, the scope, audience and resource (RFC 8707)
//     parameters, and RFC 6749 section 5.2 errors;
//   - with WithMTLS, a second, mutual TLS listener (RFC 8705) whose token
//     endpoint authenticates clients by certificate (tls_client_auth,
//     self_signed_tls_client_auth) and issues certificate-bound tokens;
//     NewClientCert, ClientCert.HTTPClient and NewMTLSServer make the
//     caller's and the API's side (see mtls.go);
//   - DPoP (RFC 9449): a token request with a valid DPoP proof (checked by
//     package dpop) gets a DPoP-bound token (token_type "DPoP", cnf.jkt),
//     an invalid one 400 invalid_dpop_proof; DPoPProver holds a client key,
//     makes proofs (ProofOption makes hostile ones), fetches tokens and
//     gives an http.RoundTripper that signs every request and retries once
//     on use_dpop_nonce (see dpop.go); WithDPoPBinding mints bound tokens.
//
// Tokens are RFC 9068 JWT access tokens ("typ": "at+jwt") signed with RS256,
// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA keys, using
// only the standard library. Keys are fresh (or given with WithPrivateKey,
// for example the fixed keys of the module's testdata/keys) and can be
// added, rotated and removed while the server runs. Mint builds tokens directly, with any header or claim
// overridden, signed by a published or an untrusted key, or from raw bytes,
// so tests can build hostile tokens. SetFault makes the discovery, JWKS or
// token endpoint fail (status, delay, malformed, truncated or oversized
// body) and Requests counts what each endpoint received.
//
// Typical use in a test:
//
//	func TestAPI(t *testing.T) {
//		is := oauthtest.NewT(t) // one RS256 key, as the profiles accept by default
//		is.RegisterClient(oauthtest.Client{ID: "svc", Secret: "s3cret",
//			Scopes: []string{"read"}, Audiences: []string{"https://api.example.test"}})
//		tok := is.MintT(t, oauthtest.WithClient("svc"))
//		expired := is.MintT(t, oauthtest.WithClient("svc"), oauthtest.WithLifetime(-time.Minute))
//		// configure the verifier with is.Issuer() (discovery) or is.JWKSURL(),
//		// then call the API with each token: tok passes, expired is refused
//	}
//
// To test an API protected by a provider profile (package profiles: Entra ID,
// B2C, Auth0, Okta, Keycloak, Cognito, Hydra, RFC 9068), build the profile as
// in production and point it at the server with package
// oauthtest/profiletest: one call wires the keys, and its Mint writes tokens
// in the provider's shape with the profile's issuer, audience and client.
//
// Every method of Server is safe for concurrent use.
package oauthtest
