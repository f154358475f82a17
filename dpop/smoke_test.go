package dpop_test

import (
	"net/http/httptest"
	"testing"

	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestSmoke(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384", "RS256", "PS256", "EdDSA"} {
		p, err := oauthtest.NewDPoPProver(alg)
		if err != nil {
			t.Fatal(err)
		}
		c, err := dpop.New(dpop.Config{PublicOrigins: []string{"https://api.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		proof, err := p.Proof("GET", "https://api.example.com/x?q=1", "tok", "")
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/x?q=2", nil)
		r.Header.Set("DPoP", proof)
		v, err := c.Check(r, "tok")
		if err != nil {
			t.Fatal(alg, err)
		}
		if v.JKT() != p.Thumbprint() {
			t.Fatal(alg, "thumbprint")
		}
		if err := c.Commit(t.Context(), v); err != nil {
			t.Fatal(err)
		}
		if err := c.Commit(t.Context(), v); dpop.ReasonOf(err) != dpop.ReasonReplay {
			t.Fatal(err)
		}
	}
}
