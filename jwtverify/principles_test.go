package jwtverify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"crypto"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// flipLastBits makes the encoding of seg non-canonical: the unused low
// bits of its last character are set (Go's lenient decoders ignore them).
func flipLastBits(seg string) string {
	if len(seg)%4 == 0 {
		return "" // no unused bits
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

// nonCanonical returns token with segment i re-encoded non-canonically,
// padding payload bytes until the segment length leaves unused bits.
func nonCanonical(t *testing.T, i int) string {
	for pad := 0; pad < 3; pad++ {
		c := baseClaims()
		c["p"] = strings.Repeat("x", pad)
		tk := tok("ES256", nil, c)
		seg := strings.Split(tk, ".")
		if s := flipLastBits(seg[i]); s != "" {
			seg[i] = s
			return strings.Join(seg, ".")
		}
	}
	t.Fatal("no non-canonical form")
	return ""
}

func nested(depth int) string {
	return strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth)
}

func claimsWith(extra string) []byte {
	c := string(mustJSON(baseClaims()))
	return []byte("{" + extra + "," + c[1:])
}

func TestPrinciples(t *testing.T) {
	fixtures()
	multi := func(n, good int) func(c *Config) {
		// n RSA keys without kid; the signer is key index good.
		return func(c *Config) {
			var ks []jwkscache.Key
			for i := 0; i < n; i++ {
				priv := fx("RS256").priv.(*rsa.PrivateKey)
				if i != good {
					priv = genRSAFast(i)
				}
				ks = append(ks, mustKey("", "RS256", priv.Public()))
			}
			c.Issuers[0].Keys = jwkscache.NewStatic("multi", ks...)
		}
	}
	noKid := func(*testing.T) string { return tok("RS256", map[string]any{"kid": nil}, nil) }
	cases := []secCase{
		{name: "canonical_header_trailing_bits", token: func(t *testing.T) string { return nonCanonical(t, 0) }, want: ReasonMalformed},
		{name: "canonical_payload_trailing_bits", token: func(t *testing.T) string { return nonCanonical(t, 1) }, want: ReasonMalformed},
		{name: "canonical_signature_trailing_bits", token: func(t *testing.T) string {
			// ES256: 64 bytes encode to 86 characters with 4 unused bits.
			seg := strings.Split(tok("ES256", nil, nil), ".")
			seg[2] = flipLastBits(seg[2])
			return strings.Join(seg, ".")
		}, want: ReasonMalformed},
		{name: "segment_length_mod4_1", token: func(t *testing.T) string { return tok("ES256", nil, nil) + "AAA" }, want: ReasonMalformed},
		{name: "alg_lower_case", token: tokenOf(rawTok("RS256", []byte(`{"alg":"rs256","kid":"RS256"}`), mustJSON(baseClaims()))), want: ReasonUnsupportedAlg},
		{name: "alg_not_allowed_for_issuer", cfg: func(c *Config) { c.Issuers[0].Algorithms = []string{"ES256"} }, token: tokenOf(tok("RS256", nil, nil)), want: ReasonUnsupportedAlg},
		{name: "alg_escaped_name_ok", token: tokenOf(rawTok("RS256", []byte(`{"\u0061lg":"RS\u0032\u0035\u0036","kid":"RS256"}`), mustJSON(baseClaims()))), want: ""},
		{name: "kid_not_string", token: tokenOf(rawTok("RS256", []byte(`{"alg":"RS256","kid":7}`), mustJSON(baseClaims()))), want: ReasonMalformed},
		{name: "typ_not_string", token: tokenOf(rawTok("RS256", []byte(`{"alg":"RS256","kid":"RS256","typ":1}`), mustJSON(baseClaims()))), want: ReasonType},
		{name: "zip_header", token: tokenOf(tok("RS256", map[string]any{"zip": "DEF"}, nil)), want: ReasonMalformed},
		{name: "x5t_allowed_and_ignored", token: tokenOf(tok("RS256", map[string]any{"x5t": "abc"}, nil)), want: ""},
		{name: "header_array", token: tokenOf(rawTok("RS256", []byte(`["RS256"]`), mustJSON(baseClaims()))), want: ReasonMalformed},
		{name: "header_over_limit", cfg: func(c *Config) { c.MaxTokenSize = MaxMaxTokenSize }, token: tokenOf(tok("RS256", map[string]any{"pad": strings.Repeat("p", 9000)}, nil)), want: ReasonMalformed},
		{name: "json_depth_16_ok", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"d":`+nested(15)))), want: ""},
		{name: "json_depth_17_refused", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"d":`+nested(16)))), want: ReasonMalformed},
		{name: "json_deep_10000", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"d":`+nested(5000)))), want: ReasonMalformed},
		{name: "json_lone_high_surrogate", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":"\ud800"`))), want: ReasonMalformed},
		{name: "json_lone_low_surrogate", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":"\udc00"`))), want: ReasonMalformed},
		{name: "json_surrogate_pair_ok", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":"\ud83d\ude00"`))), want: ""},
		{name: "json_control_char", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith("\"x\":\"a\tb\""))), want: ReasonMalformed},
		{name: "json_bad_escape", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":"\x41"`))), want: ReasonMalformed},
		{name: "json_leading_zero", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":01`))), want: ReasonMalformed},
		{name: "json_bare_fraction", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":1.`))), want: ReasonMalformed},
		{name: "json_plus_sign", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":+1`))), want: ReasonMalformed},
		{name: "json_NaN", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":NaN`))), want: ReasonMalformed},
		{name: "json_single_quotes", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`'x':1`))), want: ReasonMalformed},
		{name: "json_trailing_comma", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.TrimSuffix(string(mustJSON(baseClaims())), "}")+",}"))), want: ReasonMalformed},
		{name: "json_comment", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`/*c*/"x":1`))), want: ReasonMalformed},
		{name: "json_big_number_other_claim_ok", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"x":1e999`))), want: ""},
		{name: "exp_exponent_form_ok", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.Replace(string(mustJSON(baseClaims())), `"exp":`, fmt.Sprintf(`"exp":%de0,"x":`, testNow.Unix()+60), 1)))), want: ""},
		{name: "exp_negative_zero", token: tokenOf(rawTok("RS256", hdrJSON("RS256"), []byte(strings.Replace(string(mustJSON(baseClaims())), `"exp":`, `"exp":-0,"x":`, 1)))), want: ReasonExpired},
		{name: "iss_not_string", token: tokenOf(tok("RS256", nil, map[string]any{"iss": 1})), want: ReasonMalformed},
		{name: "sub_not_string", token: tokenOf(tok("RS256", nil, map[string]any{"sub": []string{"a"}})), want: ReasonMalformed},
		{name: "jti_null", token: tokenOf(tok("RS256", nil, map[string]any{"jti": []any{nil}})), want: ReasonMalformed},
		{name: "iss_unknown", token: tokenOf(tok("RS256", nil, map[string]any{"iss": "https://evil.test"})), want: ReasonIssuer},
		{name: "iss_case", token: tokenOf(tok("RS256", nil, map[string]any{"iss": strings.ToUpper(testIss)})), want: ReasonIssuer},
		{name: "no_kid_tries_3_keys_third_ok", cfg: multi(3, 2), token: noKid, want: ""},
		{name: "no_kid_4th_key_never_tried", cfg: multi(4, 3), token: noKid, want: ReasonBadSignature},
		{name: "duplicate_kid_candidates", cfg: func(c *Config) {
			other := mustKey("RS256", "RS256", genRSAFast(7).Public())
			c.Issuers[0].Keys = jwkscache.NewStatic("dup", other, fx("RS256").key)
		}, token: tokenOf(tok("RS256", nil, nil)), want: ""},
		{name: "key_issuer_matches", cfg: keyIssuer(testIss), token: tokenOf(tok("RS256", nil, nil)), want: ""},
		{name: "key_issuer_mismatch", cfg: keyIssuer("https://other.test"), token: tokenOf(tok("RS256", nil, nil)), want: ReasonUnknownKey},
		{name: "unknown_kid", token: tokenOf(tok("RS256", map[string]any{"kid": "nope"}, nil)), want: ReasonUnknownKey},
		{name: "bad_signature_other_key", token: func(t *testing.T) string {
			return signToken("RS256", genRSAFast(9), hdrJSON("RS256"), mustJSON(baseClaims()))
		}, want: ReasonBadSignature},
		{name: "bad_signature_payload_swapped", token: func(t *testing.T) string {
			a := strings.Split(tok("RS256", nil, nil), ".")
			b := strings.Split(tok("RS256", nil, map[string]any{"scope": "admin"}), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}, want: ReasonBadSignature},
		{name: "rsa_signature_short", token: func(t *testing.T) string {
			in := b64(hdrJSON("RS256")) + "." + b64(mustJSON(baseClaims()))
			sig := signRaw("RS256", fx("RS256").priv, []byte(in))
			return in + "." + b64(sig[1:])
		}, want: ReasonBadSignature},
		{name: "PS256_salt_length_must_equal_hash", token: func(t *testing.T) string {
			in := b64(hdrJSON("PS256")) + "." + b64(mustJSON(baseClaims()))
			d := sha256.Sum256([]byte(in))
			s, _ := rsa.SignPSS(rand.Reader, fx("PS256").priv.(*rsa.PrivateKey), crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: 20})
			return in + "." + b64(s)
		}, want: ReasonBadSignature},
		{name: "client_missing", token: tokenOf(tok("RS256", nil, map[string]any{"client_id": nil})), want: ReasonClient},
		{name: "client_not_allowed", token: tokenOf(tok("RS256", nil, map[string]any{"client_id": "intruder"})), want: ReasonClient},
		{name: "client_claim_order_azp_first", token: tokenOf(tok("RS256", nil, map[string]any{"azp": "intruder"})), want: ReasonClient},
		{name: "client_claim_not_string", token: tokenOf(tok("RS256", nil, map[string]any{"client_id": 5})), want: ReasonMalformed},
		{name: "client_any_allowed", cfg: func(c *Config) { c.Issuers[0].ClientIDs, c.Issuers[0].AllowAnyClient = nil, true },
			token: tokenOf(tok("RS256", nil, map[string]any{"client_id": nil})), want: ""},
		{name: "client_custom_claim", cfg: func(c *Config) { c.Issuers[0].ClientIDClaims = []string{"appid"} },
			token: tokenOf(tok("RS256", nil, map[string]any{"appid": testClient, "client_id": "x"})), want: ""},
		{name: "required_claim_missing", cfg: required("tid"), token: tokenOf(tok("RS256", nil, nil)), want: ReasonMissingClaim},
		{name: "required_claim_null", cfg: required("tid"), token: tokenOf(tok("RS256", nil, map[string]any{"tid": []any{}})), want: ""},
		{name: "required_claim_null_value", cfg: required("tid"), token: tokenOf(rawTok("RS256", hdrJSON("RS256"), claimsWith(`"tid":null`))), want: ReasonMissingClaim},
		{name: "required_claim_present", cfg: required("sub"), token: tokenOf(tok("RS256", nil, nil)), want: ""},
		{name: "skip_audience_check", cfg: func(c *Config) { c.Issuers[0].Audiences, c.Issuers[0].InsecureSkipAudienceCheck = nil, true },
			token: tokenOf(tok("RS256", nil, map[string]any{"aud": nil})), want: ""},
		{name: "validate_hook_reason", cfg: func(c *Config) {
			c.Issuers[0].Validate = func(p *Principal) error { return fmt.Errorf("not an app: %w", ErrType) }
		}, token: tokenOf(tok("RS256", nil, nil)), want: ReasonType},
		{name: "validate_hook_default_reason", cfg: func(c *Config) {
			c.Issuers[0].Validate = func(p *Principal) error { return errors.New("no") }
		}, token: tokenOf(tok("RS256", nil, nil)), want: ReasonMissingClaim},
		{name: "permission_claim_wrong_type", token: tokenOf(tok("RS256", nil, map[string]any{"scope": 5})), want: ReasonMalformed},
		{name: "permission_claim_array_non_string", token: tokenOf(tok("RS256", nil, map[string]any{"roles": []any{"a", 1}})), want: ReasonMalformed},
		{name: "attacker_text_truncated", token: tokenOf(tok("RS256", nil, map[string]any{"iss": strings.Repeat("A", 5000)})), want: ReasonIssuer,
			check: func(t *testing.T, _ *Principal, err error) {
				if strings.Count(err.Error(), "A") > 70 {
					t.Fatalf("untruncated: %d", len(err.Error()))
				}
			}},
		{name: "tenant_template", cfg: tenantCfg("72f988bf-86f1-41af-91ab-2d7cd011db47"),
			token: tokenOf(tok("RS256", nil, map[string]any{"iss": "https://login.test/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"})), want: ""},
		{name: "tenant_template_other_tenant", cfg: tenantCfg("72f988bf-86f1-41af-91ab-2d7cd011db47"),
			token: tokenOf(tok("RS256", nil, map[string]any{"iss": "https://login.test/11111111-86f1-41af-91ab-2d7cd011db47/v2.0", "tid": "11111111-86f1-41af-91ab-2d7cd011db47"})), want: ReasonIssuer},
	}
	runCases(t, cases)
}

var fastRSA = map[int]*rsa.PrivateKey{}

// genRSAFast returns a distinct 2048-bit key per index, generated once.
func genRSAFast(i int) *rsa.PrivateKey {
	if k, ok := fastRSA[i]; ok {
		return k
	}
	k := genRSA(2048)
	fastRSA[i] = k
	return k
}

func keyIssuer(iss string) func(c *Config) {
	return func(c *Config) {
		k := fx("RS256").key
		k.Issuer = iss
		c.Issuers[0].Keys = jwkscache.NewStatic("bound", k)
	}
}

func required(names ...string) func(c *Config) {
	return func(c *Config) { c.Issuers[0].RequiredClaims = names }
}

func tenantCfg(tenants ...string) func(c *Config) {
	return func(c *Config) {
		c.Issuers[0].Issuer = "https://login.test/{tenantid}/v2.0"
		c.Issuers[0].AllowedTenants = tenants
	}
}

// TestVerifyEachAlgorithm accepts a token of every supported algorithm.
func TestVerifyEachAlgorithm(t *testing.T) {
	v := newV(t, nil)
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tok(alg, nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			if p.ClientID() != testClient || p.Issuer() != testIss || p.IssuerName() != "test" {
				t.Fatalf("principal %v", p)
			}
		})
	}
}

// A JWK whose alg is RFC 9864's "Ed25519" verifies EdDSA tokens (jwkscache
// keeps such keys); it must not verify anything else.
func TestEd25519JWKAlgFitsEdDSA(t *testing.T) {
	ed := fx("EdDSA")
	k := mustKey("ed-9864", "Ed25519", ed.priv.Public())
	v := newV(t, func(c *Config) {
		c.Issuers[0].Keys = jwkscache.NewStatic("static", k)
	})
	good := signToken("EdDSA", ed.priv, mustJSON(map[string]any{"alg": "EdDSA", "kid": "ed-9864", "typ": "at+jwt"}), mustJSON(baseClaims()))
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatalf("EdDSA token with an Ed25519 JWK refused: %v", err)
	}
	es := signToken("ES256", fx("ES256").priv, mustJSON(map[string]any{"alg": "ES256", "kid": "ed-9864", "typ": "at+jwt"}), mustJSON(baseClaims()))
	if _, err := v.Verify(context.Background(), es); err == nil {
		t.Fatal("ES256 token accepted with an Ed25519 JWK")
	}
}

// A sender-constrained token (cnf, RFC 7800) cannot be checked by a bearer
// resource server: refused by default (RFC 9449 section 7.2), accepted only
// with the loudly named opt-out.
func TestConfirmationClaimRefused(t *testing.T) {
	for _, cnf := range []any{map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, "junk", nil} {
		cl := baseClaims()
		cl["cnf"] = cnf
		token := signToken("ES256", fx("ES256").priv, mustJSON(map[string]any{"alg": "ES256", "kid": "ES256", "typ": "at+jwt"}), mustJSON(cl))
		_, err := newV(t, nil).Verify(context.Background(), token)
		if !errors.Is(err, ErrType) {
			t.Fatalf("cnf %v: err = %v, want a type error", cnf, err)
		}
		v := newV(t, func(c *Config) { c.Issuers[0].InsecureIgnoreConfirmation = true })
		if _, err := v.Verify(context.Background(), token); err != nil {
			t.Fatalf("cnf %v with InsecureIgnoreConfirmation: %v", cnf, err)
		}
	}
}

// ValidUntil is the instant from which Verify refuses the token: exp plus
// the issuer's leeway (default, none, or configured), checked against
// Verify itself one microsecond before and at that instant.
func TestValidUntilIsExpPlusLeeway(t *testing.T) {
	var nilP *Principal
	if !nilP.ValidUntil().IsZero() {
		t.Fatal("nil Principal: ValidUntil not zero")
	}
	token := tok("ES256", nil, nil)
	for _, lw := range []time.Duration{0, NoLeeway, 90 * time.Second} {
		var now time.Time
		v := newV(t, func(c *Config) {
			c.Issuers[0].Leeway = lw
			c.Cache.Disabled = true
			c.Now = func() time.Time { return now }
		})
		now = testNow
		p, err := v.Verify(context.Background(), token)
		if err != nil {
			t.Fatal(err)
		}
		until := p.ValidUntil()
		now = until.Add(-time.Microsecond)
		if _, err := v.Verify(context.Background(), token); err != nil {
			t.Fatalf("leeway %v: refused 1us before ValidUntil %v: %v", lw, until, err)
		}
		now = until
		if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrExpired) {
			t.Fatalf("leeway %v: at ValidUntil: %v", lw, err)
		}
	}
}
