package grpcauth_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
)

type callTagKey struct{}

// ctxDecisions is a ContextDecisionObserver recording the call tag of each
// decision's context.
type ctxDecisions struct {
	mu      sync.Mutex
	tags    []string
	results []string
	plain   int
}

func (c *ctxDecisions) ObserveDecision(jwtverify.DecisionEvent) {
	c.mu.Lock()
	c.plain++
	c.mu.Unlock()
}

func (c *ctxDecisions) ObserveDecisionContext(ctx context.Context, ev jwtverify.DecisionEvent) {
	tag, _ := ctx.Value(callTagKey{}).(string)
	c.mu.Lock()
	c.tags = append(c.tags, tag)
	c.results = append(c.results, ev.Result)
	c.mu.Unlock()
}

// TestContextDecisionObserverGetsCallContext: the interceptor hands a
// ContextDecisionObserver the call's context (where otelgrpc put the
// server span), for allowed, refused and skipped calls, and never calls
// the context-free method; the plain observers beside it still get theirs.
func TestContextDecisionObserverGetsCallContext(t *testing.T) {
	obs := &ctxDecisions{}
	tag := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(context.WithValue(ctx, callTagKey{}, "call"), req)
	}
	e := newEnv(t, envConfig{tls: true, icOpts: []grpcauth.Option{grpcauth.WithObserver(obs)},
		serverOpts: func(e *env) []grpc.ServerOption {
			return []grpc.ServerOption{grpc.ChainUnaryInterceptor(tag, e.ic.UnaryServerInterceptor())}
		}})
	reader := grpc.PerRPCCredentials(e.oauthCreds(readerID, readerSecret))
	if _, err := e.unary(callCtx(t), "/test.v1.Echo/Whoami", reader); err != nil {
		t.Fatal(err)
	}
	_, _ = e.unary(callCtx(t), "/test.v1.Echo/Whoami")
	if _, err := healthpb.NewHealthClient(e.conn).Check(callCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{jwtverify.DecisionAllowed, jwtverify.DecisionUnauthenticated, jwtverify.DecisionSkipped}
	if len(obs.results) != len(want) || obs.plain != 0 {
		t.Fatalf("context decisions %v, plain %d", obs.results, obs.plain)
	}
	for i, tg := range obs.tags {
		if tg != "call" || obs.results[i] != want[i] {
			t.Fatalf("decisions %v with call tags %q, want %v all tagged", obs.results, obs.tags, want)
		}
	}
	if n := len(e.obs.take()); n != 3 {
		t.Fatalf("plain observer beside it saw %d decisions", n)
	}
}
