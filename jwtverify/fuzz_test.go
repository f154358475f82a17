package jwtverify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/m2mauth/m2mauth/internal/strictjson"
)

// independentVerify re-checks an accepted token with the standard library
// only: strict base64url, header alg/kid with encoding/json, and the
// signature against the trusted keys. ECDSA is malleable, so accepted
// tokens are never compared with minted ones.
func independentVerify(token string) string {
	if strings.ContainsAny(token, "\r\n =+/") {
		return "token has characters outside base64url"
	}
	seg := strings.Split(token, ".")
	if len(seg) != 3 {
		return "not three segments"
	}
	dec := base64.RawURLEncoding.Strict()
	hb, err1 := dec.DecodeString(seg[0])
	pb, err2 := dec.DecodeString(seg[1])
	sig, err3 := dec.DecodeString(seg[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return "not strict base64url"
	}
	if !utf8.Valid(hb) || !utf8.Valid(pb) || !json.Valid(hb) || !json.Valid(pb) {
		return "header or claims not valid UTF-8 JSON"
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return "header"
	}
	var c map[string]any
	if decodeNum(pb, &c) != nil || c["iss"] != testIss {
		return "claims"
	}
	exp, ok := numOf(c["exp"])
	if !ok || exp <= float64(testNow.Unix()-31) {
		return "exp"
	}
	input := []byte(seg[0] + "." + seg[1])
	for _, k := range trustedKeys() {
		if h.Kid != "" && k.KID != h.Kid {
			continue
		}
		if k.Alg != "" && k.Alg != h.Alg {
			continue
		}
		if len(h.Alg) != 5 && h.Alg != "EdDSA" {
			continue
		}
		hashAlg, hh := hasherFor(h.Alg)
		switch pub := k.Public.(type) {
		case *rsa.PublicKey:
			if len(h.Alg) != 5 {
				continue
			}
			hh.Write(input)
			d := hh.Sum(nil)
			switch h.Alg[:2] {
			case "RS":
				if rsa.VerifyPKCS1v15(pub, hashAlg, d, sig) == nil {
					return ""
				}
			case "PS":
				if rsa.VerifyPSS(pub, hashAlg, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil {
					return ""
				}
			}
		case *ecdsa.PublicKey:
			size := (pub.Curve.Params().BitSize + 7) / 8
			want := map[string]int{"ES256": 32, "ES384": 48, "ES512": 66}[h.Alg]
			if want != size || len(sig) != 2*size {
				continue
			}
			hh.Write(input)
			r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
			if ecdsa.Verify(pub, hh.Sum(nil), r, s) {
				return ""
			}
		case ed25519.PublicKey:
			if h.Alg == "EdDSA" && ed25519.Verify(pub, input, sig) {
				return ""
			}
		}
	}
	return "no trusted key verifies the signature"
}

func fuzzSeeds() []string {
	seeds := []string{"", ".", "..", "a.b.c", strings.Repeat(".", 100), "e30.e30.e30"}
	for _, alg := range allAlgs {
		seeds = append(seeds, tok(alg, nil, nil))
	}
	seeds = append(seeds,
		tok("ES256", map[string]any{"kid": nil}, nil),
		tok("EdDSA", map[string]any{"typ": "JWT"}, map[string]any{"aud": []string{"a", testAud}, "roles": []string{"r"}}),
		tok("noalg-rsa", nil, nil),
		rawTok("EdDSA", []byte(`{"alg":"EdDSA","kid":"EdDSA","alg":"none"}`), mustJSON(baseClaims())),
		rawTok("EdDSA", hdrJSON("EdDSA"), []byte(`{"iss":"`+testIss+`","exp":1e10,"aud":"`+testAud+`","client_id":"worker","x":[{"y":"\ud83d\ude00"}]}`)),
		b64([]byte(`{"alg":"none"}`))+"."+b64(mustJSON(baseClaims()))+".",
	)
	return seeds
}

// FuzzVerify: arbitrary strings and mutations of valid tokens never panic,
// and anything accepted verifies independently with the standard library
// against the trusted keys.
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	v := newV(f, func(c *Config) { c.Cache.Disabled = true })
	cached := newV(f, nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(ctx, token)
		if err != nil {
			var e *Error
			if p != nil || !asError(err, &e) || !strings.HasPrefix(err.Error(), "jwtverify: ") {
				t.Fatalf("bad rejection %v %v", p, err)
			}
			if len(token) >= 16 && strings.Contains(err.Error(), token) {
				t.Fatal("error contains the token")
			}
			if _, err2 := cached.Verify(ctx, token); err2 == nil {
				t.Fatal("the caching verifier accepted what the other refused")
			}
			return
		}
		if why := independentVerify(token); why != "" {
			t.Fatalf("accepted a token the standard library refuses: %s", why)
		}
		// The cache agrees, twice (miss then hit).
		for i := 0; i < 2; i++ {
			if _, err := cached.Verify(ctx, token); err != nil {
				t.Fatalf("caching verifier: %v", err)
			}
		}
		_ = p.String()
		_ = p.Scopes()
	})
}

func asError(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}

var fuzzInterest, _ = newInterestTable([]string{"scope", "roles", "azp"})

// FuzzJSON: the strict reader accepts only what encoding/json accepts as
// an object, and agrees with it on top-level string members.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":"b","c":[1,2,{"d":null}],"e":true,"f":false}`, `{"a":"\u00e9\ud83d\ude00\n\"\\\/"}`,
		`{"a":1,"a":2}`, `{"a":"\ud800"}`, `[1]`, `{"a":1}x`, "\xef\xbb\xbf{}", `{"a":-0.5e+10}`, `{"a":01}`,
		`{"a" : { "b" : [ ] } }`, `{"\u0061":1,"a":2}`, string(mustJSON(baseClaims())), string(mustJSON(benchClaims())),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := strictjson.ValidateObject(doc)
		var c claims
		perr := parseClaims(doc, fuzzInterest, &c)
		// parseClaims also applies claim types: it may only refuse more.
		if perr == nil && err != nil {
			t.Fatalf("parseClaims accepted what validateObject refused: %v", err)
		}
		if err != nil {
			return
		}
		if !json.Valid(doc) || !utf8.Valid(doc) {
			t.Fatalf("accepted invalid JSON %q", doc)
		}
		trimmed := bytes.TrimLeft(doc, " \t\r\n")
		if len(trimmed) == 0 || trimmed[0] != '{' {
			t.Fatalf("accepted a non-object %q", doc)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber() // 1e700 is valid JSON, not a float64
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", doc, err)
		}
		for name, val := range m {
			v, ok := strictjson.LookupMember(doc, strictjson.Value{Start: bytes.IndexByte(doc, '{'), End: len(doc), Kind: strictjson.Object}, name)
			if !ok {
				t.Fatalf("member %q not found", name)
			}
			if s, isStr := val.(string); isStr {
				if v.Kind != strictjson.String || strictjson.StringOf(string(doc), v) != s {
					t.Fatalf("member %q: %q vs %q", name, strictjson.StringOf(string(doc), v), s)
				}
			}
		}
	})
}

// FuzzVerifySigned signs arbitrary header and claims bytes with a trusted
// EdDSA key, so the fuzzer reaches every check after the signature. Whatever
// is accepted must agree with encoding/json's reading of the same bytes.
func FuzzVerifySigned(f *testing.F) {
	f.Add(hdrJSON("EdDSA"), mustJSON(baseClaims()))
	f.Add([]byte(`{"alg":"EdDSA","typ":"JWT"}`), mustJSON(benchClaims()))
	f.Add([]byte(`{"alg":"EdDSA","kid":"EdDSA","crit":["x"]}`), []byte(`{"iss":"https://issuer.test","exp":1e10,"aud":["api://orders"],"azp":"worker","scp":["a","b"],"realm_access":{"roles":["r"]}}`))
	f.Add([]byte(`{"alg":"EdDSA","kid":"EdDSA","typ":"application/AT+JWT"}`), []byte(`{"iss":"https://issuer.test","exp":1795773600.5,"nbf":1795769940,"aud":"api://orders","client_id":"worker","scope":"x  y","roles":[],"permissions":["p"]}`))
	v := newV(f, func(c *Config) { c.Cache.Disabled = true })
	priv := fx("EdDSA").priv
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		if len(header)+len(claims) > 4096 {
			return
		}
		token := signToken("EdDSA", priv, header, claims)
		p, err := v.Verify(ctx, token)
		if err != nil {
			if p != nil || !strings.HasPrefix(err.Error(), "jwtverify: ") {
				t.Fatalf("bad rejection %v", err)
			}
			return
		}
		var h map[string]any
		var c map[string]any
		if decodeNum(header, &h) != nil || decodeNum(claims, &c) != nil || !utf8.Valid(header) || !utf8.Valid(claims) {
			t.Fatal("accepted JSON that encoding/json refuses")
		}
		if h["alg"] != "EdDSA" {
			t.Fatalf("alg %v", h["alg"])
		}
		for _, bad := range []string{"crit", "b64", "cty", "zip", "enc"} {
			if _, ok := h[bad]; ok {
				t.Fatalf("accepted header %s", bad)
			}
		}
		if typ, ok := h["typ"]; ok {
			s, _ := typ.(string)
			s = strings.TrimPrefix(strings.ToLower(s), "application/")
			if s != "at+jwt" && s != "jwt" {
				t.Fatalf("accepted typ %v", typ)
			}
		}
		if kid, ok := h["kid"]; ok && kid != "EdDSA" {
			t.Fatalf("accepted kid %v", kid)
		}
		if c["iss"] != testIss || p.Issuer() != testIss {
			t.Fatalf("iss %v", c["iss"])
		}
		exp, ok := numOf(c["exp"])
		if !ok || exp < float64(testNow.Unix()-30) || exp > 253402300799 {
			t.Fatalf("exp %v", c["exp"])
		}
		for _, n := range []string{"nbf", "iat"} {
			if x, ok := c[n]; ok {
				if f, isNum := numOf(x); !isNum || f > float64(testNow.Unix()+30) || f < 0 {
					t.Fatalf("%s %v", n, x)
				}
			}
		}
		audOK := false
		switch a := c["aud"].(type) {
		case string:
			audOK = a == testAud
		case []any:
			for _, e := range a {
				s, isStr := e.(string)
				if !isStr {
					t.Fatalf("aud element %v", e)
				}
				audOK = audOK || s == testAud
			}
		}
		if !audOK {
			t.Fatalf("aud %v", c["aud"])
		}
		client := ""
		for _, n := range DefaultClientIDClaims() {
			if x, ok := c[n]; ok && x != nil {
				client, _ = x.(string)
				break
			}
		}
		if client != testClient || p.ClientID() != testClient {
			t.Fatalf("client %q %q", client, p.ClientID())
		}
		// Permissions: recompute from encoding/json's view.
		want := map[string]bool{}
		for _, n := range []string{"scope", "scp", "roles", "permissions"} {
			switch x := c[n].(type) {
			case string:
				for _, s := range strings.Split(x, " ") {
					if s != "" {
						want[s] = true
					}
				}
			case []any:
				for _, e := range x {
					if s, _ := e.(string); s != "" {
						want[s] = true
					}
				}
			}
		}
		got := p.Scopes()
		if len(got) != len(want) {
			t.Fatalf("scopes %q, want %v", got, want)
		}
		for _, s := range got {
			if !want[s] {
				t.Fatalf("scope %q not in the claims", s)
			}
		}
	})
}

// decodeNum decodes JSON keeping numbers as json.Number (1e700 is valid).
func decodeNum(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	var extra json.RawMessage
	if dec.Decode(&extra) != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

func numOf(x any) (float64, bool) {
	n, ok := x.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}
