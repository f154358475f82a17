package m2mauth

// The README's quick starts, compiled (TestSnippetsCompile checks that the
// README's lines stand here). They are Examples without Output: compiled by
// go test and go vet, never run (they would listen on ports and reach a
// real issuer). The snippets leave error handling out for brevity.
//lint:file-ignore SA4006 the README's snippets leave error handling out for brevity
//lint:file-ignore SA4017 the README's snippets leave error handling out for brevity

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/labstack/echo/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/profiles"
)

func listOrders(w http.ResponseWriter, r *http.Request)  {}
func createOrder(w http.ResponseWriter, r *http.Request) {}

func readmeVerifier(ctx context.Context) (*jwtverify.Verifier, error) {
	p, err := profiles.Okta(profiles.OktaOptions{Issuer: "https://acme.okta.com/oauth2/default",
		Audience: "api://default", ClientIDs: []string{"0oa8acv8gbBPRCZ7I5d7"}})
	if err != nil {
		return nil, err
	}
	keys, err := p.StartKeys(ctx, jwkscache.Config{}) // fetches the JWKS, refreshes it in the background
	if err != nil {
		return nil, err
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
	return v, err
}

func Example_quickStartHTTP() {
	v, _ := readmeVerifier(context.Background())
	mw, err := middleware.New(v)
	mux := http.NewServeMux()
	mux.Handle("GET /orders", mw.Require(jwtverify.RequireAll("orders.read"))(http.HandlerFunc(listOrders)))
	mux.Handle("POST /orders", mw.Require(jwtverify.RequireAll("orders.write"))(http.HandlerFunc(createOrder)))
	http.ListenAndServe("127.0.0.1:8080", mw.Handler(mux)) // handlers: jwtverify.FromContext(r.Context())
	_ = err
}

func Example_quickStartEcho() {
	v, _ := readmeVerifier(context.Background())
	e := echo.New()
	listOrders := func(c echo.Context) error { return nil }
	createOrder := listOrders
	auth, err := echoauth.New(v)
	api := e.Group("", auth.Authenticate) // every route of the group needs a valid token
	api.GET("/orders", listOrders, auth.Require(jwtverify.RequireAll("orders.read")))
	api.POST("/orders", createOrder, auth.Require(jwtverify.RequireAll("orders.write"))) // handlers: echoauth.Principal(c)
	_ = err
}

func Example_quickStartGRPC() {
	v, _ := readmeVerifier(context.Background())
	var tlsConfig *tls.Config
	auth, err := grpcauth.New(v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{
		"/orders.v1.Orders/List":   jwtverify.RequireAll("orders.read"),
		"/orders.v1.Orders/Create": jwtverify.RequireAll("orders.write"),
	}}.ExemptHealth())
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsConfig)),
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()))
	ordersv1.RegisterOrdersServer(srv, orders)
	defaulted, err := auth.CheckServer(srv) // err: a policy entry names no registered method (a typo)
	_, _ = defaulted, err
}

// ordersv1 stands for the package protoc-gen-go-grpc generates from an
// orders.proto; orders for its implementation.
var ordersv1 = struct {
	RegisterOrdersServer func(s grpc.ServiceRegistrar, srv any)
}{RegisterOrdersServer: func(s grpc.ServiceRegistrar, srv any) {
	s.RegisterService(&grpc.ServiceDesc{ServiceName: "orders.v1.Orders", HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "List"}, {MethodName: "Create"}}}, srv)
}}

var orders any

func Example_senderConstrained() {
	v := func(ic jwtverify.IssuerConfig) *jwtverify.Verifier {
		ic.Binding = binding.Config{Policy: binding.Optional, Methods: binding.Certificate} // or binding.Required
		v, _ := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}})
		return v
	}(jwtverify.IssuerConfig{})
	mw, _ := middleware.New(v)
	mux := http.NewServeMux()
	srv := &http.Server{Handler: mw.Handler(mux), TLSConfig: &tls.Config{ClientAuth: tls.RequestClientCert}}
	_ = srv
}

func Example_dPoP() {
	v := func(ic jwtverify.IssuerConfig) *jwtverify.Verifier {
		checker, err := dpop.New(dpop.Config{PublicOrigins: []string{"https://api.example.com"}})
		ic.Binding = binding.Config{Policy: binding.Optional, Methods: binding.DPoP} // or binding.Required
		v, _ := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}})
		mw, err := middleware.New(v, middleware.WithDPoP(checker))
		_, _ = mw, err
		return v
	}(jwtverify.IssuerConfig{})
	_ = v
}
