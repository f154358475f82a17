package middleware_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

type reqTagKey struct{}

// ctxDecisions is a ContextDecisionObserver recording the request tag of
// each decision's context.
type ctxDecisions struct {
	mu     sync.Mutex
	tags   []string
	plain  int
	result []string
}

func (c *ctxDecisions) ObserveDecision(jwtverify.DecisionEvent) {
	c.mu.Lock()
	c.plain++
	c.mu.Unlock()
}

func (c *ctxDecisions) ObserveDecisionContext(ctx context.Context, ev jwtverify.DecisionEvent) {
	tag, _ := ctx.Value(reqTagKey{}).(string)
	c.mu.Lock()
	c.tags = append(c.tags, tag)
	c.result = append(c.result, ev.Result)
	c.mu.Unlock()
}

// TestContextDecisionObserverGetsRequestContext: the middleware hands a
// ContextDecisionObserver the request's context (where otelhttp put the
// request span), for decisions of Handler and of Require, and never calls
// the context-free method.
func TestContextDecisionObserverGetsRequestContext(t *testing.T) {
	env := authtest.NewEnv(t)
	obs := &ctxDecisions{}
	mw, err := middleware.New(env.Verifier, middleware.WithObserver(obs), middleware.WithObserver(&authtest.Recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", mw.Require(jwtverify.RequireAll("orders.read"))(okHandler))
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.Handler(mux).ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reqTagKey{}, "req")))
	})
	ts := authtest.NewServer(t, outer)
	authtest.Get(t, ts, "/orders", "Bearer "+env.Token(t, map[string]any{"scope": "orders.read"}))
	authtest.Get(t, ts, "/orders", "Bearer "+env.Token(t, map[string]any{"scope": "profile"}))
	authtest.Get(t, ts, "/orders", "")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.tags) != 4 || obs.plain != 0 { // allowed; allowed by Handler, forbidden by Require; unauthenticated
		t.Fatalf("context decisions %v (%v), plain %d", obs.tags, obs.result, obs.plain)
	}
	for _, tag := range obs.tags {
		if tag != "req" {
			t.Fatalf("decision context lacks the request's value: %q", obs.tags)
		}
	}
}
