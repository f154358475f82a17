package dpop_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestCheckAcceptsEveryAlgorithm(t *testing.T) {
	c := newChecker(t, dpop.Config{Algorithms: []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}})
	for _, alg := range []string{"ES256", "ES384", "ES512", "RS256", "RS512", "PS256", "PS384", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			p := newProver(t, alg)
			v, err := c.Check(request("GET", "/orders/42?x=1", mustProof(t, p, "GET", apiURL+"?y=2#f", token, "")), token)
			if err != nil {
				t.Fatal(err)
			}
			if v.JKT() != p.Thumbprint() {
				t.Fatalf("thumbprint %s, prover's %s", v.JKT(), p.Thumbprint())
			}
			if v.IsZero() {
				t.Fatal("zero Verified")
			}
			if err := c.Commit(context.Background(), v); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckMissing(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	_, err := c.Check(request("GET", "/orders/42"), token)
	wantReason(t, err, dpop.ReasonMissing)
}

func TestCheckMultipleHeaders(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	a := mustProof(t, p, "GET", apiURL, token, "")
	_, err := c.Check(request("GET", "/orders/42", a, a), token)
	wantReason(t, err, dpop.ReasonMultiple)
	// Two proofs folded into one field value are not a compact JWS.
	_, err = c.Check(request("GET", "/orders/42", a+", "+a), token)
	wantReason(t, err, dpop.ReasonMalformed)
}

func TestCheckTooLarge(t *testing.T) {
	c := newChecker(t, dpop.Config{MaxProofSize: 1024})
	p := newProver(t, "")
	big := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"pad": strings.Repeat("a", 1024)}))
	expectRefused(t, c, big, dpop.ReasonTooLarge)
	// The default bound admits an RSA-4096 key and signature.
	p4096, err := oauthtest.NewDPoPProverKey("RS256", rsaKey(t, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newChecker(t, dpop.Config{}).Check(request("GET", "/orders/42", mustProof(t, p4096, "GET", apiURL, token, "")), token); err != nil {
		t.Fatalf("RSA-4096 proof: %v", err)
	}
}

func TestCheckNotCompactJWS(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	good := mustProof(t, newProver(t, ""), "GET", apiURL, token, "")
	parts := strings.Split(good, ".")
	// A signature whose last character carries stray bits (not canonical).
	last := parts[2][len(parts[2])-1]
	stray := parts[2][:len(parts[2])-1] + string(rune(last+1))
	if last == 'z' || last == '9' || last == '_' || last == '-' || last == 'Z' {
		stray = parts[2][:len(parts[2])-1] + "B"
	}
	for name, proof := range map[string]string{
		"two segments":       parts[0] + "." + parts[1],
		"four segments":      good + ".x",
		"empty signature":    parts[0] + "." + parts[1] + ".",
		"empty header":       "." + parts[1] + "." + parts[2],
		"padding":            parts[0] + "=." + parts[1] + "." + parts[2],
		"standard base64":    strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
		"white space":        parts[0] + ".\n" + parts[1] + "." + parts[2],
		"empty":              "",
		"stray bits":         parts[0] + "." + parts[1] + "." + stray,
		"JSON serialization": `{"payload":"` + parts[1] + `","signatures":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			expectRefused(t, c, proof, dpop.ReasonMalformed)
		})
	}
}

func TestCheckStrictJSON(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	jwk := jwkOf(t, p)
	hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + jwk + `}`
	now := time.Now().Unix()
	claims := func(extra string) string {
		return `{"jti":"j1","htm":"GET","htu":"` + apiURL + `","iat":` + itoa(now) + `,"ath":"` + ath(token) + `"` + extra + `}`
	}
	// Sanity: the hand-written header and claims pass.
	if _, err := c.Check(request("GET", "/orders/42", rawProof(t, p, hdr, claims(""))), token); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ hdr, claims string }{
		"duplicate header member":  {`{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":` + jwk + `}`, claims("")},
		"duplicate unknown member": {`{"typ":"dpop+jwt","alg":"ES256","x":1,"x":2,"jwk":` + jwk + `}`, claims("")},
		"duplicate jwk member":     {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + strings.Replace(jwk, `{`, `{"kty":"EC",`, 1) + `}`, claims("")},
		"duplicate claim":          {hdr, claims(`,"jti":"j2"`)},
		"escaped member name":      {hdr, claims(`,"\u006a\u0074\u0069":"j2"`)},
		"bytes after the object":   {hdr, claims("") + " {}"},
		"header not an object":     {`["dpop+jwt"]`, claims("")},
		"claims not an object":     {hdr, `"jti"`},
		"jti not a string":         {hdr, strings.Replace(claims(""), `"jti":"j1"`, `"jti":1`, 1)},
		"iat a string":             {hdr, strings.Replace(claims(""), `"iat":`+itoa(now), `"iat":"`+itoa(now)+`"`, 1)},
		"iat with exponent":        {hdr, strings.Replace(claims(""), `"iat":`+itoa(now), `"iat":1.7e9`, 1)},
		"negative iat":             {hdr, strings.Replace(claims(""), `"iat":`+itoa(now), `"iat":-1`, 1)},
		"invalid UTF-8":            {hdr, claims(`,"x":"` + "\xff" + `"`)},
		"control character":        {hdr, claims(`,"x":"` + "\x01" + `"`)},
		"lone surrogate":           {hdr, claims(`,"x":"\udc00"`)},
		"deep nesting":             {hdr, claims(`,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40))},
		"trailing comma":           {hdr, strings.TrimSuffix(claims(""), "}") + ",}"},
		"unquoted name":            {hdr, `{jti:"j1"}`},
		"typ not a string":         {`{"typ":1,"alg":"ES256","jwk":` + jwk + `}`, claims("")},
	} {
		t.Run(name, func(t *testing.T) {
			expectRefused(t, c, rawProof(t, p, tc.hdr, tc.claims), dpop.ReasonMalformed)
		})
	}
	// Escapes in string values are decoded: "\/" as some encoders write it.
	escaped := strings.Replace(claims(""), `"htu":"`+apiURL+`"`, `"htu":"`+strings.ReplaceAll(apiURL, "/", `\/`)+`"`, 1)
	if _, err := c.Check(request("GET", "/orders/42", rawProof(t, p, hdr, escaped)), token); err != nil {
		t.Fatalf("escaped htu: %v", err)
	}
	// Unknown members and claims of any JSON type are ignored.
	if _, err := c.Check(request("GET", "/orders/42", rawProof(t, p,
		`{"typ":"dpop+jwt","kid":"anything","ext":{"a":[1,true,null,"x"]},"alg":"ES256","jwk":`+jwk+`}`,
		claims(`,"extra":{"nested":[1.5,-2e3]}`))), token); err != nil {
		t.Fatalf("unknown members: %v", err)
	}
}

// TestCheckStrictJSONShared pins the rules dpop gets from the shared strict
// reader (internal/strictjson) where its own reader was laxer: duplicate
// names inside skipped values refuse too (compared after unescaping),
// nesting stops at strictjson.MaxDepth (16) levels counting the top object
// whether or not the innermost value is empty. It also pins what did not
// change: an interpreted object holds at most 64 members, its names are
// plain, and surrogate escapes come in valid pairs.
func TestCheckStrictJSONShared(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	jwk := jwkOf(t, p)
	hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + jwk + `}`
	now := time.Now().Unix()
	claims := func(extra string) string {
		return `{"jti":"j1","htm":"GET","htu":"` + apiURL + `","iat":` + itoa(now) + `,"ath":"` + ath(token) + `"` + extra + `}`
	}
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(`,"m` + itoa(int64(i)) + `":0`)
		}
		return b.String()
	}
	for name, tc := range map[string]struct{ hdr, claims string }{
		"duplicate in a skipped claim":         {hdr, claims(`,"x":{"a":1,"a":2}`)},
		"escaped duplicate in a skipped claim": {hdr, claims(`,"x":[{"a":1,"\u0061":2}]`)},
		"duplicate in a skipped header member": {`{"typ":"dpop+jwt","alg":"ES256","ext":{"k":1,"k":1},"jwk":` + jwk + `}`, claims("")},
		"duplicate in a skipped jwk member":    {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + strings.Replace(jwk, `{`, `{"ext":{"a":0,"a":0},`, 1) + `}`, claims("")},
		"17 levels, innermost empty":           {hdr, claims(`,"x":` + strings.Repeat("[", 16) + strings.Repeat("]", 16))},
		"17 levels":                            {hdr, claims(`,"x":` + strings.Repeat("[", 16) + "1" + strings.Repeat("]", 16))},
		"65 claims":                            {hdr, claims(many(65 - 5))},
		"escaped duplicate of a claim":         {hdr, claims(`,"\u0068tm":"GET"`)},
		"surrogate pair cut":                   {hdr, claims(`,"x":"\ud83d\u0041"`)},
	} {
		t.Run(name, func(t *testing.T) {
			expectRefused(t, c, rawProof(t, p, tc.hdr, tc.claims), dpop.ReasonMalformed)
		})
	}
	for name, tc := range map[string]struct{ hdr, claims string }{
		"16 levels":                        {hdr, claims(`,"x":` + strings.Repeat("[", 15) + "1" + strings.Repeat("]", 15))},
		"64 claims":                        {hdr, claims(many(64 - 5))},
		"escaped names in a skipped claim": {hdr, claims(`,"x":{"\u0061":1,"b":{"\u0061":2}}`)},
		"surrogate pair in a value":        {hdr, claims(`,"x":"\ud83d\ude00"`)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Check(request("GET", "/orders/42", rawProof(t, p, tc.hdr, tc.claims)), token); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestCheckTyp(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	for name, typ := range map[string]any{
		"missing":      nil,
		"jwt":          "JWT",
		"upper case":   "DPoP+jwt",
		"with prefix":  "application/dpop+jwt",
		"access token": "at+jwt",
		"empty":        "",
	} {
		t.Run(name, func(t *testing.T) {
			h := map[string]any{"typ": typ}
			expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofHeader(h)), dpop.ReasonType)
		})
	}
}

func TestCheckAlg(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	es := newProver(t, "ES256")
	rs := newProver(t, "RS256")
	for name, tc := range map[string]struct {
		p   *oauthtest.DPoPProver
		alg any
	}{
		"none":                       {es, "none"},
		"HS256":                      {es, "HS256"},
		"missing":                    {es, nil},
		"lower case":                 {es, "es256"},
		"not on the list (RS512)":    {rs, "RS512"},
		"not on the list (ES512)":    {es, "ES512"},
		"another curve than the jwk": {es, "ES384"},
		"RSA alg with an EC jwk":     {es, "RS256"},
		"EC alg with an RSA jwk":     {rs, "ES256"},
		"EdDSA with an RSA jwk":      {rs, "EdDSA"},
	} {
		t.Run(name, func(t *testing.T) {
			proof := mustProof(t, tc.p, "GET", apiURL, token, "", oauthtest.WithProofHeader(map[string]any{"alg": tc.alg}))
			expectRefused(t, c, proof, dpop.ReasonAlg)
		})
	}
}

func TestNewRefusesSymmetricAndUnknownAlgorithms(t *testing.T) {
	for _, alg := range []string{"none", "HS256", "HS512", "ES256K", "Ed25519", ""} {
		if _, err := dpop.New(dpop.Config{PublicOrigins: []string{apiOrigin}, Algorithms: []string{alg}}); err == nil {
			t.Errorf("New accepted algorithm %q", alg)
		}
	}
	c := newChecker(t, dpop.Config{})
	if got := strings.Join(c.Algorithms(), " "); got != "ES256 ES384 PS256 RS256 EdDSA" {
		t.Fatalf("default algorithms %q", got)
	}
}

func TestCheckKeyReferenceHeaders(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	for _, member := range []string{"jku", "x5u", "x5c", "x5t", "x5t#S256", "crit"} {
		t.Run(member, func(t *testing.T) {
			var v any = "https://attacker.example/keys"
			if member == "x5c" || member == "crit" {
				v = []string{"MIIB"}
			}
			proof := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofHeader(map[string]any{member: v}))
			expectRefused(t, c, proof, dpop.ReasonHeader)
		})
	}
	// A kid is never looked up: the proof verifies with its jwk whatever
	// kid names.
	proof := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofHeader(map[string]any{"kid": "some-published-key"}))
	if _, err := c.Check(request("GET", "/orders/42", proof), token); err != nil {
		t.Fatalf("kid: %v", err)
	}
}

func TestCheckJWK(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	es := newProver(t, "ES256")
	ed := newProver(t, "EdDSA")
	small, err := oauthtest.NewDPoPProverKey("RS256", rsaKey(t, 1024))
	if err != nil {
		t.Fatal(err)
	}
	other := newProver(t, "ES384")
	otherJWK := map[string]any{}
	if err := json.Unmarshal([]byte(jwkOf(t, other)), &otherJWK); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		p    *oauthtest.DPoPProver
		opts []oauthtest.ProofOption
	}{
		"missing":        {es, []oauthtest.ProofOption{oauthtest.WithProofHeader(map[string]any{"jwk": nil})}},
		"not an object":  {es, []oauthtest.ProofOption{oauthtest.WithProofHeader(map[string]any{"jwk": "key"})}},
		"symmetric kty":  {es, []oauthtest.ProofOption{oauthtest.WithProofHeader(map[string]any{"jwk": map[string]any{"kty": "oct"}})}},
		"no kty":         {es, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"kty": nil})}},
		"unknown crv":    {es, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"crv": "secp256k1"})}},
		"wrong crv size": {es, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"crv": "P-384"})}},
		"point off the curve": {es, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{
			"x": base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "y": base64.RawURLEncoding.EncodeToString(append(make([]byte, 31), 1))})}},
		"x of the wrong length":  {es, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"x": "AAAA"})}},
		"x and y of another key": {es, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"x": otherJWK["x"]})}},
		"RSA below 2048 bits":    {small, nil},
		"RSA members on EC":      {es, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"n": "AQAB"})}},
		"Ed448":                  {ed, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"crv": "Ed448"})}},
		"x not a string":         {ed, []oauthtest.ProofOption{oauthtest.WithProofJWK(map[string]any{"x": 7})}},
	} {
		t.Run(name, func(t *testing.T) {
			want := dpop.ReasonJWK
			if name == "x not a string" {
				want = dpop.ReasonMalformed
			}
			proof := mustProof(t, tc.p, "GET", apiURL, token, "", tc.opts...)
			cc := c
			if name == "RSA below 2048 bits" {
				cc = newChecker(t, dpop.Config{Algorithms: []string{"RS256"}})
			}
			expectRefused(t, cc, proof, want)
		})
	}
}

func TestCheckJWKPrivate(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		t.Run(m, func(t *testing.T) {
			proof := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofJWK(map[string]any{m: "AQAB"}))
			expectRefused(t, c, proof, dpop.ReasonJWKPrivate)
		})
	}
}

func TestCheckSignature(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	for _, alg := range []string{"ES256", "RS256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			p := newProver(t, alg)
			expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofSigner(alg)), dpop.ReasonSignature)
			flip := oauthtest.WithProofSignatureFunc(func(_ string, sig []byte) []byte {
				sig[len(sig)/2] ^= 1
				return sig
			})
			expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", flip), dpop.ReasonSignature)
			short := oauthtest.WithProofSignatureFunc(func(_ string, sig []byte) []byte { return sig[:len(sig)-1] })
			expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", short), dpop.ReasonSignature)
		})
	}
	// ECDSA: a zero signature, a DER signature.
	p := newProver(t, "ES256")
	zero := oauthtest.WithProofSignatureFunc(func(_ string, sig []byte) []byte { return make([]byte, 64) })
	expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", zero), dpop.ReasonSignature)
}

func TestCheckHTM(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	for name, tc := range map[string]struct{ proof, req string }{
		"other method": {"POST", "GET"},
		"lower case":   {"get", "GET"},
		"empty":        {"", "GET"},
	} {
		t.Run(name, func(t *testing.T) {
			proof := mustProof(t, p, tc.proof, apiURL, token, "")
			_, err := c.Check(request(tc.req, "/orders/42", proof), token)
			wantReason(t, err, dpop.ReasonHTM)
		})
	}
	missing := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"htm": nil}))
	expectRefused(t, c, missing, dpop.ReasonHTM)
	// A request built without a method (a client-side request given by
	// mistake) never matches a missing or empty htm.
	for _, proof := range []string{missing, mustProof(t, p, "", apiURL, token, "")} {
		r := request("GET", "/orders/42", proof)
		r.Method = ""
		_, err := c.Check(r, token)
		wantReason(t, err, dpop.ReasonHTM)
	}
}

func TestCheckHTU(t *testing.T) {
	c := newChecker(t, dpop.Config{PublicOrigins: []string{"https://api.example.com", "HTTPS://Gateway.Example.com:443/svc/"}})
	p := newProver(t, "")
	check := func(htu, target string) error {
		_, err := c.Check(request("GET", target, mustProof(t, p, "GET", htu, token, "")), token)
		return err
	}
	accepted := map[string][2]string{
		"exact":                      {"https://api.example.com/orders/42", "/orders/42"},
		"query and fragment ignored": {"https://api.example.com/orders/42?a=1#x", "/orders/42?b=2"},
		"scheme and host case":       {"HTTPS://API.Example.COM/orders/42", "/orders/42"},
		"default port":               {"https://api.example.com:443/orders/42", "/orders/42"},
		"empty path":                 {"https://api.example.com", "/"},
		"percent-encoding case":      {"https://api.example.com/a%2fb", "/a%2Fb"},
		"unreserved decoded":         {"https://api.example.com/%7Euser/%41", "/~user/A"},
		"second origin with prefix":  {"https://gateway.example.com/svc/orders/42", "/orders/42"},
		"escaped path kept":          {"https://api.example.com/a%2Fb", "/a%2Fb"},
		"escaped space":              {"https://api.example.com/a%20b", "/a%20b"},
	}
	for name, tc := range accepted {
		t.Run("accept/"+name, func(t *testing.T) {
			if err := check(tc[0], tc[1]); err != nil {
				t.Fatal(err)
			}
		})
	}
	refused := map[string][2]string{
		"other host":               {"https://evil.example.com/orders/42", "/orders/42"},
		"other scheme":             {"http://api.example.com/orders/42", "/orders/42"},
		"other port":               {"https://api.example.com:8443/orders/42", "/orders/42"},
		"other path":               {"https://api.example.com/orders/43", "/orders/42"},
		"path prefix of request":   {"https://api.example.com/orders", "/orders/42"},
		"trailing slash":           {"https://api.example.com/orders/42/", "/orders/42"},
		"decoded path never used":  {"https://api.example.com/a/b", "/a%2Fb"},
		"prefix missing":           {"https://gateway.example.com/orders/42", "/orders/42"},
		"user info":                {"https://user@api.example.com/orders/42", "/orders/42"},
		"dot segments not removed": {"https://api.example.com/x/../orders/42", "/orders/42"},
		"relative":                 {"/orders/42", "/orders/42"},
		"bad percent-encoding":     {"https://api.example.com/a%zz", "/a%2Fb"},
	}
	for name, tc := range refused {
		t.Run("refuse/"+name, func(t *testing.T) {
			htu := tc[0]
			var proof string
			if strings.HasPrefix(htu, "/") || strings.Contains(htu, "%zz") {
				proof = mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"htu": htu}))
			} else {
				proof = mustProof(t, p, "GET", htu, token, "")
			}
			_, err := c.Check(request("GET", tc[1], proof), token)
			wantReason(t, err, dpop.ReasonHTU)
		})
	}
	// Host and X-Forwarded-* are the client's: never used to build the URI.
	t.Run("refuse/forwarded headers ignored", func(t *testing.T) {
		r := request("GET", "/orders/42", mustProof(t, p, "GET", "https://evil.example.com/orders/42", token, ""))
		r.Host = "evil.example.com"
		r.Header.Set("X-Forwarded-Host", "evil.example.com")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("Forwarded", "host=evil.example.com;proto=https")
		_, err := c.Check(r, token)
		wantReason(t, err, dpop.ReasonHTU)
	})
	t.Run("refuse/missing", func(t *testing.T) {
		expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"htu": nil})), dpop.ReasonHTU)
	})
}

func TestNewValidatesPublicOrigins(t *testing.T) {
	for _, o := range []string{"", "api.example.com", "ftp://api.example.com", "https://", "https://u@api.example.com",
		"https://api.example.com?x=1", "https://api.example.com/#f", "https://api.example.com:99999", "https://api.example.com:"} {
		if _, err := dpop.New(dpop.Config{PublicOrigins: []string{o}}); err == nil {
			t.Errorf("New accepted public origin %q", o)
		}
	}
	if _, err := dpop.New(dpop.Config{}); err == nil {
		t.Error("New accepted no PublicOrigins")
	}
	// http only on loopback, unless explicitly allowed.
	if _, err := dpop.New(dpop.Config{PublicOrigins: []string{"http://api.example.com"}}); err == nil {
		t.Error("New accepted an http origin outside loopback")
	}
	for _, o := range []string{"http://127.0.0.1:8080", "http://localhost", "http://[::1]:9000/api"} {
		if _, err := dpop.New(dpop.Config{PublicOrigins: []string{o}}); err != nil {
			t.Errorf("loopback origin %q: %v", o, err)
		}
	}
	if _, err := dpop.New(dpop.Config{PublicOrigins: []string{"http://api.example.com"}, InsecureAllowHTTPOrigins: true}); err != nil {
		t.Errorf("InsecureAllowHTTPOrigins: %v", err)
	}
}

func TestCheckIAT(t *testing.T) {
	clk := newClock()
	c := newChecker(t, dpop.Config{Now: clk.Now, IATWindow: 30 * time.Second})
	p := newProver(t, "")
	at := func(d time.Duration) string {
		return mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofTime(clk.t.Add(d)))
	}
	for _, d := range []time.Duration{0, 30 * time.Second, -30 * time.Second} {
		if _, err := c.Check(request("GET", "/orders/42", at(d)), token); err != nil {
			t.Fatalf("iat now%+v: %v", d, err)
		}
	}
	for _, d := range []time.Duration{31 * time.Second, -31 * time.Second, time.Hour, -24 * time.Hour} {
		expectRefused(t, c, at(d), dpop.ReasonIAT)
	}
	expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"iat": nil})), dpop.ReasonIAT)
	// A fractional NumericDate is accepted.
	frac := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"iat": float64(clk.t.Unix()) + 0.5}))
	if _, err := c.Check(request("GET", "/orders/42", frac), token); err != nil {
		t.Fatalf("fractional iat: %v", err)
	}
}

func TestCheckJTI(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	for name, jti := range map[string]any{"missing": nil, "empty": "", "too long": strings.Repeat("j", dpop.MaxJTILength+1)} {
		t.Run(name, func(t *testing.T) {
			expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"jti": jti})), dpop.ReasonJTI)
		})
	}
	ok := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"jti": strings.Repeat("j", dpop.MaxJTILength)}))
	if _, err := c.Check(request("GET", "/orders/42", ok), token); err != nil {
		t.Fatal(err)
	}
}

func TestCheckATH(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	expectRefused(t, c, mustProof(t, p, "GET", apiURL, "", ""), dpop.ReasonATH)              // no ath
	expectRefused(t, c, mustProof(t, p, "GET", apiURL, "another-token", ""), dpop.ReasonATH) // another token's
	expectRefused(t, c, mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofClaims(map[string]any{"ath": ath(token) + "="})), dpop.ReasonATH)
	// The token request: no ath allowed.
	_, err := c.CheckTokenRequest(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, token, "")))
	wantReason(t, err, dpop.ReasonATH)
	if _, err := c.CheckTokenRequest(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, "", ""))); err != nil {
		t.Fatal(err)
	}
	// Check needs a token: an empty one never matches.
	_, err = c.Check(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, "", "", oauthtest.WithProofClaims(map[string]any{"ath": ath("")}))), "")
	wantReason(t, err, dpop.ReasonATH)
}

func TestCheckNonce(t *testing.T) {
	clk := newClock()
	n, err := dpop.NewNonces([]byte(strings.Repeat("s", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, dpop.Config{Now: clk.Now, Nonces: n, IATWindow: 10 * time.Minute})
	p := newProver(t, "")
	with := func(nonce string) error {
		_, err := c.Check(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, token, nonce, oauthtest.WithProofTime(clk.t))), token)
		return err
	}
	wantReason(t, with(""), dpop.ReasonNonce)
	if !dpop.ReasonNonce.Nonce() || dpop.ReasonJTI.Nonce() {
		t.Fatal("Reason.Nonce")
	}
	cur := c.Nonce()
	if cur == "" || cur != n.At(clk.t) {
		t.Fatalf("Checker.Nonce %q, Nonces.At %q", cur, n.At(clk.t))
	}
	if err := with(cur); err != nil {
		t.Fatal(err)
	}
	// The previous bucket's nonce is still accepted, an older one is not.
	clk.t = clk.t.Add(time.Minute)
	if err := with(cur); err != nil {
		t.Fatalf("previous bucket: %v", err)
	}
	if c.Nonce() == cur {
		t.Fatal("the nonce did not change with the bucket")
	}
	clk.t = clk.t.Add(time.Minute)
	wantReason(t, with(cur), dpop.ReasonNonce)
	// A nonce from the future, another secret's, a tampered one.
	wantReason(t, with(n.At(clk.t.Add(time.Minute))), dpop.ReasonNonce)
	other, _ := dpop.NewNonces([]byte(strings.Repeat("o", 32)), time.Minute)
	wantReason(t, with(other.At(clk.t)), dpop.ReasonNonce)
	good := n.At(clk.t)
	tampered := good[:len(good)-2] + flipB64(good[len(good)-2]) + good[len(good)-1:]
	wantReason(t, with(tampered), dpop.ReasonNonce)
	wantReason(t, with(good+"A"), dpop.ReasonNonce)
	if err := with(good); err != nil {
		t.Fatal(err)
	}
	// Without Nonces, a nonce claim is ignored.
	plain := newChecker(t, dpop.Config{Now: clk.Now})
	if _, err := plain.Check(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, token, "whatever", oauthtest.WithProofTime(clk.t))), token); err != nil {
		t.Fatal(err)
	}
	if plain.Nonce() != "" {
		t.Fatal("Nonce without Nonces")
	}
}

func TestNewNoncesRefusesWeakSettings(t *testing.T) {
	if _, err := dpop.NewNonces(make([]byte, 31), time.Minute); err == nil {
		t.Error("short secret accepted")
	}
	for _, d := range []time.Duration{0, time.Millisecond, 2 * time.Hour} {
		if _, err := dpop.NewNonces(make([]byte, 32), d); err == nil {
			t.Errorf("period %v accepted", d)
		}
	}
}

func TestNoncesUnpredictable(t *testing.T) {
	a, _ := dpop.NewNonces([]byte(strings.Repeat("a", 32)), time.Minute)
	b, _ := dpop.NewNonces([]byte(strings.Repeat("b", 32)), time.Minute)
	now := time.Now()
	if a.At(now) == b.At(now) {
		t.Fatal("nonces of two secrets are equal")
	}
	// Same secret: replicas agree.
	a2, _ := dpop.NewNonces([]byte(strings.Repeat("a", 32)), time.Minute)
	if a.At(now) != a2.At(now) || a.Current() == "" {
		t.Fatal("replicas with one secret disagree")
	}
}

func TestCommitReplay(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	p := newProver(t, "")
	proof := mustProof(t, p, "GET", apiURL, token, "")
	v, err := c.Check(request("GET", "/orders/42", proof), token)
	if err != nil {
		t.Fatal(err)
	}
	// Check alone records nothing: checking twice is fine.
	if _, err := c.Check(request("GET", "/orders/42", proof), token); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	v2, err := c.Check(request("GET", "/orders/42", proof), token)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Commit(context.Background(), v2)
	wantReason(t, err, dpop.ReasonReplay)
	if !errors.Is(err, dpop.ErrReplay) {
		t.Fatal("errors.Is(err, ErrReplay)")
	}
	// The same jti by the same key for another URI is another proof.
	other := mustProof(t, p, "GET", apiOrigin+"/orders/43", token, "", oauthtest.WithProofClaims(map[string]any{"jti": jtiOf(t, proof)}))
	v3, err := c.Check(request("GET", "/orders/43", other), token)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(context.Background(), v3); err != nil {
		t.Fatal(err)
	}
	// The zero Verified is never committed.
	wantReason(t, c.Commit(context.Background(), dpop.Verified{}), dpop.ReasonMissing)
}

func TestCommitStoreFull(t *testing.T) {
	store := dpop.NewMemoryStore(2)
	c := newChecker(t, dpop.Config{Replay: store})
	p := newProver(t, "")
	for i := range 3 {
		v, err := c.Check(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, token, "")), token)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Commit(context.Background(), v)
		if i < 2 {
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		wantReason(t, err, dpop.ReasonStoreUnavailable)
		if !dpop.ReasonOf(err).Unavailable() || !errors.Is(err, dpop.ErrStoreFull) {
			t.Fatalf("full store: %v", err)
		}
	}
	if store.Len() != 2 {
		t.Fatalf("store holds %d keys", store.Len())
	}
}

// A store failing (a shared store down) refuses, never accepts.
func TestCommitStoreFailing(t *testing.T) {
	c := newChecker(t, dpop.Config{Replay: failingStore{}})
	v, err := c.Check(request("GET", "/orders/42", mustProof(t, newProver(t, ""), "GET", apiURL, token, "")), token)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, c.Commit(context.Background(), v), dpop.ReasonStoreUnavailable)
}

type failingStore struct{}

func (failingStore) Record(context.Context, [32]byte, time.Time, time.Time) error {
	return errors.New("connection refused")
}

func TestCommitKeepsJTIForTheWholeWindow(t *testing.T) {
	clk := newClock()
	c := newChecker(t, dpop.Config{Now: clk.Now, IATWindow: time.Minute})
	p := newProver(t, "")
	// A proof dated a minute ahead is accepted now and until iat+window,
	// two minutes from now: its replay is refused all that time.
	proof := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofTime(clk.t.Add(time.Minute)))
	v, err := c.Check(request("GET", "/orders/42", proof), token)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Expires().Equal(clk.t.Add(2 * time.Minute)) {
		t.Fatalf("Expires %v", v.Expires())
	}
	if err := c.Commit(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	// At the last instant Check accepts the proof, Commit still knows it.
	for _, d := range []time.Duration{time.Minute, 2*time.Minute - time.Second, 2 * time.Minute} {
		clk.t = v.Expires().Add(d - 2*time.Minute)
		again, err := c.Check(request("GET", "/orders/42", proof), token)
		if err != nil {
			t.Fatalf("after %v: %v", d, err)
		}
		wantReason(t, c.Commit(context.Background(), again), dpop.ReasonReplay)
	}
	clk.t = v.Expires().Add(time.Nanosecond)
	expectRefused(t, c, proof, dpop.ReasonIAT)
}

// The thumbprint goes to binding: a token bound to key A with a proof by
// key B is refused, key A's proof accepted.
func TestThumbprintBinding(t *testing.T) {
	c := newChecker(t, dpop.Config{})
	a, b := newProver(t, "ES256"), newProver(t, "EdDSA")
	cnf, err := binding.ParseConfirmation([]byte(`{"jkt":"` + a.Thumbprint() + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := binding.Config{Policy: binding.Required, Methods: binding.DPoP}
	for p, want := range map[*oauthtest.DPoPProver]binding.Reason{a: binding.Accepted, b: binding.ReasonJKTMismatch} {
		v, err := c.Check(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, token, "")), token)
		if err != nil {
			t.Fatal(err)
		}
		if got := binding.Check(cfg, cnf, binding.Proof{}.WithDPoP(v.Thumbprint())); got != want {
			t.Fatalf("binding %q, want %q", got, want)
		}
	}
}

// RFC 7638 section 3.1's example: the thumbprint of its RSA key.
func TestThumbprintRFC7638Example(t *testing.T) {
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	c := newChecker(t, dpop.Config{Algorithms: []string{"RS256"}})
	// The jwk is the RFC's; the proof cannot be signed with it, so the
	// check stops at the signature, and the thumbprint is compared through
	// a key with the same public members: the prover's own RSA key,
	// against oauthtest's independent RFC 7638 implementation.
	p := newProver(t, "RS256")
	v, err := c.Check(request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, token, "")), token)
	if err != nil {
		t.Fatal(err)
	}
	if v.JKT() != p.Thumbprint() {
		t.Fatal("thumbprint differs from oauthtest's")
	}
	canon := `{"e":"AQAB","kty":"RSA","n":"` + n + `"}`
	sum := sha256.Sum256([]byte(canon))
	if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("RFC example canonical form hashes to %s", got)
	}
	// The RFC's jwk with its members in another order and extra members:
	// the proof fails only at the signature, so the key parsed.
	proof := mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofHeader(map[string]any{
		"jwk": map[string]any{"kid": "2011-04-29", "alg": "RS256", "n": n, "e": "AQAB", "kty": "RSA"}}))
	expectRefused(t, c, proof, dpop.ReasonSignature)
}

// Check allocates little beyond crypto/ecdsa's own: one buffer for the
// proof and the ECDSA key (the bound is generous; see BenchmarkCheckES256).
func TestCheckAllocations(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	c := newChecker(t, dpop.Config{Now: func() time.Time { return now }})
	p := newProver(t, "ES256")
	r := request("GET", "/orders/42", mustProof(t, p, "GET", apiURL, token, "", oauthtest.WithProofTime(now)))
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := c.Check(r, token); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 30 {
		t.Fatalf("Check allocates %.0f times", allocs)
	}
	t.Logf("%.0f allocations", allocs)
}
