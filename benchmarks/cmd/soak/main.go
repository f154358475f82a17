// Command soak runs m2mauth's reliability soak (issue 22): steady open-loop
// load from OAuth clients and attackers against an API child process
// (net/http and gRPC, in plain text and over TLS asking for client
// certificates; some clients call with certificate-bound tokens from the
// issuer's mutual TLS token endpoint, attackers replay them without the
// certificate or with another one; some clients get opaque tokens the API
// introspects, revoked now and then) while an in-process issuer plays a
// fault schedule on a compressed clock (JWKS, discovery, token and
// introspection endpoints), and checks every answer against a ground truth.
//
//	go run ./cmd/soak                                     # CI: one cycle of the schedule (about 2.5 minutes)
//	go run ./cmd/soak -duration 30m -rate 300 -json soak.json -md ../BENCHMARKS.md
//
// It exits 1 when a check fails: a false accept, a false refuse, an
// "either" beyond its bound, a 503 while a key set was usable, a transport
// error, JWKS fetches beyond the configured intervals and cooldown,
// introspection calls beyond the API's budget, a revoked token accepted
// beyond the revocation delay, no introspected request checked,
// goroutine growth, or live-heap growth beyond the verified-token cache's
// maximum plus a fixed allowance. There are no latency thresholds.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/m2mauth/m2mauth/benchmarks/internal/soak"
)

func main() {
	if soak.IsChild(os.Args) {
		os.Exit(soak.ChildMain(os.Args))
	}
	d := soak.Defaults
	var (
		duration = flag.Duration("duration", 0, "length of the loaded run (default: one cycle of the fault schedule, about 2.5 minutes)")
		rate     = flag.Float64("rate", d.Rate, "total requests per second, clients and attackers, scheduled on a clock")
		attack   = flag.Float64("attack-share", d.AttackShare, "attackers' share of the rate")
		clients  = flag.Int("clients", d.Clients, "OAuth clients")
		bound    = flag.Int("bound-clients", 0, "of the clients, how many get certificate-bound tokens over mutual TLS (default: a quarter, at least one)")
		opaque   = flag.Int("opaque-clients", 0, "of the bearer clients, how many get opaque tokens verified by introspection (default: a quarter of the clients, at least one; -1: none)")
		lifetime = flag.Duration("token-lifetime", d.TokenLifetime, "issued tokens' lifetime (x/oauth2 renews 10s early)")
		jsonOut  = flag.String("json", "", "write the JSON report to this file")
		mdOut    = flag.String("md", "", "write the Markdown section into this file (between its markers, or appended)")
		fromJSON = flag.String("from-json", "", "do not run: render the report saved by -json")
	)
	flag.Parse()
	var rep *soak.Report
	if *fromJSON != "" {
		b, err := os.ReadFile(*fromJSON)
		if err != nil {
			log.Fatal(err)
		}
		rep = new(soak.Report)
		if err := json.Unmarshal(b, rep); err != nil {
			log.Fatal(err)
		}
	} else {
		var err error
		rep, err = soak.Run(soak.Config{Duration: *duration, Rate: *rate, AttackShare: *attack, Clients: *clients, BoundClients: *bound, OpaqueClients: *opaque, TokenLifetime: *lifetime})
		if err != nil {
			log.Fatal(err)
		}
	}
	md := soak.Markdown(rep)
	fmt.Print(md)
	if *jsonOut != "" && *fromJSON == "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if *mdOut != "" {
		old, err := os.ReadFile(*mdOut)
		if err != nil && !os.IsNotExist(err) {
			log.Fatal(err)
		}
		if err := os.WriteFile(*mdOut, []byte(soak.ReplaceSection(string(old), md)), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if !rep.OK {
		for _, f := range rep.Failures {
			fmt.Fprintln(os.Stderr, "soak: FAIL:", f)
		}
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "soak: ok")
}
