// Command m2mauthd is m2mauth's verifier as an external authorizer: nginx
// auth_request, Caddy forward_auth, Traefik ForwardAuth and Envoy ext_authz
// (gRPC and HTTP) ask it whether a request may proceed, and it answers from a
// policy file (YAML, schema in policy.schema.json) that it reloads on SIGHUP
// and when the file changes.
//
//	m2mauthd -policy /etc/m2mauthd/policy.yaml -http 127.0.0.1:9191 -grpc 127.0.0.1:9192
//	m2mauthd check [-fetch] /etc/m2mauthd/policy.yaml
//
// Forwarded request attributes (method, URI, host, scheme) are trusted as
// given: only the proxy may reach the authorizer. Listen on loopback, on a
// Unix socket (-http unix:/run/m2mauthd/http.sock), or require client
// certificates (-tls-cert, -tls-key, -tls-client-ca).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check" {
		os.Exit(check(os.Args[2:], os.Stdout, os.Stderr))
	}
	var c config
	fs := flag.NewFlagSet("m2mauthd", flag.ExitOnError)
	fs.StringVar(&c.policy, "policy", "/etc/m2mauthd/policy.yaml", "policy file")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:9191", "forward-auth, Envoy HTTP, /metrics, /healthz, /readyz listener (host:port or unix:/path)")
	fs.StringVar(&c.grpcAddr, "grpc", "", "Envoy ext_authz gRPC listener (host:port or unix:/path); empty: off")
	fs.DurationVar(&c.poll, "poll", 2*time.Second, "how often the policy file and its directory are checked for changes (0: SIGHUP only)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "server certificate (PEM): serve TLS")
	fs.StringVar(&c.tlsKey, "tls-key", "", "server key (PEM)")
	fs.StringVar(&c.clientCA, "tls-client-ca", "", "CA bundle (PEM): require client certificates signed by it (mTLS)")
	_ = fs.Parse(os.Args[1:])
	c.logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	c.hup = hup
	if err := run(ctx, c); err != nil {
		c.logger.Error("m2mauthd: stopped", "error", err.Error())
		os.Exit(1)
	}
}

// config is the command line of the server.
type config struct {
	policy, httpAddr, grpcAddr string
	poll                       time.Duration
	tlsCert, tlsKey, clientCA  string
	logger                     *slog.Logger
	hup                        <-chan os.Signal
	// started, when set, receives the listeners' addresses (tests).
	started func(httpAddr, grpcAddr net.Addr, e *Engine)
	// reloaded, when set, is called after each SIGHUP and after each change
	// of the file that swapped the policy in or was refused (tests).
	reloaded func(error)
	// drain bounds the graceful shutdown. Default 10 s.
	drain time.Duration
	// now, when set, is the verifier's and the Sources' clock (tests).
	now func() time.Time
}

// run serves until ctx is cancelled, then shuts down gracefully: listeners
// close, in-flight checks finish (up to drain), key caches stop.
func run(ctx context.Context, c config) error {
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.drain == 0 {
		c.drain = 10 * time.Second
	}
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	// The file's state before it is read: a change made while starting is
	// then seen by the watcher.
	state := fileState(c.policy)
	p, err := loadPolicyFile(c.policy)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		return err
	}
	lg := authlog.New(c.logger, authlog.Options{})
	defer lg.Close()

	cacheCtx, stopCaches := context.WithCancel(context.Background())
	defer stopCaches()
	e, err := NewEngine(cacheCtx, p, EngineOptions{
		Logger:    c.logger,
		Observers: []jwtverify.DecisionObserver{m, lg},
		KeyObs:    jwkscache.MultiObserver(m, lg), // outages counted and logged
		IntroObs:  m,                              // introspection calls, cache, budget
		Registry:  reg,
		Now:       c.now,
	})
	if err != nil {
		return err
	}
	defer e.Close()
	if err := m.WatchKeySet(e.Caches); err != nil { // key-set gauges follow reloads
		return err
	}

	tlsConf, err := c.tlsConfig()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc(ForwardAuthPath, e.ForwardAuth)
	mux.HandleFunc(EnvoyHTTPPrefix+"/", e.EnvoyHTTP)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", e.Ready)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, TLSConfig: tlsConf}

	hl, err := listen(c.httpAddr)
	if err != nil {
		return err
	}
	var gs *grpc.Server
	var gl net.Listener
	if c.grpcAddr != "" {
		if gl, err = listen(c.grpcAddr); err != nil {
			hl.Close()
			return err
		}
		var opts []grpc.ServerOption
		if tlsConf != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
		}
		gs = grpc.NewServer(opts...)
		authv3.RegisterAuthorizationServer(gs, envoyAuthz{e: e})
	}
	if c.started != nil {
		var ga net.Addr
		if gl != nil {
			ga = gl.Addr()
		}
		c.started(hl.Addr(), ga, e)
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if tlsConf != nil {
			err = hs.ServeTLS(hl, "", "")
		} else {
			err = hs.Serve(hl)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if gs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gs.Serve(gl); err != nil {
				errc <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.watch(ctx, e, state)
	}()
	c.logger.Info("m2mauthd: serving", "http", hl.Addr().String(), "grpc", c.grpcAddr, "policy", c.policy)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.drain)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if gs != nil {
		done := make(chan struct{})
		go func() { gs.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-sctx.Done():
			gs.Stop()
			<-done
		}
	}
	cancelRun() // stops the watcher after a serve error too
	wg.Wait()
	return runErr
}

// watch reloads the policy on SIGHUP and when the file's or its directory's
// identity (inode, size, modification time) changes: editors rename over the
// file and Kubernetes swaps a symlink in the directory, so the directory is
// watched too, by polling (no inotify dependency).
func (c config) watch(ctx context.Context, e *Engine, last string) {
	var tick <-chan time.Time
	if c.poll > 0 {
		t := time.NewTicker(c.poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.hup:
			last = fileState(c.policy)
			_, err := e.reload(c.policy)
			if c.reloaded != nil {
				c.reloaded(err)
			}
		case <-tick:
			if s := fileState(c.policy); s != last {
				last = s
				// Intermediate states (an editor's temporary file in the
				// directory) often leave the bytes unchanged: only a swap
				// or a refusal is reported.
				changed, err := e.reload(c.policy)
				if c.reloaded != nil && (changed || err != nil) {
					c.reloaded(err)
				}
			}
		}
	}
}

// fileState describes the policy file as found through its path (symlinks
// followed), the link itself and its directory.
func fileState(path string) string {
	var b strings.Builder
	for _, f := range []func(string) (os.FileInfo, error){os.Stat, os.Lstat} {
		if fi, err := f(path); err == nil {
			fmt.Fprintf(&b, "%d/%d/%s|", fi.ModTime().UnixNano(), fi.Size(), inode(fi))
		} else {
			b.WriteString("-|")
		}
	}
	if fi, err := os.Stat(filepath.Dir(path)); err == nil {
		fmt.Fprintf(&b, "%d/%s", fi.ModTime().UnixNano(), inode(fi))
	}
	return b.String()
}

func inode(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return ""
}

// listen opens host:port or unix:/path.
func listen(addr string) (net.Listener, error) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		_ = os.Remove(p)
		return net.Listen("unix", p)
	}
	return net.Listen("tcp", addr)
}

func (c config) tlsConfig() (*tls.Config, error) {
	if c.tlsCert == "" && c.tlsKey == "" {
		if c.clientCA != "" {
			return nil, errors.New("m2mauthd: -tls-client-ca needs -tls-cert and -tls-key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("m2mauthd: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if c.clientCA != "" {
		pem, err := os.ReadFile(c.clientCA)
		if err != nil {
			return nil, fmt.Errorf("m2mauthd: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("m2mauthd: -tls-client-ca holds no certificate")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// check implements "m2mauthd check [-fetch] FILE": validate offline, or with
// -fetch also fetch each issuer's keys (metadata and JWKS).
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("m2mauthd check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fetch := fs.Bool("fetch", false, "also fetch each issuer's metadata and keys (network)")
	timeout := fs.Duration("timeout", 15*time.Second, "with -fetch: how long to wait for each issuer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: m2mauthd check [-fetch] FILE")
		return 2
	}
	file := fs.Arg(0)
	p, err := loadPolicyFile(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *fetch {
		failed := false
		for _, is := range p.issuers {
			if !is.needsKeys() {
				continue // introspect mode: no keys are used
			}
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			c, err := jwkscache.New(ctx, is.keys)
			if err == nil {
				err = c.Ready(ctx)
				c.Close()
			}
			cancel()
			if err != nil {
				failed = true
				fmt.Fprintf(stderr, "%s: issuer %q: %v\n", file, is.profile.Name, err)
			}
		}
		if failed {
			return 1
		}
	}
	fmt.Fprintf(stdout, "%s: ok (%d issuers, %d routes)\n", file, len(p.issuers), len(p.routes))
	return 0
}
