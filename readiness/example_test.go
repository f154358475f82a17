package readiness_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"google.golang.org/grpc/health"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/readiness"
)

// The README's "Readiness" section mirrors this example.
func Example() {
	is, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer is.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	iss := is.Issuer()
	mux := http.NewServeMux()
	healthServer := health.NewServer()

	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "corp", Issuer: iss})
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
	mux.Handle("GET /readyz", ready)
	go ready.Watch(ctx, healthServer, "orders.v1.Orders") // until ctx ends

	waitCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	_ = keys.Ready(waitCtx)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	rep := ready.Check()
	fmt.Println(rec.Code, rep.Ready, rep.Mode, rep.Sources[0].Name, rep.Sources[0].Usable)
	// Output: 200 true startup corp true
}
