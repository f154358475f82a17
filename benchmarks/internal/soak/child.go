package soak

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// ChildArg, as the first argument of a binary that calls ChildMain, makes
// it run as the soak's protected API: the second argument is the child's
// configuration (JSON). The driver re-executes its own binary this way so
// that the API's memory and goroutines are its own.
const ChildArg = "-soak-child"

// IsChild reports whether args (os.Args) ask for the child.
func IsChild(args []string) bool { return len(args) > 1 && args[1] == ChildArg }

// childConfig is what the driver tells the child.
type childConfig struct {
	Issuer           string        `json:"issuer"`
	Audience         string        `json:"audience"`
	Clients          []string      `json:"clients"`
	Scope            string        `json:"scope"`
	Alg              string        `json:"alg"`
	Refresh          time.Duration `json:"refresh"`
	Cooldown         time.Duration `json:"cooldown"`
	FetchTimeout     time.Duration `json:"fetch_timeout"`
	MaxStaleness     time.Duration `json:"max_staleness"`
	BackoffMax       time.Duration `json:"backoff_max"`
	MaxResponseBytes int64         `json:"max_response_bytes"`
	CacheMaxEntries  int           `json:"cache_max_entries"`
	CacheMaxBytes    int64         `json:"cache_max_bytes"`
	Leeway           time.Duration `json:"leeway"`
	// Introspection, when set, puts the issuer in jwt-or-introspect mode:
	// opaque tokens starting with "ory_at_" go to an introspect.Source.
	Introspection *childIntrospection `json:"introspection,omitempty"`
}

// childIntrospection configures the API's introspect.Source.
type childIntrospection struct {
	Endpoint      string        `json:"endpoint"`
	ClientID      string        `json:"client_id"`
	ClientSecret  string        `json:"client_secret"`
	MaxAge        time.Duration `json:"max_age"`
	Timeout       time.Duration `json:"timeout"`
	Rate          float64       `json:"rate"`
	Burst         int           `json:"burst"`
	MaxConcurrent int           `json:"max_concurrent"`
	CacheBytes    int64         `json:"cache_bytes"`
}

// The gRPC service of the API, written by hand over wrapperspb so that no
// code generator is needed: soak.v1.API/Call answers its input.
const (
	grpcService = "soak.v1.API"
	grpcMethod  = "/" + grpcService + "/Call"
	httpPath    = "/api"
)

var apiDesc = grpc.ServiceDesc{
	ServiceName: grpcService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(_ context.Context, req any) (any, error) { return req, nil }
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: grpcMethod}, h)
		},
	}},
}

// event is one line the child writes on its standard output.
type event struct {
	Type string `json:"type"` // "ready", "fetch", "sample", "error"
	HTTP string `json:"http,omitempty"`
	GRPC string `json:"grpc,omitempty"`
	// HTTPS and GRPCS serve the same routes over TLS asking for client
	// certificates (tls.RequestClientCert), for certificate-bound tokens;
	// TLSCert is their server certificate (DER), the root to trust.
	HTTPS   string       `json:"https,omitempty"`
	GRPCS   string       `json:"grpcs,omitempty"`
	TLSCert []byte       `json:"tls_cert,omitempty"`
	Fetch   *FetchRecord `json:"fetch,omitempty"`
	Sample  *Sample      `json:"sample,omitempty"`
	Msg     string       `json:"msg,omitempty"`
}

// FetchRecord is one JWKS fetch of the API, from its jwkscache observer.
// Times are Unix nanoseconds.
type FetchRecord struct {
	Cause string `json:"cause"`
	Class string `json:"class"`
	// Start and End bracket the fetch by the cache's clock; on success End
	// is the new set's FetchedAt, which the cache takes before it publishes
	// the set.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Obs is when the observer ran, after the set was published.
	Obs        int64    `json:"obs"`
	Generation uint64   `json:"generation"`
	KIDs       []string `json:"kids,omitempty"`
	// Mismatch reports that the served set was not the one the event
	// announced (the ground truth cannot use this fetch).
	Mismatch bool `json:"mismatch,omitempty"`
}

// Sample is the API's resource use at one moment.
type Sample struct {
	T            int64  `json:"t"`
	RSS          int64  `json:"rss"`
	HeapAlloc    uint64 `json:"heap_alloc"`
	HeapInuse    uint64 `json:"heap_inuse"`
	Goroutines   int    `json:"goroutines"`
	AfterGC      bool   `json:"after_gc,omitempty"`
	CacheEntries int64  `json:"cache_entries"`
	CacheBytes   int64  `json:"cache_bytes"`
	// UnknownKID counts the jwkscache lookup misses by outcome.
	UnknownKID map[string]int64 `json:"unknown_kid,omitempty"`
	// Introspection counts the introspect.Source's events so far.
	Introspection *IntrospectionCounts `json:"introspection,omitempty"`
}

// IntrospectionCounts are the API's introspect.Source events, from its
// Observer.
type IntrospectionCounts struct {
	// Calls by result ("active", "refused/inactive", "unavailable/endpoint_down", ...).
	Calls       map[string]int64 `json:"calls"`
	CacheHits   int64            `json:"cache_hits"`
	CacheMisses int64            `json:"cache_misses"`
	// OverBudget counts the calls the budget refused, by limit.
	OverBudget map[string]int64 `json:"over_budget,omitempty"`
}

// introCounter is the child's introspect.Observer.
type introCounter struct {
	mu sync.Mutex
	c  IntrospectionCounts
}

func (o *introCounter) ObserveCall(ev introspect.CallEvent) {
	k := string(ev.Result)
	if ev.Reason != "" {
		k += "/" + string(ev.Reason)
	}
	o.mu.Lock()
	o.c.Calls[k]++
	o.mu.Unlock()
}

func (o *introCounter) ObserveCache(ev introspect.CacheEvent) {
	o.mu.Lock()
	if ev.Hit {
		o.c.CacheHits++
	} else {
		o.c.CacheMisses++
	}
	o.mu.Unlock()
}

func (o *introCounter) ObserveBudget(ev introspect.BudgetEvent) {
	o.mu.Lock()
	o.c.OverBudget[ev.Limit]++
	o.mu.Unlock()
}

func (o *introCounter) snapshot() *IntrospectionCounts {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.c
	c.Calls, c.OverBudget = maps.Clone(c.Calls), maps.Clone(c.OverBudget)
	return &c
}

// ChildMain runs the protected API: it reads its configuration from
// args[2], serves net/http and gRPC on 127.0.0.1, in plain text and over
// TLS asking for client certificates (the issuer's tokens may be
// certificate-bound: binding.Optional), writes events (one JSON
// object per line) on stdout and obeys commands on stdin ("gc": collect
// garbage and sample; end of input: shut down). It returns the exit code.
func ChildMain(args []string) int {
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "soak child: missing configuration")
		return 2
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(args[2]), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "soak child: configuration:", err)
		return 2
	}
	out := &emitter{enc: json.NewEncoder(os.Stdout)}
	if err := runChild(cfg, os.Stdin, out); err != nil {
		out.emit(event{Type: "error", Msg: err.Error()})
		fmt.Fprintln(os.Stderr, "soak child:", err)
		return 1
	}
	return 0
}

type emitter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (e *emitter) emit(ev event) {
	e.mu.Lock()
	_ = e.enc.Encode(ev)
	e.mu.Unlock()
}

func runChild(cfg childConfig, stdin io.Reader, out *emitter) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		cacheReady = make(chan struct{})
		cache      *jwkscache.Cache
		unknownMu  sync.Mutex
		unknown    = map[string]int64{}
	)
	obs := jwkscache.ObserverFuncs{
		OnFetch: func(e jwkscache.FetchEvent) {
			obsAt := time.Now()
			<-cacheReady
			st := cache.Stats()
			rec := &FetchRecord{Cause: string(e.Cause), Class: string(e.Class), Obs: obsAt.UnixNano(),
				Generation: e.Generation, End: st.LastAttempt.UnixNano()}
			rec.Start = rec.End - int64(e.Duration)
			if e.Class == jwkscache.ClassOK {
				set := cache.Current()
				if set == nil || set.Generation != e.Generation {
					rec.Mismatch = true
				} else {
					rec.End = set.FetchedAt.UnixNano()
					rec.Start = rec.End - int64(e.Duration)
					for _, k := range set.Keys {
						rec.KIDs = append(rec.KIDs, k.KID)
					}
				}
			}
			out.emit(event{Type: "fetch", Fetch: rec})
		},
		OnUnknownKID: func(e jwkscache.UnknownKIDEvent) {
			unknownMu.Lock()
			unknown[string(e.Outcome)]++
			unknownMu.Unlock()
		},
	}
	c, err := jwkscache.New(ctx, jwkscache.Config{
		Name:                   "soak",
		Issuer:                 cfg.Issuer,
		HTTPClient:             &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}},
		FetchTimeout:           cfg.FetchTimeout,
		MaxResponseBytes:       cfg.MaxResponseBytes,
		MinRefreshInterval:     cfg.Refresh,
		MaxRefreshInterval:     cfg.Refresh,
		DefaultRefreshInterval: cfg.Refresh,
		UnknownKIDCooldown:     cfg.Cooldown,
		MaxStaleness:           cfg.MaxStaleness,
		BackoffInitial:         jwkscache.MinFetchGap,
		BackoffMax:             cfg.BackoffMax,
		Observer:               obs,
	})
	if err != nil {
		return err
	}
	cache = c
	close(cacheReady)
	defer c.Close()
	readyCtx, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	err = c.Ready(readyCtx)
	readyCancel()
	if err != nil {
		return err
	}

	ic := jwtverify.IssuerConfig{
		Name:       "soak",
		Issuer:     cfg.Issuer,
		Keys:       c,
		Audiences:  []string{cfg.Audience},
		ClientIDs:  cfg.Clients,
		Algorithms: []string{cfg.Alg},
		Leeway:     cfg.Leeway,
		// Bearer tokens stay accepted; a certificate-bound token only
		// with its certificate on a TLS connection.
		Binding: binding.Config{Policy: binding.Optional, Methods: binding.Certificate},
	}
	var intro *introCounter
	if in := cfg.Introspection; in != nil {
		intro = &introCounter{c: IntrospectionCounts{Calls: map[string]int64{}, OverBudget: map[string]int64{}}}
		src, err := introspect.New(introspect.Config{
			Name:     "soak",
			Issuer:   cfg.Issuer,
			Endpoint: in.Endpoint,
			Auth: introspect.ClientAuth{Method: introspect.AuthClientSecretBasic,
				ClientID: in.ClientID, ClientSecret: in.ClientSecret},
			Provider:      introspect.ProviderHydra,
			Audiences:     []string{cfg.Audience},
			ClientIDs:     cfg.Clients,
			Leeway:        cfg.Leeway,
			HTTPClient:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: in.MaxConcurrent, IdleConnTimeout: 30 * time.Second}},
			Timeout:       in.Timeout,
			MaxAge:        in.MaxAge,
			MaxCacheBytes: in.CacheBytes,
			MaxConcurrent: in.MaxConcurrent,
			Rate:          in.Rate,
			Burst:         in.Burst,
			Observer:      intro,
		})
		if err != nil {
			return err
		}
		defer src.Close()
		ic.Mode, ic.Introspection, ic.OpaquePrefix = jwtverify.ModeJWTOrIntrospect, src, "ory_at_"
	}
	v, err := jwtverify.New(jwtverify.Config{
		Issuers: []jwtverify.IssuerConfig{ic},
		Cache:   jwtverify.CacheConfig{MaxEntries: cfg.CacheMaxEntries, MaxBytes: cfg.CacheMaxBytes},
	})
	if err != nil {
		return err
	}
	req := jwtverify.RequireAll(cfg.Scope)

	// net/http
	mw, err := middleware.New(v, middleware.WithRealm("soak"))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+httpPath, mw.Require(req)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hsrv := &http.Server{Handler: mw.Handler(mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = hsrv.Serve(hln) }()
	// The same handler over TLS (HTTP/2 and HTTP/1.1), asking for client
	// certificates without verifying them: the issuer vouched for the
	// certificate a token is bound to.
	tsrv := oauthtest.NewMTLSServer(mw.Handler(mux))
	defer tsrv.Close()

	// gRPC
	auth, err := grpcauth.New(v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{grpcMethod: req}})
	if err != nil {
		return err
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gsrv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()))
	gsrv.RegisterService(&apiDesc, nil)
	go func() { _ = gsrv.Serve(gln) }()
	tgln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	tgsrv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: tsrv.TLS.Certificates, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12})))
	tgsrv.RegisterService(&apiDesc, nil)
	go func() { _ = tgsrv.Serve(tgln) }()

	sample := func(gc bool) {
		if gc {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		cs := v.CacheStats()
		unknownMu.Lock()
		uk := make(map[string]int64, len(unknown))
		for k, n := range unknown {
			uk[k] = n
		}
		unknownMu.Unlock()
		smp := &Sample{T: time.Now().UnixNano(), RSS: rss(),
			HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, Goroutines: runtime.NumGoroutine(), AfterGC: gc,
			CacheEntries: cs.Entries, CacheBytes: cs.Bytes, UnknownKID: uk}
		if intro != nil {
			smp.Introspection = intro.snapshot()
		}
		out.emit(event{Type: "sample", Sample: smp})
	}

	// Commands from the driver; end of input stops the child.
	cmds := make(chan string)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			cmds <- strings.TrimSpace(sc.Text())
		}
	}()
	out.emit(event{Type: "ready", HTTP: hln.Addr().String(), GRPC: gln.Addr().String(),
		HTTPS: tsrv.Listener.Addr().String(), GRPCS: tgln.Addr().String(), TLSCert: tsrv.Certificate().Raw})
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			sample(false)
		case cmd, ok := <-cmds:
			if !ok {
				break loop
			}
			if cmd == "gc" {
				sample(true)
			}
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = hsrv.Shutdown(sctx)
	for _, g := range []*grpc.Server{gsrv, tgsrv} {
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			g.Stop()
			<-stopped
		}
	}
	return nil
}

// rss returns the resident set size in bytes (0 where /proc is missing).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n << 10
				}
			}
		}
	}
	return 0
}

var errChildGone = errors.New("soak: the API child exited")
