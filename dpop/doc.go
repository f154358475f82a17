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
// # Design notes
//
// (filled in with the implementation)
package dpop
