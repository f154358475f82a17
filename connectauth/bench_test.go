package connectauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/connectauth"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// BenchmarkOverhead: what the interceptor adds to the same Connect unary
// procedure (a Connect-protocol GET, so one request can be replayed), both
// measured in interleaved blocks (adaptertest.Overhead).
func BenchmarkOverhead(b *testing.B) {
	env := adaptertest.NewEnv(b)
	tok := env.Token(b, map[string]any{"scope": "orders.read"})
	const proc = "/orders.v1.Orders/Get"
	ic, err := connectauth.New(env.Verifier, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		proc: jwtverify.RequireAll("orders.read"),
	}})
	if err != nil {
		b.Fatal(err)
	}
	h := func(context.Context, *connect.Request[str]) (*connect.Response[str], error) {
		return connect.NewResponse(wrapperspb.String("ok")), nil
	}
	idem := connect.WithIdempotency(connect.IdempotencyNoSideEffects)
	raw := connect.NewUnaryHandler(proc, h, idem)
	guarded := connect.NewUnaryHandler(proc, h, idem, connect.WithInterceptors(ic))
	r := httptest.NewRequest(http.MethodGet, proc+"?connect=v1&encoding=json&message=%22x%22", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	adaptertest.Overhead(b, raw, guarded, r)
}
