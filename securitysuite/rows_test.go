package securitysuite

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// row is one catalogue entry of SECURITY.md, run over every transport it
// applies to.
type row struct {
	id   string
	only []transport // nil: every transport
	// opts, when set, gives the row a fixture of its own per transport;
	// fresh does the same with the default options (rows that change the
	// issuer's keys or the clock).
	opts  *fixtureOptions
	fresh bool
	run   func(t *testing.T, f *fixture, tr transport)
}

func (r row) applies(tr transport) bool {
	if r.only == nil {
		return true
	}
	for _, o := range r.only {
		if o == tr {
			return true
		}
	}
	return false
}

// TestRows sends every row of SECURITY.md's catalogue through the three
// adapters: TestRows/<transport>/<row ID>/<variant>.
func TestRows(t *testing.T) {
	shared := newFixture(t, fixtureOptions{})
	rows := catalogue()
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.id] {
			t.Fatalf("row %s twice", r.id)
		}
		seen[r.id] = true
	}
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			for _, r := range rows {
				if !r.applies(tr) {
					continue
				}
				t.Run(r.id, func(t *testing.T) {
					f := shared
					switch {
					case r.opts != nil:
						f = newFixture(t, *r.opts)
					case r.fresh:
						f = newFixture(t, fixtureOptions{})
					}
					r.run(t, f, tr)
				})
			}
		})
	}
}

// catalogueIDs are the row IDs of SECURITY.md; TestCatalogueComplete
// checks the suite has each.
var catalogueIDs = strings.Fields(`A1 A3 A5 A6 A7 A8 B1 B2 B3 B4 B5 B6 B7 B10 B12 B13a B13b B13c B14 B16
C1 C2 C3 C4 C5 C6 C7 C8 C10 C11 D1 D3 D4 D6 E1 E2 E4 E5 E7 E8 E9 F1 F2 F3 F5 F6 F7 F8 F10 F12 F13
G1 G2 H1 H2 H3 H5 H6 H7 H8 H10 I1 I3 I4 I5`)

func TestCatalogueComplete(t *testing.T) {
	have := map[string]bool{}
	for _, r := range catalogue() {
		have[r.id] = true
	}
	for _, id := range catalogueIDs {
		if !have[id] {
			t.Errorf("row %s has no test", id)
		}
	}
	if len(have) != len(catalogueIDs) {
		t.Errorf("%d rows tested, %d in the catalogue", len(have), len(catalogueIDs))
	}
}

const (
	tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB = "11111111-2222-4333-8444-555555555555"
)

func entraOptions() *fixtureOptions {
	return &fixtureOptions{
		cacheConfig: func(c *jwkscache.Config) {
			// Entra's common key set: one JWKS URL for every tenant.
			c.JWKSURL, c.Issuer = strings.TrimSuffix(c.Issuer, "/")+"/jwks", ""
		},
		issuerConfig: func(f *fixture, ic *jwtverify.IssuerConfig) {
			ic.Issuer = f.iss.URL() + "/{tenantid}/v2.0"
			ic.AllowedTenants = []string{tenantA}
		},
	}
}

func tenantClaims(f *fixture, issTenant, tid string) oauthtest.MintOption {
	c := map[string]any{"iss": f.iss.URL() + "/" + issTenant + "/v2.0", "tid": tid}
	if tid == "" {
		c["tid"] = nil
	}
	return oauthtest.WithClaims(c)
}

// directHTTP runs r through the adapter's handler in process (inputs no
// HTTP client can send, such as a newline inside a header value).
func (f *fixture) directHTTP(tr transport, r *http.Request) answer {
	h := f.httpHandler
	if tr == trEcho {
		h = f.echoHandler
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// directGRPC runs the interceptor's decision on incoming metadata md
// (inputs grpc-go refuses to send).
func (f *fixture) directGRPC(md metadata.MD, method string) answer {
	_, err := f.gic.Authorize(metadata.NewIncomingContext(context.Background(), md), method)
	st := status.Convert(err)
	a := answer{code: st.Code(), msg: st.Message()}
	if err == nil {
		a.body = "ok direct"
	}
	a.info = infoOf(st)
	return a
}

func (f *fixture) direct(t *testing.T, tr transport, authValue string) answer {
	t.Helper()
	if tr == trGRPC {
		return f.directGRPC(metadata.MD{"authorization": {authValue}}, grpcRead)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
	r.Header["Authorization"] = []string{authValue}
	return f.directHTTP(tr, r)
}

func catalogue() []row {
	return []row{
		// ---- A: algorithms
		{id: "A1", run: func(t *testing.T, f *fixture, tr transport) {
			claims := f.claimsJSON(nil)
			for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
				h := mustJSON(map[string]any{"alg": alg, "typ": "at+jwt"})
				f.checkToken(t, tr, alg+"_empty_signature", enc(h)+"."+enc(claims)+".", invalidT)
				h = f.header("RS256", map[string]any{"alg": alg})
				f.checkToken(t, tr, alg+"_trusted_kid_with_signature", enc(h)+"."+enc(claims)+"."+enc([]byte("sig")), invalidT)
			}
		}},
		{id: "A3", run: func(t *testing.T, f *fixture, tr transport) {
			pub, _ := f.iss.PublicKey(f.kid["RS256"])
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			jwk, err := oauthtest.PublicJWK(pub, "RS256")
			if err != nil {
				t.Fatal(err)
			}
			secrets := map[string][]byte{
				"PEM":       pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
				"DER":       der,
				"PKCS1_DER": x509.MarshalPKCS1PublicKey(pub.(*rsa.PublicKey)),
				"JWK":       mustJSON(jwk),
				"modulus":   pub.(*rsa.PublicKey).N.Bytes(),
			}
			for name, key := range secrets {
				for _, alg := range []string{"HS256", "HS384", "HS512"} {
					in := enc(f.header("RS256", map[string]any{"alg": alg})) + "." + enc(f.claimsJSON(nil))
					f.checkToken(t, tr, alg+"_"+name, in+"."+enc(hmacSHA256(key, in)), invalidT)
				}
			}
		}},
		{id: "A5", run: func(t *testing.T, f *fixture, tr transport) {
			// The JWK says RS256; the token asks for another RSA algorithm
			// the same key material can compute.
			for _, alg := range []string{"PS256", "RS384", "RS512", "PS512"} {
				f.checkToken(t, tr, alg+"_with_RS256_JWK", f.mint(t, oauthtest.WithHeader(map[string]any{"alg": alg})), invalidT)
			}
			f.checkToken(t, tr, "RS256_with_PS256_JWK", f.mint(t, oauthtest.WithKeyID(f.kid["PS256"]), oauthtest.WithHeader(map[string]any{"alg": "RS256"})), invalidT)
		}},
		{id: "A6", run: func(t *testing.T, f *fixture, tr transport) {
			cases := map[string][]oauthtest.MintOption{
				"ES256_with_RSA_key":    {oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithHeader(map[string]any{"kid": f.kid["RS256"]})},
				"ES384_with_P256_key":   {oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithHeader(map[string]any{"alg": "ES384"})},
				"ES256_with_P384_key":   {oauthtest.WithKeyID(f.kid["ES384"]), oauthtest.WithHeader(map[string]any{"alg": "ES256"})},
				"EdDSA_with_EC_key":     {oauthtest.WithKeyID(f.kid["EdDSA"]), oauthtest.WithHeader(map[string]any{"kid": f.kid["ES256"]})},
				"RS256_with_EC_key":     {oauthtest.WithHeader(map[string]any{"kid": f.kid["ES256"]})},
				"ES256_with_OKP_key":    {oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithHeader(map[string]any{"kid": f.kid["EdDSA"]})},
				"ES256_kid_of_P384_key": {oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithHeader(map[string]any{"kid": f.kid["ES384"]})},
			}
			for name, opts := range cases {
				f.checkToken(t, tr, name, f.mint(t, opts...), invalidT)
			}
		}},
		{id: "A7", opts: &fixtureOptions{issuer: func(t testing.TB, f *fixture) {
			for _, a := range algs {
				f.iss.SetJWKSExtra(f.kid[a], map[string]any{"alg": nil})
			}
		}}, run: func(t *testing.T, f *fixture, tr transport) {
			for _, a := range algs {
				f.checkToken(t, tr, a+"_inferred", f.mint(t, oauthtest.WithKeyID(f.kid[a])), accept)
			}
			// The family is inferred, the allow list still applies.
			f.checkToken(t, tr, "PS256_on_RSA_key_without_alg_allowed", f.mint(t, oauthtest.WithHeader(map[string]any{"alg": "PS256"})), accept)
			f.checkToken(t, tr, "RS384_not_allow_listed", f.mint(t, oauthtest.WithHeader(map[string]any{"alg": "RS384"})), invalidT)
			f.checkToken(t, tr, "ES512_not_allow_listed", f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithHeader(map[string]any{"alg": "ES512"})), invalidT)
			f.checkToken(t, tr, "ES384_on_P256_key_without_alg", f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithHeader(map[string]any{"alg": "ES384"})), invalidT)
		}},
		{id: "A8", run: func(t *testing.T, f *fixture, tr transport) {
			for name, h := range map[string]string{
				"number":  `{"alg":256,"kid":"%s"}`,
				"array":   `{"alg":["RS256"],"kid":"%s"}`,
				"object":  `{"alg":{"name":"RS256"},"kid":"%s"}`,
				"null":    `{"alg":null,"kid":"%s"}`,
				"missing": `{"kid":"%s"}`,
				"empty":   `{"alg":"","kid":"%s"}`,
			} {
				f.checkToken(t, tr, name, f.sign(t, "RS256", []byte(fmt.Sprintf(h, f.kid["RS256"])), f.claimsJSON(nil)), invalidT)
			}
		}},

		// ---- B: keys
		{id: "B1", run: func(t *testing.T, f *fixture, tr transport) {
			att := newAttackerKey(t)
			claims := f.claimsJSON(nil)
			f.checkToken(t, tr, "jwk_header_no_kid", signJWS(t, "ES256", att, mustJSON(map[string]any{"alg": "ES256", "typ": "at+jwt", "jwk": ecJWK(att)}), claims), invalidT)
			f.checkToken(t, tr, "jwk_header_trusted_kid", signJWS(t, "ES256", att, mustJSON(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": f.kid["ES256"], "jwk": ecJWK(att)}), claims), invalidT)
			f.checkToken(t, tr, "jwk_header_own_kid", signJWS(t, "ES256", att, mustJSON(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "attacker", "jwk": ecJWK(att)}), claims), invalidT)
		}},
		{id: "B2", run: func(t *testing.T, f *fixture, tr transport) {
			att := newAttackerKey(t)
			var hits atomic.Int64
			evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(mustJSON(map[string]any{"keys": []any{ecJWK(att)}}))
			}))
			defer evil.Close()
			claims := f.claimsJSON(nil)
			for name, h := range map[string]map[string]any{
				"jku_own_kid":     {"jku": evil.URL + "/jwks", "kid": "evil-1"},
				"jku_trusted_kid": {"jku": evil.URL + "/jwks", "kid": f.kid["ES256"]},
				"jku_no_kid":      {"jku": evil.URL + "/jwks"},
				"x5u_own_kid":     {"x5u": evil.URL + "/cert.pem", "kid": "evil-2"},
				"x5u_trusted_kid": {"x5u": evil.URL + "/cert.pem", "kid": f.kid["ES256"]},
			} {
				h["alg"], h["typ"] = "ES256", "at+jwt"
				f.checkToken(t, tr, name, signJWS(t, "ES256", att, mustJSON(h), claims), invalidT)
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("%d requests to the jku/x5u server", n)
			}
		}},
		{id: "B3", run: func(t *testing.T, f *fixture, tr transport) {
			att := newAttackerKey(t)
			now := f.clk.Now()
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: f.iss.Issuer()},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &att.PublicKey, att)
			if err != nil {
				t.Fatal(err)
			}
			x5c := []string{base64.StdEncoding.EncodeToString(der)}
			claims := f.claimsJSON(nil)
			f.checkToken(t, tr, "x5c_no_kid", signJWS(t, "ES256", att, mustJSON(map[string]any{"alg": "ES256", "typ": "at+jwt", "x5c": x5c}), claims), invalidT)
			f.checkToken(t, tr, "x5c_trusted_kid", signJWS(t, "ES256", att, mustJSON(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": f.kid["ES256"], "x5c": x5c}), claims), invalidT)
		}},
		{id: "B4", fresh: true, run: func(t *testing.T, f *fixture, tr transport) {
			f.clk.Advance(2 * time.Second) // past the floor after the first fetch: a refresh could run
			withKID := func(kid string) string { return f.mint(t, oauthtest.WithHeader(map[string]any{"kid": kid})) }
			jwks := func() int64 { return f.iss.Requests(oauthtest.EndpointJWKS) }
			// Over-long kids: refused without any refresh.
			before := jwks()
			f.checkToken(t, tr, "kid_100KB", withKID(strings.Repeat("k", 100<<10)), invalidT)
			f.checkToken(t, tr, "kid_257_bytes", withKID(strings.Repeat("k", 257)), invalidT)
			f.checkToken(t, tr, "kid_1000_bytes_escaped", withKID(strings.Repeat("\u00e9", 500)), invalidT)
			if n := jwks() - before; n != 0 {
				t.Fatalf("over-long kids caused %d JWKS fetches", n)
			}
			for name, kid := range map[string]string{
				"path_traversal":   "../../../../etc/passwd",
				"sql":              "' OR 1=1 --",
				"nul":              f.kid["RS256"] + "\x00",
				"nul_only":         "\x00",
				"url":              "https://evil.example/key",
				"trusted_kid_case": strings.ToUpper(f.kid["RS256"]),
				"kid_256_bytes":    strings.Repeat("k", 256),
			} {
				f.checkToken(t, tr, name, withKID(kid), invalidT)
			}
			if n := jwks() - before; n > 1 {
				t.Fatalf("%d JWKS fetches for unknown kids within one cooldown", n)
			}
		}},
		{id: "B5", fresh: true, run: func(t *testing.T, f *fixture, tr transport) {
			// Tokens with random kids: the signature is never looked at
			// (the kid is unknown first), so one well-formed signature
			// serves them all.
			claims := enc(f.claimsJSON(nil))
			sig := enc(make([]byte, 64))
			burst := func(n int) {
				var wg sync.WaitGroup
				var bad atomic.Int64
				jobs := make(chan string)
				for w := 0; w < 8; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for tok := range jobs {
							a := f.send(t, tr, bearer(tok))
							ok := a.status == 401 && a.header.Get("WWW-Authenticate") == challengeT
							if tr == trGRPC {
								ok = a.code == 16 && a.info != nil && a.info.GetReason() == "INVALID_TOKEN"
							}
							if !ok {
								bad.Add(1)
							}
						}
					}()
				}
				for i := 0; i < n; i++ {
					h := mustJSON(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": randomKID(12)})
					jobs <- enc(h) + "." + claims + "." + sig
				}
				close(jobs)
				wg.Wait()
				if b := bad.Load(); b != 0 {
					t.Fatalf("%d of %d answers were not 401 invalid_token", b, n)
				}
			}
			jwks := func() int64 { return f.iss.Requests(oauthtest.EndpointJWKS) }
			n := 2000 // per burst; the race detector makes each request ten times slower
			if raceEnabled {
				n = 300
			}
			start := jwks()
			f.clk.Advance(2 * time.Second)
			burst(n)
			w1 := jwks() - start
			f.clk.Advance(10 * time.Second) // still inside the 30 s cooldown
			burst(n / 2)
			w2 := jwks() - start - w1
			f.clk.Advance(jwkscache.DefaultUnknownKIDCooldown)
			burst(n / 2)
			w3 := jwks() - start - w1 - w2
			t.Logf("JWKS fetches per window: %d, %d, %d for %d random kids", w1, w2, w3, 2*n)
			if w1 > 1 || w2 != 0 || w3 > 1 {
				t.Fatalf("JWKS fetches per window %d, %d, %d: want at most one per cooldown", w1, w2, w3)
			}
			// The issuer's own keys still verify.
			f.checkToken(t, tr, "valid_token_after_burst", f.mint(t), accept)
		}},
		{id: "B6", fresh: true, run: func(t *testing.T, f *fixture, tr transport) {
			f.clk.Advance(2 * time.Second)
			newKID, err := f.iss.RotateKey("ES256")
			if err != nil {
				t.Fatal(err)
			}
			tok := f.mint(t) // signed by the new default signer
			if !strings.Contains(string(mustDecode(t, segments(tok)[0])), newKID) {
				t.Fatal("token not signed by the rotated key")
			}
			before := f.iss.Requests(oauthtest.EndpointJWKS)
			f.checkToken(t, tr, "new_kid_after_one_refresh", tok, accept)
			if n := f.iss.Requests(oauthtest.EndpointJWKS) - before; n != 1 {
				t.Fatalf("%d JWKS fetches, want exactly one refresh", n)
			}
			f.checkToken(t, tr, "new_kid_again_no_fetch", f.mint(t), accept)
			f.checkToken(t, tr, "old_key_still_published", f.mint(t, oauthtest.WithKeyID(f.kid["RS256"])), accept)
			if n := f.iss.Requests(oauthtest.EndpointJWKS) - before; n != 1 {
				t.Fatalf("%d JWKS fetches after the refresh, want 1", n)
			}
		}},
		{id: "B7", fresh: true, run: func(t *testing.T, f *fixture, tr transport) {
			kid := f.kid["ES256"]
			seen := f.mint(t, oauthtest.WithKeyID(kid))   // verified and cached before the removal
			unseen := f.mint(t, oauthtest.WithKeyID(kid)) // first presented after it
			f.checkToken(t, tr, "before_removal", seen, accept)
			if err := f.iss.RemoveKey(kid); err != nil {
				t.Fatal(err)
			}
			// The scheduled refresh (Cache-Control max-age=300) replaces
			// the key set.
			f.drainFetches()
			f.clk.Advance(301 * time.Second)
			f.waitFetch(t, func(e jwkscache.FetchEvent) bool { return e.Class == jwkscache.ClassOK })
			if f.keys.Current().Lookup(kid) != nil {
				t.Fatal("removed key still in the key set")
			}
			f.checkToken(t, tr, "cached_token_of_removed_key", seen, invalidT)
			f.checkToken(t, tr, "new_token_of_removed_key", unseen, invalidT)
			f.checkToken(t, tr, "other_keys_still_verify", f.mint(t), accept)
		}},
		{id: "B10", opts: &fixtureOptions{issuer: func(t testing.TB, f *fixture) {
			f.iss.SetJWKSExtra(f.kid["ES256"], map[string]any{"use": "enc"})
			f.iss.SetJWKSExtra(f.kid["ES384"], map[string]any{"key_ops": []string{"encrypt", "wrapKey"}})
			f.iss.SetJWKSExtra(f.kid["EdDSA"], map[string]any{"key_ops": []string{"sign"}})
		}}, run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "use_enc", f.mint(t, oauthtest.WithKeyID(f.kid["ES256"])), invalidT)
			f.checkToken(t, tr, "key_ops_encrypt", f.mint(t, oauthtest.WithKeyID(f.kid["ES384"])), invalidT)
			f.checkToken(t, tr, "key_ops_sign_without_verify", f.mint(t, oauthtest.WithKeyID(f.kid["EdDSA"])), invalidT)
			f.checkToken(t, tr, "usable_key_still_verifies", f.mint(t), accept)
		}},
		{id: "B12", opts: &fixtureOptions{issuer: func(t testing.TB, f *fixture) {
			kid, err := f.iss.AddPrivateKey("RS256", fixedKey(t, "RSA1024"))
			if err != nil {
				t.Fatal(err)
			}
			f.kid["RSA1024"] = kid
			f.iss.SetJWKSExtra(f.kid["PS256"], map[string]any{"e": "AQ"}) // e = 1
		}}, run: func(t *testing.T, f *fixture, tr transport) {
			if f.keys.Current().Lookup(f.kid["RSA1024"]) != nil || f.keys.Current().Lookup(f.kid["PS256"]) != nil {
				t.Fatal("weak key kept")
			}
			f.checkToken(t, tr, "RSA_1024", f.mint(t, oauthtest.WithKeyID(f.kid["RSA1024"])), invalidT)
			f.checkToken(t, tr, "RSA_e1", f.mint(t, oauthtest.WithKeyID(f.kid["PS256"])), invalidT)
			// With e = 1 a "signature" is the padded digest itself: forge one.
			in := enc(f.header("PS256", map[string]any{"alg": "RS256"})) + "." + enc(f.claimsJSON(nil))
			f.checkToken(t, tr, "RSA_e1_forged", in+"."+enc(forgeE1(t, in)), invalidT)
			f.checkToken(t, tr, "strong_key_still_verifies", f.mint(t), accept)
		}},
		{id: "B13a", run: runB13a},
		{id: "B13b", fresh: true, run: func(t *testing.T, f *fixture, tr transport) {
			f.iss.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusInternalServerError})
			f.clk.Advance(2 * time.Second) // the unknown kid may try a refresh, which fails
			att := newAttackerKey(t)
			h := mustJSON(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "unknown-during-outage"})
			f.checkToken(t, tr, "unknown_kid_during_outage", signJWS(t, "ES256", att, h, f.claimsJSON(nil)), invalidT)
			f.checkToken(t, tr, "random_kid_during_outage", f.mint(t, oauthtest.WithHeader(map[string]any{"kid": randomKID(8)})), invalidT)
		}},
		{id: "B13c", fresh: true, run: func(t *testing.T, f *fixture, tr transport) {
			for name, fault := range map[string]oauthtest.Fault{
				"5xx":      {Status: http.StatusBadGateway},
				"not_json": {Body: []byte("<html>down</html>")},
			} {
				f.iss.SetFault(oauthtest.EndpointJWKS, fault)
				f.clk.Advance(2 * time.Second)
				// A token never seen before: verified with the cached key.
				f.checkToken(t, tr, "cached_key_"+name, f.mint(t, oauthtest.WithKeyID(f.kid["ES256"])), accept)
			}
		}},
		{id: "B14", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "crit_unknown", f.mint(t, oauthtest.WithHeader(map[string]any{"crit": []string{"exp-ext"}, "exp-ext": true})), invalidT)
			f.checkToken(t, tr, "crit_empty", f.mint(t, oauthtest.WithHeader(map[string]any{"crit": []string{}})), invalidT)
			f.checkToken(t, tr, "crit_names_registered", f.mint(t, oauthtest.WithHeader(map[string]any{"crit": []string{"alg"}})), invalidT)
		}},
		{id: "B16", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "b64_false_crit", f.mint(t, oauthtest.WithHeader(map[string]any{"b64": false, "crit": []string{"b64"}})), invalidT)
			f.checkToken(t, tr, "b64_false", f.mint(t, oauthtest.WithHeader(map[string]any{"b64": false})), invalidT)
			f.checkToken(t, tr, "b64_true", f.mint(t, oauthtest.WithHeader(map[string]any{"b64": true})), invalidT)
		}},

		// ---- C: serialization
		{id: "C1", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "RSA-OAEP", enc([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"`+f.kid["RS256"]+`"}`))+".ZW5j.aXY.Y2lwaGVy.dGFn", invalidT)
			f.checkToken(t, tr, "dir", enc([]byte(`{"alg":"dir","enc":"A128CBC-HS256"}`))+"..aXY.Y2lwaGVy.dGFn", invalidT)
			// A JWE-looking header on three segments.
			f.checkToken(t, tr, "enc_header_three_segments", f.mint(t, oauthtest.WithHeader(map[string]any{"enc": "A256GCM"})), invalidT)
			f.checkToken(t, tr, "zip_header", f.mint(t, oauthtest.WithHeader(map[string]any{"zip": "DEF"})), invalidT)
		}},
		{id: "C2", run: func(t *testing.T, f *fixture, tr transport) {
			inner := f.mint(t)
			f.checkToken(t, tr, "cty_JWT_string_payload", f.sign(t, "RS256", f.header("RS256", map[string]any{"cty": "JWT"}), []byte(`"`+inner+`"`)), invalidT)
			f.checkToken(t, tr, "cty_JWT_object_payload", f.mint(t, oauthtest.WithHeader(map[string]any{"cty": "JWT"})), invalidT)
			f.checkToken(t, tr, "string_payload_no_cty", f.sign(t, "RS256", f.header("RS256", nil), []byte(`"`+inner+`"`)), invalidT)
		}},
		{id: "C3", run: func(t *testing.T, f *fixture, tr transport) {
			s := segments(f.mint(t))
			for name, tok := range map[string]string{
				"two_segments":    s[0] + "." + s[1],
				"four_segments":   strings.Join(s, ".") + ".AAAA",
				"trailing_dot":    strings.Join(s, ".") + ".",
				"leading_dot":     "." + strings.Join(s, "."),
				"empty_header":    "." + s[1] + "." + s[2],
				"empty_payload":   s[0] + ".." + s[2],
				"empty_signature": s[0] + "." + s[1] + ".",
				"one_segment":     s[0],
				"dots_only":       "..",
			} {
				f.checkToken(t, tr, name, tok, invalidT)
			}
		}},
		{id: "C4", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "1MB_of_dots", strings.Repeat(".", 1<<20), invalidT)
			f.checkToken(t, tr, "1MB_token_shape", strings.Repeat("A", 1<<19)+"."+strings.Repeat("B", 1<<19-2)+".C", invalidT)
		}},
		{id: "C5", run: func(t *testing.T, f *fixture, tr transport) {
			// A JWS JSON serialization is not a b64token, so inside an
			// Authorization header it is a malformed request (400-R, the
			// rule C6 states); the verifier itself refuses it as a token
			// (jwtverify's C5 test).
			s := segments(f.mint(t))
			general := string(mustJSON(map[string]any{"payload": s[1], "signatures": []any{map[string]any{"protected": s[0], "signature": s[2]}}}))
			flattened := string(mustJSON(map[string]any{"payload": s[1], "protected": s[0], "signature": s[2]}))
			f.check(t, tr, "general", request{auth: []string{"Bearer " + general}}, invalidR)
			f.check(t, tr, "flattened", request{auth: []string{"Bearer " + flattened}}, invalidR)
			// Base64url-wrapped, it is a b64token and an invalid token.
			f.checkToken(t, tr, "flattened_base64url", enc([]byte(flattened)), invalidT)
		}},
		{id: "C6", run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			f.check(t, tr, "space_inside", request{auth: []string{"Bearer " + tok[:20] + " " + tok[20:]}}, invalidR)
			f.check(t, tr, "tab_inside", request{auth: []string{"Bearer " + tok[:20] + "\t" + tok[20:]}}, invalidR)
			f.check(t, tr, "space_before_signature", request{auth: []string{"Bearer " + strings.Replace(tok, ".", ". ", 2)}}, invalidR)
			// Newlines cannot travel in a header value: run the adapter on
			// such a request in process.
			for name, v := range map[string]string{"LF_inside": tok[:20] + "\n" + tok[20:], "CRLF_inside": tok[:20] + "\r\n" + tok[20:]} {
				t.Run(name, func(t *testing.T) { expect(t, tr, f.direct(t, tr, "Bearer "+v), invalidR, "") })
			}
			if tr != trGRPC {
				t.Run("LF_on_the_wire_refused_by_net_http", func(t *testing.T) {
					srv := f.httpSrv
					if tr == trEcho {
						srv = f.echoSrv
					}
					if got := rawStatus(t, srv.Listener.Addr().String(), "GET /api/read HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok[:20]+"\n"+tok[20:]+"\r\n\r\n"); got != 400 {
						t.Fatalf("status %d", got)
					}
				})
			}
		}},
		{id: "C7", run: func(t *testing.T, f *fixture, tr transport) {
			s := segments(f.mint(t))
			sig, _ := base64.RawURLEncoding.DecodeString(s[2])
			padded := base64.URLEncoding.EncodeToString(sig)
			if !strings.HasSuffix(padded, "=") {
				t.Fatal("signature needs no padding")
			}
			// Padding at the end is still a b64token: an invalid token.
			f.checkToken(t, tr, "padded_signature", s[0]+"."+s[1]+"."+padded, invalidT)
			f.checkToken(t, tr, "padding_appended", s[0]+"."+s[1]+"."+s[2]+"==", invalidT)
			// '=' before a dot is not a b64token: a malformed request.
			hb, _ := base64.RawURLEncoding.DecodeString(s[0])
			for len(hb)%3 == 0 {
				hb = append(hb, ' ')
			}
			f.check(t, tr, "padded_header", request{auth: []string{"Bearer " + base64.URLEncoding.EncodeToString(hb) + "." + s[1] + "." + s[2]}}, invalidR)
		}},
		{id: "C8", run: func(t *testing.T, f *fixture, tr transport) {
			var tok string
			for i := 0; i < 100; i++ {
				tok = f.mint(t)
				if strings.ContainsAny(segments(tok)[2], "-_") {
					break
				}
			}
			s := segments(tok)
			std := strings.NewReplacer("-", "+", "_", "/").Replace(s[2])
			if std == s[2] {
				t.Fatal("no URL-alphabet character in 100 signatures")
			}
			f.checkToken(t, tr, "standard_alphabet_signature", s[0]+"."+s[1]+"."+std, invalidT)
			f.checkToken(t, tr, "plus_slash_appended", s[0]+"."+s[1]+"."+s[2][:len(s[2])-2]+"+/", invalidT)
		}},
		{id: "C10", run: func(t *testing.T, f *fixture, tr transport) {
			big := f.mint(t, oauthtest.WithClaims(map[string]any{"pad": strings.Repeat("x", jwtverify.DefaultMaxTokenSize)}))
			if len(big) <= jwtverify.DefaultMaxTokenSize {
				t.Fatal("token under the cap")
			}
			f.checkToken(t, tr, "signed_over_16KiB", big, invalidT)
			// Just under the cap is accepted: the cap is the only reason.
			pad := jwtverify.DefaultMaxTokenSize - len(f.mint(t, oauthtest.WithClaims(map[string]any{"pad": ""}))) - 64
			f.checkToken(t, tr, "signed_under_16KiB", f.mint(t, oauthtest.WithClaims(map[string]any{"pad": strings.Repeat("x", pad*3/4)})), accept)
		}},
		{id: "C11", run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]))
			f.checkToken(t, tr, "DER", replaceSig(t, tok, derSig), invalidT)
			f.checkToken(t, tr, "truncated_63", replaceSig(t, tok, func(s []byte) []byte { return s[:63] }), invalidT)
			f.checkToken(t, tr, "extended_65", replaceSig(t, tok, func(s []byte) []byte { return append(s, 0) }), invalidT)
			f.checkToken(t, tr, "zero_padded_66", replaceSig(t, tok, func(s []byte) []byte {
				return append(append([]byte{0}, s[:32]...), append([]byte{0}, s[32:]...)...)
			}), invalidT)
			f.checkToken(t, tr, "untouched_control", tok, accept)
		}},

		// ---- D: JSON
		{id: "D1", run: func(t *testing.T, f *fixture, tr transport) {
			kid := f.kid["RS256"]
			claims := f.claimsJSON(nil)
			f.checkToken(t, tr, "alg_then_none", f.sign(t, "RS256", []byte(`{"alg":"RS256","kid":"`+kid+`","alg":"none"}`), claims), invalidT)
			f.checkToken(t, tr, "escaped_duplicate_alg", f.sign(t, "RS256", []byte(`{"alg":"RS256","kid":"`+kid+`","\u0061lg":"RS256"}`), claims), invalidT)
			f.checkToken(t, tr, "duplicate_kid", f.sign(t, "RS256", []byte(`{"alg":"RS256","kid":"`+kid+`","kid":"`+kid+`"}`), claims), invalidT)
			f.checkToken(t, tr, "duplicate_claim_exp", f.sign(t, "RS256", f.header("RS256", nil), []byte(`{"exp":1,`+string(claims[1:]))), invalidT)
			f.checkToken(t, tr, "duplicate_claim_aud_escaped", f.sign(t, "RS256", f.header("RS256", nil), []byte(`{"\u0061ud":"other",`+string(claims[1:]))), invalidT)
		}},
		{id: "D3", run: func(t *testing.T, f *fixture, tr transport) {
			for _, c := range []string{"null", "[]", `"str"`, "123", "true", `[{"iss":"x"}]`} {
				f.checkToken(t, tr, c, f.sign(t, "RS256", f.header("RS256", nil), []byte(c)), invalidT)
			}
		}},
		{id: "D4", run: func(t *testing.T, f *fixture, tr transport) {
			claims := f.claimsJSON(nil)
			for name, tail := range map[string]string{"object": "{}", "garbage": "x", "second_claims": string(claims), "NUL": "\x00"} {
				f.checkToken(t, tr, "claims_"+name, f.sign(t, "RS256", f.header("RS256", nil), append(append([]byte{}, claims...), tail...)), invalidT)
			}
			f.checkToken(t, tr, "header_trailing", f.sign(t, "RS256", append(f.header("RS256", nil), '1'), claims), invalidT)
		}},
		{id: "D6", run: func(t *testing.T, f *fixture, tr transport) {
			claims := f.claimsJSON(nil)
			bad := func(b []byte) []byte { return []byte(strings.Replace(string(claims), `"j1"`, string(b), 1)) }
			f.checkToken(t, tr, "claims_invalid_byte", f.sign(t, "RS256", f.header("RS256", nil), bad([]byte("\"j\xff\""))), invalidT)
			f.checkToken(t, tr, "claims_overlong_slash", f.sign(t, "RS256", f.header("RS256", nil), bad([]byte("\"\xc0\xaf\""))), invalidT)
			f.checkToken(t, tr, "claims_surrogate_bytes", f.sign(t, "RS256", f.header("RS256", nil), bad([]byte("\"\xed\xa0\x80\""))), invalidT)
			f.checkToken(t, tr, "claims_latin1", f.sign(t, "RS256", f.header("RS256", nil), bad([]byte("\"caf\xe9\""))), invalidT)
			f.checkToken(t, tr, "claims_BOM", f.sign(t, "RS256", f.header("RS256", nil), append([]byte("\xef\xbb\xbf"), claims...)), invalidT)
			f.checkToken(t, tr, "header_BOM", f.sign(t, "RS256", append([]byte("\xef\xbb\xbf"), f.header("RS256", nil)...), claims), invalidT)
			f.checkToken(t, tr, "header_invalid_byte", f.sign(t, "RS256", []byte("{\"alg\":\"RS256\",\"kid\":\""+f.kid["RS256"]+"\",\"x\":\"\xc3\x28\"}"), claims), invalidT)
			f.checkToken(t, tr, "UTF-16_claims", f.sign(t, "RS256", f.header("RS256", nil), utf16LE(claims)), invalidT)
		}},

		// ---- E: time
		{id: "E1", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "exp_missing", f.mint(t, oauthtest.WithClaims(map[string]any{"exp": nil})), invalidT)
		}},
		{id: "E2", run: func(t *testing.T, f *fixture, tr transport) {
			exp := f.clk.Now().Add(time.Hour)
			for name, v := range map[string]any{
				"numeric_string": fmt.Sprint(exp.Unix()), "RFC3339": exp.Format(time.RFC3339), "true": true,
				"array": []int64{exp.Unix()}, "object": map[string]any{"$date": exp.Unix()},
			} {
				f.checkToken(t, tr, name, f.mint(t, oauthtest.WithClaims(map[string]any{"exp": v})), invalidT)
			}
			f.checkToken(t, tr, "null", f.sign(t, "RS256", f.header("RS256", nil), []byte(strings.Replace(string(f.claimsJSON(nil)), `"exp":`, `"exp":null,"x":`, 1))), invalidT)
		}},
		{id: "E4", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "fractional_future", f.mint(t, oauthtest.WithClaims(map[string]any{"exp": float64(f.clk.Now().Unix()) + 1800.25})), accept)
			f.checkToken(t, tr, "exponent_form_future", f.sign(t, "RS256", f.header("RS256", nil), []byte(strings.Replace(string(f.claimsJSON(nil)), `"exp":`, fmt.Sprintf(`"exp":%d.5e0,"x":`, f.clk.Now().Unix()+600), 1))), accept)
		}},
		{id: "E5", run: func(t *testing.T, f *fixture, tr transport) {
			noTimes := map[string]any{"iat": nil, "nbf": nil}
			f.checkToken(t, tr, "zero", f.mint(t, oauthtest.WithClaims(noTimes), oauthtest.WithClaims(map[string]any{"exp": 0})), expiredT)
			f.checkToken(t, tr, "negative", f.mint(t, oauthtest.WithClaims(noTimes), oauthtest.WithClaims(map[string]any{"exp": -1})), invalidT)
			f.checkToken(t, tr, "very_negative", f.mint(t, oauthtest.WithClaims(noTimes), oauthtest.WithClaims(map[string]any{"exp": -1e18})), invalidT)
		}},
		{id: "E7", run: func(t *testing.T, f *fixture, tr transport) {
			now := f.clk.Now().Unix()
			old := map[string]any{"iat": now - 3600, "nbf": now - 3600}
			f.checkToken(t, tr, "exp_at_leeway_edge", f.mint(t, oauthtest.WithClaims(old), oauthtest.WithClaims(map[string]any{"exp": now - 30})), expiredT)
			f.checkToken(t, tr, "exp_31s_ago", f.mint(t, oauthtest.WithClaims(old), oauthtest.WithClaims(map[string]any{"exp": now - 31})), expiredT)
			f.checkToken(t, tr, "exp_29s_ago_inside", f.mint(t, oauthtest.WithClaims(old), oauthtest.WithClaims(map[string]any{"exp": now - 29})), accept)
		}},
		{id: "E8", run: func(t *testing.T, f *fixture, tr transport) {
			now := f.clk.Now().Unix()
			f.checkToken(t, tr, "nbf_31s_ahead", f.mint(t, oauthtest.WithClaims(map[string]any{"nbf": now + 31, "iat": now})), invalidT)
			f.checkToken(t, tr, "nbf_30s_ahead_inside", f.mint(t, oauthtest.WithClaims(map[string]any{"nbf": now + 30, "iat": now})), accept)
		}},
		{id: "E9", run: func(t *testing.T, f *fixture, tr transport) {
			now := f.clk.Now().Unix()
			f.checkToken(t, tr, "iat_31s_ahead", f.mint(t, oauthtest.WithClaims(map[string]any{"iat": now + 31, "nbf": now})), invalidT)
			f.checkToken(t, tr, "iat_30s_ahead_inside", f.mint(t, oauthtest.WithClaims(map[string]any{"iat": now + 30, "nbf": now})), accept)
		}},

		// ---- F: binding
		{id: "F1", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "string", f.mint(t), accept)
			f.checkToken(t, tr, "array", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": []string{"https://other.test", oauthtest.DefaultAudience}})), accept)
			f.checkToken(t, tr, "array_single", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": []string{oauthtest.DefaultAudience}})), accept)
		}},
		{id: "F2", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "empty_array", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": []string{}})), invalidT)
			f.checkToken(t, tr, "empty_string", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": ""})), invalidT)
			f.checkToken(t, tr, "array_of_empty", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": []string{""}})), invalidT)
		}},
		{id: "F3", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "other", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": "https://other.test"})), invalidT)
			f.checkToken(t, tr, "missing", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": nil})), invalidT)
			f.checkToken(t, tr, "prefix", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": oauthtest.DefaultAudience + ".evil"})), invalidT)
			f.checkToken(t, tr, "space_joined", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": "x " + oauthtest.DefaultAudience})), invalidT)
		}},
		{id: "F5", run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "case", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": strings.ToUpper(oauthtest.DefaultAudience)})), invalidT)
			f.checkToken(t, tr, "trailing_slash", f.mint(t, oauthtest.WithClaims(map[string]any{"aud": oauthtest.DefaultAudience + "/"})), invalidT)
			t.Run("configured_exactly", func(t *testing.T) {
				g := newFixture(t, fixtureOptions{issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) {
					ic.Audiences = []string{oauthtest.DefaultAudience + "/"}
				}})
				g.checkToken(t, tr, "trailing_slash", g.mint(t, oauthtest.WithClaims(map[string]any{"aud": oauthtest.DefaultAudience + "/"})), accept)
				g.checkToken(t, tr, "without_slash", g.mint(t), invalidT)
			})
		}},
		{id: "F6", run: func(t *testing.T, f *fixture, tr transport) {
			for name, iss := range map[string]string{
				"trailing_slash": f.iss.Issuer() + "/", "upper_case": strings.ToUpper(f.iss.Issuer()),
				"localhost": strings.Replace(f.iss.Issuer(), "127.0.0.1", "localhost", 1), "default_port": f.iss.Issuer() + ":80",
			} {
				f.checkToken(t, tr, name, f.mint(t, oauthtest.WithClaims(map[string]any{"iss": iss})), invalidT)
			}
		}},
		{id: "F7", run: func(t *testing.T, f *fixture, tr transport) {
			for _, typ := range []string{"at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"} {
				f.checkToken(t, tr, strings.ReplaceAll(typ, "/", "_"), f.mint(t, oauthtest.WithHeader(map[string]any{"typ": typ})), accept)
			}
		}},
		{id: "F8", opts: &fixtureOptions{issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) {
			ic.TokenType = jwtverify.TypeStrictRFC9068
		}}, run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "JWT_strict", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": "JWT"})), invalidT)
			f.checkToken(t, tr, "missing_strict", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": nil})), invalidT)
			f.checkToken(t, tr, "application_jwt_strict", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": "application/jwt"})), invalidT)
			f.checkToken(t, tr, "at+jwt_strict", f.mint(t), accept)
		}},
		{id: "F10", run: func(t *testing.T, f *fixture, tr transport) {
			now := f.clk.Now().Unix()
			idClaims := map[string]any{"aud": oauthtest.DefaultClientID, "nonce": "n-0S6_WzA2Mj", "auth_time": now - 100, "scope": nil, "azp": oauthtest.DefaultClientID}
			f.checkToken(t, tr, "ID_token_default_policy", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": "JWT"}), oauthtest.WithClaims(idClaims)), invalidT)
			f.checkToken(t, tr, "ID_token_aud_is_the_API", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": "JWT"}), oauthtest.WithClaims(map[string]any{"typ": "ID", "nonce": "n"})), invalidT)
			f.checkToken(t, tr, "cognito_token_use_id", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": nil}), oauthtest.WithClaims(map[string]any{"token_use": "id"})), invalidT)
			f.checkToken(t, tr, "refresh_token_typ", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": "JWT"}), oauthtest.WithClaims(map[string]any{"typ": "Refresh"})), invalidT)
			f.checkToken(t, tr, "logout_token", f.mint(t, oauthtest.WithHeader(map[string]any{"typ": "logout+jwt"})), invalidT)
			t.Run("strict", func(t *testing.T) {
				g := newFixture(t, fixtureOptions{issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) { ic.TokenType = jwtverify.TypeStrictRFC9068 }})
				g.checkToken(t, tr, "ID_token_aud_is_the_API", g.mint(t, oauthtest.WithHeader(map[string]any{"typ": "JWT"}), oauthtest.WithClaims(map[string]any{"nonce": "n"})), invalidT)
			})
		}},
		{id: "F12", opts: entraOptions(), run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "allowed_tenant_control", f.mint(t, tenantClaims(f, tenantA, tenantA)), accept)
			f.checkToken(t, tr, "other_tenant", f.mint(t, tenantClaims(f, tenantB, tenantB)), invalidT)
			f.checkToken(t, tr, "allowed_tenant_upper_case_guid", f.mint(t, tenantClaims(f, strings.ToUpper(tenantB), strings.ToUpper(tenantB))), invalidT)
		}},
		{id: "F13", opts: entraOptions(), run: func(t *testing.T, f *fixture, tr transport) {
			f.checkToken(t, tr, "iss_tenant_differs_from_tid", f.mint(t, tenantClaims(f, tenantA, tenantB)), invalidT)
			f.checkToken(t, tr, "iss_other_tid_allowed", f.mint(t, tenantClaims(f, tenantB, tenantA)), invalidT)
			f.checkToken(t, tr, "tid_not_a_GUID", f.mint(t, tenantClaims(f, "common", "common")), invalidT)
			f.checkToken(t, tr, "tid_missing", f.mint(t, tenantClaims(f, tenantA, "")), invalidT)
			f.checkToken(t, tr, "tid_number", f.mint(t, tenantClaims(f, tenantA, tenantA), oauthtest.WithClaims(map[string]any{"tid": 7})), invalidT)
			f.checkToken(t, tr, "tid_with_path", f.mint(t, tenantClaims(f, tenantA+"/x", tenantA+"/x")), invalidT)
		}},

		// ---- G: ECDSA
		{id: "G1", run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]))
			f.checkToken(t, tr, "r_s_zero", replaceSig(t, tok, func(s []byte) []byte { return make([]byte, 64) }), invalidT)
			f.checkToken(t, tr, "r_zero", replaceSig(t, tok, func(s []byte) []byte { clear(s[:32]); return s }), invalidT)
			f.checkToken(t, tr, "s_zero", replaceSig(t, tok, func(s []byte) []byte { clear(s[32:]); return s }), invalidT)
			tok384 := f.mint(t, oauthtest.WithKeyID(f.kid["ES384"]))
			f.checkToken(t, tr, "ES384_r_s_zero", replaceSig(t, tok384, func(s []byte) []byte { return make([]byte, 96) }), invalidT)
		}},
		{id: "G2", run: func(t *testing.T, f *fixture, tr transport) {
			n := elliptic.P256().Params().N
			tok := f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]))
			f.checkToken(t, tr, "r_equals_n", replaceSig(t, tok, func(s []byte) []byte { n.FillBytes(s[:32]); return s }), invalidT)
			f.checkToken(t, tr, "s_equals_n", replaceSig(t, tok, func(s []byte) []byte { n.FillBytes(s[32:]); return s }), invalidT)
			f.checkToken(t, tr, "r_plus_n", replaceSig(t, tok, func(s []byte) []byte {
				r := new(big.Int).Add(new(big.Int).SetBytes(s[:32]), n)
				if r.BitLen() > 256 {
					for i := range s[:32] {
						s[i] = 0xff
					}
					return s
				}
				r.FillBytes(s[:32])
				return s
			}), invalidT)
			f.checkToken(t, tr, "s_all_ones", replaceSig(t, tok, func(s []byte) []byte {
				for i := 32; i < 64; i++ {
					s[i] = 0xff
				}
				return s
			}), invalidT)
			// High-S (n - s) is the same signature mathematically: it is
			// accepted, which is why nothing keys a deny list on the raw
			// string.
			f.checkToken(t, tr, "high_s_variant_verifies", replaceSig(t, tok, func(s []byte) []byte {
				new(big.Int).Sub(n, new(big.Int).SetBytes(s[32:])).FillBytes(s[32:])
				return s
			}), accept)
		}},

		// ---- H: extraction
		{id: "H1", run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			for _, s := range []string{"bearer", "BEARER", "bEaReR"} {
				f.check(t, tr, s, request{auth: []string{s + " " + tok}}, accept)
			}
		}},
		{id: "H2", run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			f.check(t, tr, "three_spaces", request{auth: []string{"Bearer   " + tok}}, accept)
			f.check(t, tr, "twenty_spaces", request{auth: []string{"Bearer" + strings.Repeat(" ", 20) + tok}}, accept)
		}},
		{id: "H3", run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			f.check(t, tr, "scheme_only", request{auth: []string{"Bearer"}}, invalidR)
			f.check(t, tr, "scheme_and_spaces", request{auth: []string{"Bearer    "}}, invalidR)
			f.check(t, tr, "tab_separator", request{auth: []string{"Bearer\t" + tok}}, invalidR)
			f.check(t, tr, "trailing_word", request{auth: []string{"Bearer " + tok + " extra"}}, invalidR)
			f.check(t, tr, "two_tokens", request{auth: []string{"Bearer " + tok + " " + tok}}, invalidR)
			f.check(t, tr, "comma_list", request{auth: []string{"Bearer " + tok + ", Basic dXNlcjpwYXNz"}}, invalidR)
		}},
		{id: "H5", run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			f.check(t, tr, "two_identical", request{auth: []string{"Bearer " + tok, "Bearer " + tok}}, invalidR)
			f.check(t, tr, "bearer_and_basic", request{auth: []string{"Bearer " + tok, "Basic dXNlcjpwYXNz"}}, invalidR)
			f.check(t, tr, "basic_and_bearer", request{auth: []string{"Basic dXNlcjpwYXNz", "Bearer " + tok}}, invalidR)
			f.check(t, tr, "two_empty", request{auth: []string{"", ""}}, invalidR)
		}},
		{id: "H6", run: func(t *testing.T, f *fixture, tr transport) {
			f.check(t, tr, "basic", request{auth: []string{"Basic dXNlcjpwYXNz"}}, bare401)
			f.check(t, tr, "digest", request{auth: []string{`Digest username="u", realm="r"`}}, bare401)
			f.check(t, tr, "scheme_prefix", request{auth: []string{"Bearerx " + f.mint(t)}}, bare401)
			f.check(t, tr, "none", request{}, bare401)
			f.check(t, tr, "none_admin_route", request{route: "admin"}, bare401)
		}},
		{id: "H7", only: []transport{trHTTP, trEcho}, run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			f.check(t, tr, "query_token_off", request{query: "access_token=" + tok}, bare401)
			f.check(t, tr, "query_token_escaped_key", request{query: "access%5Ftoken=" + tok}, bare401)
			f.check(t, tr, "query_token_twice", request{query: "access_token=" + tok + "&access_token=" + tok}, bare401)
			if strings.Contains(f.logs.String(), tok[len(tok)-40:]) {
				t.Fatal("the query token was logged")
			}
		}},
		{id: "H8", only: []transport{trHTTP, trEcho}, run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			f.check(t, tr, "header_and_query", request{auth: []string{"Bearer " + tok}, query: "access_token=" + tok}, invalidR)
			f.check(t, tr, "header_and_empty_query", request{auth: []string{"Bearer " + tok}, query: "access_token="}, invalidR)
			form := request{method: http.MethodPost, body: "access_token=" + tok, contentType: "application/x-www-form-urlencoded"}
			f.check(t, tr, "form_token_form_method_off", form, bare401)
			t.Run("form_body_never_read", func(t *testing.T) {
				body := &countingBody{r: strings.NewReader(form.body)}
				r := httptest.NewRequest(http.MethodPost, "/api/read", body)
				r.Header.Set("Content-Type", form.contentType)
				expect(t, tr, f.directHTTP(tr, r), bare401, "")
				if n := body.reads.Load(); n != 0 {
					t.Fatalf("the body was read %d times with the form method off", n)
				}
			})
		}},
		{id: "H10", only: []transport{trGRPC}, run: func(t *testing.T, f *fixture, tr transport) {
			tok := f.mint(t)
			f.check(t, tr, "two_values", request{grpcMD: metadata.Pairs("authorization", "Bearer "+tok, "authorization", "Bearer "+tok)}, invalidR)
			f.check(t, tr, "two_values_different_case", request{grpcMD: metadata.Pairs("authorization", "Bearer "+tok, "Authorization", "Bearer "+tok)}, invalidR)
			f.check(t, tr, "Authorization_capitalised", request{grpcMD: metadata.Pairs("Authorization", "Bearer "+tok)}, accept)
			t.Run("Authorization_capitalised_in_incoming_md", func(t *testing.T) {
				expect(t, tr, f.directGRPC(metadata.MD{"Authorization": {"Bearer " + tok}}, grpcRead), accept, "")
			})
			f.check(t, tr, "binary_suffix_key_ignored", request{grpcMD: metadata.Pairs("authorization-bin", "Bearer "+tok)}, bare401)
		}},

		// ---- I: answers and permissions
		{id: "I1", run: func(t *testing.T, f *fixture, tr transport) {
			// Every refusal: a Bearer challenge with a realm (HTTP), an
			// ErrorInfo of our domain (gRPC). expect checks the exact value.
			tok := f.mint(t)
			f.check(t, tr, "no_credentials", request{}, bare401)
			f.check(t, tr, "invalid_request", request{auth: []string{"Bearer"}}, invalidR)
			f.check(t, tr, "invalid_token", bearer("x.y.z"), invalidT)
			f.check(t, tr, "expired", bearer(f.mint(t, oauthtest.WithLifetime(-time.Hour))), expiredT)
			f.check(t, tr, "insufficient_scope", bearer(tok).with("admin"), scope403)
		}},
		{id: "I3", run: func(t *testing.T, f *fixture, tr transport) {
			f.check(t, tr, "admin_route_read_token", bearer(f.mint(t)).with("admin"), scope403)
			f.check(t, tr, "read_route_no_scope", bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"scope": nil}))), scope403)
			f.check(t, tr, "scope_prefix_is_not_scope", bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"scope": "reader admin"}))), scope403)
			f.check(t, tr, "admin_and_read", bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"scope": "read admin"}))).with("admin"), accept)
		}},
		{id: "I4", opts: &fixtureOptions{issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) {
			ic.Permissions = append(jwtverify.DefaultPermissions(), jwtverify.PermissionClaim{Path: []string{"realm_access", "roles"}, Kind: jwtverify.KindRole})
		}}, run: func(t *testing.T, f *fixture, tr transport) {
			for name, c := range map[string]map[string]any{
				"scp_array":        {"scp": []string{"x", scopeRead}},
				"scp_string":       {"scp": "x " + scopeRead},
				"scope_string":     {"scope": "x " + scopeRead},
				"roles":            {"roles": []string{scopeRead}},
				"permissions":      {"permissions": []string{scopeRead}},
				"keycloak_realm":   {"realm_access": map[string]any{"roles": []string{scopeRead}}},
				"merged_admin_two": {"roles": []string{scopeAdmin}, "scp": []string{scopeRead}},
			} {
				if _, ok := c["scope"]; !ok {
					c["scope"] = nil // only the claim under test grants the permission
				}
				route := "read"
				if name == "merged_admin_two" {
					route = "admin"
				}
				f.check(t, tr, name, bearer(f.mint(t, oauthtest.WithClaims(c))).with(route), accept)
			}
			f.check(t, tr, "unconfigured_claim", bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"scope": nil, "resource_access": map[string]any{"api": map[string]any{"roles": []string{scopeRead}}}}))), scope403)
			f.check(t, tr, "permission_number", bearer(f.mint(t, oauthtest.WithClaims(map[string]any{"scope": nil, "roles": []any{1}}))), invalidT)
		}},
		{id: "I5", run: func(t *testing.T, f *fixture, tr transport) {
			if tr == trGRPC {
				f.check(t, tr, "health_exempt", request{route: "healthz"}, accept)
			} else {
				f.check(t, tr, "health_exempt", request{route: "healthz"}, accept)
				f.check(t, tr, "cors_preflight", request{method: http.MethodOptions, header: http.Header{"Origin": {"https://app.test"}, "Access-Control-Request-Method": {"GET"}}}, accept)
				f.check(t, tr, "options_without_preflight_headers", request{method: http.MethodOptions}, bare401)
			}
			t.Run("not_configured", func(t *testing.T) {
				g := newFixture(t, fixtureOptions{bare: true})
				g.check(t, tr, "health_protected", request{route: "healthz"}, bare401)
				if tr != trGRPC {
					g.check(t, tr, "cors_preflight_protected", request{method: http.MethodOptions, header: http.Header{"Origin": {"https://app.test"}, "Access-Control-Request-Method": {"GET"}}}, bare401)
				}
			})
		}},
	}
}

// runB13a: no usable key set was ever fetched: 503 whatever the fetch
// failure, no panic, and recovery once the endpoint answers again.
func runB13a(t *testing.T, _ *fixture, tr transport) {
	t.Run("stale_beyond_MaxStaleness", func(t *testing.T) { runB13aStale(t, tr) })
	// Discovery failures: the JWKS URL is never learnt.
	for name, broken := range map[string]func(f *fixture){
		"discovery_500":             func(f *fixture) { f.iss.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500}) },
		"discovery_issuer_mismatch": func(f *fixture) { f.iss.SetDiscoveryExtra(map[string]any{"issuer": "https://evil.example.test"}) },
		"discovery_jwks_uri_elsewhere_http": func(f *fixture) {
			f.iss.SetDiscoveryExtra(map[string]any{"jwks_uri": "http://keys.evil.example.test/jwks"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{noWait: true, issuer: func(_ testing.TB, f *fixture) { broken(f) }})
			f.waitFetch(t, func(e jwkscache.FetchEvent) bool { return e.Class != jwkscache.ClassOK })
			f.checkToken(t, tr, "no_key_set", f.mint(t), unavail)
			f.iss.ClearFault(oauthtest.EndpointDiscovery)
			f.iss.SetDiscoveryExtra(nil)
			f.drainFetches()
			f.advanceUntilFetch(t, 2*jwkscache.DefaultBackoffMax, func(e jwkscache.FetchEvent) bool { return e.Class == jwkscache.ClassOK })
			f.checkToken(t, tr, "recovered", f.mint(t), accept)
		})
	}
	for name, fault := range map[string]oauthtest.Fault{
		"500":       {Status: http.StatusInternalServerError},
		"not_json":  {Body: []byte("<html>maintenance</html>")},
		"truncated": {Truncate: true},
		"empty_set": {Body: []byte(`{"keys":[]}`)},
		"timeout":   {Wait: make(chan struct{})}, // held until the fetch times out
	} {
		t.Run(name, func(t *testing.T) {
			opts := fixtureOptions{noWait: true, issuer: func(_ testing.TB, f *fixture) { f.iss.SetFault(oauthtest.EndpointJWKS, fault) }}
			if name == "timeout" {
				// The only non-default setting of the suite: a short fetch
				// timeout, so the test does not wait 5 s.
				opts.cacheConfig = func(c *jwkscache.Config) { c.FetchTimeout = 300 * time.Millisecond }
			}
			f := newFixture(t, opts)
			f.waitFetch(t, func(e jwkscache.FetchEvent) bool { return e.Class != jwkscache.ClassOK })
			tok := f.mint(t)
			f.checkToken(t, tr, "no_key_set", tok, unavail)
			f.checkToken(t, tr, "unknown_kid_no_key_set", f.mint(t, oauthtest.WithHeader(map[string]any{"kid": "nope"})), unavail)
			f.check(t, tr, "no_credentials_still_401", request{}, bare401)
			f.check(t, tr, "malformed_still_400", request{auth: []string{"Bearer a b"}}, invalidR)
			// Recovery: the endpoint answers again; the next scheduled
			// retry (backoff, at most a minute) fetches the keys.
			f.iss.ClearFault(oauthtest.EndpointJWKS)
			f.drainFetches()
			f.advanceUntilFetch(t, 2*jwkscache.DefaultBackoffMax, func(e jwkscache.FetchEvent) bool { return e.Class == jwkscache.ClassOK })
			f.checkToken(t, tr, "recovered", f.mint(t), accept)
		})
	}
}

// runB13aStale: a key set older than MaxStaleness (24 h by default) is no
// longer served: 503, for a cached token too, until the issuer answers.
func runB13aStale(t *testing.T, tr transport) {
	f := newFixture(t, fixtureOptions{})
	tok := f.mint(t, oauthtest.WithLifetime(48*time.Hour))
	f.checkToken(t, tr, "cached_before_outage", tok, accept)
	f.iss.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	f.drainFetches()
	f.clk.Advance(jwkscache.DefaultMaxStaleness - time.Hour)
	f.waitFetch(t, func(e jwkscache.FetchEvent) bool { return e.Class != jwkscache.ClassOK })
	f.checkToken(t, tr, "23h_stale_still_served", tok, accept)
	f.drainFetches()
	f.clk.Advance(time.Hour + time.Second)
	f.waitFetch(t, func(e jwkscache.FetchEvent) bool { return e.Class != jwkscache.ClassOK })
	f.checkToken(t, tr, "cached_token_beyond_MaxStaleness", tok, unavail)
	f.checkToken(t, tr, "new_token_beyond_MaxStaleness", f.mint(t), unavail)
	f.iss.ClearFault(oauthtest.EndpointJWKS)
	f.drainFetches()
	f.advanceUntilFetch(t, 2*jwkscache.DefaultBackoffMax, func(e jwkscache.FetchEvent) bool { return e.Class == jwkscache.ClassOK })
	f.checkToken(t, tr, "recovered", tok, accept)
}

// forgeE1 builds the RS256 "signature" that verifies under e = 1: the
// PKCS #1 v1.5 encoded digest itself.
func forgeE1(t testing.TB, in string) []byte {
	t.Helper()
	pub := fixedKey(t, "PS256").Public().(*rsa.PublicKey)
	k := (pub.N.BitLen() + 7) / 8
	_, hh := hasherFor("RS256")
	hh.Write([]byte(in))
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	t2 := append(prefix, hh.Sum(nil)...)
	em := make([]byte, k)
	em[1] = 1
	for i := 2; i < k-len(t2)-1; i++ {
		em[i] = 0xff
	}
	copy(em[k-len(t2):], t2)
	return em
}

func utf16LE(b []byte) []byte {
	out := []byte{0xff, 0xfe}
	for _, c := range b {
		out = append(out, c, 0)
	}
	return out
}

func mustDecode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingBody counts reads of a request body.
type countingBody struct {
	r     *strings.Reader
	reads atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.r.Read(p)
}

func (c *countingBody) Close() error { return nil }

// rawStatus writes a raw HTTP/1.1 request and returns the answer's status.
func rawStatus(t testing.TB, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	var proto string
	var code int
	if _, err := fmt.Sscanf(string(buf[:n]), "%s %d", &proto, &code); err != nil {
		t.Fatalf("answer %q", buf[:n])
	}
	return code
}
