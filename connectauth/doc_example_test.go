package connectauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/connectauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// ordersv1connect stands for the package protoc-gen-connect-go generates
// from an orders.proto: procedure names and NewOrdersHandler.
var ordersv1connect = struct {
	OrdersListProcedure, OrdersCreateProcedure string
	NewOrdersHandler                           func(svc ordersHandler, opts ...connect.HandlerOption) (string, http.Handler)
}{
	OrdersListProcedure:   "/orders.v1.Orders/List",
	OrdersCreateProcedure: "/orders.v1.Orders/Create",
	NewOrdersHandler: func(svc ordersHandler, opts ...connect.HandlerOption) (string, http.Handler) {
		mux := http.NewServeMux()
		mux.Handle("/orders.v1.Orders/List", connect.NewUnaryHandler("/orders.v1.Orders/List", svc.List, opts...))
		mux.Handle("/orders.v1.Orders/Create", connect.NewUnaryHandler("/orders.v1.Orders/Create", svc.Create, opts...))
		return "/orders.v1.Orders/", mux
	},
}

type ordersHandler interface {
	List(context.Context, *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error)
	Create(context.Context, *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error)
}

// orders is the service: it answers with the caller.
type orders struct{}

func (orders) List(ctx context.Context, _ *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
	p, _ := jwtverify.FromContext(ctx)
	return connect.NewResponse(wrapperspb.String("orders for " + p.ClientID())), nil
}

func (o orders) Create(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
	return o.List(ctx, req)
}

// docVerifier trusts iss for oauthtest's default audience and client.
func docVerifier(iss *oauthtest.Server) *jwtverify.Verifier {
	pub, _ := iss.PublicKey(iss.SigningKeyID())
	key, err := jwkscache.NewKey(iss.SigningKeyID(), "RS256", pub)
	if err != nil {
		panic(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: iss.Issuer(), Keys: jwkscache.NewStatic("idp", key), Algorithms: []string{"RS256"},
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID},
	}}})
	if err != nil {
		panic(err)
	}
	return v
}

// callDoc calls each procedure with a token holding scope and prints the
// answer or the code.
func callDoc(iss *oauthtest.Server, h http.Handler, scope string, procs ...string) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tok, err := iss.Mint(oauthtest.WithClaims(map[string]any{"scope": scope}))
	if err != nil {
		panic(err)
	}
	for _, proc := range procs {
		req := connect.NewRequest(wrapperspb.String(""))
		req.Header().Set("Authorization", "Bearer "+tok)
		resp, err := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](srv.Client(), srv.URL+proc).CallUnary(context.Background(), req)
		if err != nil {
			fmt.Println(proc, connect.CodeOf(err))
			continue
		}
		fmt.Println(proc, resp.Msg.GetValue())
	}
}

// The package doc's usage, run (TestSnippetsCompile in the root module
// checks that the doc's lines stand here).
func Example_usage() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := docVerifier(iss)
	m := new(decisions) // the metrics (package metrics) in a real service
	var srv orders
	registered := []string{ordersv1connect.OrdersListProcedure, ordersv1connect.OrdersCreateProcedure}
	mux := http.NewServeMux()

	setup := func() error {
		ic, err := connectauth.New(v, connectauth.Policy{
			Procedures: map[string]jwtverify.Requirement{
				ordersv1connect.OrdersListProcedure:   jwtverify.RequireAll("orders.read"),
				ordersv1connect.OrdersCreateProcedure: jwtverify.RequireAll("orders.write"),
			},
		}.ExemptHealth(), connectauth.WithObserver(m))
		if err != nil {
			return err
		}
		if err := ic.CheckProcedures(registered...); err != nil {
			return err
		}
		path, h := ordersv1connect.NewOrdersHandler(srv, connect.WithInterceptors(ic))
		mux.Handle(path, h)
		return nil
	}
	if err := setup(); err != nil {
		panic(err)
	}
	callDoc(iss, mux, "orders.read", registered...)
	fmt.Println("decisions observed:", m.n.Load())
	// Output:
	// /orders.v1.Orders/List orders for oauthtest-client
	// /orders.v1.Orders/Create permission_denied
	// decisions observed: 2
}

// decisions counts the decisions it observes.
type decisions struct{ n atomic.Int64 }

func (d *decisions) ObserveDecision(jwtverify.DecisionEvent) { d.n.Add(1) }

// The README's Connect lines.
func Example_readme() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := docVerifier(iss)
	var srv orders

	ic, err := connectauth.New(v, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		ordersv1connect.OrdersListProcedure: jwtverify.RequireAll("orders.read"),
	}})
	path, h := ordersv1connect.NewOrdersHandler(srv, connect.WithInterceptors(ic)) // handlers: jwtverify.FromContext(ctx)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	callDoc(iss, mux, "orders.read", ordersv1connect.OrdersListProcedure, ordersv1connect.OrdersCreateProcedure)
	// Output:
	// /orders.v1.Orders/List orders for oauthtest-client
	// /orders.v1.Orders/Create permission_denied
}
