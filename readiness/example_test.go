package readiness_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/readiness"
)

// The README's "Readiness" section mirrors this example.
func Example() {
	issuer, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer issuer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "corp", Issuer: issuer.Issuer()})
	if err != nil {
		panic(err)
	}
	defer keys.Close()

	// Ready once every source has had keys since start (readiness.Strict:
	// only while every source has usable keys).
	ready, err := readiness.New(readiness.Options{}, keys)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", ready)
	// gRPC: go ready.Watch(ctx, healthServer, "orders.v1.Orders")

	waitCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	_ = keys.Ready(waitCtx)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	rep := ready.Check()
	fmt.Println(rec.Code, rep.Ready, rep.Mode, rep.Sources[0].Name, rep.Sources[0].Usable)
	// Output: 200 true startup corp true
}
