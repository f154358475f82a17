// Command load drives a small net/http server on 127.0.0.1 in several
// variants (no auth, m2mauth's middleware, auth0's go-jwt-middleware) with a
// fixed set of client tokens, in alternating rounds of bounded duration and
// request count, and reports the median requests per second and p50/p99
// latency of each variant.
//
//	go run ./cmd/load -rounds 5 -duration 5s -out load.json
//
// Client and servers run in this one process on loopback; every variant
// pays the same client cost, so the differences are the middleware's.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/m2mauth/m2mauth/benchmarks/internal/apps"
	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
)

// Result is one variant's figures: per round and the medians.
type Result struct {
	Variant string        `json:"variant"`
	Rounds  []RoundResult `json:"rounds"`
	// Medians over the rounds.
	RPS    float64 `json:"rps"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	Errors int64   `json:"errors"`
	// Skipped says why the variant did not run (e.g. not built yet).
	Skipped string `json:"skipped,omitempty"`
}

// RoundResult is one round of one variant.
type RoundResult struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	RPS      float64 `json:"rps"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
}

// Report is the JSON document written by -out.
type Report struct {
	Alg         string    `json:"alg"`
	Tokens      int       `json:"tokens"`
	Conns       int       `json:"conns"`
	Rounds      int       `json:"rounds"`
	Duration    string    `json:"duration"`
	MaxRequests int64     `json:"max_requests"`
	Results     []*Result `json:"results"`
}

func main() {
	var (
		rounds   = flag.Int("rounds", 5, "alternating rounds (1..20)")
		duration = flag.Duration("duration", 5*time.Second, "length of one variant's round (at most 30s)")
		warmup   = flag.Duration("warmup", 500*time.Millisecond, "unrecorded warm-up per variant before the first round")
		conns    = flag.Int("conns", 8, "concurrent client connections (1..64)")
		ntokens  = flag.Int("tokens", 16, "distinct client tokens (1..64)")
		maxReq   = flag.Int64("max-requests", 2_000_000, "cap on the requests of one round")
		alg      = flag.String("alg", "RS256", "token algorithm: RS256, ES256 or EdDSA")
		variants = flag.String("variants", "none,m2mauth,auth0v2", "comma-separated variants: "+strings.Join(apps.Variants, ","))
		out      = flag.String("out", "", "write the JSON report to this file")
	)
	flag.Parse()
	switch {
	case *rounds < 1 || *rounds > 20:
		log.Fatal("load: -rounds must be 1..20")
	case *duration <= 0 || *duration > 30*time.Second:
		log.Fatal("load: -duration must be in (0, 30s]")
	case *conns < 1 || *conns > 64:
		log.Fatal("load: -conns must be 1..64")
	case *ntokens < 1 || *ntokens > fixture.NumClients:
		log.Fatalf("load: -tokens must be 1..%d", fixture.NumClients)
	case *maxReq < 1:
		log.Fatal("load: -max-requests must be positive")
	}
	rep, err := run(*alg, strings.Split(*variants, ","), *rounds, *duration, *warmup, *conns, *ntokens, *maxReq)
	if err != nil {
		log.Fatal(err)
	}
	printTable(os.Stdout, rep)
	if *out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

type server struct {
	name string
	url  string
	srv  *http.Server
}

func run(alg string, variants []string, rounds int, d, warmup time.Duration, conns, ntokens int, maxReq int64) (*Report, error) {
	f := fixture.Get(alg)
	tokens, err := mintTokens(f, ntokens)
	if err != nil {
		return nil, err
	}
	rep := &Report{Alg: alg, Tokens: ntokens, Conns: conns, Rounds: rounds, Duration: d.String(), MaxRequests: maxReq}
	var servers []*server
	defer func() {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.srv.Shutdown(ctx)
			cancel()
		}
	}()
	byName := map[string]*Result{}
	for _, name := range variants {
		res := &Result{Variant: name}
		rep.Results = append(rep.Results, res)
		byName[name] = res
		h, err := apps.Handler(name, f)
		if err != nil {
			res.Skipped = err.Error()
			log.Printf("load: %s skipped: %v", name, err)
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s := &server{name: name, url: "http://" + ln.Addr().String() + "/orders",
			srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}}
		go func() { _ = s.srv.Serve(ln) }()
		servers = append(servers, s)
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns * len(servers), MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			DisableCompression: true, IdleConnTimeout: time.Minute,
		},
	}
	defer client.CloseIdleConnections()
	for _, s := range servers {
		if _, err := drive(client, s.url, tokens, conns, warmup, maxReq); err != nil {
			return nil, fmt.Errorf("load: warm-up %s: %w", s.name, err)
		}
	}
	for r := 0; r < rounds; r++ {
		// Rotate the order each round so no variant always runs first.
		for i := range servers {
			s := servers[(i+r)%len(servers)]
			rr, err := drive(client, s.url, tokens, conns, d, maxReq)
			if err != nil {
				return nil, fmt.Errorf("load: %s round %d: %w", s.name, r+1, err)
			}
			res := byName[s.name]
			res.Rounds = append(res.Rounds, rr)
			log.Printf("load: round %d %-8s %9.0f req/s  p50 %7.1f us  p99 %7.1f us  errors %d",
				r+1, s.name, rr.RPS, rr.P50us, rr.P99us, rr.Errors)
		}
	}
	for _, res := range rep.Results {
		if res.Skipped != "" {
			continue
		}
		res.RPS = median(res.Rounds, func(r RoundResult) float64 { return r.RPS })
		res.P50us = median(res.Rounds, func(r RoundResult) float64 { return r.P50us })
		res.P99us = median(res.Rounds, func(r RoundResult) float64 { return r.P99us })
		for _, r := range res.Rounds {
			res.Errors += r.Errors
		}
	}
	return rep, nil
}

// mintTokens signs one token per client with the fixture's key.
func mintTokens(f *fixture.Fixture, n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		var err error
		out[i], err = fixture.Sign(f.Alg, f.KID, f.Priv,
			fixture.Claims(fixture.ClientIDOf(i), fmt.Sprintf("load-%04d", i)))
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// drive sends requests from conns goroutines for d (or until maxReq
// requests), each goroutine cycling through the tokens, and measures each
// request's latency.
func drive(client *http.Client, url string, tokens []string, conns int, d time.Duration, maxReq int64) (RoundResult, error) {
	var (
		wg      sync.WaitGroup
		sent    atomic.Int64
		errs    atomic.Int64
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, 1<<16)
		fatal   error
		fatalMu sync.Mutex
	)
	authz := make([]string, len(tokens))
	for i, t := range tokens {
		authz[i] = "Bearer " + t
	}
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			for i := w; ; i++ {
				now := time.Now()
				if now.After(deadline) || sent.Add(1) > maxReq {
					break
				}
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					fatalMu.Lock()
					fatal = err
					fatalMu.Unlock()
					return
				}
				req.Header.Set("Authorization", authz[i%len(authz)])
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
				local = append(local, time.Since(now))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if fatal != nil {
		return RoundResult{}, fatal
	}
	if len(lat) == 0 {
		return RoundResult{}, errors.New("no request completed")
	}
	slices.Sort(lat)
	rr := RoundResult{
		Requests: int64(len(lat)),
		Errors:   errs.Load(),
		RPS:      float64(len(lat)) / elapsed.Seconds(),
		P50us:    us(lat[len(lat)/2]),
		P99us:    us(lat[min(len(lat)-1, len(lat)*99/100)]),
	}
	if rr.Errors > 0 {
		return rr, fmt.Errorf("%d requests failed", rr.Errors)
	}
	return rr, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func median(rs []RoundResult, get func(RoundResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func printTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "load: alg=%s tokens=%d conns=%d rounds=%d duration=%s (medians)\n",
		rep.Alg, rep.Tokens, rep.Conns, rep.Rounds, rep.Duration)
	var base float64
	for _, r := range rep.Results {
		if r.Variant == "none" {
			base = r.RPS
		}
	}
	for _, r := range rep.Results {
		if r.Skipped != "" {
			fmt.Fprintf(w, "%-8s skipped: %s\n", r.Variant, r.Skipped)
			continue
		}
		ratio := ""
		if base > 0 {
			ratio = fmt.Sprintf("%.3fx of none", r.RPS/base)
		}
		fmt.Fprintf(w, "%-8s %9.0f req/s (%s)  p50 %7.1f us  p99 %7.1f us  errors %d\n",
			r.Variant, r.RPS, ratio, r.P50us, r.P99us, r.Errors)
	}
}
