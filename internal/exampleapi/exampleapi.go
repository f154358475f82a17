// Package exampleapi is the plumbing the example programs share (those of
// examples/ and of the nested modules' examples/ directories): the main
// function, serving HTTP until the context ends, and the five-flag
// configuration of the nested modules' examples. It lives in the root
// module's internal/ so that the nested modules can import it too.
//
// It is an example, not an API of m2mauth: copy what you need.
package exampleapi

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Run is an example program's body: it serves until ctx ends and sends its
// listen address on ready (when not nil) once it accepts requests.
type Run[C any] func(ctx context.Context, cfg C, log *slog.Logger, ready chan<- string) error

// Main is the main function of the example program name: exit status 2 when
// parsing the configuration failed (err), else run until SIGINT or SIGTERM,
// logging to stderr; exit status 1 when run fails.
func Main[C any](name string, cfg C, err error, run Run[C]) {
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, cfg, log, nil); err != nil {
		log.Error(name+" stopped", "err", err)
		os.Exit(1)
	}
}

// ServeHTTP serves h on lis until ctx is done, then shuts down gracefully
// (at most 10 s). ready, when not nil, receives the listen address first.
func ServeHTTP(ctx context.Context, lis net.Listener, h http.Handler, ready chan<- string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready <- lis.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Basic is the configuration of the nested modules' examples: one issuer,
// found through its discovery document, one audience, the allowed clients
// and the permission the API's one route requires.
type Basic struct {
	Addr, Issuer, Audience, Scope string
	Clients                       []string
}

// ParseBasic parses the flags of program name (usage to out).
func ParseBasic(name string, args []string, out io.Writer) (Basic, error) {
	var c Basic
	var clients string
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.Issuer, "issuer", "", "issuer URL (required)")
	fs.StringVar(&c.Audience, "audience", "", "audience of this API (required)")
	fs.StringVar(&clients, "clients", "", "allowed client IDs, comma separated (required)")
	fs.StringVar(&c.Scope, "scope", "orders.read", "permission GET /orders requires")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for id := range strings.SplitSeq(clients, ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.Clients = append(c.Clients, id)
		}
	}
	if c.Issuer == "" || c.Audience == "" || len(c.Clients) == 0 {
		return c, errors.New("-issuer, -audience and -clients are required")
	}
	return c, nil
}

// Verifier starts a key cache for the issuer and returns a verifier of its
// tokens and a function that stops the cache.
func (c Basic) Verifier(ctx context.Context) (*jwtverify.Verifier, func(), error) {
	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "idp", Issuer: c.Issuer})
	if err != nil {
		return nil, nil, err
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: c.Issuer, Keys: keys,
		Audiences: []string{c.Audience}, ClientIDs: c.Clients,
		Algorithms: []string{"RS256", "ES256", "PS256"},
	}}})
	if err != nil {
		_ = keys.Close()
		return nil, nil, err
	}
	return v, func() { _ = keys.Close() }, nil
}
