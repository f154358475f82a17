// Command mcpserver is an MCP server (streamable HTTP) whose tools need an
// OAuth 2.0 access token from a real issuer, verified by m2mauth:
//
//	go run ./examples/mcpserver -issuer https://acme.okta.com/oauth2/default \
//		-audience api://mcp -clients 0oa8acv8gbBPRCZ7I5d7 -scope mcp.tools \
//		-resource https://mcp.example.com/mcp
//
// -resource is the endpoint URL clients connect to; the RFC 9728 document
// is served at /.well-known/oauth-protected-resource plus its path, and
// every challenge points at it, so MCP clients discover the issuer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/mcpauth"
	"github.com/m2mauth/m2mauth/middleware"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mcpserver:", err)
		os.Exit(1)
	}
}

func run() error {
	issuer := flag.String("issuer", "", "issuer URL (the tokens' iss)")
	audience := flag.String("audience", "", "accepted audience")
	clients := flag.String("clients", "", "comma-separated client IDs allowed to call")
	scope := flag.String("scope", "mcp.tools", "permission every MCP request needs")
	resource := flag.String("resource", "http://127.0.0.1:8080/mcp", "the MCP endpoint URL clients connect to")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	if *issuer == "" || *audience == "" || *clients == "" {
		return errors.New("-issuer, -audience and -clients are required")
	}
	ru, err := url.Parse(*resource)
	if err != nil {
		return fmt.Errorf("-resource: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "idp", Issuer: *issuer})
	if err != nil {
		return err
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: *issuer, Keys: keys, Algorithms: []string{"RS256", "ES256"},
		Audiences: []string{*audience}, ClientIDs: strings.Split(*clients, ","),
	}}})
	if err != nil {
		return err
	}
	lg := authlog.New(slog.Default(), authlog.Options{}) // one record per refusal, rate limited
	defer lg.Close()
	ma, err := mcpauth.New(v, middleware.WithRealm("mcp"), middleware.WithObserver(lg),
		middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: *resource, ScopesSupported: []string{*scope}}))
	if err != nil {
		return err
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "mcpserver", Version: "v1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "names the calling client"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, map[string]string, error) {
			p, ok := mcpauth.PrincipalFromTokenInfo(req.Extra.TokenInfo)
			if !ok {
				return nil, nil, errors.New("no caller")
			}
			return nil, map[string]string{"client_id": p.ClientID(), "issuer": p.Issuer()}, nil
		})
	mux := http.NewServeMux()
	mux.Handle(ru.Path, ma.Handler(jwtverify.RequireAll(*scope),
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
			&mcp.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute}))) // reaps sessions left behind
	mux.Handle(ma.MetadataPath(), ma.MetadataHandler())

	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	slog.Info("mcpserver listening", "addr", *addr, "endpoint", *resource, "metadata", ma.MetadataURL())
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
