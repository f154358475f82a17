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
//	if err != nil { ... } // misconfiguration fails here, not per request
//
//	p, err := v.Verify(ctx, token)
//	if err != nil {
//		// *Error: jwtverify.ReasonOf(err) for logs and metrics,
//		// ReasonOf(err).Code() and .Description() for the client.
//	}
//	if err := jwtverify.RequireAll("orders.read").Check(p); err != nil {
//		// 403 insufficient_scope, scope="orders.read"
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
// leeway, the audience, the client allow list, the required claims and the
// issuer's Validate hook. Permissions are mapped per issuer into delegated
// scopes, app roles and their merged set.
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
// no usable set, the hit fails with ReasonKeysUnavailable.
//
// # Errors
//
// Every rejection is an *Error with a Reason from a fixed set, usable with
// errors.Is against the sentinels (ErrExpired, ...). Messages start with
// "jwtverify: ", never contain the token, and quote and truncate any text
// taken from it. Reason.Code and Reason.Description give the RFC 6750 error
// code and the fixed client-facing description.
package jwtverify
