package securitysuite

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestValidTokensDoNotWaitForAHangingRefresh: random kids start a refresh
// that the issuer holds; meanwhile valid tokens (new ones, not cached) are
// answered from the cached keys without waiting for that fetch. Shown
// without timing: the answers arrive while the fetch is still in flight
// (no fetch event reported yet).
func TestValidTokensDoNotWaitForAHangingRefresh(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			hold := make(chan struct{})
			f.iss.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: hold})
			f.drainFetches()
			f.clk.Advance(2 * time.Second)
			before := f.iss.Requests(oauthtest.EndpointJWKS)
			// Unknown kids: the first starts the refresh, the others wait
			// for it (bounded by the fetch timeout) or fail fast.
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = f.send(t, tr, bearer(f.mint(t, oauthtest.WithHeader(map[string]any{"kid": randomKID(8)}))))
				}()
			}
			// Wait until the refresh reached the issuer.
			for f.iss.Requests(oauthtest.EndpointJWKS) == before {
				select {
				case e := <-f.fetches:
					t.Fatalf("fetch ended early: %+v", e)
				default:
				}
				runtime.Gosched() // wait on a counter, never on time
			}
			for i := 0; i < 5; i++ {
				expect(t, tr, f.send(t, tr, bearer(f.mint(t, oauthtest.WithKeyID(f.kid["ES256"])))), accept, "")
			}
			select {
			case e := <-f.fetches:
				t.Fatalf("the valid tokens were answered only after the fetch ended: %+v", e)
			default:
			}
			close(hold)
			f.waitFetch(t, func(jwkscache.FetchEvent) bool { return true })
			wg.Wait()
		})
	}
}
