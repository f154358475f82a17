package jwtverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/internal/jose"
	"github.com/m2mauth/m2mauth/jwkscache"
)

// secCase is one row of SECURITY.md (or a principle behind it).
type secCase struct {
	name  string
	token func(t *testing.T) string
	cfg   func(*Config)
	want  Reason // "" = accept
	check func(t *testing.T, p *Principal, err error)
}

func hmacSign(key []byte, header, claims []byte) string {
	in := b64(header) + "." + b64(claims)
	m := hmacSHA256(key, []byte(in))
	return in + "." + b64(m)
}

func runCases(t *testing.T, cases []secCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newV(t, tc.cfg)
			token := tc.token(t)
			p, err := v.Verify(context.Background(), token)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want accept, got %v", err)
				}
			} else {
				if err == nil {
					t.Fatalf("want %s, got accepted principal %v", tc.want, p)
				}
				if p != nil {
					t.Fatalf("principal returned with error")
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T is not *Error", err)
				}
				if e.Reason != tc.want {
					t.Fatalf("want reason %s, got %v", tc.want, err)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "jwtverify: ") {
					t.Fatalf("message without prefix: %q", msg)
				}
				if len(token) > 20 && strings.Contains(msg, token) {
					t.Fatalf("message contains the token")
				}
				if len(msg) > 400 {
					t.Fatalf("message too long (%d bytes): attacker text not truncated?", len(msg))
				}
				// Code mapping: every token rejection is invalid_token
				// except keys_unavailable.
				if got := e.Reason.Code(); tc.want != ReasonKeysUnavailable && got != CodeInvalidToken {
					t.Fatalf("code %q", got)
				}
			}
			if tc.check != nil {
				tc.check(t, p, err)
			}
		})
	}
}

func tokenOf(s string) func(*testing.T) string { return func(*testing.T) string { return s } }

func TestSecurityCatalogue(t *testing.T) {
	fixtures()
	rsaPub := fx("RS256").priv.Public().(*rsa.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(rsaPub)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON := mustJSON(map[string]any{"kty": "RSA", "n": b64(rsaPub.N.Bytes()), "e": "AQAB"})
	claims := mustJSON(baseClaims())
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerJWK := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(attacker.X.FillBytes(make([]byte, 32))), "y": b64(attacker.Y.FillBytes(make([]byte, 32)))}
	signAttacker := func(h map[string]any) string {
		return signToken("ES256", attacker, mustJSON(h), claims)
	}

	// B2: a server the token points to; it must never be contacted.
	var hits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"keys":[%s]}`, mustJSON(attackerJWK))
	}))
	defer evil.Close()

	// B3: self-signed certificate of the attacker's key.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer.test"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &attacker.PublicKey, attacker)
	if err != nil {
		t.Fatal(err)
	}

	es256 := func(mut func(sig []byte) []byte) func(*testing.T) string {
		return func(*testing.T) string {
			in := b64(hdrJSON("ES256")) + "." + b64(claims)
			sig := signRaw("ES256", fx("ES256").priv, []byte(in))
			return in + "." + b64(mut(sig))
		}
	}
	n256 := orderBytes(elliptic.P256())
	countingSrc := newSwapSource(trustedKeys()...)

	cases := []secCase{
		// A: algorithms.
		{name: "A1_alg_none", token: tokenOf(b64([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + b64(claims) + "."), want: ReasonMalformed},
		{name: "A1_alg_None_case_variants", token: func(t *testing.T) string {
			return b64([]byte(`{"alg":"NoNe","kid":"RS256"}`)) + "." + b64(claims) + "." + b64([]byte("x"))
		}, want: ReasonUnsupportedAlg},
		{name: "A1_alg_none_with_signature", token: func(t *testing.T) string {
			return b64([]byte(`{"alg":"none","kid":"RS256"}`)) + "." + b64(claims) + "." + b64([]byte("sig"))
		}, want: ReasonUnsupportedAlg},
		{name: "A3_HS256_with_RSA_PEM", token: tokenOf(hmacSign(pemBytes, []byte(`{"alg":"HS256","kid":"RS256"}`), claims)), want: ReasonUnsupportedAlg},
		{name: "A3_HS256_with_RSA_DER", token: tokenOf(hmacSign(der, []byte(`{"alg":"HS256","kid":"RS256"}`), claims)), want: ReasonUnsupportedAlg},
		{name: "A3_HS256_with_RSA_JWK", token: tokenOf(hmacSign(jwkJSON, []byte(`{"alg":"HS256","kid":"RS256"}`), claims)), want: ReasonUnsupportedAlg},
		{name: "A5_PS256_with_RS256_key", token: func(t *testing.T) string {
			// Same RSA key material, JWK alg RS256, token alg PS256.
			return tok("RS256", map[string]any{"alg": "PS256"}, nil)
		}, want: ReasonUnsupportedAlg},
		{name: "A6_ES256_with_RSA_key", token: func(t *testing.T) string {
			return signToken("ES256", fx("ES256").priv, []byte(`{"alg":"ES256","kid":"RS256"}`), claims)
		}, want: ReasonUnsupportedAlg},
		{name: "A6_ES384_with_P256_key", token: func(t *testing.T) string {
			// What jwx accepted: SHA-384 digest signed by a P-256 key, 64-byte signature.
			in := b64([]byte(`{"alg":"ES384","kid":"ES256"}`)) + "." + b64(claims)
			d := sha512.Sum384([]byte(in))
			r, s, _ := ecdsa.Sign(rand.Reader, fx("ES256").priv.(*ecdsa.PrivateKey), d[:])
			sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
			return in + "." + b64(sig)
		}, want: ReasonUnsupportedAlg},
		{name: "A6_ES384_with_P256_key_no_jwk_alg", cfg: func(c *Config) {
			k := fx("ES256").key
			k.Alg = ""
			c.Issuers[0].Keys = jwkscache.NewStatic("s", k)
		}, token: func(t *testing.T) string {
			in := b64([]byte(`{"alg":"ES384","kid":"ES256"}`)) + "." + b64(claims)
			d := sha512.Sum384([]byte(in))
			r, s, _ := ecdsa.Sign(rand.Reader, fx("ES256").priv.(*ecdsa.PrivateKey), d[:])
			sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
			return in + "." + b64(sig)
		}, want: ReasonUnsupportedAlg},
		{name: "A6_EdDSA_with_EC_key", token: func(t *testing.T) string {
			return signToken("EdDSA", fx("EdDSA").priv, []byte(`{"alg":"EdDSA","kid":"ES256"}`), claims)
		}, want: ReasonUnsupportedAlg},
		{name: "A7_JWK_without_alg_inferred", token: tokenOf(tok("noalg-rsa", nil, nil)), want: ""},
		{name: "A7_JWK_without_alg_still_allow_listed", cfg: func(c *Config) {
			c.Issuers[0].Algorithms = []string{"ES256"}
		}, token: tokenOf(tok("noalg-rsa", nil, nil)), want: ReasonUnsupportedAlg},
		{name: "A8_alg_number", token: tokenOf(rawTok("RS256", []byte(`{"alg":256,"kid":"RS256"}`), claims)), want: ReasonMalformed},
		{name: "A8_alg_array", token: tokenOf(rawTok("RS256", []byte(`{"alg":["RS256"],"kid":"RS256"}`), claims)), want: ReasonMalformed},
		{name: "A8_alg_missing", token: tokenOf(rawTok("RS256", []byte(`{"kid":"RS256"}`), claims)), want: ReasonMalformed},

		// B: keys.
		{name: "B1_jwk_header_attacker_key", token: func(t *testing.T) string {
			return signAttacker(map[string]any{"alg": "ES256", "jwk": attackerJWK})
		}, want: ReasonBadSignature},
		{name: "B1_jwk_header_attacker_key_with_trusted_kid", token: func(t *testing.T) string {
			return signAttacker(map[string]any{"alg": "ES256", "kid": "ES256", "jwk": attackerJWK})
		}, want: ReasonBadSignature},
		{name: "B2_jku_header", token: func(t *testing.T) string {
			return signAttacker(map[string]any{"alg": "ES256", "kid": "evil", "jku": evil.URL})
		}, want: ReasonUnknownKey, check: func(t *testing.T, _ *Principal, _ error) {
			if n := hits.Load(); n != 0 {
				t.Fatalf("%d requests to the jku server", n)
			}
		}},
		{name: "B2_x5u_header", token: func(t *testing.T) string {
			return signAttacker(map[string]any{"alg": "ES256", "kid": "ES256", "x5u": evil.URL})
		}, want: ReasonBadSignature, check: func(t *testing.T, _ *Principal, _ error) {
			if n := hits.Load(); n != 0 {
				t.Fatalf("%d requests to the x5u server", n)
			}
		}},
		{name: "B3_x5c_self_signed", token: func(t *testing.T) string {
			return signAttacker(map[string]any{"alg": "ES256", "x5c": []string{b64Std(cert)}})
		}, want: ReasonBadSignature},
		{name: "B4_kid_path_traversal", token: tokenOf(tok("RS256", map[string]any{"kid": "../../etc/passwd"}, nil)), want: ReasonUnknownKey},
		{name: "B4_kid_sql", token: tokenOf(tok("RS256", map[string]any{"kid": "' OR 1=1 --"}, nil)), want: ReasonUnknownKey},
		{name: "B4_kid_nul", token: tokenOf(tok("RS256", map[string]any{"kid": "RS256\x00"}, nil)), want: ReasonUnknownKey},
		{name: "B4_kid_40KB_max_cap", cfg: func(c *Config) { c.MaxTokenSize = MaxMaxTokenSize },
			token: tokenOf(tok("RS256", map[string]any{"kid": strings.Repeat("k", 40<<10)}, nil)), want: ReasonMalformed},
		{name: "B4_kid_100KB_default_cap", token: tokenOf(tok("RS256", map[string]any{"kid": strings.Repeat("k", 100<<10)}, nil)), want: ReasonMalformed},
		{name: "B4_kid_over_256_bytes_never_looked_up", cfg: func(c *Config) { c.Issuers[0].Keys = countingSrc },
			token: tokenOf(tok("RS256", map[string]any{"kid": strings.Repeat("k", 300)}, nil)), want: ReasonMalformed,
			check: func(t *testing.T, _ *Principal, _ error) {
				if n := countingSrc.lookups.Load(); n != 0 {
					t.Fatalf("%d key lookups (refresh risk) for an over-long kid", n)
				}
			}},
		{name: "B4_kid_over_256_bytes", token: tokenOf(tok("RS256", map[string]any{"kid": strings.Repeat("k", 257)}, nil)), want: ReasonMalformed},
		{name: "B12_RSA_1024_key", cfg: func(c *Config) {
			small := genRSA(1024)
			k := jwkscache.Key{KID: "small", Kty: "RSA", Alg: "RS256", Public: &small.PublicKey, Thumbprint: "t"}
			keysByID["small"] = &testKey{alg: "RS256", kid: "small", priv: small, key: k}
			c.Issuers[0].Keys = jwkscache.NewStatic("s", k)
		}, token: func(t *testing.T) string { return tok("small", nil, nil) }, want: ReasonUnsupportedAlg},
		{name: "B12_RSA_e1_key", cfg: func(c *Config) {
			pub := rsaPool[3].PublicKey
			pub.E = 1
			c.Issuers[0].Keys = jwkscache.NewStatic("s", jwkscache.Key{KID: "e1", Kty: "RSA", Public: &pub, Thumbprint: "t"})
		}, token: func(t *testing.T) string {
			// With e=1 the "signature" is the padded message itself.
			return tokFor("e1", "RS256", rsaPool[3])
		}, want: ReasonUnsupportedAlg},
		{name: "B14_crit_unknown", token: tokenOf(tok("RS256", map[string]any{"crit": []string{"exp-ext"}, "exp-ext": true}, nil)), want: ReasonMalformed},
		{name: "B16_b64_false", token: tokenOf(tok("RS256", map[string]any{"b64": false, "crit": []string{"b64"}}, nil)), want: ReasonMalformed},
		{name: "B16_b64_false_without_crit", token: tokenOf(tok("RS256", map[string]any{"b64": false}, nil)), want: ReasonMalformed},

		// C: serialization.
		{name: "C1_JWE_compact", token: tokenOf(b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM"}`)) + ".ZW5j.aXY.Y2lwaGVy.dGFn"), want: ReasonMalformed},
		{name: "C2_nested_JWT_cty", token: func(t *testing.T) string {
			inner := tok("RS256", nil, nil)
			return rawTok("RS256", []byte(`{"alg":"RS256","kid":"RS256","cty":"JWT"}`), []byte(`"`+inner+`"`))
		}, want: ReasonMalformed},
		{name: "C2_nested_JWT_cty_object_payload", token: tokenOf(tok("RS256", map[string]any{"cty": "JWT"}, nil)), want: ReasonMalformed},
		{name: "C3_two_segments", token: func(t *testing.T) string { s := tok("RS256", nil, nil); return s[:strings.LastIndexByte(s, '.')] }, want: ReasonMalformed},
		{name: "C3_four_segments", token: func(t *testing.T) string { return tok("RS256", nil, nil) + ".AAAA" }, want: ReasonMalformed},
		{name: "C3_trailing_dot", token: func(t *testing.T) string { return tok("RS256", nil, nil) + "." }, want: ReasonMalformed},
		{name: "C3_empty_segment", token: func(t *testing.T) string {
			s := tok("RS256", nil, nil)
			return s[:strings.IndexByte(s, '.')] + ".." + s[strings.LastIndexByte(s, '.')+1:]
		}, want: ReasonMalformed},
		{name: "C3_empty_signature", token: func(t *testing.T) string { s := tok("RS256", nil, nil); return s[:strings.LastIndexByte(s, '.')+1] }, want: ReasonMalformed},
		{name: "C4_1MB_of_dots", token: tokenOf(strings.Repeat(".", 1<<20)), want: ReasonMalformed,
			check: func(t *testing.T, _ *Principal, _ error) {
				v := newV(t, nil)
				dots := strings.Repeat(".", 1<<20)
				if n := testing.AllocsPerRun(20, func() { _, _ = v.Verify(context.Background(), dots) }); n > 2 {
					t.Fatalf("%v allocations for an oversized token", n)
				}
			}},
		{name: "C5_JWS_JSON_serialization", token: func(t *testing.T) string {
			s := strings.Split(tok("RS256", nil, nil), ".")
			return string(mustJSON(map[string]any{"payload": s[1], "signatures": []any{map[string]any{"protected": s[0], "signature": s[2]}}}))
		}, want: ReasonMalformed},
		{name: "C6_newline_inside", token: func(t *testing.T) string { s := tok("RS256", nil, nil); return s[:20] + "\n" + s[20:] }, want: ReasonMalformed},
		{name: "C6_CRLF_inside_payload", token: func(t *testing.T) string {
			s := tok("RS256", nil, nil)
			i := strings.IndexByte(s, '.') + 10
			return s[:i] + "\r\n" + s[i:]
		}, want: ReasonMalformed},
		{name: "C6_space_inside", token: func(t *testing.T) string { s := tok("RS256", nil, nil); return s[:20] + " " + s[20:] }, want: ReasonMalformed},
		{name: "C7_padding", token: func(t *testing.T) string {
			h := base64URLPadded(hdrJSON("RS256") /* len%3 != 0 makes padding */)
			return h + "." + strings.SplitN(tok("RS256", nil, nil), ".", 2)[1]
		}, want: ReasonMalformed},
		{name: "C7_padding_on_signature", token: func(t *testing.T) string { return tok("ES256", nil, nil) + "==" }, want: ReasonMalformed},
		{name: "C8_standard_alphabet", token: func(t *testing.T) string {
			s := tok("RS256", nil, nil)
			i := strings.LastIndexByte(s, '.') + 1
			return s[:i] + strings.NewReplacer("-", "+", "_", "/").Replace(s[i:]) + "+/"
		}, want: ReasonMalformed},
		{name: "C10_signed_token_over_cap", token: tokenOf(tok("RS256", nil, map[string]any{"pad": strings.Repeat("x", 16<<10)})), want: ReasonMalformed},
		{name: "C10_signed_token_over_configured_cap", cfg: func(c *Config) { c.MaxTokenSize = 600 },
			token: tokenOf(tok("RS256", nil, nil)), want: ReasonMalformed},
		{name: "C11_ES256_DER_signature", token: es256(func(sig []byte) []byte {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			d, _ := asn1Sig(r, s)
			return d
		}), want: ReasonBadSignature},
		{name: "C11_ES256_truncated", token: es256(func(sig []byte) []byte { return sig[:63] }), want: ReasonBadSignature},
		{name: "C11_ES256_extended", token: es256(func(sig []byte) []byte { return append(sig, 0) }), want: ReasonBadSignature},

		// D: JSON.
		{name: "D1_duplicate_header_alg", token: tokenOf(rawTok("RS256", []byte(`{"alg":"RS256","kid":"RS256","alg":"none"}`), claims)), want: ReasonMalformed},
		{name: "D1_duplicate_header_alg_escaped", token: tokenOf(rawTok("RS256", []byte(`{"alg":"RS256","kid":"RS256","\u0061lg":"RS256"}`), claims)), want: ReasonMalformed},
		{name: "D1_duplicate_claim_exp", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.Replace(string(claims), `{`, `{"exp":1,`, 1)))), want: ReasonMalformed},
		{name: "D1_duplicate_nested_member", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.Replace(string(claims), `{`, `{"x":{"a":1,"a":2},`, 1)))), want: ReasonMalformed},
		{name: "D3_claims_null", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(`null`))), want: ReasonMalformed},
		{name: "D3_claims_array", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(`[]`))), want: ReasonMalformed},
		{name: "D3_claims_string", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(`"str"`))), want: ReasonMalformed},
		{name: "D3_claims_number", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(`123`))), want: ReasonMalformed},
		{name: "D4_trailing_bytes", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), append(append([]byte{}, claims...), `{}`...))), want: ReasonMalformed},
		{name: "D4_trailing_garbage_in_header", token: tokenOf(rawTok("RS256", append(hdrJSON("RS256"), 'x'), claims)), want: ReasonMalformed},
		{name: "D4_trailing_whitespace_ok", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), append(append([]byte{}, claims...), " \n"...))), want: ""},
		{name: "D6_non_UTF8_claims", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.Replace(string(claims), `"jti-1"`, "\"j\xff\"", 1)))), want: ReasonMalformed},
		{name: "D6_non_UTF8_header", token: tokenOf(rawTok("RS256", []byte("{\"alg\":\"RS256\",\"kid\":\"RS256\",\"x\":\"\xc3\x28\"}"), claims)), want: ReasonMalformed},
		{name: "D6_BOM_claims", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), append([]byte("\xef\xbb\xbf"), claims...))), want: ReasonMalformed},
		{name: "D6_BOM_header", token: tokenOf(rawTok("RS256", append([]byte("\xef\xbb\xbf"), hdrJSON("RS256")...), claims)), want: ReasonMalformed},

		// E: time.
		{name: "E1_exp_missing", token: tokenOf(tok("RS256", nil, map[string]any{"exp": nil})), want: ReasonMissingClaim},
		{name: "E2_exp_numeric_string", token: tokenOf(tok("RS256", nil, map[string]any{"exp": fmt.Sprint(testNow.Unix() + 3600)})), want: ReasonMalformed},
		{name: "E2_exp_RFC3339", token: tokenOf(tok("RS256", nil, map[string]any{"exp": testNow.Add(time.Hour).Format(time.RFC3339)})), want: ReasonMalformed},
		{name: "E2_exp_true", token: tokenOf(tok("RS256", nil, map[string]any{"exp": true})), want: ReasonMalformed},
		{name: "E2_exp_null", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.Replace(string(claims), `"exp":`, `"exp":null,"x":`, 1)))), want: ReasonMalformed},
		{name: "E4_fractional_exp_future", token: tokenOf(tok("RS256", nil, map[string]any{"exp": float64(testNow.Unix()) + 1800.25})), want: "",
			check: func(t *testing.T, p *Principal, _ error) {
				if want := testNow.Add(1800*time.Second + 250*time.Millisecond); !p.ExpiresAt().Equal(want) {
					t.Fatalf("ExpiresAt %v, want %v", p.ExpiresAt(), want)
				}
			}},
		{name: "E5_exp_zero", token: tokenOf(tok("RS256", nil, map[string]any{"exp": 0, "iat": nil})), want: ReasonExpired},
		{name: "E5_exp_negative", token: tokenOf(tok("RS256", nil, map[string]any{"exp": -1, "iat": nil})), want: ReasonMalformed},
		{name: "E5_exp_beyond_9999", token: tokenOf(tok("RS256", nil, map[string]any{"exp": 253402300800})), want: ReasonMalformed},
		{name: "E5_exp_huge_exponent", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.Replace(string(claims), `"exp":`, `"exp":1e400,"x":`, 1)))), want: ReasonMalformed},
		{name: "E7_exp_just_outside_leeway", token: tokenOf(tok("RS256", nil, map[string]any{"exp": testNow.Unix() - 30, "iat": testNow.Unix() - 3600})), want: ReasonExpired},
		{name: "E7_exp_just_inside_leeway", token: tokenOf(tok("RS256", nil, map[string]any{"exp": testNow.Unix() - 29, "iat": testNow.Unix() - 3600})), want: ""},
		{name: "E7_exp_just_past_no_leeway", cfg: func(c *Config) { c.Issuers[0].Leeway = NoLeeway },
			token: tokenOf(tok("RS256", nil, map[string]any{"exp": testNow.Unix()})), want: ReasonExpired},
		{name: "E8_nbf_beyond_leeway", token: tokenOf(tok("RS256", nil, map[string]any{"nbf": testNow.Unix() + 31})), want: ReasonNotYetValid},
		{name: "E8_nbf_within_leeway", token: tokenOf(tok("RS256", nil, map[string]any{"nbf": testNow.Unix() + 30})), want: ""},
		{name: "E9_iat_beyond_leeway", token: tokenOf(tok("RS256", nil, map[string]any{"iat": testNow.Unix() + 31})), want: ReasonNotYetValid},
		{name: "E9_iat_within_leeway", token: tokenOf(tok("RS256", nil, map[string]any{"iat": testNow.Unix() + 30})), want: ""},

		// F: binding.
		{name: "F1_aud_string", token: tokenOf(tok("RS256", nil, nil)), want: ""},
		{name: "F1_aud_array", token: tokenOf(tok("RS256", nil, map[string]any{"aud": []string{"other", testAud}})), want: "",
			check: func(t *testing.T, p *Principal, _ error) {
				if a := p.Audiences(); len(a) != 2 || a[1] != testAud {
					t.Fatalf("Audiences %v", a)
				}
			}},
		{name: "F2_aud_empty_array", token: tokenOf(tok("RS256", nil, map[string]any{"aud": []string{}})), want: ReasonAudience},
		{name: "F3_aud_not_matching", token: tokenOf(tok("RS256", nil, map[string]any{"aud": "api://other"})), want: ReasonAudience},
		{name: "F3_aud_missing", token: tokenOf(tok("RS256", nil, map[string]any{"aud": nil})), want: ReasonAudience},
		{name: "F3_aud_not_string", token: tokenOf(tok("RS256", nil, map[string]any{"aud": []any{1}})), want: ReasonMalformed},
		{name: "F5_aud_case", token: tokenOf(tok("RS256", nil, map[string]any{"aud": "API://orders"})), want: ReasonAudience},
		{name: "F5_aud_trailing_slash", token: tokenOf(tok("RS256", nil, map[string]any{"aud": testAud + "/"})), want: ReasonAudience},
		{name: "F5_aud_trailing_slash_configured", cfg: func(c *Config) { c.Issuers[0].Audiences = []string{testAud + "/"} },
			token: tokenOf(tok("RS256", nil, map[string]any{"aud": testAud + "/"})), want: ""},
		{name: "F6_iss_trailing_slash", token: tokenOf(tok("RS256", nil, map[string]any{"iss": testIss + "/"})), want: ReasonIssuer},
		{name: "F6_iss_missing", token: tokenOf(tok("RS256", nil, map[string]any{"iss": nil})), want: ReasonIssuer},
		{name: "F7_typ_at+jwt", token: tokenOf(tok("RS256", map[string]any{"typ": "at+jwt"}, nil)), want: ""},
		{name: "F7_typ_application_at+jwt", token: tokenOf(tok("RS256", map[string]any{"typ": "application/at+jwt"}, nil)), want: ""},
		{name: "F7_typ_AT+JWT", token: tokenOf(tok("RS256", map[string]any{"typ": "AT+JWT"}, nil)), want: ""},
		{name: "F7_typ_Application_AT+jwt_strict", cfg: strict, token: tokenOf(tok("RS256", map[string]any{"typ": "Application/AT+jwt"}, nil)), want: ""},
		{name: "F7_typ_JWT_default", token: tokenOf(tok("RS256", map[string]any{"typ": "JWT"}, nil)), want: ""},
		{name: "F7_typ_absent_default", token: tokenOf(tok("RS256", map[string]any{"typ": nil}, nil)), want: ""},
		{name: "F8_typ_JWT_strict", cfg: strict, token: tokenOf(tok("RS256", map[string]any{"typ": "JWT"}, nil)), want: ReasonType},
		{name: "F8_typ_missing_strict", cfg: strict, token: tokenOf(tok("RS256", map[string]any{"typ": nil}, nil)), want: ReasonType},
		{name: "F8_typ_other_always_refused", token: tokenOf(tok("RS256", map[string]any{"typ": "dpop+jwt"}, nil)), want: ReasonType},
		{name: "F8_typ_secevent_refused", token: tokenOf(tok("RS256", map[string]any{"typ": "secevent+jwt"}, nil)), want: ReasonType},
		{name: "F10_ID_token_default_policy", token: tokenOf(idToken()), want: ReasonAudience},
		{name: "F10_ID_token_strict", cfg: strict, token: tokenOf(idToken()), want: ReasonType},
		{name: "F10_ID_token_for_this_audience_keycloak_typ", token: tokenOf(tok("RS256", map[string]any{"typ": "JWT"}, map[string]any{"typ": "ID", "nonce": "n"})), want: ReasonType},
		{name: "F10_ID_token_cognito_token_use", token: tokenOf(tok("RS256", map[string]any{"typ": nil}, map[string]any{"token_use": "id"})), want: ReasonType},

		// G: ECDSA.
		{name: "G1_ES256_r_s_zero", token: es256(func(sig []byte) []byte { return make([]byte, 64) }), want: ReasonBadSignature},
		{name: "G1_ES256_r_zero", token: es256(func(sig []byte) []byte { copy(sig[:32], make([]byte, 32)); return sig }), want: ReasonBadSignature},
		{name: "G2_ES256_r_equals_n", token: es256(func(sig []byte) []byte { copy(sig[:32], n256); return sig }), want: ReasonBadSignature},
		{name: "G2_ES256_s_plus_n", token: es256(func(sig []byte) []byte {
			// s + n (if it fits in 32 bytes) is the same value mod n.
			s := new(big.Int).SetBytes(sig[32:])
			s.Add(s, elliptic.P256().Params().N)
			if s.BitLen() > 256 {
				copy(sig[32:], []byte{0xff, 0xff, 0xff, 0xff})
				return sig
			}
			s.FillBytes(sig[32:])
			return sig
		}), want: ReasonBadSignature},
		{name: "G2_ES256_s_all_ones", token: es256(func(sig []byte) []byte {
			for i := 32; i < 64; i++ {
				sig[i] = 0xff
			}
			return sig
		}), want: ReasonBadSignature},
	}
	runCases(t, cases)
}

func strict(c *Config) { c.Issuers[0].TokenType = TypeStrictRFC9068 }

// idToken is an OpenID Connect ID token of the same issuer: typ JWT, aud
// the relying party's client ID, nonce.
func idToken() string {
	return tok("RS256", map[string]any{"typ": "JWT"}, map[string]any{
		"aud": testClient, "nonce": "n-0S6_WzA2Mj", "auth_time": testNow.Unix() - 100, "scope": nil,
	})
}

func b64Std(b []byte) string {
	return strings.NewReplacer("-", "+", "_", "/").Replace(b64(b)) + strings.Repeat("=", (3-len(b)%3)%3)
}

func base64URLPadded(b []byte) string {
	for len(b)%3 == 0 {
		b = append(b, ' ')
	}
	return b64(b) + strings.Repeat("=", (3-len(b)%3)%3)
}

// tokFor signs default claims as alg with an arbitrary RSA key and kid.
func tokFor(kid, alg string, priv *rsa.PrivateKey) string {
	h := mustJSON(map[string]any{"alg": alg, "kid": kid})
	return signToken(alg, priv, h, mustJSON(baseClaims()))
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func asn1Sig(r, s *big.Int) ([]byte, error) {
	return jose.AppendDERSig(nil, r.Bytes(), s.Bytes()), nil
}
