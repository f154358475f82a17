package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/m2mauth/m2mauth/oauthtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

func checkRequest(method, path, host string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: host, Scheme: "https", Headers: headers},
	}}}
}

// Envoy's gRPC ext_authz mode through a real gRPC client on loopback.
func TestEnvoyGRPCCheck(t *testing.T) {
	is := newIssuer(t)
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	conn, err := grpc.NewClient(d.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	reader := is.MintT(t, oauthtest.WithClient("reader"))
	ctx := context.Background()

	// Allowed: identity headers set, client-supplied copies removed.
	resp, err := client.Check(ctx, checkRequest("GET", "/orders/1?x=y", "api.example.test", map[string]string{
		"authorization": "Bearer " + reader, "x-auth-client-id": "spoofed",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("status %v", resp.GetStatus())
	}
	ok := resp.GetOkResponse()
	got := map[string]string{}
	for _, h := range ok.GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if got["x-auth-client-id"] != "reader" || got["x-auth-issuer"] != "main" || got["x-auth-scopes"] != "orders.read" {
		t.Fatalf("identity headers %v", got)
	}
	if rm := strings.Join(ok.GetHeadersToRemove(), ","); !strings.Contains(rm, "x-auth-client-id") || !strings.Contains(rm, "x-auth-roles") {
		t.Fatalf("headers_to_remove %q must name every identity header", rm)
	}

	for _, tc := range []struct {
		name, method, path, token string
		code                      codes.Code
		http                      int
		challenge                 string
	}{
		{"no token", "GET", "/orders/1", "", codes.Unauthenticated, 401, `Bearer realm="orders"`},
		{"bad token", "GET", "/orders/1", "x.y.z", codes.Unauthenticated, 401, `error="invalid_token"`},
		{"lacks scope", "POST", "/orders/", reader, codes.PermissionDenied, 403, `scope="orders.write"`},
		{"no route", "GET", "/nope", reader, codes.PermissionDenied, 403, `insufficient_scope`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.token != "" {
				h["authorization"] = "Bearer " + tc.token
			}
			resp, err := client.Check(ctx, checkRequest(tc.method, tc.path, "api.example.test", h))
			if err != nil {
				t.Fatal(err)
			}
			if c := codes.Code(resp.GetStatus().GetCode()); c != tc.code {
				t.Fatalf("code %v, want %v", c, tc.code)
			}
			den := resp.GetDeniedResponse()
			if int(den.GetStatus().GetCode()) != tc.http {
				t.Fatalf("http status %v, want %d", den.GetStatus().GetCode(), tc.http)
			}
			var challenge string
			for _, hv := range den.GetHeaders() {
				if hv.GetHeader().GetKey() == "www-authenticate" {
					challenge = hv.GetHeader().GetValue()
				}
			}
			if !strings.Contains(challenge, tc.challenge) {
				t.Fatalf("challenge %q lacks %q", challenge, tc.challenge)
			}
			if !strings.Contains(den.GetBody(), `"error"`) {
				t.Fatalf("body %q", den.GetBody())
			}
		})
	}
	// No HTTP attributes at all: refused.
	resp, err = client.Check(ctx, &authv3.CheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		t.Fatal("an empty CheckRequest was allowed")
	}
}

// Envoy's HTTP ext_authz mode: the original method, path (behind the
// path_prefix), Host and headers arrive as a request.
func TestEnvoyHTTPMode(t *testing.T) {
	is := newIssuer(t)
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	reader := is.MintT(t, oauthtest.WithClient("reader"))
	do := func(method, path, token string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+d.httpAddr+EnvoyHTTPPrefix+path, nil)
		req.Host = "api.example.test"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := do("GET", "/orders/1", reader); r.StatusCode != 200 || r.Header.Get("X-Auth-Client-Id") != "reader" {
		t.Fatalf("allowed: %d %v", r.StatusCode, r.Header)
	}
	if r := do("POST", "/orders/", reader); r.StatusCode != 403 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `scope="orders.write"`) {
		t.Fatalf("forbidden: %d %v", r.StatusCode, r.Header)
	}
	if r := do("DELETE", "/admin/1", ""); r.StatusCode != 401 {
		t.Fatalf("no token: %d", r.StatusCode)
	}
}
