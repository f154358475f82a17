// Package dpop checks DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating Proof
// of Possession) on the server side: a resource server accepting
// DPoP-bound access tokens, or an authorization server's token endpoint
// issuing them.
//
// A DPoP request carries "Authorization: DPoP <token>" and a "DPoP" header
// holding a proof: a JWS the client signs with a private key whose public
// half (the jwk header member) the token is bound to (cnf.jkt). A Checker
// verifies the proof; binding.Check compares its key with the token's cnf;
// Commit records the proof so it cannot be replayed:
//
//	checker, err := dpop.New(dpop.Config{PublicOrigins: []string{"https://api.example.com"}})
//	handle := func(r *http.Request, token string, cnf binding.Confirmation) error {
//		v, err := checker.Check(r, token) // every section 4.3 check but replay
//		if err != nil {
//			return err // 401 error="invalid_dpop_proof" (or "use_dpop_nonce")
//		}
//		cfg := binding.Config{Policy: binding.Required, Methods: binding.DPoP}
//		if why := binding.Check(cfg, cnf, binding.Proof{}.WithDPoP(v.Thumbprint())); why != binding.Accepted {
//			return errors.New(string(why)) // 401 invalid_token
//		}
//		return checker.Commit(r.Context(), v) // replay: 401; store unavailable: 503
//	}
//
// Package middleware does this for net/http and Echo; package
// oauthtest makes proofs (DPoPProver) and DPoP-bound tokens for tests.
//
// # Checks
//
// Check refuses, each with its own Reason (a closed set, safe for logs and
// metric labels; the client only ever sees the fixed RFC 9449 error code):
//
//   - not exactly one DPoP header value (missing, multiple); a value longer
//     than Config.MaxProofSize (too_large);
//   - anything but three segments of canonical base64url holding a header
//     and a payload that are each one strict JSON object (malformed: see
//     below);
//   - typ other than exactly "dpop+jwt" (typ); alg not on
//     Config.Algorithms, or not fitting the jwk's key type and curve
//     (alg). Only asymmetric algorithms exist here: New refuses none, HS*
//     and unknown names;
//   - crit, jku, x5u, x5c, x5t or x5t#S256 in the header (header): the key
//     is the jwk member and nothing is ever fetched or looked up; a kid is
//     ignored;
//   - a missing or unusable jwk (jwk): kty EC (P-256, P-384, P-521, the
//     point checked on the curve), RSA (2048 to 8192 bits, minimal
//     encodings, an odd exponent) or OKP Ed25519; any private member d,
//     p, q, dp, dq, qi, oth or k (jwk_private);
//   - htm other than the request method (htm); htu other than one
//     Config.PublicOrigins entry followed by r.URL.EscapedPath() (htu),
//     see below; iat farther than Config.IATWindow from now (iat); a
//     missing, empty or over-long jti (jti); ath other than
//     base64url(SHA-256(access token)), or any ath at a token endpoint
//     (ath); with Config.Nonces, a missing or stale nonce (nonce);
//   - a signature that the jwk does not verify (signature). It is checked
//     last, so junk costs microseconds, not a signature verification.
//
// Verified.Thumbprint is the RFC 7638 thumbprint of the jwk, computed over
// its required members in canonical form; binding.Check compares it with
// the token's cnf.jkt.
//
// # Strict JSON
//
// The header and the payload are read by the project's one strict JSON
// reader (shared with jwtverify's header and claims), not encoding/json: it
// refuses duplicate member names at every depth (compared after
// unescaping; a second value could mean something else to another
// reader), invalid UTF-8, lone surrogate escapes, control characters,
// nesting deeper than 16 levels, bytes after the object, and claims of the
// wrong JSON type. On top of it this package refuses member names with
// escapes in the header, the jwk and the claims, and more than 64 members
// in each. String values may carry escapes (some encoders write "\/"),
// decoded exactly. FuzzParseProof exercises it.
//
// # htu and public origins
//
// The URI a client signs is the one it used, which the server cannot
// rebuild from the request alone behind a proxy: Host and X-Forwarded-*
// are set by whoever sends the request, so they are never read. Instead
// Config.PublicOrigins lists where the API is published; a proof's htu,
// without its query and fragment, must equal one of them followed by the
// escaped request path. Both sides are normalised as RFC 3986 sections
// 6.2.2 and 6.2.3 describe: scheme and host in lower case, the default
// port dropped, an empty path as "/", percent-encodings in upper case and
// unreserved characters decoded. Dot segments are not removed: the proof
// and the request must agree on them. The path compared is the escaped one
// (r.URL.EscapedPath()), never the decoded r.URL.Path: "/a%2Fb" and "/a/b"
// are different resources. Run the check before anything rewrites the URL
// (http.StripPrefix), or publish the stripped prefix as the origin's path
// ("https://example.com/orders").
//
// # Replay
//
// Check records nothing: Commit records a proof only after the caller
// accepted the token and its binding, so proofs that fail any check never
// fill the store. The store keeps a SHA-256 hash of the key thumbprint,
// the htu and the jti (the jti in the context of the target URI, section
// 11.1), until the end of the proof's acceptance window (iat plus
// IATWindow, so a proof dated ahead is remembered as long as it could be
// accepted). Committing a Verified twice is a replay: an adapter whose
// request passes two checking layers must check and commit once.
//
// MemoryStore, the default, is bounded: full, it refuses to record and
// Commit answers ReasonStoreUnavailable (503), never accepting a proof it
// could not remember. It is per process: with several replicas, a
// captured proof can be replayed once per replica within its window,
// unless a ReplayStore shared by the replicas is plugged in.
//
// # Nonces
//
// Nonces are HMAC-SHA256 of a time bucket under a secret the replicas
// share: unpredictable, accepted during their bucket and the next,
// compared in constant time, with no state to store. Send Checker.Nonce in
// a DPoP-Nonce header with the 401 error="use_dpop_nonce" answer and,
// section 8.2, on successful answers, so clients rarely need a retry.
//
// # Cost
//
// A fresh ES256 proof costs about 1.1 times a raw ES256 signature
// verification (SHA-256 and crypto/ecdsa with a parsed key), measured by
// BenchmarkCheckVsRawES256: parsing and the claims take a few microseconds
// and one allocation of the proof's size, on top of crypto/ecdsa's own. A
// Checker keeps the EC keys of recent proofs parsed (at most 1024, only
// keys that passed the on-curve check), since a client proves with one key
// on every request.
package dpop
