package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// The demo's API and clients.
const (
	audience     = "https://orders.example.test"
	readerID     = "reader"
	readerSecret = "reader-secret"
	adminID      = "admin"
	adminSecret  = "admin-secret"
	workerID     = "worker" // authenticates with its certificate; gets certificate-bound tokens
	dpopID       = "dpop-worker"
	dpopSecret   = "dpop-secret" // with a DPoP proof of its key, gets DPoP-bound tokens
)

// options configure run.
type options struct {
	// serve keeps the servers running after the scenarios, until ctx is
	// done, and prints curl commands.
	serve bool
	// ready, in serve mode, receives the endpoints once the curl commands
	// are printed (for tests).
	ready chan<- endpoints
	// logs, in serve mode, receives a record per refused request (why,
	// never the token). Nil: none.
	logs io.Writer
}

// endpoints are where the demo serves.
type endpoints struct {
	Issuer, TokenURL, HTTP, Echo, GRPC string
	// CertFile is the gRPC server's self-signed certificate (PEM), for
	// grpcurl -cacert.
	CertFile string
	// ReaderToken and AdminToken are fresh access tokens.
	ReaderToken, AdminToken string
}

// result is one row of the table.
type result struct {
	scenario, transport string
	want                expect
	got                 answer
}

func (r result) ok() bool { return r.got.status == r.want.status(r.transport) }

// expect is the class of answer a scenario expects.
type expect int

const (
	allowed expect = iota
	unauthenticated
	forbidden
)

func (e expect) status(transport string) string {
	grpcNames := [...]string{"OK", "Unauthenticated", "PermissionDenied"}
	httpNames := [...]string{"200", "401", "403"}
	if transport == "gRPC" {
		return grpcNames[e]
	}
	return httpNames[e]
}

// cacheClock is the key cache's clock: the real time plus an offset the
// demo moves forward. jwkscache starts no unknown-kid refresh within
// jwkscache.MinFetchGap (1 s) of its previous fetch, and its first fetch
// happened when the demo started, a few milliseconds before the key
// rotation; a real API sees rotations weeks apart. Rather than sleeping,
// the demo advances this clock by that second before rotating.
type cacheClock struct{ offset atomic.Int64 }

func (c *cacheClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *cacheClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// run starts the issuer and the three APIs, runs every scenario, prints the
// table and the metrics to out, and returns an error unless every scenario
// behaved. With opts.serve it then keeps serving until ctx is done.
func run(ctx context.Context, out io.Writer, opts options) error {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// One HTTP transport for every client of the demo, closed at the end.
	// The timeouts here are hang guards only: the demo takes well under a
	// second.
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)

	// The authorization server and its two clients: the reader's permission
	// is a scope, the admin's are app roles.
	iss, err := oauthtest.New(oauthtest.WithMTLS())
	if err != nil {
		return err
	}
	defer iss.Close()
	// The worker authenticates at the mTLS token endpoint with its
	// certificate and gets tokens bound to it (RFC 8705).
	workerCert, err := oauthtest.NewClientCert(workerID)
	if err != nil {
		return err
	}
	if err := iss.RegisterCertClient(oauthtest.Client{ID: workerID, Scopes: []string{"orders.read"}, Audiences: []string{audience}},
		oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient, Certificates: []*x509.Certificate{workerCert.Certificate}}); err != nil {
		return err
	}
	iss.RegisterClient(oauthtest.Client{ID: readerID, Secret: readerSecret,
		Scopes: []string{"orders.read"}, Audiences: []string{audience}})
	iss.RegisterClient(oauthtest.Client{ID: adminID, Secret: adminSecret,
		Roles: []string{"orders.read", "orders.write"}, Audiences: []string{audience}})
	iss.RegisterClient(oauthtest.Client{ID: dpopID, Secret: dpopSecret,
		Scopes: []string{"orders.read"}, Audiences: []string{audience}})

	// Metrics on a registry of our own.
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		return err
	}

	// The verifier: the generic RFC 9068 profile ("scope" and "roles"
	// both grant permissions), keys from the issuer's JWKS.
	prof, err := profiles.RFC9068(profiles.RFC9068Options{
		Name: "oauthtest", Issuer: iss.Issuer(), JWKSURL: iss.JWKSURL(),
		Audience: audience, ClientIDs: []string{readerID, adminID, workerID, dpopID},
	})
	if err != nil {
		return err
	}
	clock := &cacheClock{}
	keys, err := prof.StartKeys(ctx, jwkscache.Config{Observer: m, HTTPClient: hc, Now: clock.now})
	if err != nil {
		return err
	}
	defer keys.Close()
	if err := m.WatchKeys(keys); err != nil {
		return err
	}
	readyCtx, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	err = keys.Ready(readyCtx)
	readyCancel()
	if err != nil {
		return err
	}
	var lg *authlog.Logger
	if opts.serve && opts.logs != nil {
		// In serve mode, say why requests were refused (never the token):
		// the Logger observes every adapter's decisions, as the metrics do.
		lg = authlog.New(slog.New(slog.NewTextHandler(opts.logs, nil)), authlog.Options{})
		defer lg.Close()
	}
	// Certificate-bound tokens are accepted with their certificate,
	// DPoP-bound ones with a proof of their key; bearer tokens as before
	// (binding.Optional).
	ics := profiles.IssuerConfigs(prof)
	for i := range ics {
		ics[i].Binding = binding.Config{Policy: binding.Optional, Methods: binding.Certificate | binding.DPoP}
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: ics, Observer: m})
	if err != nil {
		return err
	}
	if err := m.WatchVerifier("orders-api", v); err != nil {
		return err
	}

	// The three APIs.
	db := &store{}
	cert, roots, err := selfSigned()
	if err != nil {
		return err
	}
	// The plain HTTP listeners come first: DPoP proofs name the URL the
	// client called, so the proof checker must know the public origins.
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	echoLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		httpLis.Close()
		return err
	}
	closeLis := func() { httpLis.Close(); echoLis.Close() }
	checker, err := dpop.New(dpop.Config{PublicOrigins: []string{"http://" + httpLis.Addr().String(), "http://" + echoLis.Addr().String()}})
	if err != nil {
		closeLis()
		return err
	}
	httpAPI, err := newHTTPAPI(v, m, reg, db, lg, checker)
	if err != nil {
		closeLis()
		return err
	}
	echoAPI, err := newEchoAPI(v, m, db, lg, checker)
	if err != nil {
		closeLis()
		return err
	}
	grpcAPI, err := newGRPCAPI(v, m, db, cert, lg)
	if err != nil {
		closeLis()
		return err
	}
	httpURL, stopHTTP := serveOn(httpLis, httpAPI)
	defer stopHTTP()
	echoURL, stopEcho := serveOn(echoLis, echoAPI)
	defer stopEcho()
	// The same two APIs over TLS asking for client certificates, for the
	// certificate-bound caller.
	httpsURL, stopHTTPS, err := serveHTTPS(httpAPI, cert)
	if err != nil {
		return err
	}
	defer stopHTTPS()
	echosURL, stopEchoS, err := serveHTTPS(echoAPI, cert)
	if err != nil {
		return err
	}
	defer stopEchoS()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = grpcAPI.Serve(lis) }()
	defer func() { grpcAPI.Stop(); <-served }()

	grpcClient, err := dialGRPC(lis.Addr().String(), roots)
	if err != nil {
		return err
	}
	defer grpcClient.conn.Close()
	transports := []transport{
		&httpTransport{label: "net/http", base: httpURL, rt: hc.Transport},
		&httpTransport{label: "Echo", base: echoURL, rt: hc.Transport},
		grpcClient,
	}

	// The callers: clients of the client credentials grant.
	readerCC := clientcredentials.Config{ClientID: readerID, ClientSecret: readerSecret, TokenURL: iss.TokenURL()}
	adminCC := clientcredentials.Config{ClientID: adminID, ClientSecret: adminSecret, TokenURL: iss.TokenURL()}
	reader := readerCC.TokenSource(ctx)
	admin := adminCC.TokenSource(ctx)
	readerTok, err := reader.Token()
	if err != nil {
		return fmt.Errorf("reader token: %w", err)
	}
	tampered, err := grantWrite(readerTok.AccessToken)
	if err != nil {
		return err
	}
	expired, err := iss.Mint(oauthtest.WithClient(readerID), oauthtest.WithClaims(map[string]any{
		"iat": time.Now().Add(-2 * time.Hour).Unix(),
		"nbf": time.Now().Add(-2 * time.Hour).Unix(),
		"exp": time.Now().Add(-time.Hour).Unix(),
	}))
	if err != nil {
		return err
	}

	type scenario struct {
		name string
		op   op
		ts   oauth2.TokenSource
		want expect
	}
	var results []result
	playOver := func(trs []transport, scs []scenario) error {
		for _, sc := range scs {
			for _, t := range trs {
				callCtx, callCancel := context.WithTimeout(ctx, 30*time.Second)
				got, err := t.call(callCtx, sc.op, sc.ts)
				callCancel()
				if err != nil {
					return fmt.Errorf("%s over %s: %w", sc.name, t.name(), err)
				}
				results = append(results, result{scenario: sc.name, transport: t.name(), want: sc.want, got: got})
			}
		}
		return nil
	}
	play := func(scs []scenario) error { return playOver(transports, scs) }
	static := func(tok string) oauth2.TokenSource {
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
	}
	if err := play([]scenario{
		{"no token", opRead, nil, unauthenticated},
		{"reader reads (scope claim)", opRead, reader, allowed},
		{"reader writes", opWrite, reader, forbidden},
		{"admin writes (roles claim)", opWrite, admin, allowed},
		{"tampered token (reader adds orders.write)", opWrite, static(tampered), unauthenticated},
		{"expired token", opRead, static(expired), unauthenticated},
	}); err != nil {
		return err
	}

	// Key rotation at the issuer: new tokens carry a kid the cache has not
	// seen; the first one makes it refresh the JWKS. Tokens signed with
	// the old key stay valid while the issuer still publishes it.
	oldKID := iss.SigningKeyID()
	clock.advance(jwkscache.MinFetchGap)
	newKID, err := iss.RotateKey("RS256")
	if err != nil {
		return err
	}
	rotated := adminCC.TokenSource(ctx) // a fresh client: its token comes from the new key
	if err := play([]scenario{
		{"after key rotation: admin writes (new key)", opWrite, rotated, allowed},
		{"after key rotation: reader reads (old key)", opRead, reader, allowed},
	}); err != nil {
		return err
	}
	if tok, err := rotated.Token(); err != nil || kidOf(tok.AccessToken) != newKID || newKID == oldKID {
		return fmt.Errorf("key rotation: the new token is not signed with the new key %q (err %v)", newKID, err)
	}

	// The certificate-bound caller: over TLS presenting its certificate it
	// is served; its token without the certificate (a stolen copy, over
	// the plain HTTP APIs and a gRPC connection without a client
	// certificate) is refused.
	workerHC := workerCert.HTTPClient(iss.MTLSRootCAs())
	defer workerHC.CloseIdleConnections()
	workerCC := clientcredentials.Config{ClientID: workerID, TokenURL: iss.MTLSTokenURL(), AuthStyle: oauth2.AuthStyleInParams}
	worker := workerCC.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, workerHC))
	workerTok, err := worker.Token()
	if err != nil {
		return fmt.Errorf("worker token: %w", err)
	}
	certRT := &http.Transport{TLSClientConfig: workerCert.TLSConfig(roots), ForceAttemptHTTP2: true}
	defer certRT.CloseIdleConnections()
	grpcCert, err := dialGRPCConfig(lis.Addr().String(), workerCert.TLSConfig(roots))
	if err != nil {
		return err
	}
	defer grpcCert.conn.Close()
	if err := playOver([]transport{
		&httpTransport{label: "net/http", base: httpsURL, rt: certRT},
		&httpTransport{label: "Echo", base: echosURL, rt: certRT},
		grpcCert,
	}, []scenario{{"cert-bound worker reads (mTLS, its certificate)", opRead, worker, allowed}}); err != nil {
		return err
	}
	if err := play([]scenario{{"cert-bound token without its certificate", opRead, static(workerTok.AccessToken), unauthenticated}}); err != nil {
		return err
	}

	// The DPoP caller (RFC 9449, HTTP only: gRPC APIs use certificate
	// binding): its token, bound to the key the prover holds, comes from
	// the token endpoint with a proof; every call carries a fresh proof of
	// the method and URL (the prover's RoundTripper). A stolen copy of the
	// token without the key gets 401 invalid_dpop_proof.
	prover, err := oauthtest.NewDPoPProver("ES256")
	if err != nil {
		return err
	}
	dpopTok, err := prover.FetchToken(ctx, hc, iss.TokenURL(), dpopID, dpopSecret, nil)
	if err != nil {
		return fmt.Errorf("dpop token: %w", err)
	}
	dpopTS := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: dpopTok, TokenType: "DPoP"}) // "Authorization: DPoP <token>"
	withKey := prover.Transport(hc.Transport)
	if err := playOver([]transport{
		&httpTransport{label: "net/http", base: httpURL, rt: withKey},
		&httpTransport{label: "Echo", base: echoURL, rt: withKey},
	}, []scenario{{"DPoP worker reads (proof of its key)", opRead, dpopTS, allowed}}); err != nil {
		return err
	}
	if err := playOver(transports[:2], []scenario{{"DPoP token stolen, without the key", opRead, dpopTS, unauthenticated}}); err != nil {
		return err
	}

	failed := printTable(out, results)
	fmt.Fprintf(out, "\nKey rotation: kid %s -> %s; the key cache refreshed the JWKS on the unknown kid.\n", short(oldKID), short(newKID))
	if err := printMetrics(out, reg); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d calls over 3 transports, %d not as expected, in %v.\n",
		len(results), failed, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios did not behave as expected", failed, len(results))
	}
	if !opts.serve {
		return nil
	}

	// Serve mode: fresh tokens and curl commands.
	adminTok, err := adminCC.Token(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "m2mauth-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}), 0o600); err != nil {
		return err
	}
	ep := endpoints{Issuer: iss.Issuer(), TokenURL: iss.TokenURL(), HTTP: httpURL, Echo: echoURL,
		GRPC: lis.Addr().String(), CertFile: certFile, ReaderToken: readerTok.AccessToken, AdminToken: adminTok.AccessToken}
	printServe(out, ep)
	if opts.ready != nil {
		opts.ready <- ep
	}
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopped.")
	return nil
}

// serveOn serves h on lis and returns its URL and the stop function.
func serveOn(lis net.Listener, h http.Handler) (string, func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}
	return "http://" + lis.Addr().String(), stop
}

// serveHTTPS serves h on a fresh loopback port over TLS with cert, asking
// clients for a certificate (tls.RequestClientCert: certificate binding
// needs the certificate, not a CA check).
func serveHTTPS(h http.Handler, cert tls.Certificate) (string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeTLS(lis, "", "") }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}
	return "https://" + lis.Addr().String(), stop, nil
}

// grantWrite returns tok with orders.write added to its scope claim and
// its signature left as it was: what an attacker holding the reader's
// token would try.
func grantWrite(tok string) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", errors.New("tamper: not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	claims["scope"] = "orders.read orders.write"
	if payload, err = json.Marshal(claims); err != nil {
		return "", err
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, "."), nil
}

// kidOf returns the kid of a token's header (the demo's own token; nothing
// is trusted from it).
func kidOf(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &hdr)
	return hdr.Kid
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// printTable writes the results and returns how many were not ok.
func printTable(out io.Writer, results []result) int {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTRANSPORT\tEXPECTED\tGOT\tOK")
	failed := 0
	for _, r := range results {
		mark := "ok"
		if !r.ok() {
			mark, failed = "FAIL", failed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.scenario, r.transport, r.want.status(r.transport), r.got, mark)
	}
	_ = tw.Flush()
	return failed
}

// printMetrics writes the counters a newcomer looks at first, from the
// registry the APIs export.
func printMetrics(out io.Writer, reg *prometheus.Registry) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	show := []string{
		"m2mauth_token_validations_total",
		"m2mauth_authorization_decisions_total",
		"m2mauth_jwks_fetches_total",
		"m2mauth_jwks_unknown_kid_total",
		"m2mauth_jwks_keys",
		"m2mauth_verified_token_cache_hits_total",
		"m2mauth_verified_token_cache_misses_total",
	}
	fmt.Fprintln(out, "\nMetrics (Prometheus, excerpt):")
	for _, mf := range mfs {
		if !slices.Contains(show, mf.GetName()) {
			continue
		}
		var lines []string
		for _, mt := range mf.GetMetric() {
			lines = append(lines, "  "+mf.GetName()+labels(mt.GetLabel())+" "+value(mt))
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Fprintln(out, l)
		}
	}
	return nil
}

func labels(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func value(m *dto.Metric) string {
	switch {
	case m.GetCounter() != nil:
		return fmt.Sprint(m.GetCounter().GetValue())
	case m.GetGauge() != nil:
		return fmt.Sprint(m.GetGauge().GetValue())
	}
	return "?"
}

// printServe writes where the demo serves and commands to try.
func printServe(out io.Writer, ep endpoints) {
	fmt.Fprintf(out, `
Serving until Ctrl-C (all on 127.0.0.1):
  issuer       %[1]s  (token endpoint %[2]s, JWKS %[1]s/jwks)
  net/http     %[3]s/orders   (metrics: %[3]s/metrics)
  Echo         %[4]s/orders
  gRPC (TLS)   %[5]s  orders.v1.Orders/List and /Create (self-signed certificate)

Get a token from the token endpoint (client credentials grant):
  curl -s -u admin:admin-secret -d grant_type=client_credentials %[2]s
  curl -s -u reader:reader-secret -d grant_type=client_credentials %[2]s

Or use these, minted just now (valid 1 h):
  READER=%[6]s
  ADMIN=%[7]s

Call the APIs:
  curl -i %[3]s/orders
  curl -i -H "Authorization: Bearer $READER" %[3]s/orders
  curl -i -H "Authorization: Bearer $READER" -d gadget %[3]s/orders
  curl -i -H "Authorization: Bearer $ADMIN" -d gadget %[4]s/orders
  curl -s %[3]s/metrics | grep '^m2mauth_'

And the gRPC service, with grpcurl (github.com/fullstorydev/grpcurl):
  grpcurl -cacert %[8]s -H "authorization: Bearer $READER" -d '""' %[5]s orders.v1.Orders/List
  grpcurl -cacert %[8]s -H "authorization: Bearer $READER" -d '"gadget"' %[5]s orders.v1.Orders/Create
`, ep.Issuer, ep.TokenURL, ep.HTTP, ep.Echo, ep.GRPC, ep.ReaderToken, ep.AdminToken, ep.CertFile)
}
