// Package jwkscache fetches, filters and caches the JSON Web Key Sets of
// OAuth 2.0 / OpenID Connect issuers, and hands their keys to the verifier
// through the small KeySource interface in m2mauth's own types (jwx is an
// implementation detail).
//
// A Cache serves one source: a JWKS URL, or an issuer whose JWKS URL is
// discovered (OpenID Connect Discovery first, then RFC 8414). It
//
//   - fetches in the background, honouring Cache-Control max-age (or
//     Expires) clamped to [MinRefreshInterval, MaxRefreshInterval], with
//     jitter, and DefaultRefreshInterval when the issuer sends nothing usable;
//   - refreshes on an unknown kid, at most once per UnknownKIDCooldown
//     (default 30 s; the first one after start-up at once), never within
//     MinFetchGap (1 s) of another fetch, never for a kid over MaxKIDLength;
//     concurrent misses share one fetch, and misses inside the cooldown fail
//     fast with ErrUnknownKey;
//   - keeps the last good keys when a fetch fails (5xx, timeout, malformed,
//     truncated or oversized body, a set with no usable key), retrying with
//     capped, jittered exponential backoff, and serves them up to
//     MaxStaleness (default 24 h); only when no usable set exists do lookups
//     fail with ErrKeysUnavailable (the adapters answer 503). An unknown kid
//     while other keys are usable is ErrUnknownKey (401), even during an
//     outage;
//   - parses each JWK on its own (ParseJWKS), so one bad key never hides the
//     others, and skips, with a reported SkipReason, keys that are malformed,
//     not for signatures (use, key_ops), private, weak (RSA under 2048 bits,
//     bad exponent), of an unsupported type or curve, or whose alg does not
//     fit; keys without alg are kept, duplicate kids are all candidates;
//   - publishes an immutable KeySet through an atomic pointer with a
//     Generation that grows with every successful fetch: a refresh replaces
//     the set, so a key the issuer removed stops verifying;
//   - applies one URL policy to every URL it fetches, however learnt
//     (configuration, discovery, redirect): https, never a downgrade from
//     an https configured URL, http only after an http configured URL on a
//     loopback host (or with the loudly named InsecureAllowHTTP); a
//     discovered jwks_uri on the metadata document's own host and port
//     unless AllowedJWKSHosts lists its host; redirects within the same
//     origin. A refused URL is never requested. It caps bodies at
//     MaxResponseBytes (1 MiB) and each request at FetchTimeout (5 s);
//   - reports fetches and lookup misses to an Observer with bounded labels
//     (MultiObserver combines several, such as metrics and logs), and its
//     state through Stats (usable, outage history, HadUsableKeys for
//     start-up gates; see package readiness).
//
// New does not block; Ready waits for the first good key set (readiness
// probes); Refresh forces a fetch; Close, or cancelling New's context, stops
// every goroutine.
//
// Usage:
//
//	keys, err := jwkscache.New(ctx, jwkscache.Config{
//		Name:   "entra",
//		Issuer: "https://login.microsoftonline.com/" + tenant + "/v2.0",
//	})
//	if err != nil {
//		return err // configuration error
//	}
//	defer keys.Close()
//	if err := keys.Ready(startupCtx); err != nil {
//		return err // the issuer could not be reached in time
//	}
//	// pass keys (a KeySource) to the verifier's issuer configuration
//
// For tests and offline use, NewStatic and NewStaticJWKS build a fixed
// KeySource.
package jwkscache
