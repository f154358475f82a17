// Package introspect accepts opaque access tokens by OAuth 2.0 Token
// Introspection (RFC 7662), as a sibling of jwkscache: a Source per issuer
// POSTs the token (with token_type_hint=access_token) to the issuer's
// introspection endpoint, checks the answer as strictly as the verifier
// checks a JWT, caches it, and protects the authorization server from
// floods.
//
//	src, err := introspect.New(introspect.Config{
//		Issuer:    "https://idp.example.com",
//		Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "api", ClientSecret: secret},
//		Audiences: []string{"https://api.example.com"},
//		ClientIDs: []string{"billing-batch"},
//	})
//	if err != nil {
//		return err // a configuration error
//	}
//	defer src.Close()
//	res, err := src.Introspect(ctx, token)
//	switch {
//	case errors.Is(err, introspect.ErrUnavailable): // 503, Retry-After from *Error
//	case err != nil: // 401 invalid_token
//	default: // res.Scopes(), res.ClientID(), res.Subject(), res.ExpiresAt(), res.RawJSON()
//	}
//
// # The endpoint
//
// Config.Endpoint, or "introspection_endpoint" from the issuer's OpenID
// Connect discovery document, then its RFC 8414 metadata; the document's
// "issuer" must equal Config.Issuer exactly. Every URL follows the
// project's one policy: https, http only for a loopback issuer (or with
// InsecureAllowHTTP, never after https), a discovered endpoint on the
// metadata host unless AllowedEndpointHosts lists its host, no redirects
// (a POST carrying a bearer token is never forwarded). Discovery failures
// are retried at most every DefaultDiscoveryRetry.
//
// The API authenticates as a client: client_secret_basic,
// client_secret_post, private_key_jwt (RFC 7523: an assertion signed with
// the standard library, aud the endpoint URL, a fresh jti, one minute), or
// none. None is for Ory Hydra's admin endpoint, which expects no client
// authentication and answers for any token to anyone who reaches it: it
// MUST be reachable only from a protected network.
//
// # Decision rules
//
// An answer is hostile input. It must be one UTF-8 JSON object with no
// duplicate member names at any depth and nothing after it; "active" the
// JSON true or false; exp, iat, nbf JSON numbers in [0, year 9999]; iss,
// sub, client_id, scope, token_type, token_use, typ, username, jti strings;
// aud a string or an array of strings. A violation is ReasonBadResponse
// (unavailable: never a refusal, never an accept). Then, each with its own
// Reason and test:
//
//   - active must be true (ReasonInactive);
//   - a "cnf" member is refused (ReasonBound) unless AcceptConfirmation
//     hands the binding check to the caller (jwtverify checks it under the
//     issuer's Binding policy, as for a JWT);
//   - token_type, when present, is the RFC 6749 token type and must be
//     Bearer (any case), or DPoP for a bound answer under
//     AcceptConfirmation; a token kind such as "refresh_token" is refused
//     (ReasonType);
//   - the provider's kind member: Hydra's token_use must be "access_token",
//     Keycloak's typ, when present, "Bearer" (ReasonType, ReasonMissingClaim);
//   - iss, when present, equals the configured issuer (ReasonIssuer);
//   - exp is required unless InsecureAllowNoExpiry, and must be in the
//     future within Leeway (ReasonMissingClaim, ReasonExpired); nbf and iat
//     not in the future beyond Leeway (ReasonNotYetValid);
//   - aud must name a configured audience, and is required unless
//     AllowMissingAudience (or the check is waived by
//     InsecureSkipAudienceCheck);
//   - client_id must be in ClientIDs unless AnyClient (ReasonClient,
//     ReasonMissingClaim).
//
// # Cache and revocation delay
//
// Answers are cached under the SHA-256 of the token (opaque tokens are
// bearer secrets: never a key, a log field or a label), bounded by
// MaxEntries and MaxCacheBytes. An accepted answer is reused until
// min(exp + Leeway, MaxAge after the call); MaxAge (default 60 s) is the
// revocation delay, the one documented exception to "a cache may only
// skip work whose answer cannot change": a token revoked at the server is
// still accepted for at most MaxAge. A refusal by the server is reused for
// NegativeTTL (default 5 s). Unavailable answers are never cached.
// Entries are only created by calls, so a junk flood cannot evict the
// cache: at most Rate x NegativeTTL + Burst refusals are live at once.
// Concurrent requests with the same new token share one call; a caller's
// context bounds only its own wait.
//
// # Protecting the authorization server
//
// Per Source: at most MaxConcurrent calls in flight (default 8) and a token
// bucket of Rate calls per second with Burst (defaults 20 and 40). Beyond
// it Introspect answers ReasonOverBudget at once with Error.RetryAfter
// (never queued). Before any call the token must be at most MaxTokenBytes
// of RFC 6750 b64token characters, and for Hydra match ory_at_ + 43 + "." +
// 43 base64url characters (ory_rt_ refresh tokens are ReasonType): junk
// failing the pre-check never costs a call. A flood of junk that passes
// the pre-check does spend the budget, and new legitimate tokens then get
// 503 until the bucket refills; the bound is Rate calls per second (plus
// Burst) per issuer, whatever the flood's size, while cached tokens keep
// working. With the endpoint down, answering 5xx or garbage, cached
// answers keep working and every other token is unavailable (503): never
// 401 for a token that might be valid, never an accept.
//
// # What providers answer
//
// Ory Hydra (v2): admin endpoint /admin/oauth2/introspect, no client
// authentication, not in discovery (configure Endpoint). The answer
// (IntrospectedOAuth2Token in Ory's API, see
// https://docs.rs/ory-hydra-client/latest/src/ory_hydra_client/models/introspected_o_auth2_token.rs.html
// and https://rubydoc.info/gems/ory-hydra-client/2.1.1/OryHydraClient/IntrospectedOAuth2Token)
// has active, aud (an array; [] when none: set AllowMissingAudience),
// client_id, exp, ext, iat, iss, nbf, obfuscated_subject, scope, sub,
// token_type (always Bearer) and token_use ("access_token" or
// "refresh_token": the introspection endpoint answers for both kinds).
// Storage errors come back as 200 {"active":false} (m2mauth PROVIDERS.md,
// from Hydra's source): such a token is refused, not unavailable. Tokens
// look like ory_at_<43>.<43>, refresh tokens ory_rt_<43>.<43>. Use
// ProviderHydra.
//
// Okta: {authorizationServer}/v1/introspect (for example
// /oauth2/default/v1/introspect) with client authentication (HTTP Basic in
// Okta's example, token_type_hint=access_token; see
// https://developer.okta.com/archive/go/oie-embedded-common-refresh-tokens/go/introspectendpointrequest.html).
// The answer is RFC 7662 with token_type Bearer. Use ProviderOkta.
//
// Keycloak: {realm issuer}/protocol/openid-connect/token/introspect,
// advertised in discovery, RFC 7662 with client authentication
// (TokenIntrospectionEndpoint, "A token introspection endpoint based on
// RFC-7662", producing application/json or application/jwt; separate
// access-token and refresh-token introspection providers:
// https://keycloak.org/docs-api/latest/javadocs/org/keycloak/protocol/oidc/endpoints/TokenIntrospectionEndpoint.html).
// The answer carries the token's claims, including typ; "lightweight"
// access tokens leave claims out of the token and are meant to be
// introspected. Use ProviderKeycloak. The typ values ("Bearer" for access
// tokens) come from issue 19 and Keycloak's token format, not from a page
// consulted for this package: verify against a real Keycloak.
//
// ZITADEL: {issuer}/oauth/v2/introspect, advertised in discovery, with
// client_secret_basic or private_key_jwt for an API application
// (https://zitadel.com/docs/guides/integrate/token-introspection/basic-auth,
// https://zitadel.com/docs/guides/integrate/token-introspection/private-key-jwt).
// The answer is RFC 7662 (the "introspect response" of its endpoint
// reference); its exact members were not established from the pages
// available here. Use ProviderZitadel.
//
// Auth0 has no token introspection endpoint: its access tokens for APIs are
// JWTs and are verified by jwtverify.
//
// panva oidc-provider (observed, PROVIDERS.md): opaque tokens of 43
// base64url characters, answers with active, client_id, exp, iat, iss,
// aud, scope, token_type Bearer (DPoP for DPoP tokens, with cnf), no sub,
// jti or nbf; exactly {"active":false} after revocation.
//
// # From Result to jwtverify.Principal
//
// jwtverify's routing (IssuerConfig.Mode "introspect" and
// "jwt-or-introspect") builds a Principal from a Result: RawJSON as raw
// claims, Issuer, Subject, ClientID, Audiences, ExpiresAt and IssuedAt,
// the issuer's permission mapping over the answer, and keeps it with the
// cached Result through Result.Attached and in its own verified-token
// cache until ReusedUntil, so that a cached opaque token costs what a
// cached JWT costs (no SHA-256, no allocation).
package introspect
