package binding

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestParseConfirmation(t *testing.T) {
	x5t := sha256.Sum256([]byte("cert"))
	jkt := sha256.Sum256([]byte("key"))
	a, b := EncodeThumbprint(x5t), EncodeThumbprint(jkt)
	good := []struct {
		name string
		in   string
		want Confirmation
	}{
		{"x5t", `{"x5t#S256":"` + a + `"}`, CertificateConfirmation(x5t)},
		{"jkt", `{"jkt":"` + b + `"}`, DPoPConfirmation(jkt)},
		{"both", ` { "jkt" : "` + b + `" ,` + "\n\t" + `"x5t#S256":"` + a + `" } `,
			Confirmation{x5t: x5t, jkt: jkt, methods: Certificate | DPoP}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfirmation([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.methods != 0 && !c.Equal(tc.want) {
				t.Fatalf("got %+v, want %+v", c, tc.want)
			}
			if !c.Bound() {
				t.Fatal("not bound")
			}
		})
	}
	c, _ := ParseConfirmation([]byte(`{"x5t#S256":"` + a + `"}`))
	if got, ok := c.X5tS256(); !ok || got != x5t {
		t.Fatalf("x5t round trip: %v %v", ok, EncodeThumbprint(got))
	}
	if _, ok := c.JKT(); ok {
		t.Fatal("JKT reported for a certificate-only cnf")
	}

	// Last character with stray bits: "dg2" ends in '2' (0b110110): the low
	// two bits must be zero, so "dg3" is a non-canonical encoding.
	nonCanon := a[:42] + string(nextChar(a[42]))
	bad := map[string]string{
		"empty input":    ``,
		"null":           `null`,
		"array":          `[]`,
		"string":         `"` + a + `"`,
		"empty object":   `{}`,
		"unknown member": `{"x5t#S256":"` + a + `","jwk":{}}`,
		"unknown only":   `{"kid":"k1"}`,
		"jku":            `{"jku":"https://evil.example/jwks"}`,
		"sha1 x5t":       `{"x5t":"` + a + `"}`,
		"case variant":   `{"X5T#S256":"` + a + `"}`,
		"duplicate":      `{"x5t#S256":"` + a + `","x5t#S256":"` + a + `"}`,
		"duplicate jkt":  `{"jkt":"` + b + `","jkt":"` + b + `"}`,
		"number value":   `{"jkt":5}`,
		"null value":     `{"jkt":null}`,
		"object value":   `{"jkt":{"x":"y"}}`,
		"padded":         `{"jkt":"` + b + `="}`,
		"short":          `{"jkt":"` + b[:42] + `"}`,
		"long":           `{"jkt":"` + b + `A"}`,
		"std alphabet":   `{"jkt":"` + strings.Repeat("+", 43) + `"}`,
		"newline inside": `{"jkt":"` + b[:20] + `\n` + b[21:] + `"}`,
		"escaped value":  `{"jkt":"\u0041` + b[1:] + `"}`,
		"escaped name":   `{"x5t\u0023S256":"` + a + `"}`,
		"non canonical":  `{"x5t#S256":"` + nonCanon + `"}`,
		// The example of RFC 8705 section 3.1 (copied by Auth0's, IBM's and
		// Duende's documentation) ends in "dg2": its last character carries
		// stray bits, so it is not the canonical encoding of any 32 bytes.
		// Real issuers encode real hashes canonically.
		"rfc8705 example":    `{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}`,
		"trailing comma":     `{"jkt":"` + b + `",}`,
		"trailing bytes":     `{"jkt":"` + b + `"}x`,
		"two objects":        `{"jkt":"` + b + `"}{}`,
		"unterminated":       `{"jkt":"` + b + `"`,
		"missing colon":      `{"jkt" "` + b + `"}`,
		"non-ascii name":     `{"jkt\xc3\xa9":"` + b + `"}`,
		"invalid utf8 value": `{"jkt":"\xff` + b[1:] + `"}`,
		"oversized":          `{"jkt":"` + b + `"` + strings.Repeat(" ", MaxConfirmationBytes) + `}`,
	}
	for name, in := range bad {
		t.Run("refuses "+name, func(t *testing.T) {
			c, err := ParseConfirmation([]byte(in))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if ReasonOf(err) != ReasonMalformedConfirmation || !errors.Is(err, &Error{Reason: ReasonMalformedConfirmation}) {
				t.Fatalf("reason %q", ReasonOf(err))
			}
			if c.Bound() {
				t.Fatal("a refused cnf must not come back bound")
			}
			if strings.Contains(err.Error(), b) || strings.Contains(err.Error(), a) {
				t.Fatal("error echoes the claim")
			}
		})
	}
}

// nextChar returns another base64url character that decodes to the same
// six high bits' first four (so only stray low bits differ).
func nextChar(c byte) byte {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, c)
	return alpha[i|1]
}
