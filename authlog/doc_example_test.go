package authlog_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The package doc's wiring, metrics and logs as two observers of every
// adapter (TestSnippetsCompile in the root package checks that the doc's
// lines stand here). The refusals below are logged by slog.Default().
func Example_wiring() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := exampleVerifier(iss)
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		panic(err)
	}
	policy := grpcauth.Policy{Methods: map[string]jwtverify.Requirement{"/orders.v1.Orders/List": jwtverify.RequireAll("orders.read")}}

	lg := authlog.New(slog.Default(), authlog.Options{})
	defer lg.Close() // writes the counts of records still suppressed
	mw, _ := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	auth, _ := echoauth.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	gauth, _ := grpcauth.New(v, policy, grpcauth.WithObserver(m), grpcauth.WithObserver(lg))

	w := httptest.NewRecorder()
	mw.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/orders", nil))
	e := echo.New()
	e.Use(auth.Authenticate)
	e.GET("/orders", func(c echo.Context) error { return nil })
	we := httptest.NewRecorder()
	e.ServeHTTP(we, httptest.NewRequest("GET", "/orders", nil))
	fmt.Println(w.Code, we.Code, gauth != nil)
	// Output: 401 401 true
}
