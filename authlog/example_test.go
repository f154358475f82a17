package authlog_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The one logging wiring: the Logger observes the adapters' decisions, on
// net/http and Echo alike (and grpcauth.WithObserver(lg) on gRPC). Each
// refused request is one record; identical refusals within a minute are
// counted and summarised when the window closes, or on Close. The README's
// sample records are this output.
func Example() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := exampleVerifier(iss)

	// Records without the time, so that the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	lg := authlog.New(logger, authlog.Options{})

	mux := http.NewServeMux()
	mw, err := middleware.New(v, middleware.WithObserver(lg), middleware.WithServeMux(mux))
	if err != nil {
		panic(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	mux.Handle("GET /orders/{id}", mw.Require(jwtverify.RequireAll("orders.read"))(ok))
	mux.Handle("POST /orders", mw.Require(jwtverify.RequireAll("orders.write"))(ok))

	auth, err := echoauth.New(v, middleware.WithObserver(lg))
	if err != nil {
		panic(err)
	}
	e := echo.New()
	e.Use(auth.Authenticate)
	e.POST("/orders", func(c echo.Context) error { return nil }, auth.Require(jwtverify.RequireAll("orders.write")))

	call := func(h http.Handler, method, target, token string) {
		r := httptest.NewRequest(method, target, nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	reader := mint(iss, map[string]any{"scope": "orders.read"})
	expired := mint(iss, map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(), "nbf": nil})
	forged, err := iss.Mint(oauthtest.WithSignatureFunc(func(_ string, sig []byte) []byte { sig[0] ^= 1; return sig }))
	if err != nil {
		panic(err)
	}

	call(mw.Handler(mux), "GET", "/orders/42?debug=1", reader) // allowed: not logged
	call(mw.Handler(mux), "POST", "/orders", reader)           // 403
	call(e, "POST", "/orders", reader)                         // 403, on Echo
	call(mw.Handler(mux), "GET", "/orders/42", expired)        // 401
	call(mw.Handler(mux), "GET", "/orders/42", "")             // 401, no credentials
	for i := 0; i < 100; i++ {
		call(mw.Handler(mux), "GET", "/orders/7", forged) // 401 x 100: one record, then a count
	}
	_ = lg.Close() // writes the count of the window still open

	// Output:
	// level=INFO msg="m2mauth: request refused" transport=http result=forbidden reason=insufficient_scope issuer=corp route="POST /orders" client_id=oauthtest-client missing=[orders.write]
	// level=INFO msg="m2mauth: request refused" transport=echo result=forbidden reason=insufficient_scope issuer=corp route=/orders client_id=oauthtest-client missing=[orders.write]
	// level=INFO msg="m2mauth: request refused" transport=http result=unauthenticated reason=expired issuer=corp route="GET /orders/{id}"
	// level=INFO msg="m2mauth: request refused" transport=http result=unauthenticated reason=no_credentials issuer=none route="GET /orders/{id}"
	// level=INFO msg="m2mauth: request refused" transport=http result=unauthenticated reason=bad_signature issuer=corp route="GET /orders/{id}"
	// level=INFO msg="m2mauth: refusals suppressed" transport=http result=unauthenticated reason=bad_signature issuer=corp route="GET /orders/{id}" suppressed=99 window=1m0s
}

// exampleVerifier trusts iss with its current signing key.
func exampleVerifier(iss *oauthtest.Server) *jwtverify.Verifier {
	pub, _ := iss.PublicKey(iss.SigningKeyID())
	key, err := jwkscache.NewKey(iss.SigningKeyID(), "RS256", pub)
	if err != nil {
		panic(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "corp", Issuer: iss.Issuer(), Keys: jwkscache.NewStatic("corp", key),
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID},
		Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		panic(err)
	}
	return v
}

func mint(iss *oauthtest.Server, claims map[string]any) string {
	tok, err := iss.Mint(oauthtest.WithClaims(claims))
	if err != nil {
		panic(err)
	}
	return tok
}
