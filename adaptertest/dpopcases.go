package adaptertest

import (
	"testing"

	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// newChecker is the DPoP Checker of the K rows: the default algorithms,
// the server's URL as the public origin, a fresh in-memory replay store.
func newChecker(t testing.TB, origin string) *dpop.Checker {
	t.Helper()
	c, err := dpop.New(dpop.Config{PublicOrigins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dpopCases are the K rows of SECURITY.md for the catalogue server with
// the DPoP scheme on beside Bearer (Env.Bound, a Checker for the server's
// origin): both challenges on a 401 without a token; a DPoP-bound token
// with Bearer refused; an unbound token with DPoP refused; a proof wrong
// in one way refused with invalid_dpop_proof; a valid proof accepted,
// also where the route's requirement runs after the authenticating
// middleware (the proof is checked once, not seen as its own replay).
func dpopCases(t testing.TB, env *Env) []httpCase {
	pr := env.Prover
	bound := env.Token(t, map[string]any{"scope": OrdersScope}, oauthtest.WithDPoPBinding(pr.Thumbprint()))
	boundNoScope := env.Token(t, map[string]any{"scope": "profile"}, oauthtest.WithDPoPBinding(pr.Thumbprint()))
	unbound := env.Token(t, map[string]any{"scope": OrdersScope})
	proof := func(tok string, opts ...oauthtest.ProofOption) func(method, url string) string {
		return func(method, url string) string {
			p, err := pr.Proof(method, url, tok, "", opts...)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	ok := "client=" + ClientID + " body=0"
	dp := jwtverify.ReasonDPoPProof
	cs := []httpCase{
		{Name: "K1_no_credentials_both_challenges", Status: 401, Result: unauth},
		{Name: "K1_route_without_token_both_challenges", Target: PathOrders, Status: 401, Result: unauth},
		{Name: "K2_dpop_bound_token_valid_proof", Auth: []string{"DPoP " + bound}, Proof: proof(bound),
			Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "K2_dpop_lowercase_scheme", Auth: []string{"dpop " + bound}, Proof: proof(bound),
			Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "K2_dpop_on_a_route_after_the_middleware", Target: PathOrders, Auth: []string{"DPoP " + bound}, Proof: proof(bound),
			Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "K2_dpop_lacking_scope", Target: PathOrders, Auth: []string{"DPoP " + boundNoScope}, Proof: proof(boundNoScope),
			Status: 403, Code: jwtverify.CodeInsufficientScope, Scope: OrdersScope, Scheme: SchemeDPoP,
			Result: forbidden, Reason: jwtverify.ReasonInsufficientScope, Required: true},
		{Name: "K3_dpop_bound_token_with_bearer", Auth: []string{"Bearer " + bound}, Proof: proof(bound),
			Status: 401, Code: jwtverify.CodeInvalidToken, Result: unauth, Reason: jwtverify.ReasonBinding},
		{Name: "K3_unbound_token_with_bearer_dpop_header_ignored", Auth: []string{"Bearer " + unbound},
			Header: map[string]string{"DPoP": marker}, Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "K4_unbound_token_with_dpop", Auth: []string{"DPoP " + unbound}, Proof: proof(unbound),
			Status: 401, Code: jwtverify.CodeInvalidToken, Scheme: SchemeDPoP, Result: unauth, Reason: jwtverify.ReasonBinding},
		{Name: "K5_dpop_without_proof", Auth: []string{"DPoP " + bound},
			Status: 401, Code: jwtverify.CodeInvalidDPoPProof, Scheme: SchemeDPoP, Result: unauth, Reason: dp},
		{Name: "K5_proof_garbage", Auth: []string{"DPoP " + bound}, Header: map[string]string{"DPoP": marker},
			Status: 401, Code: jwtverify.CodeInvalidDPoPProof, Scheme: SchemeDPoP, Result: unauth, Reason: dp},
		{Name: "K5_proof_for_another_token", Auth: []string{"DPoP " + bound}, Proof: proof(unbound),
			Status: 401, Code: jwtverify.CodeInvalidDPoPProof, Scheme: SchemeDPoP, Result: unauth, Reason: dp},
		{Name: "K5_proof_for_another_method", Method: "POST", Auth: []string{"DPoP " + bound},
			Proof:  func(_, url string) string { return proof(bound)("GET", url) },
			Status: 401, Code: jwtverify.CodeInvalidDPoPProof, Scheme: SchemeDPoP, Result: unauth, Reason: dp},
		{Name: "K5_proof_for_another_url", Auth: []string{"DPoP " + bound},
			Proof:  func(method, url string) string { return proof(bound)(method, url+"/other") },
			Status: 401, Code: jwtverify.CodeInvalidDPoPProof, Scheme: SchemeDPoP, Result: unauth, Reason: dp},
		{Name: "K5_proof_bad_signature", Auth: []string{"DPoP " + bound}, Proof: proof(bound, oauthtest.WithProofSigner("ES256")),
			Status: 401, Code: jwtverify.CodeInvalidDPoPProof, Scheme: SchemeDPoP, Result: unauth, Reason: dp},
		{Name: "K6_dpop_scheme_without_token", Auth: []string{"DPoP"}, Proof: proof(bound),
			Status: 400, Code: jwtverify.CodeInvalidRequest, Scheme: SchemeDPoP, Result: invalid, Reason: jwtverify.ReasonMalformed},
		{Name: "K6_dpop_token_and_a_second_word", Auth: []string{"DPoP " + bound + " " + marker}, Proof: proof(bound),
			Status: 400, Code: jwtverify.CodeInvalidRequest, Scheme: SchemeDPoP, Result: invalid, Reason: jwtverify.ReasonMalformed},
		{Name: "K6_dpop_tab_separator", Auth: []string{"DPoP\t" + bound}, Proof: proof(bound),
			Status: 400, Code: jwtverify.CodeInvalidRequest, Scheme: SchemeDPoP, Result: invalid, Reason: jwtverify.ReasonMalformed},
		{Name: "K6_dpop_and_query_token", Auth: []string{"DPoP " + bound}, Target: PathWhoAmI + "?access_token=" + marker, Proof: proof(bound),
			Status: 400, Code: jwtverify.CodeInvalidRequest, Scheme: SchemeDPoP, Result: invalid, Reason: jwtverify.ReasonMalformed},
		{Name: "K6_dpop_and_bearer_headers", Auth: []string{"DPoP " + bound, "Bearer " + bound}, Proof: proof(bound),
			Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: jwtverify.ReasonMalformed},
	}
	for i := range cs {
		cs[i].DPoP = true
		cs[i].Secrets = append(cs[i].Secrets, marker, bound, boundNoScope, unbound)
	}
	return cs
}
