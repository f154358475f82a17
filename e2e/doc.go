// Package e2e is m2mauth's end-to-end suite against a real authorization
// server: Ory Hydra v2.3.0 issuing client-credentials access tokens, JWTs
// and opaque ones (verified by RFC 7662 introspection).
//
// It is a separate Go module (github.com/m2mauth/m2mauth/e2e) so that
// `go test ./...` at the repository root never runs it and none of its
// dependencies enter the main module's go.sum. It needs a Hydra binary:
//
//	.ci/e2e-hydra.sh                  # builds Hydra once into $HOME/.cache/m2mauth, runs the suite
//	HYDRA_BIN=/path/to/hydra go test -race -count=1 -v ./...   # from e2e/
//
// Without HYDRA_BIN every test is skipped with a message saying so.
//
// The suite starts Hydra in memory (`hydra serve all --dev`) on 127.0.0.1
// ports chosen at random, registers OAuth 2.0 clients through Hydra's admin
// API, gets tokens with golang.org/x/oauth2/clientcredentials and calls a
// net/http, an Echo and a gRPC service protected by m2mauth (profiles.Hydra
// over a jwkscache discovery of Hydra's issuer). Hydra runs in its own
// process group and is killed at the end of the run, also when a test
// fails, panics, times out or the run is interrupted.
//
// What it shows, on all three transports (gRPC unary and streaming):
//
//   - TestHydraTokenShape: Hydra's real token shape (typ JWT, aud an array,
//     "aud": [] without an audience parameter, scp an array, client_id,
//     JWKS sent with Cache-Control: no-store).
//   - TestHydra: the right scopes are accepted (also through the
//     clientcredentials *http.Client); a missing scope is 403
//     insufficient_scope / PermissionDenied; a token for another audience,
//     a token without audience, a client off the allow list and an opaque
//     token (a client with access_token_strategy "opaque") are 401 /
//     Unauthenticated, each for its own reason (this verifier is in JWT
//     mode: it does not introspect).
//   - TestHydraOpaqueSource: the same Hydra issues opaque tokens to the
//     clients registered with access_token_strategy "opaque" (a per-client
//     setting of Hydra v2) and JWTs to the others. An introspect.Source
//     (ProviderHydra, Hydra's admin endpoint /admin/oauth2/introspect,
//     which takes no client authentication: the admin port must be
//     reachable only from a protected network, loopback here) accepts
//     them with their scopes, refuses an unlisted client, a token without
//     audience, an unknown token (inactive) and, without a call, a JWT
//     (format pre-check); a token revoked at Hydra's RFC 7009 endpoint is
//     refused within the 2 s maximum age of cached answers (polled, no
//     fixed sleep).
//   - TestHydraOpaque: one verifier in jwt-or-introspect mode
//     (OpaquePrefix "ory_at_") behind net/http, Echo and gRPC accepts the
//     opaque tokens and still the JWTs, enforces scopes on both (403 /
//     PermissionDenied), refuses an unlisted client, an unknown token, a
//     malformed ory_at_ token, and a revoked token within the maximum age.
//   - TestHydraKeyRotation (a private Hydra): a key created through
//     POST /admin/keys/hydra.jwt.access-token signs the next tokens; they
//     are refused while the unknown-kid refresh is rate limited and accepted
//     once the cooldown passed (a fake clock drives the JWKS cache, no
//     sleep); after DELETE of that key and a Cache.Refresh its tokens are
//     refused, also the ones verified and cached before.
//   - TestHydraStopped (a private Hydra, killed mid-test): tokens signed by
//     cached keys keep validating, including tokens never verified before;
//     an unknown kid while Hydra is down is 401, not 503; a service that
//     starts while Hydra is down (no key set ever fetched) answers 503 /
//     Unavailable. The same verifier introspects opaque tokens: one whose
//     answer it cached keeps working (scopes still enforced), a new one is
//     503 / Unavailable (introspection_unavailable), never 401.
//
// Hydra generates RSA 4096 keys lazily, inside the first request that needs
// them; on a loaded 2-core machine that outlasts the 10 s Hydra's server
// gives a handler. So every Hydra the suite starts first gets fixed keys
// from testdata/keys through PUT /admin/keys/{set}; Hydra's own key
// generation is exercised by the rotation case.
package e2e
