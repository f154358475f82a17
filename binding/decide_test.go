package binding

import (
	"crypto/sha256"
	"testing"
)

func TestCheck(t *testing.T) {
	certA := sha256.Sum256([]byte("A"))
	certB := sha256.Sum256([]byte("B"))
	keyA := sha256.Sum256([]byte("kA"))
	keyB := sha256.Sum256([]byte("kB"))
	unbound := Confirmation{}
	toCert := CertificateConfirmation(certA)
	toKey := DPoPConfirmation(keyA)
	toBoth := Confirmation{x5t: certA, jkt: keyA, methods: Certificate | DPoP}

	off := Config{}
	optCert := Config{Policy: Optional, Methods: Certificate}
	reqCert := Config{Policy: Required, Methods: Certificate}
	optBoth := Config{Policy: Optional, Methods: Certificate | DPoP}
	reqDPoP := Config{Policy: Required, Methods: DPoP}
	noMethods := Config{Policy: Optional}
	bogus := Config{Policy: Policy(9), Methods: Certificate}

	rightCert := CertificateProof(certA)
	wrongCert := CertificateProof(certB)
	none := Proof{}
	notTLS := NoCertificate(ReasonNotTLS)
	fwdBad := NoCertificate(ReasonForwardedMalformed)

	cases := []struct {
		name string
		cfg  Config
		cnf  Confirmation
		p    Proof
		want Reason
	}{
		{"off bearer", off, unbound, none, Accepted},
		{"off bound with proof", off, toCert, rightCert, ReasonBindingOff},
		{"optional bearer", optCert, unbound, none, Accepted},
		{"optional bearer with a cert", optCert, unbound, wrongCert, Accepted},
		{"optional bound right cert", optCert, toCert, rightCert, Accepted},
		{"optional bound other cert", optCert, toCert, wrongCert, ReasonThumbprintMismatch},
		{"optional bound no cert", optCert, toCert, NoCertificate(ReasonNoClientCertificate), ReasonNoClientCertificate},
		{"optional bound zero proof", optCert, toCert, none, ReasonNoClientCertificate},
		{"optional bound plain http", optCert, toCert, notTLS, ReasonNotTLS},
		{"optional bound bad forwarded header", optCert, toCert, fwdBad, ReasonForwardedMalformed},
		{"unknown why counts as no cert", optCert, toCert, NoCertificate("made_up"), ReasonNoClientCertificate},
		{"accepted why counts as no cert", optCert, toCert, NoCertificate(Accepted), ReasonNoClientCertificate},
		{"required bearer", reqCert, unbound, rightCert, ReasonBindingRequired},
		{"required bound right cert", reqCert, toCert, rightCert, Accepted},
		{"dpop token, cert only issuer", optCert, toKey, rightCert.WithDPoP(keyA), ReasonMethodNotAllowed},
		{"cert token, dpop only issuer", reqDPoP, toCert, rightCert, ReasonMethodNotAllowed},
		{"dpop right key", reqDPoP, toKey, none.WithDPoP(keyA), Accepted},
		{"dpop other key", reqDPoP, toKey, none.WithDPoP(keyB), ReasonJKTMismatch},
		{"dpop no proof", reqDPoP, toKey, rightCert, ReasonNoDPoPProof},
		{"both proven", optBoth, toBoth, rightCert.WithDPoP(keyA), Accepted},
		{"both, dpop missing", optBoth, toBoth, rightCert, ReasonNoDPoPProof},
		{"both, cert missing", optBoth, toBoth, none.WithDPoP(keyA), ReasonNoClientCertificate},
		{"both, cert wrong", optBoth, toBoth, wrongCert.WithDPoP(keyA), ReasonThumbprintMismatch},
		{"both, one method not allowed", optCert, toBoth, rightCert.WithDPoP(keyA), ReasonMethodNotAllowed},
		{"dpop proof, unbound token", optBoth, unbound, none.WithDPoP(keyA), ReasonDPoPNotBound},
		{"dpop proof, unbound token, off", off, unbound, none.WithDPoP(keyA), ReasonDPoPNotBound},
		{"dpop proof, cert-bound token", optBoth, toCert, rightCert.WithDPoP(keyA), ReasonDPoPNotBound},
		{"invalid config: no methods", noMethods, toCert, rightCert, ReasonMethodNotAllowed},
		{"invalid config: unknown policy", bogus, toCert, rightCert, ReasonMethodNotAllowed},
		{"invalid config: unknown policy, bearer", bogus, unbound, none, ReasonBindingRequired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Check(tc.cfg, tc.cnf, tc.p); got != tc.want {
				t.Fatalf("Check = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	c := CertificateConfirmation(sha256.Sum256([]byte("A")))
	p := CertificateProof(sha256.Sum256([]byte("A")))
	cfg := Config{Policy: Required, Methods: Certificate}
	if n := testing.AllocsPerRun(100, func() { _ = Check(cfg, c, p) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := []Config{{}, {Policy: Off, Methods: Certificate}, {Policy: Optional, Methods: Certificate}, {Policy: Required, Methods: Certificate | DPoP}}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []Config{{Policy: Optional}, {Policy: Required}, {Policy: 3, Methods: Certificate}, {Policy: Optional, Methods: 8}}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestPolicyAndMethodNames(t *testing.T) {
	for _, p := range []Policy{Off, Optional, Required} {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Errorf("%v: %v %v", p, got, err)
		}
	}
	if _, err := ParsePolicy("Required"); err == nil {
		t.Error("ParsePolicy is case-insensitive")
	}
	if s := (Certificate | DPoP).String(); s != "certificate+dpop" {
		t.Error(s)
	}
	if Methods(0).Has(0) || !(Certificate | DPoP).Has(DPoP) || Certificate.Has(DPoP) {
		t.Error("Has")
	}
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if r == Accepted || seen[r] {
			t.Errorf("reason %q", r)
		}
		seen[r] = true
	}
}
