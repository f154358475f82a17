package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// plainNginx is nginx in front of the app without auth_request: the same
// settings as examples/nginx.conf has for its app upstream.
const plainNginx = `worker_processes 1;
pid DIR/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path DIR/body;
    proxy_temp_path       DIR/proxy;
    fastcgi_temp_path     DIR/fastcgi;
    uwsgi_temp_path       DIR/uwsgi;
    scgi_temp_path        DIR/scgi;
    upstream app { server UPSTREAM; }
    server {
        listen LISTEN;
        location / { proxy_pass http://app; }
    }
}
`

// startPlainNginx runs plainNginx in front of upstream.
func startPlainNginx(t *testing.T, upstream string) string {
	bin := nginxBinary(t)
	dir := t.TempDir()
	if os.Getuid() == 0 {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	listen := freeAddr(t)
	conf := strings.NewReplacer("DIR", dir, "UPSTREAM", upstream, "LISTEN", listen).Replace(plainNginx)
	return launchNginx(t, bin, dir, conf, listen)
}

// libraryUpstream is the echo upstream verifying the token itself with the
// library's net/http middleware (the same issuer and requirement as the
// policy's GET /orders/{id} route).
func libraryUpstream(t *testing.T, is *oauthtest.Server) *httptest.Server {
	p, err := profiles.RFC9068(profiles.RFC9068Options{Issuer: is.Issuer(), Audience: oauthtest.DefaultAudience,
		ClientIDs: []string{"reader", "writer", "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := p.StartKeys(ctx, jwkscache.Config{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close(); cancel() })
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := middleware.New(v)
	if err != nil {
		t.Fatal(err)
	}
	echo := echoUpstream(t).Config.Handler
	mux := http.NewServeMux()
	mux.Handle("GET /orders/{id}", mw.Require(jwtverify.RequireAll("orders.read"))(echo))
	srv := httptest.NewServer(mw.Handler(mux))
	t.Cleanup(srv.Close)
	return srv
}

// load is what one setup measured over every round.
type load struct {
	requests int
	elapsed  time.Duration
	lat      []time.Duration
}

func (l *load) rps() float64 { return float64(l.requests) / l.elapsed.Seconds() }

func (l *load) quantile(q float64) time.Duration {
	slices.Sort(l.lat)
	return l.lat[int(q*float64(len(l.lat)-1))]
}

// drive sends GET /orders/1 with token through addr from conc closed-loop
// clients (keep-alive connections) for d, adding to l; any answer but 200
// fails the test.
func drive(t *testing.T, addr, token string, conc int, d time.Duration, l *load) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	start := time.Now()
	stop := start.Add(d)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(stop) {
				req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/orders/1", nil)
				req.Host = "api.example.test"
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			l.lat = append(l.lat, lat...)
			l.requests += len(lat)
			mu.Unlock()
		}()
	}
	wg.Wait()
	l.elapsed += time.Since(start)
	if failed != nil {
		t.Fatalf("%s: %v", addr, failed)
	}
}

// TestNginxRatios measures, in one run, requests per second and p50/p99
// latency through nginx with auth_request to m2mauthd, through nginx alone
// and through nginx in front of an upstream verifying with the library in
// process, as ratios (the client, nginx, the authorizer and the upstreams
// share the machine). The setups take turns in several rounds so drift in
// the machine's load spreads over all three. It is a measurement, not a
// check: it runs only with M2MAUTHD_NGINX_RATIOS=1 (M2MAUTHD_NGINX_ROUNDS,
// M2MAUTHD_NGINX_SECONDS and M2MAUTHD_NGINX_CONC change the run).
func TestNginxRatios(t *testing.T) {
	if os.Getenv("M2MAUTHD_NGINX_RATIOS") != "1" {
		t.Skip("a measurement: set M2MAUTHD_NGINX_RATIOS=1 to run it")
	}
	rounds, secs, conc := envInt("M2MAUTHD_NGINX_ROUNDS", 5), envInt("M2MAUTHD_NGINX_SECONDS", 2), envInt("M2MAUTHD_NGINX_CONC", 8)
	is := newIssuer(t)
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	up := strings.TrimPrefix(echoUpstream(t).URL, "http://")
	lib := strings.TrimPrefix(libraryUpstream(t, is).URL, "http://")
	setups := []struct {
		name, addr string
	}{
		{"auth_request", startNginx(t, d.httpAddr, up)},
		{"alone", startPlainNginx(t, up)},
		{"library", startPlainNginx(t, lib)},
	}
	token := is.MintT(t, oauthtest.WithClient("reader"))
	loads := make([]load, len(setups))
	for _, s := range setups { // warm up: keys, token caches, connections
		var warm load
		drive(t, s.addr, token, conc, 300*time.Millisecond, &warm)
	}
	for r := range rounds {
		for k := range setups {
			i := (r + k) % len(setups) // each setup goes first in turn
			drive(t, setups[i].addr, token, conc, time.Duration(secs)*time.Second, &loads[i])
		}
	}
	auth, alone, libl := &loads[0], &loads[1], &loads[2]
	row := func(name string, a, b *load) string {
		return fmt.Sprintf("%-26s req/s %.2f  p50 %.2f  p99 %.2f", name,
			a.rps()/b.rps(), float64(a.quantile(0.5))/float64(b.quantile(0.5)), float64(a.quantile(0.99))/float64(b.quantile(0.99)))
	}
	t.Logf("%d rounds x %ds per setup, %d clients, %d/%d/%d requests", rounds, secs, conc, auth.requests, alone.requests, libl.requests)
	t.Log(row("auth_request / alone", auth, alone))
	t.Log(row("library / alone", libl, alone))
	t.Log(row("auth_request / library", auth, libl))
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscanf(os.Getenv(name), "%d", &n); err != nil || n <= 0 {
		return def
	}
	return n
}
