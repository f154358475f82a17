package introspect

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

type callTag struct{}

// ctxObserver is a ContextObserver that tags each call's context and
// records what it saw.
type ctxObserver struct {
	mu      sync.Mutex
	starts  []string
	ctxEvs  []CallEvent
	tagged  []bool // per ObserveCallContext: did ctx carry the tag
	plain   int    // ObserveCall calls
	cacheEv []CacheEvent
}

func (o *ctxObserver) CallStart(ctx context.Context, source string) context.Context {
	o.mu.Lock()
	o.starts = append(o.starts, source)
	o.mu.Unlock()
	return context.WithValue(ctx, callTag{}, source)
}

func (o *ctxObserver) ObserveCallContext(ctx context.Context, ev CallEvent) {
	o.mu.Lock()
	o.ctxEvs = append(o.ctxEvs, ev)
	o.tagged = append(o.tagged, ctx.Value(callTag{}) != nil)
	o.mu.Unlock()
}

func (o *ctxObserver) ObserveCall(CallEvent) { o.mu.Lock(); o.plain++; o.mu.Unlock() }
func (o *ctxObserver) ObserveCache(e CacheEvent) {
	o.mu.Lock()
	o.cacheEv = append(o.cacheEv, e)
	o.mu.Unlock()
}
func (o *ctxObserver) ObserveBudget(BudgetEvent) {}

// tagTransport records, per request, the tag of its context.
type tagTransport struct {
	mu   sync.Mutex
	tags []any
}

func (t *tagTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.tags = append(t.tags, r.Context().Value(callTag{}))
	t.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestContextObserverParentsCallRequests: with a ContextObserver, the
// context CallStart returns is the parent of the call's requests (the
// discovery and the POST) and reaches ObserveCallContext, which replaces
// ObserveCall; a cache hit makes no CallStart.
func TestContextObserverParentsCallRequests(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	obs := &ctxObserver{}
	tr := &tagTransport{}
	cfg := e.config()
	cfg.Name = "opaque"
	cfg.Endpoint = "" // discovered: its request runs under the call's context too
	cfg.Observer = obs
	cfg.HTTPClient = &http.Client{Transport: tr}
	s := e.source(cfg)
	tok := e.token()
	for range 2 { // a call, then a cache hit
		if _, err := s.Introspect(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.starts) != 1 || obs.starts[0] != "opaque" {
		t.Fatalf("CallStart %v, want one for opaque", obs.starts)
	}
	if len(obs.ctxEvs) != 1 || obs.ctxEvs[0].Result != CallActive || !obs.tagged[0] {
		t.Fatalf("ObserveCallContext %+v tagged %v, want one active with CallStart's context", obs.ctxEvs, obs.tagged)
	}
	if obs.plain != 0 {
		t.Fatalf("ObserveCall called %d times besides ObserveCallContext", obs.plain)
	}
	if len(obs.cacheEv) != 2 || obs.cacheEv[0].Hit || !obs.cacheEv[1].Hit {
		t.Fatalf("cache events %+v, want a miss then a hit", obs.cacheEv)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.tags) < 2 {
		t.Fatalf("%d requests, want the discovery and the POST", len(tr.tags))
	}
	for i, tag := range tr.tags {
		if tag != "opaque" {
			t.Errorf("request %d ran outside the call's context", i)
		}
	}
}
