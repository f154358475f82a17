package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a manual clock shared by the issuer and the Source.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

const (
	apiID     = "api"
	apiSecret = "api-secret"
	callerID  = "caller"
)

// env is an issuer with an opaque client "caller" and an introspecting
// resource server "api".
type env struct {
	t   *testing.T
	clk *clock
	srv *oauthtest.Server
}

func newEnv(t *testing.T, f oauthtest.OpaqueFormat, opts ...oauthtest.Option) *env {
	t.Helper()
	clk := newClock()
	srv := oauthtest.NewT(t, append([]oauthtest.Option{oauthtest.WithClock(clk.Now), oauthtest.WithKeyAlgs("ES256")}, opts...)...)
	srv.RegisterClient(oauthtest.Client{ID: callerID, Secret: "caller-secret", Scopes: []string{"read", "write"}})
	srv.SetOpaqueClient(callerID, f)
	srv.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: apiID, Secret: apiSecret})
	return &env{t: t, clk: clk, srv: srv}
}

// config is a Config for e's issuer that passes every rule for a token of
// "caller".
func (e *env) config() Config {
	return Config{
		Issuer:    e.srv.Issuer(),
		Endpoint:  e.srv.IntrospectionURL(),
		Auth:      ClientAuth{Method: AuthClientSecretBasic, ClientID: apiID, ClientSecret: apiSecret},
		Audiences: []string{oauthtest.DefaultAudience},
		ClientIDs: []string{callerID},
		Now:       e.clk.Now,
	}
}

func (e *env) source(cfg Config) *Source {
	e.t.Helper()
	s, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	return s
}

func (e *env) token() string {
	e.t.Helper()
	tok, err := e.srv.MintOpaque(callerID)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) calls() int64 { return e.srv.Requests(oauthtest.EndpointIntrospect) }

// reason returns the Reason of err (failing the test if err is not an
// *Error).
func reason(t *testing.T, err error) Reason {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e.Reason
}

// counter is an Observer that counts events.
type counter struct {
	mu      sync.Mutex
	calls   map[CallResult]int
	reasons map[Reason]int
	hits    int
	misses  int
	budget  map[string]int
}

func newCounter() *counter {
	return &counter{calls: map[CallResult]int{}, reasons: map[Reason]int{}, budget: map[string]int{}}
}

func (c *counter) ObserveCall(e CallEvent) {
	c.mu.Lock()
	c.calls[e.Result]++
	c.reasons[e.Reason]++
	c.mu.Unlock()
}

func (c *counter) ObserveCache(e CacheEvent) {
	c.mu.Lock()
	if e.Hit {
		c.hits++
	} else {
		c.misses++
	}
	c.mu.Unlock()
}

func (c *counter) ObserveBudget(e BudgetEvent) {
	c.mu.Lock()
	c.budget[e.Limit]++
	c.mu.Unlock()
}

// waitFor polls cond until it holds (a synchronisation wait, bounded by
// the test's deadline, not a timing assumption).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached")
		case <-time.After(time.Millisecond):
		}
	}
}

// clientToken gets a token for "caller" from the token endpoint.
func clientToken(t *testing.T, srv *oauthtest.Server) string {
	t.Helper()
	resp, err := http.PostForm(srv.TokenURL(), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {callerID}, "client_secret": {"caller-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

// revoke calls the RFC 7009 endpoint and returns the status.
func revoke(t *testing.T, srv *oauthtest.Server, tok, id, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.RevocationURL(),
		strings.NewReader(url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
