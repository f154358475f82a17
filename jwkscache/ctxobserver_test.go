package jwkscache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

type fetchCtxKey struct{}

// ctxObserver is a ContextObserver that tags each fetch's context and
// records which tag the fetch's requests and FetchDoneContext saw.
type ctxObserver struct {
	*recorder
	mu       sync.Mutex
	n        int
	causes   []FetchCause
	doneTags []string
	plain    int
}

func (o *ctxObserver) FetchStart(ctx context.Context, source string, cause FetchCause) context.Context {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	o.causes = append(o.causes, cause)
	return context.WithValue(ctx, fetchCtxKey{}, fmt.Sprintf("%s-%d", source, o.n))
}

func (o *ctxObserver) FetchDoneContext(ctx context.Context, e FetchEvent) {
	tag, _ := ctx.Value(fetchCtxKey{}).(string)
	o.mu.Lock()
	o.doneTags = append(o.doneTags, tag)
	o.mu.Unlock()
	o.recorder.FetchDone(e)
}

func (o *ctxObserver) FetchDone(e FetchEvent) {
	o.mu.Lock()
	o.plain++
	o.mu.Unlock()
	o.recorder.FetchDone(e)
}

// tagTransport records the fetch tag of each request's context (as an
// otelhttp transport reads the span from it) and sends it on.
type tagTransport struct {
	mu   sync.Mutex
	tags []string
}

func (tt *tagTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tag, _ := r.Context().Value(fetchCtxKey{}).(string)
	tt.mu.Lock()
	tt.tags = append(tt.tags, tag)
	tt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestContextObserverParentsFetchRequests: with a ContextObserver, each
// fetch's discovery and JWKS requests run under the context its FetchStart
// returned, FetchDoneContext (not FetchDone) receives that context, and
// through MultiObserver a plain observer beside it still gets FetchDone.
func TestContextObserverParentsFetchRequests(t *testing.T) {
	srv := oauthtest.NewT(t)
	tt := &tagTransport{}
	obs, plain := &ctxObserver{recorder: newRecorder()}, newRecorder()
	fc := newFakeClock()
	c, err := New(context.Background(), Config{Name: "src", Issuer: srv.Issuer(), HTTPClient: &http.Client{Transport: tt},
		Now: fc.Now, NewTimer: fc.NewTimer, Observer: MultiObserver(plain, obs)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	fc.Advance(MinFetchGap)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	tt.mu.Lock()
	defer tt.mu.Unlock()
	// First fetch: discovery then JWKS; the forced refresh: JWKS only.
	if fmt.Sprint(tt.tags) != "[src-1 src-1 src-2]" {
		t.Fatalf("request contexts tagged %q", tt.tags)
	}
	if fmt.Sprint(obs.doneTags) != "[src-1 src-2]" || obs.plain != 0 {
		t.Fatalf("FetchDoneContext tags %q, FetchDone calls %d", obs.doneTags, obs.plain)
	}
	if fmt.Sprint(obs.causes) != fmt.Sprint([]FetchCause{CauseScheduled, CauseForced}) {
		t.Fatalf("causes %v", obs.causes)
	}
	plain.mu.Lock()
	defer plain.mu.Unlock()
	if len(plain.fetches) != 2 {
		t.Fatalf("plain observer beside it saw %d fetches", len(plain.fetches))
	}
}

// TestContextObserverCloseStillCancels: the context FetchStart returns
// derives from the cache's, so Close still cancels a held fetch.
func TestContextObserverCloseStillCancels(t *testing.T) {
	srv := oauthtest.NewT(t)
	release := make(chan struct{})
	defer close(release)
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: release})
	obs := &ctxObserver{recorder: newRecorder()}
	c, err := New(context.Background(), Config{Name: "x", JWKSURL: srv.JWKSURL(), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held request", func() bool { return srv.Requests(oauthtest.EndpointJWKS) == 1 })
	c.Close()
	if ev := obs.nextFetch(t); ev.Class != ClassClosed {
		t.Fatalf("event = %+v", ev)
	}
	if err := c.Ready(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ready after Close = %v", err)
	}
}
