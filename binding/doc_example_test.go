package binding_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/m2mauth/m2mauth/binding"
)

// The package doc's adapter step, run (TestSnippetsCompile in the root
// package checks that the doc's lines stand here): a bearer token passes
// the Optional policy, a bound token needs the certificate's TLS
// connection, a malformed cnf refuses.
func Example_adapterStep() {
	src, err := binding.NewCertSource(binding.CertSourceConfig{})
	if err != nil {
		panic(err)
	}
	cfg := binding.Config{Policy: binding.Optional, Methods: binding.Certificate}
	check := func(r *http.Request, rawCnf []byte) binding.Reason {
		cnf, err := binding.ParseConfirmation(rawCnf)
		if err != nil {
			return binding.ReasonMalformedConfirmation
		}
		return binding.Check(cfg, cnf, src.ProofFromRequest(r))
	}

	r := httptest.NewRequest("GET", "http://api.example.test/orders", nil)
	cert := sha256.Sum256([]byte("certificate (DER)"))
	fmt.Println(binding.Check(cfg, binding.Confirmation{}, src.ProofFromRequest(r)) == binding.Accepted) // no cnf: a bearer token
	fmt.Println(check(r, []byte(`{"x5t#S256":"`+binding.EncodeThumbprint(cert)+`"}`)))
	fmt.Println(check(r, []byte(`{"x5t#S256":1}`)))
	// Output:
	// true
	// not_tls
	// malformed_cnf
}
