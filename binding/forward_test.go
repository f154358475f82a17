package binding

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var formats = []struct {
	f   Format
	enc func([]byte) string
}{
	{FormatClientCert, encClientCert},
	{FormatXFCC, encXFCC},
	{FormatEscapedPEM, encEscapedPEM},
	{FormatBase64DER, encBase64DER},
}

func newSource(t *testing.T, fwd *Forwarding) *CertSource {
	t.Helper()
	s, err := NewCertSource(CertSourceConfig{Forwarding: fwd})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fwdHeader(f Format) string {
	if f == FormatEscapedPEM {
		return "X-Ssl-Client-Cert"
	}
	return ""
}

func TestForwardedFormats(t *testing.T) {
	cert, _ := testCert(t, "client")
	other, _ := testCert(t, "other")
	want := Thumbprint(cert.Raw)
	for _, tc := range formats {
		t.Run(tc.f.String(), func(t *testing.T) {
			src := newSource(t, &Forwarding{Format: tc.f, Header: fwdHeader(tc.f)})
			name := src.Forwarding().Header
			req := func(vals ...string) *http.Request {
				r := httptest.NewRequest("GET", "http://api.test/x", nil)
				for _, v := range vals {
					r.Header.Add(name, v)
				}
				return r
			}
			good := tc.enc(cert.Raw)
			if got, why := src.FromRequest(req(good)); why != Accepted || got != want {
				t.Fatalf("good value: %q %x", why, got)
			}
			// Cached the second time, same answer.
			if got, why := src.FromRequest(req(good)); why != Accepted || got != want {
				t.Fatalf("cached value: %q", why)
			}
			if got, _ := src.FromRequest(req(tc.enc(other.Raw))); got == want {
				t.Fatal("another certificate has the same thumbprint")
			}
			refuse := map[string]struct {
				r    *http.Request
				want Reason
			}{
				"absent":       {req(), ReasonNoClientCertificate},
				"empty":        {req(""), ReasonNoClientCertificate},
				"two values":   {req(good, good), ReasonForwardedRepeated},
				"two, 1 empty": {req(good, ""), ReasonForwardedRepeated},
				"oversized":    {req(good + strings.Repeat("A", DefaultForwardedMaxBytes)), ReasonForwardedTooLarge},
				"truncated":    {req(good[:len(good)/2]), ReasonForwardedMalformed},
				"garbage":      {req("not a certificate"), ReasonForwardedMalformed},
			}
			for name, c := range refuse {
				if _, why := src.FromRequest(c.r); why != c.want {
					t.Errorf("%s: %q, want %q", name, why, c.want)
				}
			}
			// A direct TLS certificate is not used when forwarding is on.
			r := req()
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
			if _, why := src.FromRequest(r); why != ReasonNoClientCertificate {
				t.Errorf("TLS state used with forwarding on: %q", why)
			}
		})
	}
}

func TestForwardingOffIgnoresHeaders(t *testing.T) {
	cert, _ := testCert(t, "client")
	src := newSource(t, nil)
	r := httptest.NewRequest("GET", "http://api.test/x", nil)
	for _, h := range []string{"Client-Cert", "X-Forwarded-Client-Cert", "X-Ssl-Client-Cert", "X-Forwarded-Tls-Client-Cert"} {
		r.Header.Set(h, encClientCert(cert.Raw))
	}
	r.Header.Set("X-Forwarded-Client-Cert", encXFCC(cert.Raw))
	if _, why := src.FromRequest(r); why != ReasonNotTLS {
		t.Fatalf("plain HTTP with forwarded headers and forwarding off: %q", why)
	}
	r.TLS = &tls.ConnectionState{}
	if _, why := src.FromRequest(r); why != ReasonNoClientCertificate {
		t.Fatalf("TLS without a client certificate: %q", why)
	}
	for _, cs := range []*tls.ConnectionState{{PeerCertificates: []*x509.Certificate{nil}}, {PeerCertificates: []*x509.Certificate{{}}}} {
		if _, why := src.FromTLS(cs); why != ReasonNoClientCertificate {
			t.Fatalf("nil or empty certificate: %q", why)
		}
	}
	if src.Forwarding() != nil {
		t.Fatal("Forwarding() non-nil when off")
	}
}

func TestParsersRefuse(t *testing.T) {
	cert, _ := testCert(t, "client")
	for len(cert.Raw)%3 == 0 { // the "unpadded" case needs base64 padding
		cert, _ = testCert(t, "client")
	}
	other, _ := testCert(t, "other")
	der := cert.Raw
	th := Thumbprint(der)
	hash := hexOf(th[:])
	b64 := encClientCert(der)
	pemS := pemOf(der)
	cases := []struct {
		name string
		f    Format
		v    string
		want Reason
	}{
		{"client-cert no colons", FormatClientCert, b64[1 : len(b64)-1], ReasonForwardedMalformed},
		{"client-cert parameter", FormatClientCert, b64 + ";a=1", ReasonForwardedMalformed},
		{"client-cert url alphabet", FormatClientCert, strings.NewReplacer("+", "-", "/", "_").Replace(b64), ReasonForwardedMalformed},
		{"client-cert unpadded", FormatClientCert, ":" + strings.TrimRight(b64[1:len(b64)-1], "=") + ":", ReasonForwardedMalformed},
		{"client-cert whitespace", FormatClientCert, b64[:10] + " " + b64[10:], ReasonForwardedMalformed},
		{"client-cert not a certificate", FormatClientCert, ":aGVsbG8=:", ReasonForwardedMalformed},
		{"client-cert trailing DER", FormatClientCert, encClientCert(append(append([]byte{}, der...), 0)), ReasonForwardedMalformed},
		{"client-cert chain list", FormatClientCert, b64 + ", " + b64, ReasonForwardedMalformed},
		{"xfcc second element", FormatXFCC, encXFCC(der) + "," + encXFCC(other.Raw), ReasonForwardedRepeated},
		{"xfcc second element after hash", FormatXFCC, "Hash=" + hash + ",Hash=" + hash, ReasonForwardedRepeated},
		{"xfcc no hash", FormatXFCC, `By=spiffe://a;Cert="` + encEscapedPEM(der) + `"`, ReasonForwardedMalformed},
		{"xfcc upper-case hash", FormatXFCC, "Hash=" + strings.ToUpper(hash), ReasonForwardedMalformed},
		{"xfcc short hash", FormatXFCC, "Hash=" + hash[:62], ReasonForwardedMalformed},
		{"xfcc non-hex hash", FormatXFCC, "Hash=" + hash[:63] + "g", ReasonForwardedMalformed},
		{"xfcc two hashes", FormatXFCC, "Hash=" + hash + ";Hash=" + hash, ReasonForwardedMalformed},
		{"xfcc cert of another certificate", FormatXFCC, "Hash=" + hash + `;Cert="` + encEscapedPEM(other.Raw) + `"`, ReasonForwardedMalformed},
		{"xfcc unknown key", FormatXFCC, "Hash=" + hash + ";Evil=1", ReasonForwardedMalformed},
		{"xfcc unterminated quote", FormatXFCC, `Hash=` + hash + `;Subject="CN=a`, ReasonForwardedMalformed},
		{"xfcc trailing semicolon", FormatXFCC, "Hash=" + hash + ";", ReasonForwardedMalformed},
		{"xfcc bare value with quote", FormatXFCC, "Hash=" + hash + `;DNS=a"b`, ReasonForwardedMalformed},
		{"xfcc empty key", FormatXFCC, "=x;Hash=" + hash, ReasonForwardedMalformed},
		{"xfcc garbage after quote", FormatXFCC, `Subject="a"b;Hash=` + hash, ReasonForwardedMalformed},
		{"pem two blocks", FormatEscapedPEM, encEscapedPEM(der) + encEscapedPEM(other.Raw), ReasonForwardedMalformed},
		{"pem leading text", FormatEscapedPEM, "x" + encEscapedPEM(der), ReasonForwardedMalformed},
		{"pem unescaped bad percent", FormatEscapedPEM, encEscapedPEM(der) + "%zz", ReasonForwardedMalformed},
		{"pem private key block", FormatEscapedPEM, strings.Replace(encEscapedPEM(der), "CERTIFICATE", "PRIVATE%20KEY", 2), ReasonForwardedMalformed},
		{"pem raw (not escaped) but valid", FormatEscapedPEM, pemS, Accepted},
		{"pem with headers", FormatEscapedPEM, strings.Replace(pemS, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1), ReasonForwardedMalformed},
		{"base64 traefik two certs", FormatBase64DER, encBase64DER(der) + "%2C" + encBase64DER(other.Raw), ReasonForwardedMalformed},
		{"base64 plain (caddy)", FormatBase64DER, b64[1 : len(b64)-1], Accepted},
		{"base64 url alphabet", FormatBase64DER, strings.NewReplacer("+", "-", "/", "_").Replace(b64[1 : len(b64)-1]), ReasonForwardedMalformed},
		{"base64 pem inside", FormatBase64DER, encEscapedPEM(der), ReasonForwardedMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := parseForwarded(tc.f, tc.v)
			if why != tc.want {
				t.Fatalf("%q, want %q", why, tc.want)
			}
			if why == Accepted && got != th {
				t.Fatal("wrong thumbprint")
			}
		})
	}
}

func TestForwardingConfig(t *testing.T) {
	bad := []Forwarding{
		{},
		{Format: 9},
		{Format: FormatEscapedPEM},
		{Format: FormatClientCert, Header: "Bad Header"},
		{Format: FormatClientCert, Header: "X-Cert\n"},
		{Format: FormatClientCert, Header: "authorization"},
		{Format: FormatClientCert, Header: "DPoP"},
		{Format: FormatClientCert, MaxBytes: -1},
	}
	for _, f := range bad {
		if _, err := NewCertSource(CertSourceConfig{Forwarding: &f}); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
	for _, tc := range []struct {
		f    Format
		want string
	}{{FormatClientCert, "Client-Cert"}, {FormatXFCC, "X-Forwarded-Client-Cert"}, {FormatBase64DER, "X-Forwarded-Tls-Client-Cert"}} {
		s := newSource(t, &Forwarding{Format: tc.f})
		if got := s.Forwarding(); got.Header != tc.want || got.MaxBytes != DefaultForwardedMaxBytes {
			t.Errorf("%s: %+v", tc.f, got)
		}
		if g, err := ParseFormat(tc.f.String()); err != nil || g != tc.f {
			t.Errorf("ParseFormat(%s)", tc.f)
		}
	}
	s := newSource(t, &Forwarding{Format: FormatEscapedPEM, Header: "x-ssl-client-cert", MaxBytes: 100})
	if got := s.Forwarding(); got.Header != "X-Ssl-Client-Cert" || got.MaxBytes != 100 {
		t.Errorf("%+v", got)
	}
}

// TestFromTLSOverRealTLS runs a TLS server that requests client
// certificates on 127.0.0.1: the thumbprint CertSource reports is the
// SHA-256 of the DER certificate the client presented, and Check accepts a
// token bound to it and refuses one bound to another certificate.
func TestFromTLSOverRealTLS(t *testing.T) {
	cert, tlsCert := testCert(t, "client")
	other, _ := testCert(t, "other")
	src := newSource(t, nil)
	cfg := Config{Policy: Optional, Methods: Certificate}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := src.ProofFromRequest(r)
		cnf := CertificateConfirmation(Thumbprint(cert.Raw))
		if r.URL.Path == "/other" {
			cnf = CertificateConfirmation(Thumbprint(other.Raw))
		}
		why := Check(cfg, cnf, p)
		if why == Accepted {
			why = "accepted"
		}
		_, _ = io.WriteString(w, string(why))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	plain := httptest.NewServer(srv.Config.Handler)
	defer plain.Close()

	withCert := srv.Client()
	withCert.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{tlsCert}
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}}
	noCert.Transport.(*http.Transport).TLSClientConfig.Certificates = nil

	get := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for i := 0; i < 3; i++ { // one connection, repeated requests
		if got := get(withCert, srv.URL+"/"); got != "accepted" {
			t.Fatalf("right certificate: %s", got)
		}
	}
	if got := get(withCert, srv.URL+"/other"); got != string(ReasonThumbprintMismatch) {
		t.Fatalf("token bound to another certificate: %s", got)
	}
	if got := get(noCert, srv.URL+"/"); got != string(ReasonNoClientCertificate) {
		t.Fatalf("no certificate: %s", got)
	}
	if got := get(http.DefaultClient, plain.URL+"/"); got != string(ReasonNotTLS) {
		t.Fatalf("plain HTTP: %s", got)
	}
	if n := src.certs.len(); n != 1 {
		t.Fatalf("%d cached certificates, want 1 (one connection, one certificate)", n)
	}
}

func TestThumbCacheBounded(t *testing.T) {
	c := newThumbCache(4)
	var certs []*x509.Certificate
	for i := 0; i < 10; i++ {
		cert, _ := testCert(t, "c")
		certs = append(certs, cert)
		if got := c.thumbprint(cert); got != Thumbprint(cert.Raw) {
			t.Fatal("wrong thumbprint")
		}
	}
	if c.len() > 4 {
		t.Fatalf("cache holds %d entries, bound 4", c.len())
	}
	// A certificate whose Raw was replaced is hashed again, not served
	// from the cache.
	x := certs[9]
	before := c.thumbprint(x)
	x.Raw = certs[0].Raw
	if c.thumbprint(x) == before {
		t.Fatal("stale thumbprint after Raw changed")
	}
	h := newHeaderCache(2)
	for _, k := range []string{"a", "b", "c", "d"} {
		h.put(k, [32]byte{})
	}
	if len(h.m) > 2 {
		t.Fatalf("header cache holds %d entries, bound 2", len(h.m))
	}
}

// TestFromForTransportsWithoutRequests: From takes the TLS state and the
// forwarded values directly (gRPC metadata), with the same rules.
func TestFromForTransportsWithoutRequests(t *testing.T) {
	cert, _ := testCert(t, "client")
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	v := encClientCert(cert.Raw)
	off := newSource(t, nil)
	if th, why := off.From(cs, []string{"garbage"}); why != Accepted || th != Thumbprint(cert.Raw) {
		t.Fatalf("forwarding off: %q", why)
	}
	if _, why := off.From(nil, []string{v}); why != ReasonNotTLS {
		t.Fatalf("forwarding off, no TLS, forwarded value: %q", why)
	}
	on := newSource(t, &Forwarding{Format: FormatClientCert})
	if th, why := on.From(nil, []string{v}); why != Accepted || th != Thumbprint(cert.Raw) {
		t.Fatalf("forwarding on: %q", why)
	}
	if _, why := on.From(cs, nil); why != ReasonNoClientCertificate {
		t.Fatalf("forwarding on, TLS state only: %q", why)
	}
	if _, why := on.From(nil, []string{v, v}); why != ReasonForwardedRepeated {
		t.Fatalf("two values: %q", why)
	}
	if p := on.Proof(nil, []string{v}); Check(Config{Policy: Required, Methods: Certificate}, CertificateConfirmation(Thumbprint(cert.Raw)), p) != Accepted {
		t.Fatal("Proof from forwarded value not accepted")
	}
}
