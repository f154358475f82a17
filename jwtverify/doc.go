// Package jwtverify verifies OAuth 2.0 access tokens (JWTs, RFC 9068 and
// the shapes of the common providers) for machine-to-machine APIs, and
// holds the permission model every m2mauth adapter uses.
//
// One Verifier serves every request:
//
//	v, err := jwtverify.New(jwtverify.Config{
//		Issuers: []jwtverify.IssuerConfig{{
//			Name:       "corp",
//			Issuer:     "https://issuer.example.com",
//			Keys:       keys, // a *jwkscache.Cache or a jwkscache.Static
//			Audiences:  []string{"https://api.example.com"},
//			ClientIDs:  []string{"billing-worker"},
//			Algorithms: []string{"RS256"},
//		}},
//	})
//	if err != nil {
//		return err // misconfiguration fails here, not per request
//	}
//
//	p, err := v.Verify(ctx, token)
//	if err != nil {
//		return err // *Error: ReasonOf(err) for logs and metrics, ReasonOf(err).Code() and .Description() for the client
//	}
//	if err := jwtverify.RequireAll("orders.read").Check(p); err != nil {
//		return err // 403 insufficient_scope, scope="orders.read"
//	}
//
// # Pipeline
//
// Verify bounds the token size first (Config.MaxTokenSize, 16 KiB by
// default), then looks the exact token string up in the verified-token
// cache: a hit re-checks exp and nbf against the clock and that the signing
// key is still published by its source, and returns the cached Principal
// without parsing or crypto. Otherwise the token must be a compact JWS of
// three canonical, unpadded base64url segments; its header and claims must
// be strict UTF-8 JSON objects (no duplicate names, bounded depth, nothing
// after the object). The header alg must be in the issuer's allow list
// (never "none" or HMAC), typ must name an access token, crit, b64, cty are
// refused and jwk, jku, x5u and x5c are never used. The issuer is chosen by
// the unverified iss (exactly, or through a {tenantid} template checked
// against tid), and its key source alone supplies the key, whose type and
// curve must fit the algorithm. The signature is checked with crypto/rsa,
// crypto/ecdsa or crypto/ed25519; then exp (required), nbf and iat with
// leeway, the audience, the client allow list and the required claims.
// Permissions are mapped per issuer into delegated scopes, app roles and
// their merged set; then the issuer's Rules run, then its Validate hook.
//
// # Rules
//
// An issuer has two kinds of rules, and the difference is what the cache
// may skip. IssuerConfig.Rules are pure functions of the verified claims
// and the configuration (profiles put each provider's rules there): they
// run once per token, and a cache hit reuses their verdict.
// IssuerConfig.Validate is the user's rule (a jti deny list, a disabled
// client, a kill switch): it runs on every Verify, cache hit or not, so a
// rule that starts refusing a token refuses it at its next use, exactly as
// with the cache disabled. A refusal records a sub-reason in Error.Rule
// and VerifyEvent.Rule: the Rule's Code, a code Validate declared in
// ValidateCodes and returned through RuleError, or RuleCustom. Codes are
// short fixed words, never token text, checked by New.
//
// Verifier.Forget and Verifier.ForgetAll drop one or every cached token,
// for the rare case where a check the cache skips would now answer
// differently (a leaked key the source still publishes).
//
// # Verified-token cache
//
// Callers reuse a token until it expires, so the same string arrives many
// times. Verified tokens are cached (never failures) until exp plus leeway,
// bounded by CacheConfig.MaxEntries and MaxBytes (about 1.7 KiB per entry
// for an 800-byte token). A hit costs a hash of the token's last bytes, a
// few atomic loads, a string comparison, a clock read and one atomic load of
// the key source's generation: no lock and no allocation, and concurrent
// hits share no written memory (the hit counter is striped). When the
// source's key set changes, the entry survives only if the set still
// publishes its signing key (same kid and thumbprint); when the source has
// no usable set, the hit fails with ReasonKeysUnavailable. The issuer's
// Validate hook, when set, then runs on the cached Principal.
//
// # Errors
//
// Every rejection is an *Error with a Reason from a fixed set, usable with
// errors.Is against the sentinels (ErrExpired, ...). Messages start with
// "jwtverify: ", never contain the token, and quote and truncate any text
// taken from it. Reason.Code and Reason.Description give the RFC 6750 error
// code and the fixed client-facing description. A token refused before a
// trusted issuer was chosen is reported under the issuer name NoIssuer
// ("none"), a name no configured issuer may take.
//
// Every method of a nil *Principal returns zero values (no permission),
// so a handler reached without the middleware fails closed.
//
// # Sender-constrained tokens
//
// A token with a cnf claim (RFC 7800) is bound to a certificate (RFC 8705)
// or key (RFC 9449) its holder must prove. IssuerConfig.Binding sets the
// issuer's policy (package binding: Off by default, Optional, Required).
// Verify sees no request, so it refuses every bound token under every
// policy; adapters call VerifyBound with what the request proved (the
// client certificate of its TLS connection, binding.CertSource), and the
// Principal carries the parsed confirmation (Principal.Confirmation),
// cached with it. Binding refusals are ReasonBinding with the precise
// binding.Reason as Error.Rule.
//
// # Opaque tokens
//
// An issuer whose IssuerConfig.Mode is ModeIntrospect or
// ModeJWTOrIntrospect accepts tokens by OAuth 2.0 Token Introspection (RFC
// 7662) through its IssuerConfig.Introspection (an *introspect.Source).
// Routing, per token, before any call:
//
//   - A token shaped like a compact JWS (three non-empty segments) is
//     decoded and its unverified iss picks the issuer, as today. Under
//     ModeJWT and ModeJWTOrIntrospect it goes through the JWT pipeline and
//     is never introspected, whatever check it fails (a bad signature is
//     a refusal, not a reason to ask the server). Under ModeIntrospect it
//     is introspected (Keycloak "lightweight" tokens). A JWS whose iss
//     names no configured issuer is refused (ReasonIssuer) and never sent
//     to an introspection endpoint: that would hand another issuer's
//     token, a bearer secret, to ours.
//   - Any other token is opaque: it names no issuer. It goes to the one
//     introspecting issuer whose OpaquePrefix starts it, else to the one
//     introspecting issuer without an OpaquePrefix, else it is refused
//     (ReasonMalformed) as before. New refuses two introspecting issuers
//     without a prefix and overlapping prefixes, so a token is never sent
//     to more than one endpoint.
//
// An accepted answer becomes a Principal like a JWT's: the configured
// issuer, sub, client_id, aud and exp of the answer, the issuer's
// Permissions mapped over the whole answer (RawClaims), then Audiences,
// ClientIDs, RequiredClaims, Rules and Validate of the IssuerConfig, which
// are the source of truth (the Source checks its own lists too).
// Principal.Introspected tells such a Principal apart. A refusal by the
// endpoint or by a rule of the Source is a 401 with the closest Reason
// (ReasonInactive, ReasonExpired, ReasonAudience, ...) and the precise
// introspect.Reason as Error.Rule; a Source that cannot decide (endpoint
// down, 5xx, unparsable answer, budget spent) gives
// ReasonIntrospectionUnavailable (503) with the introspect.Reason as Rule
// and, for a spent budget, Error.RetryAfter. Unavailability is never
// cached.
//
// Accepted introspected Principals live in the verified-token cache until
// the earlier of exp plus leeway and the end of the Source's reuse of the
// answer (its MaxAge after the call): a hit costs what a JWT hit costs.
// That MaxAge is the revocation delay, the one documented exception to
// "a cache may only skip work whose answer cannot change".
package jwtverify
