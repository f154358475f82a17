package authlog_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestIssuerOutageThroughAdapters is issue 15's operability scenario: an
// issuer whose JWKS answers 503 from the start, then comes back, in front
// of a net/http and a gRPC API wired the documented way (one authlog.Logger
// and one metrics.Metrics as observers of the key cache and of each
// adapter). It checks what an on-call engineer reads: one record per
// refusal key and window, with route and sub-reason, then the count of the
// rest; the fetch failure and the recovery; and never token text.
func TestIssuerOutageThroughAdapters(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	is := oauthtest.NewT(t)
	is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})

	var okSeen atomic.Int64
	buf := &syncBuffer{}
	lg := authlog.New(slog.New(slog.NewJSONHandler(buf, nil)), authlog.Options{Interval: time.Hour})
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, metrics.Options{RuleLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jwkscache.New(ctx, jwkscache.Config{
		Name: "corp", Issuer: is.Issuer(),
		// The last observer tells the test when the Logger has seen a
		// successful fetch (Ready can return before observers ran).
		Observer: jwkscache.MultiObserver(m, lg, jwkscache.ObserverFuncs{OnFetch: func(ev jwkscache.FetchEvent) {
			if ev.Class == jwkscache.ClassOK {
				okSeen.Add(1)
			}
		}}),
		BackoffInitial: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	m.WatchKeys(keys)
	const blocked = "blocked-client"
	v, err := jwtverify.New(jwtverify.Config{
		Observer: m,
		Issuers: []jwtverify.IssuerConfig{{
			Name: "corp", Issuer: is.Issuer(), Keys: keys,
			Audiences:  []string{oauthtest.DefaultAudience},
			ClientIDs:  []string{oauthtest.DefaultClientID, blocked},
			Algorithms: []string{"RS256"},
			Rules: []jwtverify.Rule{{Code: "client_suspended", Check: func(p *jwtverify.Principal) error {
				if p.ClientID() == blocked {
					return jwtverify.ErrClient
				}
				return nil
			}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}

	// net/http, wired as the README's Logging section says.
	mw, err := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders/{id}", mw.Require(jwtverify.RequireAll("orders.read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	api := httptest.NewServer(mux)
	defer api.Close()

	// gRPC: the health service stands for any registered service.
	gauth, err := grpcauth.New(v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{
		"/grpc.health.v1.Health/Check": jwtverify.RequireAll("orders.read"),
	}}, grpcauth.WithObserver(m), grpcauth.WithObserver(lg))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(gauth.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(gauth.StreamServerInterceptor()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if _, err := gauth.CheckServer(srv); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)

	is.RegisterClient(oauthtest.Client{ID: blocked, Secret: "s", Scopes: []string{"orders.read"}})
	good := is.MintT(t, oauthtest.WithClaims(map[string]any{"scope": "orders.read"}))
	suspended := is.MintT(t, oauthtest.WithClient(blocked), oauthtest.WithClaims(map[string]any{"scope": "orders.read"}))
	tokens := []string{good, suspended}

	callHTTP := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", api.URL+"/orders/42?secret=q", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	callGRPC := func(tok string) codes.Code {
		t.Helper()
		cctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		_, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		return status.Code(err)
	}

	// 1. Outage: no usable key set yet. Five identical requests per transport.
	const n = 5
	for range n {
		if got := callHTTP(good); got != http.StatusServiceUnavailable {
			t.Fatalf("during the outage: HTTP %d, want 503", got)
		}
		if got := callGRPC(good); got != codes.Unavailable {
			t.Fatalf("during the outage: gRPC %v, want Unavailable", got)
		}
	}

	// 2. The issuer comes back; the cache's retry finds the keys.
	is.ClearFault(oauthtest.EndpointJWKS)
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := keys.Ready(rctx); err != nil {
		t.Fatalf("keys never recovered: %v", err)
	}
	for okSeen.Load() == 0 {
		select {
		case <-rctx.Done():
			t.Fatal("the recovery was never observed")
		case <-time.After(time.Millisecond):
		}
	}
	if got := callHTTP(good); got != http.StatusOK {
		t.Fatalf("after recovery: HTTP %d", got)
	}
	if got := callGRPC(good); got != codes.OK {
		t.Fatalf("after recovery: gRPC %v", got)
	}
	// 3. A token an issuer rule refuses, three times per transport.
	for range 3 {
		if got := callHTTP(suspended); got != http.StatusUnauthorized {
			t.Fatalf("suspended client: HTTP %d", got)
		}
		if got := callGRPC(suspended); got != codes.Unauthenticated {
			t.Fatalf("suspended client: gRPC %v", got)
		}
	}
	if err := lg.Close(); err != nil { // writes the pending counts
		t.Fatal(err)
	}

	recs := buf.take(t)
	rawLogs, _ := json.Marshal(recs)
	type want struct {
		msg, transport, result, reason, rule, route string
		suppressed                                  float64
	}
	find := func(w want) {
		t.Helper()
		found := 0
		for _, r := range recs {
			if r["msg"] != w.msg || r["transport"] != w.transport || r["result"] != w.result || r["reason"] != w.reason || r["route"] != w.route || r["issuer"] != "corp" {
				continue
			}
			if rule, _ := r["rule"].(string); rule != w.rule {
				continue
			}
			if w.suppressed > 0 && r["suppressed"] != w.suppressed {
				t.Errorf("%+v: suppressed %v", w, r["suppressed"])
			}
			found++
		}
		if found != 1 {
			t.Errorf("want exactly one record %+v, found %d\n%s", w, found, rawLogs)
		}
	}
	httpRoute, grpcRoute := "GET /orders/{id}", "/grpc.health.v1.Health/Check"
	find(want{msg: authlog.MsgRefused, transport: "http", result: "unavailable", reason: "keys_unavailable", route: httpRoute})
	find(want{msg: authlog.MsgSuppressed, transport: "http", result: "unavailable", reason: "keys_unavailable", route: httpRoute, suppressed: n - 1})
	find(want{msg: authlog.MsgRefused, transport: "grpc", result: "unavailable", reason: "keys_unavailable", route: grpcRoute})
	find(want{msg: authlog.MsgSuppressed, transport: "grpc", result: "unavailable", reason: "keys_unavailable", route: grpcRoute, suppressed: n - 1})
	find(want{msg: authlog.MsgRefused, transport: "http", result: "unauthenticated", reason: "client", rule: "client_suspended", route: httpRoute})
	find(want{msg: authlog.MsgSuppressed, transport: "http", result: "unauthenticated", reason: "client", rule: "client_suspended", route: httpRoute, suppressed: 2})
	find(want{msg: authlog.MsgRefused, transport: "grpc", result: "unauthenticated", reason: "client", rule: "client_suspended", route: grpcRoute})
	find(want{msg: authlog.MsgSuppressed, transport: "grpc", result: "unauthenticated", reason: "client", rule: "client_suspended", route: grpcRoute, suppressed: 2})

	var failing, recovered int
	for _, r := range recs {
		switch r["msg"] {
		case "m2mauth: key source failing":
			failing++
		case "m2mauth: key source recovered":
			recovered++
			if r["failing_for"] == nil {
				t.Errorf("recovery record without failing_for: %v", r)
			}
		}
	}
	if failing != 1 || recovered != 1 {
		t.Errorf("key source records: %d failing, %d recovered; want 1 and 1\n%s", failing, recovered, rawLogs)
	}

	// No token text, no query anywhere in the logs.
	out := string(rawLogs)
	for _, tok := range tokens {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(out, part) {
				t.Fatalf("a token segment reached the logs")
			}
		}
	}
	if strings.Contains(out, "secret=q") || strings.Contains(out, "/orders/42") {
		t.Fatal("the raw path or query reached the logs")
	}

	// The metrics tell the same story.
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"m2mauth_authorization_decisions_total", map[string]string{"transport": "http", "result": "unavailable"}, n},
		{"m2mauth_authorization_decisions_total", map[string]string{"transport": "grpc", "result": "unavailable"}, n},
		{"m2mauth_authorization_decisions_total", map[string]string{"transport": "http", "result": "unauthenticated"}, 3},
		{"m2mauth_authorization_decisions_total", map[string]string{"transport": "grpc", "result": "unauthenticated"}, 3},
		{"m2mauth_token_validations_total", map[string]string{"issuer": "corp", "result": "invalid", "reason": "client", "rule": "client_suspended"}, 6},
		{"m2mauth_token_validations_total", map[string]string{"issuer": "corp", "result": "invalid", "reason": "keys_unavailable", "rule": "none"}, 2 * n},
	} {
		if got := metricValue(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := metricValue(t, reg, "m2mauth_jwks_usable", map[string]string{"source": "corp"}); got != 1 {
		t.Errorf("m2mauth_jwks_usable = %v after recovery", got)
	}
}

// metricValue returns the value of the one series of name whose labels
// include want (counters and gauges).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
