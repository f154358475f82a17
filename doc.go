// Package m2mauth is the root of the m2mauth module: it holds no code of
// its own, only the test that keeps the README's and the package docs' Go
// snippets compiling. The library is in the sub-packages:
//
//   - jwtverify: the Verifier, the Principal, requirements and typed errors
//   - jwkscache: JWKS discovery, fetching, caching and rotation
//   - profiles: provider presets (Entra ID, Azure AD B2C, Auth0, Okta,
//     Keycloak, Cognito, Ory Hydra, RFC 9068)
//   - middleware, middleware/echoauth, grpcauth: the adapters
//   - metrics, authlog: Prometheus collectors and slog records
//   - oauthtest: an in-process authorization server for tests
//
// See README.md for the quick starts.
package m2mauth
