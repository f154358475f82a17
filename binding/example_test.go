package binding_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http/httptest"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The decision for a token bound to a certificate, under each policy and
// with what the request proved.
func ExampleCheck() {
	certA := sha256.Sum256([]byte("certificate A (DER)"))
	certB := sha256.Sum256([]byte("certificate B (DER)"))
	cnf, err := binding.ParseConfirmation([]byte(`{"x5t#S256":"` + binding.EncodeThumbprint(certA) + `"}`))
	if err != nil {
		panic(err)
	}
	optional := binding.Config{Policy: binding.Optional, Methods: binding.Certificate}
	required := binding.Config{Policy: binding.Required, Methods: binding.Certificate}
	show := func(r binding.Reason) string {
		if r == binding.Accepted {
			return "accepted"
		}
		return string(r)
	}
	fmt.Println("off, bound:", show(binding.Check(binding.Config{}, cnf, binding.CertificateProof(certA))))
	fmt.Println("optional, right cert:", show(binding.Check(optional, cnf, binding.CertificateProof(certA))))
	fmt.Println("optional, other cert:", show(binding.Check(optional, cnf, binding.CertificateProof(certB))))
	fmt.Println("optional, plain HTTP:", show(binding.Check(optional, cnf, binding.NoCertificate(binding.ReasonNotTLS))))
	fmt.Println("optional, bearer:", show(binding.Check(optional, binding.Confirmation{}, binding.Proof{})))
	fmt.Println("required, bearer:", show(binding.Check(required, binding.Confirmation{}, binding.Proof{})))
	// Output:
	// off, bound: binding_off
	// optional, right cert: accepted
	// optional, other cert: thumbprint_mismatch
	// optional, plain HTTP: not_tls
	// optional, bearer: accepted
	// required, bearer: binding_required
}

// Behind a TLS-terminating proxy that sets RFC 9440's Client-Cert header
// (and strips any copy the client sent).
func ExampleCertSource_FromRequest() {
	src, err := binding.NewCertSource(binding.CertSourceConfig{
		Forwarding: &binding.Forwarding{Format: binding.FormatClientCert},
	})
	if err != nil {
		panic(err)
	}
	cc, err := oauthtest.NewClientCert("worker")
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "https://api.example.test/orders", nil)
	r.Header.Set("Client-Cert", ":"+base64.StdEncoding.EncodeToString(cc.Certificate.Raw)+":")
	thumb, why := src.FromRequest(r)
	fmt.Println(why == binding.Accepted, thumb == cc.Thumbprint())

	r.Header.Add("Client-Cert", ":AAAA:") // a second value
	_, why = src.FromRequest(r)
	fmt.Println(why)
	// Output:
	// true true
	// forwarded_cert_repeated
}
