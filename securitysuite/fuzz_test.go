package securitysuite

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// The fuzz targets drive the adapters' credential extraction through their
// exported API (grpcauth.Interceptor.Authorize, the net/http middleware's
// handler) with a verifier whose issuer, keys and clock are fixed, so that
// a token minted by one fuzz worker verifies in every other.

const (
	fuzzIss    = "https://issuer.fuzz.test"
	fuzzAud    = "https://api.fuzz.test"
	fuzzClient = "fuzz-client"
)

var fuzzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fuzzKeys are the trusted keys: kid -> (alg, key) from testdata/keys.
var fuzzKeys = map[string]string{"rs": "RS256", "es": "ES256", "ed": "EdDSA"}

type fuzzEnv struct {
	v    *jwtverify.Verifier
	gic  *grpcauth.Interceptor
	http http.Handler
}

func newFuzzEnv(t testing.TB) *fuzzEnv {
	t.Helper()
	var keys []jwkscache.Key
	for kid, alg := range fuzzKeys {
		k, err := jwkscache.NewKey(kid, alg, fixedKey(t, alg).Public())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	v, err := jwtverify.New(jwtverify.Config{
		Now: func() time.Time { return fuzzNow },
		Issuers: []jwtverify.IssuerConfig{{Name: "fuzz", Issuer: fuzzIss, Keys: jwkscache.NewStatic("fuzz", keys...),
			Audiences: []string{fuzzAud}, ClientIDs: []string{fuzzClient}, Algorithms: []string{"RS256", "ES256", "EdDSA"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	gic, err := grpcauth.New(v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{grpcRead: reqRead}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := middleware.New(v)
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzEnv{v: v, gic: gic, http: mw.Require(reqRead)(http.HandlerFunc(okHandler))}
}

// fuzzToken signs claims (default: valid, scope read) with the fixed key kid.
func fuzzToken(t testing.TB, kid string, over map[string]any) string {
	c := map[string]any{"iss": fuzzIss, "aud": fuzzAud, "client_id": fuzzClient, "scope": scopeRead,
		"iat": fuzzNow.Unix(), "exp": fuzzNow.Unix() + 3600}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	alg := fuzzKeys[kid]
	return signJWS(t, alg, fixedKey(t, alg), mustJSON(map[string]any{"alg": alg, "kid": kid, "typ": "at+jwt"}), mustJSON(c))
}

// credClass is the independent reading of RFC 6750 section 2.1 credentials.
type credClass int

const (
	credNone    credClass = iota // no bearer credentials: 401-0
	credInvalid                  // malformed: 400-R
	credToken                    // a b64token: up to the verifier
)

func isB64TokenModel(s string) bool {
	i := 0
	for i < len(s) && (('a' <= s[i] && s[i] <= 'z') || ('A' <= s[i] && s[i] <= 'Z') || ('0' <= s[i] && s[i] <= '9') || strings.IndexByte("-._~+/", s[i]) >= 0) {
		i++
	}
	if i == 0 {
		return false
	}
	return strings.Trim(s[i:], "=") == ""
}

// classify applies RFC 6750's credentials grammar to the authorization
// values: "Bearer" (any case), one or more spaces, a b64token.
func classify(vals []string) (credClass, string) {
	switch len(vals) {
	case 0:
		return credNone, ""
	case 1:
	default:
		return credInvalid, ""
	}
	v := vals[0]
	if len(v) < 6 || !strings.EqualFold(v[:6], "bearer") {
		return credNone, ""
	}
	rest := v[6:]
	switch {
	case rest == "", rest[0] == '\t':
		return credInvalid, ""
	case rest[0] != ' ':
		return credNone, "" // another scheme, e.g. "Bearerx"
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" || !isB64TokenModel(tok) {
		return credInvalid, ""
	}
	return credToken, tok
}

// independentVerify re-verifies an accepted token with the standard
// library alone against the trusted keys, and re-checks the claims the
// route depends on. ECDSA signatures are malleable: never compare with a
// minted token.
func independentVerify(t testing.TB, tok string) string {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.') {
			return "character outside base64url"
		}
	}
	seg := strings.Split(tok, ".")
	if len(seg) != 3 {
		return "not three segments"
	}
	dec := b64.Strict()
	hb, e1 := dec.DecodeString(seg[0])
	pb, e2 := dec.DecodeString(seg[1])
	sig, e3 := dec.DecodeString(seg[2])
	if e1 != nil || e2 != nil || e3 != nil {
		return "not canonical base64url"
	}
	if !json.Valid(hb) || !json.Valid(pb) {
		return "header or claims not JSON"
	}
	var h map[string]any
	if json.Unmarshal(hb, &h) != nil {
		return "header not an object"
	}
	alg, _ := h["alg"].(string)
	kid, hasKid := h["kid"].(string)
	for _, bad := range []string{"crit", "b64", "cty", "zip", "enc"} {
		if _, ok := h[bad]; ok {
			return "header member " + bad
		}
	}
	input := []byte(seg[0] + "." + seg[1])
	ok := false
	for k, kalg := range fuzzKeys {
		if (hasKid && k != kid) || alg != kalg {
			continue
		}
		pub := fixedKey(t, kalg).Public()
		switch p := pub.(type) {
		case *rsa.PublicKey:
			hh, d := hasherFor(alg)
			d.Write(input)
			ok = ok || rsa.VerifyPKCS1v15(p, hh, d.Sum(nil), sig) == nil
		case *ecdsa.PublicKey:
			if len(sig) == 64 {
				_, d := hasherFor(alg)
				d.Write(input)
				ok = ok || ecdsa.Verify(p, d.Sum(nil), new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
			}
		case ed25519.PublicKey:
			ok = ok || ed25519.Verify(p, input, sig)
		}
	}
	if !ok {
		return "no trusted key verifies the signature"
	}
	var c map[string]any
	if json.Unmarshal(pb, &c) != nil {
		return "claims not an object"
	}
	if c["iss"] != fuzzIss {
		return "iss"
	}
	if exp, ok := c["exp"].(float64); !ok || exp+30 <= float64(fuzzNow.Unix()) {
		return "exp"
	}
	switch a := c["aud"].(type) {
	case string:
		if a != fuzzAud {
			return "aud"
		}
	case []any:
		if !slices.Contains(a, any(fuzzAud)) {
			return "aud"
		}
	default:
		return "aud"
	}
	return ""
}

func fuzzSeedValues(t testing.TB) []string {
	good := fuzzToken(t, "es", nil)
	return []string{
		"Bearer " + good, "bearer " + good, "BEARER   " + good, "Bearer " + fuzzToken(t, "rs", nil), "Bearer " + fuzzToken(t, "ed", nil),
		"Bearer " + fuzzToken(t, "es", map[string]any{"scope": nil}), "Bearer " + fuzzToken(t, "es", map[string]any{"exp": fuzzNow.Unix() - 60}),
		"Bearer", "Bearer ", "Bearer\t" + good, "Bearer " + good + " x", "Basic dXNlcjpwYXNz", "Bearerx " + good, "",
		"Bearer " + good + "==", "Bearer " + strings.Replace(good, ".", "=.", 1), "Bearer " + good[:20] + "\n" + good[20:],
		"Bearer a.b.c", "Bearer ...", "Bearer ~+/", "Bearer " + strings.ToUpper(good),
	}
}

// FuzzGRPCMetadata drives grpcauth's credential extraction and decision
// (Interceptor.Authorize) with arbitrary authorization metadata: zero, one
// or two values. Every answer must match RFC 6750's grammar read
// independently (classify), carry a fixed message and ErrorInfo, and every
// accepted token must verify with the standard library alone.
func FuzzGRPCMetadata(f *testing.F) {
	env := newFuzzEnv(f)
	for _, v := range fuzzSeedValues(f) {
		f.Add(v, "", uint8(1))
		f.Add(v, v, uint8(2))
	}
	f.Add("", "", uint8(0))
	fixedMsgs := []string{descInvalid, descExpired, descRequest, descNoCreds, "The access token cannot be verified at the moment"}
	f.Fuzz(func(t *testing.T, v1, v2 string, n uint8) {
		vals := [][]string{nil, {v1}, {v1, v2}}[n%3]
		md := metadata.MD{}
		if vals != nil {
			md["authorization"] = vals
		}
		ctx, err := env.gic.Authorize(metadata.NewIncomingContext(context.Background(), md), grpcRead)
		class, tok := classify(vals)
		if err == nil {
			p, ok := jwtverify.FromContext(ctx)
			if !ok || !p.Has(scopeRead) {
				t.Fatal("allowed without a Principal holding the scope")
			}
			if class != credToken {
				t.Fatalf("allowed credentials the grammar refuses: %q", vals)
			}
			if why := independentVerify(t, tok); why != "" {
				t.Fatalf("allowed a token the standard library refuses (%s): %q", why, tok)
			}
			return
		}
		st, _ := status.FromError(err)
		info := infoOf(st)
		if info == nil || info.GetDomain() != grpcauth.Domain {
			t.Fatalf("refusal without ErrorInfo: %v", err)
		}
		if !slices.Contains(fixedMsgs, st.Message()) && !strings.HasPrefix(st.Message(), descScope) {
			t.Fatalf("message %q is not a fixed text", st.Message())
		}
		for k, v := range info.GetMetadata() {
			if (k != grpcauth.MetadataError && k != grpcauth.MetadataScope && k != grpcauth.MetadataMissing) || (v != scopeRead && !strings.HasSuffix(v, "_token") && !strings.HasSuffix(v, "_request") && v != "insufficient_scope") {
				t.Fatalf("ErrorInfo metadata %q=%q", k, v)
			}
		}
		want := map[credClass]string{credNone: grpcauth.InfoMissingToken, credInvalid: grpcauth.InfoInvalidRequest}[class]
		if class == credToken && len(vals[0]) > grpcauth.MaxCredentialsLength {
			want = grpcauth.InfoInvalidToken
		}
		if want != "" && info.GetReason() != want {
			t.Fatalf("values %q: reason %s, want %s", vals, info.GetReason(), want)
		}
		if want == "" {
			switch info.GetReason() {
			case grpcauth.InfoInvalidToken, grpcauth.InfoTokenExpired, grpcauth.InfoInsufficientScope:
			default:
				t.Fatalf("b64token %q: reason %s", tok, info.GetReason())
			}
			if info.GetReason() == grpcauth.InfoInsufficientScope {
				if st.Code() != codes.PermissionDenied || independentVerify(t, tok) != "" {
					t.Fatalf("403 for a token that does not verify independently: %q", tok)
				}
			}
		}
	})
}

// FuzzHTTPAuthorization drives the net/http middleware in process with
// arbitrary Authorization headers (zero, one or two) and query strings.
// Every answer must be one of the fixed answers, agree with RFC 6750's
// grammar read independently (plus "a header token next to an access_token
// query parameter is invalid_request"), and every accepted token must
// verify with the standard library alone.
func FuzzHTTPAuthorization(f *testing.F) {
	env := newFuzzEnv(f)
	for _, v := range fuzzSeedValues(f) {
		f.Add(v, "", uint8(1), "")
		f.Add(v, v, uint8(2), "")
		f.Add(v, "", uint8(1), "access_token=x")
		f.Add(v, "", uint8(1), "access%5ftoken&x=1")
	}
	f.Add("", "", uint8(0), "access_token="+fuzzToken(f, "es", nil))
	answers := map[int]map[string]string{
		401: {challengeT: "invalid_token", challengeExp: "invalid_token", realmParam: "unauthorized"},
		400: {challengeR: "invalid_request"},
		403: {realmParam + `, error="insufficient_scope", error_description="` + descScope + `", scope="` + scopeRead + `"`: "insufficient_scope"},
	}
	f.Fuzz(func(t *testing.T, v1, v2 string, n uint8, query string) {
		vals := [][]string{nil, {v1}, {v1, v2}}[n%3]
		r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
		r.URL.RawQuery = query
		if vals != nil {
			r.Header["Authorization"] = vals
		}
		rec := httptest.NewRecorder()
		env.http.ServeHTTP(rec, r)
		class, tok := classify(vals)
		queryToken := false
		for _, kv := range strings.Split(query, "&") {
			k, _, _ := strings.Cut(kv, "=")
			if u, err := url.QueryUnescape(k); err == nil && u == "access_token" {
				queryToken = true
			}
		}
		if rec.Code == 200 {
			if class != credToken || queryToken {
				t.Fatalf("allowed %q with query %q", vals, query)
			}
			if why := independentVerify(t, tok); why != "" {
				t.Fatalf("allowed a token the standard library refuses (%s): %q", why, tok)
			}
			return
		}
		want, ok := answers[rec.Code]
		if !ok {
			t.Fatalf("status %d", rec.Code)
		}
		ch := rec.Header().Values("WWW-Authenticate")
		if len(ch) != 1 {
			t.Fatalf("challenges %q", ch)
		}
		code, ok := want[ch[0]]
		if !ok {
			t.Fatalf("status %d with challenge %q", rec.Code, ch[0])
		}
		var body struct{ Error string }
		if json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error != code {
			t.Fatalf("body %q", rec.Body.String())
		}
		var wantStatus int
		switch {
		case class == credInvalid:
			wantStatus = 400
		case class == credToken && queryToken:
			wantStatus = 400
		case class == credNone:
			wantStatus = 401
		}
		if wantStatus != 0 && rec.Code != wantStatus {
			t.Fatalf("values %q query %q: status %d, want %d", vals, query, rec.Code, wantStatus)
		}
		if wantStatus == 401 && ch[0] != realmParam {
			t.Fatalf("no credentials answered %q", ch[0])
		}
		if class == credToken && !queryToken && rec.Code == 400 {
			t.Fatalf("b64token %q answered 400", tok)
		}
	})
}
