package dpop_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The package doc's request step, run (TestSnippetsCompile in the root
// package checks that the doc's lines stand here): a proof by the token's
// key passes once, its replay is refused, a proof by another key fails the
// binding.
func Example() {
	checker, err := dpop.New(dpop.Config{PublicOrigins: []string{"https://api.example.com"}})
	if err != nil {
		panic(err)
	}
	handle := func(r *http.Request, token string, cnf binding.Confirmation) error {
		v, err := checker.Check(r, token)
		if err != nil {
			return err
		}
		cfg := binding.Config{Policy: binding.Required, Methods: binding.DPoP}
		if why := binding.Check(cfg, cnf, binding.Proof{}.WithDPoP(v.Thumbprint())); why != binding.Accepted {
			return errors.New(string(why))
		}
		return checker.Commit(r.Context(), v)
	}

	client, _ := oauthtest.NewDPoPProver("ES256")
	other, _ := oauthtest.NewDPoPProver("ES256")
	cnf, _ := binding.ParseConfirmation([]byte(`{"jkt":"` + client.Thumbprint() + `"}`)) // the token's cnf claim
	call := func(p *oauthtest.DPoPProver, proof string) error {
		r := httptest.NewRequest("GET", "/orders", nil)
		r.Header.Set("Authorization", "DPoP the-token")
		r.Header.Set("DPoP", proof)
		return handle(r, "the-token", cnf)
	}
	proof, _ := client.Proof("GET", "https://api.example.com/orders", "the-token", "")
	fmt.Println(call(client, proof))
	fmt.Println(dpop.ReasonOf(call(client, proof)))
	otherProof, _ := other.Proof("GET", "https://api.example.com/orders", "the-token", "")
	fmt.Println(call(other, otherProof))
	// Output:
	// <nil>
	// replay
	// jkt_mismatch
}
