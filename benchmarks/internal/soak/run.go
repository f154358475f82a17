package soak

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// Run plays one soak run and evaluates it. The returned report says
// whether every check passed (Report.OK); err is for runs that could not
// be carried out at all.
func Run(cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Log, "soak: "+format+"\n", args...) }

	iss, err := oauthtest.New(oauthtest.WithKeyAlgs(alg), oauthtest.WithTokenLifetime(cfg.TokenLifetime), oauthtest.WithMTLS(),
		oauthtest.WithJWKSCacheControl(fmt.Sprintf("public, max-age=%d", int(cfg.Refresh.Seconds()))))
	if err != nil {
		return nil, err
	}
	defer iss.Close()
	clientIDs := make([]string, cfg.Clients)
	certs := make([]*oauthtest.ClientCert, cfg.Clients)
	opaque := make([]bool, cfg.Clients)
	var boundIdx []int
	bearer := 0 // bearer clients so far
	for i := range clientIDs {
		clientIDs[i] = fmt.Sprintf("soak-client-%03d", i)
		c := oauthtest.Client{ID: clientIDs[i], Secret: "secret-" + clientIDs[i], Scopes: []string{scope}, Audiences: []string{audience}}
		if i*cfg.BoundClients%cfg.Clients >= cfg.BoundClients { // BoundClients of them, the first one included
			iss.RegisterClient(c)
			// OpaqueClients of the bearer clients, spread among them, get
			// opaque tokens in Hydra's format.
			if nb := cfg.Clients - cfg.BoundClients; bearer*cfg.OpaqueClients%nb < cfg.OpaqueClients {
				iss.SetOpaqueClient(clientIDs[i], oauthtest.OpaqueHydra)
				opaque[i] = true
			}
			bearer++
			continue
		}
		// A certificate client: tls_client_auth (a certificate of the
		// issuer's client CA, by subject DN) and self-signed in turn.
		var auth oauthtest.CertAuth
		if len(boundIdx)%2 == 0 {
			certs[i], err = iss.IssueClientCert(clientIDs[i])
			if err == nil {
				auth = oauthtest.CertAuth{Method: oauthtest.AuthTLSClient, SubjectDN: certs[i].Certificate.Subject.String()}
			}
		} else {
			certs[i], err = oauthtest.NewClientCert(clientIDs[i])
			if err == nil {
				auth = oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient, Certificates: []*x509.Certificate{certs[i].Certificate}}
			}
		}
		if err == nil {
			err = iss.RegisterCertClient(c, auth)
		}
		if err != nil {
			return nil, err
		}
		boundIdx = append(boundIdx, i)
	}
	is := newIssuerLog(iss, alg, cfg.TokenLifetime, time.Now().UnixNano())

	cc := childConfig{Issuer: iss.Issuer(), Audience: audience, Clients: clientIDs, Scope: scope, Alg: alg,
		Refresh: cfg.Refresh, Cooldown: cfg.Cooldown, FetchTimeout: cfg.FetchTimeout, MaxStaleness: cfg.MaxStaleness,
		BackoffMax: cfg.BackoffMax, MaxResponseBytes: maxResponseBytes, CacheMaxEntries: cfg.CacheMaxEntries,
		CacheMaxBytes: cfg.CacheMaxBytes, Leeway: cfg.Leeway}
	if cfg.OpaqueClients > 0 {
		// The API introspects as a client of the issuer's RFC 7662
		// endpoint; a client off the allow list also gets opaque tokens
		// (the attackers' foreign tokens).
		const apiID, apiSecret = "soak-api", "soak-api-introspection-secret"
		iss.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: apiID, Secret: apiSecret})
		iss.SetOpaqueClient(foreignClient, oauthtest.OpaqueHydra)
		cc.Introspection = &childIntrospection{Endpoint: iss.IntrospectionURL(), ClientID: apiID, ClientSecret: apiSecret,
			MaxAge: cfg.IntrospectMaxAge, Timeout: cfg.IntrospectTimeout, Rate: cfg.IntrospectRate, Burst: cfg.IntrospectBurst,
			MaxConcurrent: cfg.IntrospectMaxConcurrent, CacheBytes: cfg.IntrospectCacheBytes}
	}
	ch, err := startChild(&cfg, cc)
	if err != nil {
		return nil, err
	}
	defer func() { _ = ch.stop() }()
	var ready event
	select {
	case ready = <-ch.ready:
	case <-ch.done:
		return nil, errChildGone
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("soak: the API child did not start")
	}
	base, err := ch.gcSample()
	if err != nil {
		return nil, err
	}
	logf("API child ready: http %s, grpc %s, TLS http %s, TLS grpc %s; %d goroutines, %d KiB live heap",
		ready.HTTP, ready.GRPC, ready.HTTPS, ready.GRPCS, base.Goroutines, base.HeapAlloc>>10)
	apiCert, err := x509.ParseCertificate(ready.TLSCert)
	if err != nil {
		return nil, fmt.Errorf("soak: the API child's TLS certificate: %w", err)
	}
	apiRoots := x509.NewCertPool()
	apiRoots.AddCert(apiCert)

	// Clients. Bearer clients use the plain token endpoint with their
	// secret; bound clients the mutual TLS one with their certificate.
	tokenHTTP := &http.Client{Timeout: 10 * time.Second}
	octx := context.WithValue(context.Background(), oauth2.HTTPClient, tokenHTTP)
	var closers []func() // idle connections to close after the load
	closers = append(closers, tokenHTTP.CloseIdleConnections)
	mtlsCtx := make([]context.Context, len(clientIDs))
	for _, i := range boundIdx {
		hc := certs[i].HTTPClient(iss.MTLSRootCAs())
		hc.Timeout = 10 * time.Second
		closers = append(closers, hc.CloseIdleConnections)
		mtlsCtx[i] = context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	}
	d := &driver{cfg: cfg, iss: iss, kidIx: map[string]int32{}, parsed: map[string]tokenInfo{},
		httpURL: "http://" + ready.HTTP + httpPath, httpsURL: "https://" + ready.HTTPS + httpPath,
		certs: certs, boundIdx: boundIdx, isOpaque: opaque}
	d.clients = make([]atomic.Pointer[clientSource], len(clientIDs))
	d.newSource = func(i int) *clientSource {
		if certs[i] != nil {
			c := clientcredentials.Config{ClientID: clientIDs[i], TokenURL: iss.MTLSTokenURL(), AuthStyle: oauth2.AuthStyleInParams}
			return &clientSource{c.TokenSource(mtlsCtx[i])}
		}
		c := clientcredentials.Config{ClientID: clientIDs[i], ClientSecret: "secret-" + clientIDs[i], TokenURL: iss.TokenURL()}
		return &clientSource{c.TokenSource(octx)}
	}
	for i := range clientIDs {
		d.clients[i].Store(d.newSource(i))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Workers, MaxConnsPerHost: cfg.Workers, IdleConnTimeout: time.Minute, DisableCompression: true}
	d.httpc = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	closers = append(closers, tr.CloseIdleConnections)
	d.conn, err = grpc.NewClient(ready.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	conns := []*grpc.ClientConn{d.conn}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	// The TLS routes: each bound client with its certificate; attackers
	// without a certificate and with their own.
	attacker, err := oauthtest.NewClientCert("attacker")
	if err != nil {
		return nil, err
	}
	tlsClient := func(tc *tls.Config) (*http.Client, *grpc.ClientConn, error) {
		t := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: cfg.Workers,
			IdleConnTimeout: time.Minute, DisableCompression: true}
		closers = append(closers, t.CloseIdleConnections)
		conn, err := grpc.NewClient(ready.GRPCS, grpc.WithTransportCredentials(credentials.NewTLS(tc.Clone())))
		if err == nil {
			conns = append(conns, conn)
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: t}, conn, err
	}
	d.tlsHTTP = make([]*http.Client, len(clientIDs))
	d.tlsConn = make([]*grpc.ClientConn, len(clientIDs))
	for _, i := range boundIdx {
		if d.tlsHTTP[i], d.tlsConn[i], err = tlsClient(certs[i].TLSConfig(apiRoots)); err != nil {
			return nil, err
		}
	}
	if d.noCertHTTP, d.noCertConn, err = tlsClient(&tls.Config{RootCAs: apiRoots, MinVersion: tls.VersionTLS12}); err != nil {
		return nil, err
	}
	if d.otherHTTP, d.otherConn, err = tlsClient(attacker.TLSConfig(apiRoots)); err != nil {
		return nil, err
	}

	// Workers.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	queue := make(chan job, 1<<16)
	var (
		wg      sync.WaitGroup
		recMu   sync.Mutex
		records []record
	)
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]record, 0, 1024)
			for j := range queue {
				local = append(local, d.do(ctx, j, clientIDs))
			}
			recMu.Lock()
			records = append(records, local...)
			recMu.Unlock()
		}()
	}

	// The schedule and the load start together.
	loadBefore := loadAvg()
	start := time.Now()
	end := start.Add(cfg.Duration)
	var phases []phaseRun
	schedDone := make(chan error, 1)
	go func() { schedDone <- play(&cfg, is, d, start, end, &phases, logf) }()
	// Revocations and the count of introspection calls run beside the
	// schedule.
	var (
		auxWG     sync.WaitGroup
		revokeErr error
		calls     []callSample
	)
	auxCtx, auxCancel := context.WithDeadline(ctx, end)
	if cfg.OpaqueClients > 0 {
		auxWG.Add(2)
		go func() { defer auxWG.Done(); revokeErr = d.revokeLoop(auxCtx, clientIDs, tokenHTTP) }()
		go func() { defer auxWG.Done(); calls = sampleCalls(auxCtx, iss) }()
	}
	var dropped []record
	generate(&cfg, d, start, end, queue, func(j job) {
		dropped = append(dropped, record{sched: j.sched, kind: j.kind, grpc: j.grpc, kid: -1, outcome: outDropped})
	})
	close(queue)
	wg.Wait()
	schedErr := <-schedDone
	auxCancel()
	auxWG.Wait()
	is.clearAll()
	records = append(records, dropped...)
	logf("load done: %d requests", len(records))

	// Idle again: close the connections and let the API settle.
	for _, c := range closers {
		c()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	var final Sample
	for i := 0; ; i++ {
		if final, err = ch.gcSample(); err != nil {
			return nil, err
		}
		if final.Goroutines <= base.Goroutines+goroutineTolerance || i >= 20 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := ch.stop(); err != nil {
		logf("API child exit: %v", err)
	}
	ch.mu.Lock()
	fetches := slices.Clone(ch.fetches)
	samples := slices.Clone(ch.samples)
	childErrs := slices.Clone(ch.errs)
	ch.mu.Unlock()
	keys, faults := is.snapshot()

	in := evalInput{cfg: cfg, start: start.UnixNano(), end: end.UnixNano(), records: records, kids: d.kids,
		keys: keys, faults: faults, phases: phases, fetches: fetches, samples: samples, base: base, final: final,
		defs: schedule(&cfg), loadBefore: loadBefore, loadAfter: loadAvg(),
		opaque: d.opaque.snapshot(), calls: calls}
	rep := evaluate(in)
	if schedErr != nil {
		rep.fail("schedule: %v", schedErr)
	}
	if revokeErr != nil {
		rep.fail("revocations: %v", revokeErr)
	}
	for _, e := range childErrs {
		rep.fail("API child: %s", e)
	}
	return rep, nil
}

// goroutineTolerance is how many more goroutines the idle API may have
// after the run than before it (a JWKS fetch in flight and its connection).
const goroutineTolerance = 4

// renewEarly is how long before expiry x/oauth2 renews a token.
const renewEarly = 10 * time.Second

// generate schedules the requests on the clock until end and queues them;
// a request that finds the queue full is dropped (and reported).
func generate(cfg *Config, d *driver, start, end time.Time, queue chan<- job, drop func(job)) {
	attack := cfg.Rate * cfg.AttackShare
	valid := cfg.Rate - attack
	iv := func(rate float64) time.Duration {
		if rate <= 0 {
			return 0
		}
		return time.Duration(float64(time.Second) / rate)
	}
	vi, ai, bi := iv(valid), iv(attack), iv(attack*cfg.BurstFactor)
	attackCycle := numAttacks
	if cfg.OpaqueClients > 0 {
		attackCycle += numOpaqueAttacks
	}
	stagger := (cfg.TokenLifetime - renewEarly) / time.Duration(cfg.Clients)
	nextV, nextA, nextB := start, start.Add(ai/2), start
	var nv, na int
	push := func(j job) {
		select {
		case queue <- j:
		default:
			d.dropped.Add(1)
			drop(j)
		}
	}
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		for vi > 0 && !nextV.After(now) && nextV.Before(end) {
			// Clients join one by one over the first renewal period, so
			// that their renewals (and the keys their tokens carry) are
			// spread as in production rather than all at once.
			active := cfg.Clients
			if stagger > 0 {
				active = min(cfg.Clients, 1+int(nextV.Sub(start)/stagger))
			}
			kind, client := kindValid, nv%active
			switch {
			case d.certs[client] != nil:
				kind = kindBound
			case d.isOpaque[client]:
				kind = kindOpaque
			}
			push(job{sched: nextV.UnixNano(), kind: kind, client: client, grpc: (nv/active)%2 == 1})
			nv++
			nextV = nextV.Add(vi)
		}
		for ai > 0 && !nextA.After(now) && nextA.Before(end) {
			push(job{sched: nextA.UnixNano(), kind: attackKind(na, cfg.OpaqueClients > 0), client: na % cfg.Clients, grpc: (na/attackCycle)%2 == 1})
			na++
			nextA = nextA.Add(ai)
		}
		if d.burst.Load() && bi > 0 {
			for !nextB.After(now) && nextB.Before(end) {
				push(job{sched: nextB.UnixNano(), kind: kindUnknownKID, client: na % cfg.Clients, grpc: na%2 == 1})
				na++
				nextB = nextB.Add(bi)
			}
		} else {
			nextB = now
		}
		wake := nextV
		if ai > 0 && nextA.Before(wake) {
			wake = nextA
		}
		if d.burst.Load() && nextB.Before(wake) {
			wake = nextB
		}
		if w := time.Until(wake); w > 0 {
			time.Sleep(min(w, 5*time.Millisecond))
		}
	}
}

// play runs the fault schedule, cycle after cycle, until end.
func play(cfg *Config, is *issuerLog, d *driver, start, end time.Time, phases *[]phaseRun, logf func(string, ...any)) error {
	defs := schedule(cfg)
	t := start
	for cycle := 0; t.Before(end); cycle++ {
		for _, p := range defs {
			if !t.Before(end) {
				break
			}
			pEnd := t.Add(p.dur)
			if pEnd.After(end) {
				pEnd = end
			}
			run := phaseRun{Name: p.name, Cycle: cycle, Start: time.Now().UnixNano()}
			logf("cycle %d phase %s (%v): %s", cycle, p.name, p.dur, p.what)
			d.burst.Store(p.burst)
			next := 0
			for {
				now := time.Now()
				if err := is.retireDue(now); err != nil {
					return err
				}
				for next < len(p.steps) && !t.Add(p.steps[next].at).After(now) {
					if err := p.steps[next].do(is, d); err != nil {
						return err
					}
					next++
				}
				if !now.Before(pEnd) {
					break
				}
				time.Sleep(min(time.Until(pEnd), 20*time.Millisecond))
			}
			d.burst.Store(false)
			is.clearAll()
			run.End = time.Now().UnixNano()
			*phases = append(*phases, run)
			t = pEnd
		}
	}
	return nil
}
