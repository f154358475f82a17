package securitysuite

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"google.golang.org/protobuf/proto"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// principle is one input of our own behind a SECURITY.md principle.
type principle struct {
	name string
	req  func(t *testing.T, f *fixture) request
	want outcome
}

func tokenReq(fn func(t *testing.T, f *fixture) string) func(t *testing.T, f *fixture) request {
	return func(t *testing.T, f *fixture) request { return bearer(fn(t, f)) }
}

// withClaimsJSON signs the default header over claims whose JSON text is
// the default claims with extra members spliced in first (raw JSON).
func withRawMembers(extra string, drop ...string) func(t *testing.T, f *fixture) string {
	return func(t *testing.T, f *fixture) string {
		over := map[string]any{}
		for _, d := range drop {
			over[d] = nil
		}
		c := f.claimsJSON(over)
		return f.sign(t, "RS256", f.header("RS256", nil), []byte("{"+extra+","+string(c[1:])))
	}
}

func withHeaderJSON(h string) func(t *testing.T, f *fixture) string {
	return func(t *testing.T, f *fixture) string {
		return f.sign(t, "RS256", []byte(strings.ReplaceAll(h, "KID", f.kid["RS256"])), f.claimsJSON(nil))
	}
}

func mintWith(opts ...func(f *fixture) oauthtest.MintOption) func(t *testing.T, f *fixture) string {
	return func(t *testing.T, f *fixture) string {
		var o []oauthtest.MintOption
		for _, fn := range opts {
			o = append(o, fn(f))
		}
		return f.mint(t, o...)
	}
}

func claimsOver(c map[string]any) func(f *fixture) oauthtest.MintOption {
	return func(*fixture) oauthtest.MintOption { return oauthtest.WithClaims(c) }
}

func headerOver(h map[string]any) func(f *fixture) oauthtest.MintOption {
	return func(*fixture) oauthtest.MintOption { return oauthtest.WithHeader(h) }
}

// setLastBits makes a segment non-canonical: its last character keeps its
// decoded bytes but sets unused low bits (lenient decoders accept it).
func setLastBits(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		return "", false
	}
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[i|1]), true
}

// nonCanonical re-encodes segment i of a token non-canonically, padding the
// claims until that segment's length leaves unused bits.
func nonCanonical(i int) func(t *testing.T, f *fixture) string {
	return func(t *testing.T, f *fixture) string {
		for pad := 0; pad < 4; pad++ {
			tok := f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithClaims(map[string]any{"p": strings.Repeat("x", pad)}), oauthtest.WithHeader(map[string]any{"x": strings.Repeat("y", pad)}))
			s := segments(tok)
			if nc, ok := setLastBits(s[i]); ok {
				s[i] = nc
				return strings.Join(s, ".")
			}
		}
		t.Fatal("no non-canonical form")
		return ""
	}
}

func principles() map[string][]principle {
	b64Cases := []principle{
		{"non_canonical_header_last_char", tokenReq(nonCanonical(0)), invalidT},
		{"non_canonical_payload_last_char", tokenReq(nonCanonical(1)), invalidT},
		{"non_canonical_signature_last_char", tokenReq(nonCanonical(2)), invalidT},
		{"mixed_alphabets_header", tokenReq(func(t *testing.T, f *fixture) string {
			// A header whose URL encoding holds '-' or '_' re-encoded with
			// '+' '/' there: both alphabets in one token.
			for i := 0; i < 64; i++ {
				h := f.header("RS256", map[string]any{"x": strings.Repeat(">", i)})
				if e := enc(h); strings.ContainsAny(e, "-_") {
					s := segments(f.sign(t, "RS256", h, f.claimsJSON(nil)))
					s[0] = strings.NewReplacer("-", "+", "_", "/").Replace(e)
					return strings.Join(s, ".")
				}
			}
			t.Fatal("no header with '-' or '_'")
			return ""
		}), invalidT},
		{"std_alphabet_whole_token", tokenReq(func(t *testing.T, f *fixture) string {
			for i := 0; i < 100; i++ {
				tok := f.mint(t)
				if strings.ContainsAny(tok, "-_") {
					return strings.NewReplacer("-", "+", "_", "/").Replace(tok)
				}
			}
			t.Fatal("no token with '-' or '_'")
			return ""
		}), invalidT},
		{"equals_inside_segment", func(t *testing.T, f *fixture) request {
			s := segments(f.mint(t))
			return bearer(s[0][:8] + "=" + s[0][8:] + "." + s[1] + "." + s[2])
		}, invalidR},
		{"equals_replacing_char", func(t *testing.T, f *fixture) request {
			s := segments(f.mint(t))
			return bearer(s[0] + "." + s[1][:10] + "=" + s[1][11:] + "." + s[2])
		}, invalidR},
		{"tilde_b64token_char", tokenReq(func(t *testing.T, f *fixture) string {
			s := segments(f.mint(t))
			return s[0] + "." + s[1] + "." + s[2][:len(s[2])-1] + "~"
		}), invalidT},
		{"segment_len_mod4_is_1", tokenReq(func(t *testing.T, f *fixture) string {
			s := segments(f.mint(t))
			return s[0] + "." + s[1] + "A." + s[2]
		}), invalidT},
		{"non_ascii_in_token", func(t *testing.T, f *fixture) request {
			tok := f.mint(t)
			return bearer(tok[:10] + "\u00e9" + tok[10:])
		}, invalidR},
		{"percent_encoded_token", func(t *testing.T, f *fixture) request {
			tok := f.mint(t)
			return bearer(strings.ReplaceAll(tok, ".", "%2E"))
		}, invalidR},
		{"header_segment_padded_inside", func(t *testing.T, f *fixture) request {
			s := segments(f.mint(t))
			return bearer(base64.URLEncoding.EncodeToString(mustDecode(t, s[0])) + "." + s[1] + "." + s[2])
		}, invalidR},
	}
	jsonCases := []principle{
		{"escaped_duplicate_exp", tokenReq(withRawMembers(`"\u0065xp":1`)), invalidT},
		{"escaped_duplicate_iss", tokenReq(withRawMembers(`"\u0069ss":"https://evil.test"`)), invalidT},
		{"escaped_duplicate_nested", tokenReq(withRawMembers(`"x":{"a":1,"\u0061":2}`)), invalidT},
		{"escaped_aud_alone_is_aud", tokenReq(withRawMembers(`"\u0061ud":"https://other.test"`, "aud")), invalidT},
		{"escaped_iss_same_value_ok", tokenReq(func(t *testing.T, f *fixture) string {
			iss := strings.ReplaceAll(f.iss.Issuer(), "/", `\/`)
			return withRawMembers(`"\u0069ss":"`+iss+`"`, "iss")(t, f)
		}), accept},
		// Escaped names mean what encoding/json says they mean: one parser
		// for every claim, registered or of interest.
		{"escaped_exp_name_ok", tokenReq(func(t *testing.T, f *fixture) string {
			return withRawMembers(fmt.Sprintf(`"\u0065xp":%d`, f.clk.Now().Unix()+600), "exp")(t, f)
		}), accept},
		{"escaped_exp_name_expired", tokenReq(func(t *testing.T, f *fixture) string {
			return withRawMembers(fmt.Sprintf(`"\u0065xp":%d`, f.clk.Now().Unix()-600), "exp", "iat", "nbf")(t, f)
		}), expiredT},
		{"escaped_scope_name_ok", tokenReq(withRawMembers(`"\u0073cope":"read"`, "scope")), accept},
		{"escaped_scope_name_admin", func(t *testing.T, f *fixture) request {
			return bearer(withRawMembers(`"\u0073cope":"read admin"`, "scope")(t, f)).with("admin")
		}, accept},
		{"escaped_client_id_name_ok", tokenReq(withRawMembers(`"client\u005fid":"`+oauthtest.DefaultClientID+`"`, "client_id")), accept},
		{"escaped_client_id_name_other", tokenReq(withRawMembers(`"client\u005fid":"intruder"`, "client_id")), invalidT},
		{"escaped_azp_wins", tokenReq(withRawMembers(`"\u0061zp":"intruder"`)), invalidT},
		{"escaped_token_use_id", tokenReq(withRawMembers(`"token\u005fuse":"id"`)), invalidT},
		{"escaped_claims_typ_ID", tokenReq(withRawMembers(`"\u0074yp":"ID"`)), invalidT},
		{"escaped_roles_name_ok", tokenReq(withRawMembers(`"r\u006fles":["read"]`, "scope")), accept},
		{"deep_nesting_8000", tokenReq(withRawMembers(`"d":` + strings.Repeat("[", 4000) + strings.Repeat("]", 4000))), invalidT},
		{"depth_16_ok", tokenReq(withRawMembers(`"d":` + strings.Repeat("[", 15) + strings.Repeat("]", 15))), accept},
		{"depth_17_refused", tokenReq(withRawMembers(`"d":` + strings.Repeat("[", 16) + strings.Repeat("]", 16))), invalidT},
		{"deep_objects", tokenReq(withRawMembers(`"d":` + strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40))), invalidT},
		{"huge_number_other_claim_ok", tokenReq(withRawMembers(`"x":1e400`)), accept},
		{"exp_1e400", tokenReq(withRawMembers(`"exp":1e400`, "exp")), invalidT},
		{"exp_1e20", tokenReq(withRawMembers(`"exp":1e20`, "exp")), invalidT},
		{"exp_20_digits", tokenReq(withRawMembers(`"exp":99999999999999999999`, "exp")), invalidT},
		{"exp_year_10000", tokenReq(withRawMembers(`"exp":253402300800`, "exp")), invalidT},
		{"exp_minus_zero", tokenReq(withRawMembers(`"exp":-0`, "exp", "iat", "nbf")), expiredT},
		{"exp_tiny_1e-400", tokenReq(withRawMembers(`"exp":1e-400`, "exp", "iat", "nbf")), expiredT},
		{"exp_NaN_string", tokenReq(withRawMembers(`"exp":"NaN"`, "exp")), invalidT},
		{"exp_NaN_bare", tokenReq(withRawMembers(`"exp":NaN`, "exp")), invalidT},
		{"exp_Infinity", tokenReq(withRawMembers(`"exp":Infinity`, "exp")), invalidT},
		{"exp_hex", tokenReq(withRawMembers(`"exp":0x7fffffff`, "exp")), invalidT},
		{"exp_plus_sign", tokenReq(withRawMembers(`"exp":+9999999999`, "exp")), invalidT},
		{"exp_leading_zero", tokenReq(withRawMembers(`"exp":09999999999`, "exp")), invalidT},
		{"nbf_negative", tokenReq(withRawMembers(`"nbf":-1`, "nbf")), invalidT},
		{"iat_huge", tokenReq(withRawMembers(`"iat":1e300`, "iat")), invalidT},
		{"lone_high_surrogate", tokenReq(withRawMembers(`"x":"\ud800"`)), invalidT},
		{"lone_low_surrogate", tokenReq(withRawMembers(`"x":"\udc00"`)), invalidT},
		{"high_then_non_low", tokenReq(withRawMembers(`"x":"\ud800\u0041"`)), invalidT},
		{"reversed_pair", tokenReq(withRawMembers(`"x":"\ude00\ud83d"`)), invalidT},
		{"surrogate_in_name", tokenReq(withRawMembers(`"\ud800":1`)), invalidT},
		{"valid_pair_ok", tokenReq(withRawMembers(`"x":"\ud83d\ude00"`)), accept},
		{"escaped_nul_in_claim_ok", tokenReq(withRawMembers(`"x":"a\u0000b"`)), accept},
		{"raw_nul_in_string", tokenReq(withRawMembers("\"x\":\"a\x00b\"")), invalidT},
		{"iss_with_escaped_nul", tokenReq(func(t *testing.T, f *fixture) string {
			return withRawMembers(`"iss":"`+f.iss.Issuer()+`\u0000"`, "iss")(t, f)
		}), invalidT},
		{"kid_escaped_nul_suffix", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID\u0000"}`)), invalidT},
		{"kid_escaped_equal_ok", tokenReq(func(t *testing.T, f *fixture) string {
			var esc strings.Builder
			for i, r := range f.kid["RS256"] {
				if i < 5 {
					fmt.Fprintf(&esc, `\u%04x`, r)
				} else {
					esc.WriteRune(r)
				}
			}
			return withHeaderJSON(`{"alg":"RS256","kid":"`+esc.String()+`"}`)(t, f)
		}), accept},
		// The kid bound applies to the raw (escaped) bytes: a trusted kid
		// fully escaped (6 bytes a character) is over 256 bytes, refused.
		{"kid_fully_escaped_over_bound", tokenReq(func(t *testing.T, f *fixture) string {
			var esc strings.Builder
			for _, r := range f.kid["RS256"] {
				fmt.Fprintf(&esc, `\u%04x`, r)
			}
			return withHeaderJSON(`{"alg":"RS256","kid":"`+esc.String()+`"}`)(t, f)
		}), invalidT},
		{"header_escaped_names_ok", tokenReq(withHeaderJSON(`{"\u0061lg":"RS256","\u006bid":"KID","\u0074yp":"at+jwt"}`)), accept},
		{"header_escaped_crit", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","\u0063rit":["x"],"x":1}`)), invalidT},
		{"header_escaped_b64", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","\u0062\u0036\u0034":false}`)), invalidT},
		{"header_escaped_cty", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","\u0063ty":"JWT"}`)), invalidT},
		{"header_escaped_zip", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","\u007a\u0069\u0070":"DEF"}`)), invalidT},
		{"header_escaped_typ_dpop", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","\u0074yp":"dpop+jwt"}`)), invalidT},
		{"alg_escaped_none", tokenReq(withHeaderJSON(`{"alg":"\u006eone","kid":"KID"}`)), invalidT},
		{"comment", tokenReq(withRawMembers(`/**/"x":1`)), invalidT},
		{"single_quotes", tokenReq(withRawMembers(`'x':1`)), invalidT},
		{"trailing_comma_object", tokenReq(func(t *testing.T, f *fixture) string {
			c := f.claimsJSON(nil)
			return f.sign(t, "RS256", f.header("RS256", nil), append(c[:len(c)-1:len(c)-1], ",}"...))
		}), invalidT},
		{"trailing_comma_array", tokenReq(withRawMembers(`"x":[1,]`)), invalidT},
		{"whitespace_everywhere_ok", tokenReq(func(t *testing.T, f *fixture) string {
			c := strings.NewReplacer(`":`, "\" :\t", `,"`, " ,\n\"").Replace(string(f.claimsJSON(nil)))
			return f.sign(t, "RS256", f.header("RS256", nil), []byte(" \r\n"+c+"\n"))
		}), accept},
		{"vertical_tab_whitespace", tokenReq(func(t *testing.T, f *fixture) string {
			return f.sign(t, "RS256", f.header("RS256", nil), append([]byte("\v"), f.claimsJSON(nil)...))
		}), invalidT},
		{"header_many_members", tokenReq(func(t *testing.T, f *fixture) string {
			var b strings.Builder
			b.WriteString(`{"alg":"RS256","kid":"` + f.kid["RS256"] + `"`)
			for i := 0; i < 500; i++ {
				fmt.Fprintf(&b, `,"m%d":0`, i)
			}
			b.WriteString(`,"m7":1}`) // a duplicate late in a long object
			return f.sign(t, "RS256", []byte(b.String()), f.claimsJSON(nil))
		}), invalidT},
	}
	typeCases := []principle{
		{"aud_object", tokenReq(mintWith(claimsOver(map[string]any{"aud": map[string]any{"0": oauthtest.DefaultAudience}}))), invalidT},
		{"aud_number", tokenReq(mintWith(claimsOver(map[string]any{"aud": 1}))), invalidT},
		{"aud_array_with_number", tokenReq(mintWith(claimsOver(map[string]any{"aud": []any{oauthtest.DefaultAudience, 1}}))), invalidT},
		{"aud_array_with_null", tokenReq(mintWith(claimsOver(map[string]any{"aud": []any{oauthtest.DefaultAudience, nil}}))), invalidT},
		{"aud_nested_array", tokenReq(mintWith(claimsOver(map[string]any{"aud": []any{[]string{oauthtest.DefaultAudience}}}))), invalidT},
		{"aud_true", tokenReq(mintWith(claimsOver(map[string]any{"aud": true}))), invalidT},
		{"aud_null", tokenReq(withRawMembers(`"aud":null`, "aud")), invalidT},
		{"iss_array", tokenReq(func(t *testing.T, f *fixture) string {
			return f.mint(t, oauthtest.WithClaims(map[string]any{"iss": []string{f.iss.Issuer()}}))
		}), invalidT},
		{"iss_object", tokenReq(func(t *testing.T, f *fixture) string {
			return f.mint(t, oauthtest.WithClaims(map[string]any{"iss": map[string]any{"url": f.iss.Issuer()}}))
		}), invalidT},
		{"iss_null", tokenReq(withRawMembers(`"iss":null`, "iss")), invalidT},
		{"scope_number", tokenReq(mintWith(claimsOver(map[string]any{"scope": 1}))), invalidT},
		{"scope_object", tokenReq(mintWith(claimsOver(map[string]any{"scope": map[string]any{"read": true}}))), invalidT},
		{"scope_array_with_number", tokenReq(mintWith(claimsOver(map[string]any{"scope": []any{"read", 1}}))), invalidT},
		{"scope_array_ok", tokenReq(mintWith(claimsOver(map[string]any{"scope": []string{"read"}}))), accept},
		{"scope_null_no_permission", tokenReq(withRawMembers(`"scope":null`, "scope")), scope403},
		{"scope_true", tokenReq(mintWith(claimsOver(map[string]any{"scope": true}))), invalidT},
		{"roles_string_ok", tokenReq(mintWith(claimsOver(map[string]any{"scope": nil, "roles": "read"}))), accept},
		{"kid_number", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":7}`)), invalidT},
		{"kid_array", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":["KID"]}`)), invalidT},
		{"kid_null", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":null}`)), invalidT},
		{"kid_object", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":{"id":"KID"}}`)), invalidT},
		{"typ_number", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","typ":1}`)), invalidT},
		{"typ_array", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","typ":["at+jwt"]}`)), invalidT},
		{"typ_null", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","typ":null}`)), invalidT},
		{"typ_at+jwt_with_params", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","typ":"at+jwt; charset=utf-8"}`)), invalidT},
		{"typ_double_application", tokenReq(withHeaderJSON(`{"alg":"RS256","kid":"KID","typ":"application/application/at+jwt"}`)), invalidT},
		{"sub_number", tokenReq(mintWith(claimsOver(map[string]any{"sub": 1}))), invalidT},
		{"jti_object", tokenReq(mintWith(claimsOver(map[string]any{"jti": map[string]any{}}))), invalidT},
		{"client_id_number", tokenReq(mintWith(claimsOver(map[string]any{"client_id": 1}))), invalidT},
		{"client_id_array", tokenReq(mintWith(claimsOver(map[string]any{"client_id": []string{oauthtest.DefaultClientID}}))), invalidT},
		{"azp_other_wins_over_client_id", tokenReq(mintWith(claimsOver(map[string]any{"azp": "intruder"}))), invalidT},
		{"exp_object", tokenReq(mintWith(claimsOver(map[string]any{"exp": map[string]any{"v": 1}}))), invalidT},
		{"nbf_string", tokenReq(mintWith(claimsOver(map[string]any{"nbf": "0"}))), invalidT},
		{"iat_bool", tokenReq(mintWith(claimsOver(map[string]any{"iat": false}))), invalidT},
		{"token_use_number", tokenReq(mintWith(claimsOver(map[string]any{"token_use": 1}))), invalidT},
		{"crit_as_string", tokenReq(mintWith(headerOver(map[string]any{"crit": "exp"}))), invalidT},
	}
	boundCases := []principle{
		{"header_8KiB_refused", tokenReq(mintWith(headerOver(map[string]any{"pad": strings.Repeat("p", 8200)}))), invalidT},
		{"header_7KiB_ok", tokenReq(mintWith(headerOver(map[string]any{"pad": strings.Repeat("p", 7000)}))), accept},
		{"signature_over_1KiB", tokenReq(func(t *testing.T, f *fixture) string {
			return replaceSig(t, f.mint(t), func([]byte) []byte { return make([]byte, 1100) })
		}), invalidT},
		{"kid_256_escaped_to_1536_bytes", tokenReq(mintWith(headerOver(map[string]any{"kid": strings.Repeat("\u00e9", 256)}))), invalidT},
		{"claims_many_members_ok", tokenReq(func(t *testing.T, f *fixture) string {
			c := f.claims(nil)
			for i := 0; i < 400; i++ {
				c[fmt.Sprintf("m%d", i)] = i
			}
			return f.mint(t, oauthtest.WithClaims(c))
		}), accept},
	}
	return map[string][]principle{"base64": b64Cases, "json": jsonCases, "types": typeCases, "bounds": boundCases}
}

// TestPrinciples runs our own inputs behind SECURITY.md's principles over
// the three adapters.
func TestPrinciples(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	groups := principles()
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			for _, g := range []string{"base64", "json", "types", "bounds"} {
				t.Run(g, func(t *testing.T) {
					for _, p := range groups[g] {
						f.check(t, tr, p.name, p.req(t, f), p.want)
					}
				})
			}
		})
	}
}

// marker is attacker text that must never come back.
const marker = "Zq9Xw3Marker"

// TestNothingReflected sends marker strings in every place of the token and
// the request an attacker controls, and checks that no response header or
// body (gRPC: status message, details, header and trailer metadata) holds
// them.
func TestNothingReflected(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	m := func(i int) string { return fmt.Sprintf("%s%d", marker, i) }
	reqs := map[string]func(t *testing.T) request{
		"kid": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithHeader(map[string]any{"kid": m(1)})))
		},
		"iss": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"iss": m(2)})))
		},
		"aud": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"aud": m(3)})))
		},
		"typ": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithHeader(map[string]any{"typ": m(4)})))
		},
		"alg": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithHeader(map[string]any{"alg": m(5)})))
		},
		"client_id": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"client_id": m(6)})))
		},
		"sub_and_scope_403": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"sub": m(7), "scope": m(8), "jti": m(9)}))).with("admin")
		},
		"claims_typ": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"typ": "ID", "x": m(10)})))
		},
		"crit": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithHeader(map[string]any{"crit": []string{m(11)}})))
		},
		"jku": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithHeader(map[string]any{"jku": "https://" + m(12)})))
		},
		"expired_with_marker": func(t *testing.T) request {
			return bearer(f.mint(t, oauthtest.WithLifetime(-2*time.Hour), oauthtest.WithClaims(map[string]any{"sub": m(13)})))
		},
		"garbage_token": func(t *testing.T) request { return bearer(m(14) + "." + m(15) + "." + m(16)) },
		"scheme":        func(t *testing.T) request { return request{auth: []string{m(17) + " " + m(18)}} },
		"second_word":   func(t *testing.T) request { return request{auth: []string{"Bearer " + m(19) + " " + m(20)}} },
		"two_headers":   func(t *testing.T) request { return request{auth: []string{"Bearer " + m(21), "Bearer " + m(22)}} },
		"json_in_header": func(t *testing.T) request {
			return request{auth: []string{`Bearer {"` + m(23) + `":1}`}}
		},
		"query": func(t *testing.T) request { return request{query: "access_token=" + m(24) + "&" + m(25) + "=1"} },
		"query_and_header": func(t *testing.T) request {
			return request{auth: []string{"Bearer " + m(26)}, query: "access_token=" + m(27)}
		},
		"bad_json_claims": func(t *testing.T) request {
			return bearer(f.sign(t, "RS256", f.header("RS256", nil), []byte(`{"`+m(28)+`":`)))
		},
	}
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			for name, mk := range reqs {
				t.Run(name, func(t *testing.T) {
					a := f.send(t, tr, mk(t))
					if a.err != nil {
						t.Fatal(a.err)
					}
					dump := a.body + "\n" + a.msg + "\n"
					for k, vs := range a.header {
						dump += k + ": " + strings.Join(vs, ",") + "\n"
					}
					if a.info != nil {
						b, _ := proto.Marshal(a.info)
						dump += string(b)
					}
					if strings.Contains(strings.ToLower(dump), strings.ToLower(marker)) {
						t.Fatalf("attacker text reflected:\n%s", dump)
					}
				})
			}
		})
	}
	// The adapters' own logs (middleware.WithLogger: authlog over the
	// decisions) never carry the marker either.
	t.Run("http_and_echo_logs", func(t *testing.T) {
		if strings.Contains(httpLogLines(f.logs.String()), marker) {
			t.Fatalf("marker in the net/http or Echo logs:\n%s", httpLogLines(f.logs.String()))
		}
	})
}

// httpLogLines keeps the log lines of the HTTP adapters (authlog records);
// grpcauth's records carry transport=grpc.
func httpLogLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "transport=grpc") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestKeysOnlyFromTheirIssuer: with two trusted issuers, a token naming one
// issuer but signed by the other's key is refused, and no token content
// (an untrusted iss, a jku) makes the server contact anything but the
// configured issuers.
func TestKeysOnlyFromTheirIssuer(t *testing.T) {
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		evilHits.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer evil.Close()

	f := newFixture(t, fixtureOptions{})
	other := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"), oauthtest.WithClock(f.clk.Now))
	otherKeys, err := jwkscache.New(t.Context(), jwkscache.Config{Name: "other", Issuer: other.Issuer(), HTTPClient: f.hc, Now: f.clk.Now, NewTimer: f.clk.NewTimer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = otherKeys.Close() })
	if err := otherKeys.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Now: f.clk.Now, Issuers: []jwtverify.IssuerConfig{
		{Name: "main", Issuer: f.iss.Issuer(), Keys: f.keys, Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID}, Algorithms: algs},
		{Name: "other", Issuer: other.Issuer(), Keys: otherKeys, Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID}, Algorithms: algs},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := middleware.New(v)
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Require(reqRead)(http.HandlerFunc(okHandler))
	run := func(name, tok string, want outcome) {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			expect(t, trHTTP, answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}, want, "")
		})
	}
	f.clk.Advance(2 * time.Second) // an unknown kid could refresh
	run("main_token_ok", f.mint(t), accept)
	run("other_token_ok", other.MintT(t), accept)
	run("iss_other_signed_by_main_key", f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithClaims(map[string]any{"iss": other.Issuer()})), invalidT)
	run("iss_main_signed_by_other_key", other.MintT(t, oauthtest.WithClaims(map[string]any{"iss": f.iss.Issuer()})), invalidT)
	run("iss_untrusted_url", f.mint(t, oauthtest.WithClaims(map[string]any{"iss": evil.URL})), invalidT)
	run("jku_and_x5u", f.mint(t, oauthtest.WithHeader(map[string]any{"kid": "k-evil", "jku": evil.URL, "x5u": evil.URL})), invalidT)
	if n := evilHits.Load(); n != 0 {
		t.Fatalf("%d requests to a server named by a token", n)
	}
}

// TestEchoDebugModeReflectsNothing: Echo's debug mode adds the error text
// to string messages; the adapter's answers must stay the fixed ones.
func TestEchoDebugModeReflectsNothing(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ea, err := echoauth.New(f.v)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Debug = true
	e.Use(ea.Authenticate)
	e.GET("/api/read", func(c echo.Context) error { return c.String(http.StatusOK, "ok") }, ea.Require(reqRead))
	for name, tok := range map[string]string{
		"kid":     f.mint(t, oauthtest.WithHeader(map[string]any{"kid": marker})),
		"iss":     f.mint(t, oauthtest.WithClaims(map[string]any{"iss": marker})),
		"garbage": marker + ".x.y",
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, r)
			a := answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
			expect(t, trEcho, a, invalidT, "")
			if strings.Contains(a.body, marker) || strings.Contains(fmt.Sprint(a.header), marker) {
				t.Fatalf("reflected in debug mode: %q", a.body)
			}
		})
	}
}
