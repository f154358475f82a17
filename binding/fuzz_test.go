package binding

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseConfirmation: never panics; whatever it accepts is a bound
// confirmation that re-encodes canonically and parses back to itself.
func FuzzParseConfirmation(f *testing.F) {
	a := EncodeThumbprint(sha256.Sum256([]byte("a")))
	for _, s := range []string{
		`{"x5t#S256":"` + a + `"}`, `{"jkt":"` + a + `"}`, `{"jkt":"` + a + `","x5t#S256":"` + a + `"}`,
		`{}`, `{"jwk":{}}`, `{"jkt":"` + a + `",}`, `null`, `{"jkt":"` + a + `"}x`,
		`{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfirmation(b)
		if err != nil {
			if c.Bound() || ReasonOf(err) != ReasonMalformedConfirmation {
				t.Fatalf("refusal %v came back bound or with reason %q", err, ReasonOf(err))
			}
			return
		}
		if !c.Bound() || len(b) > MaxConfirmationBytes {
			t.Fatal("accepted an unbound or oversized cnf")
		}
		var parts []string
		if x, ok := c.X5tS256(); ok {
			parts = append(parts, `"x5t#S256":"`+EncodeThumbprint(x)+`"`)
		}
		if j, ok := c.JKT(); ok {
			parts = append(parts, `"jkt":"`+EncodeThumbprint(j)+`"`)
		}
		c2, err := ParseConfirmation([]byte("{" + strings.Join(parts, ",") + "}"))
		if err != nil || !c2.Equal(c) {
			t.Fatalf("re-encoding does not round trip: %v", err)
		}
		// Every accepted thumbprint appears verbatim in the input (the
		// encoding is canonical, so no other spelling decodes to it).
		for _, p := range parts {
			v := p[strings.Index(p, `:"`)+2 : len(p)-1]
			if !bytes.Contains(b, []byte(v)) {
				t.Fatalf("accepted a non-canonical spelling of %s", v)
			}
		}
	})
}

// fuzzCert is a fixed certificate for the forwarded-header seeds (no
// randomness inside fuzz functions).
func fuzzCert(f *testing.F) []byte {
	c, _ := testCert(f, "fuzz")
	return c.Raw
}

// checkForwarded asserts the invariant of every forwarded parser: an
// accepted value names a certificate that parses, and the thumbprint is
// its SHA-256 (for XFCC, the Hash the proxy computed).
func checkForwarded(t *testing.T, f Format, v string) {
	got, why := parseForwarded(f, v)
	if why == Accepted {
		return
	}
	if got != ([32]byte{}) {
		t.Fatalf("refusal %q returned a thumbprint", why)
	}
	switch why {
	case ReasonForwardedMalformed, ReasonForwardedRepeated:
	default:
		t.Fatalf("unexpected reason %q", why)
	}
}

func FuzzForwardedClientCert(f *testing.F) {
	der := fuzzCert(f)
	f.Add(encClientCert(der))
	f.Add(":aGVsbG8=:")
	f.Add("::")
	f.Add(encClientCert(der) + ";a=1")
	f.Fuzz(func(t *testing.T, v string) {
		checkForwarded(t, FormatClientCert, v)
		if th, why := parseForwarded(FormatClientCert, v); why == Accepted {
			raw, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
			if err != nil || sha256.Sum256(raw) != th {
				t.Fatal("accepted thumbprint is not the SHA-256 of the decoded DER")
			}
			if _, err := x509.ParseCertificate(raw); err != nil {
				t.Fatal("accepted a DER that does not parse")
			}
		}
	})
}

func FuzzForwardedXFCC(f *testing.F) {
	der := fuzzCert(f)
	f.Add(encXFCC(der))
	f.Add(encXFCC(der) + "," + encXFCC(der))
	f.Add(`Hash=` + strings.Repeat("ab", 32))
	f.Add(`By=a;Hash=` + strings.Repeat("0", 64) + `;Subject="a\"b,c";DNS=x`)
	f.Fuzz(func(t *testing.T, v string) {
		checkForwarded(t, FormatXFCC, v)
		if th, why := parseForwarded(FormatXFCC, v); why == Accepted {
			if !strings.Contains(strings.ToLower(v), "hash="+hexOf(th[:])) {
				t.Fatal("accepted thumbprint is not the element's Hash")
			}
			if strings.Count(v, ",") > 0 && !strings.Contains(v, `"`) {
				t.Fatal("accepted two elements")
			}
		}
	})
}

func FuzzForwardedEscapedPEM(f *testing.F) {
	der := fuzzCert(f)
	f.Add(encEscapedPEM(der))
	f.Add(pemOf(der))
	f.Add(encEscapedPEM(der) + encEscapedPEM(der))
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, v string) {
		checkForwarded(t, FormatEscapedPEM, v)
		if th, why := parseForwarded(FormatEscapedPEM, v); why == Accepted {
			s, err := url.PathUnescape(v)
			if err != nil {
				t.Fatal("accepted a value that does not unescape")
			}
			block, _ := pem.Decode([]byte(s))
			if block == nil || sha256.Sum256(block.Bytes) != th {
				t.Fatal("accepted thumbprint is not the SHA-256 of the PEM block")
			}
		}
	})
}

func FuzzForwardedBase64DER(f *testing.F) {
	der := fuzzCert(f)
	f.Add(encBase64DER(der))
	f.Add(base64.StdEncoding.EncodeToString(der))
	f.Add(encBase64DER(der) + "%2C" + encBase64DER(der))
	f.Fuzz(func(t *testing.T, v string) {
		checkForwarded(t, FormatBase64DER, v)
		if th, why := parseForwarded(FormatBase64DER, v); why == Accepted {
			s, _ := url.PathUnescape(v)
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil || sha256.Sum256(raw) != th {
				t.Fatal("accepted thumbprint is not the SHA-256 of the decoded DER")
			}
		}
	})
}
