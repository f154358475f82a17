package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files and returns their paths and a pool trusting the certificate.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "grpcapi test"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

// The program over TLS, configured from the environment as in a container,
// against an in-process issuer: a client with the scope is served, one
// without it is refused, and a call without a token is unauthenticated.
func TestAgainstOAuthtest(t *testing.T) {
	iss := oauthtest.NewT(t)
	iss.RegisterClient(oauthtest.Client{ID: "worker", Secret: "s1", Scopes: []string{"orders.read"}, Audiences: []string{"https://orders.example.test"}})
	iss.RegisterClient(oauthtest.Client{ID: "auditor", Secret: "s2", Scopes: []string{"audit.read"}, Audiences: []string{"https://orders.example.test"}})
	certFile, keyFile, pool := writeCert(t)

	env := map[string]string{
		"M2M_ADDR":       "127.0.0.1:0",
		"M2M_PROVIDER":   "generic",
		"M2M_ISSUER":     iss.Issuer(),
		"M2M_AUDIENCE":   "https://orders.example.test",
		"M2M_SCOPE":      "orders.read",
		"M2M_CLIENT_IDS": "worker, auditor",
		"M2M_TLS_CERT":   certFile,
		"M2M_TLS_KEY":    keyFile,
	}
	cfg, err := parse([]string{"-reflection"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs strings.Builder
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	hctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: base})
	as := func(id, secret string) grpc.CallOption {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: iss.TokenURL()}
		return grpc.PerRPCCredentials(oauth.TokenSource{TokenSource: cc.TokenSource(hctx)})
	}
	list := func(opts ...grpc.CallOption) (string, codes.Code) {
		out := new(wrapperspb.StringValue)
		err := conn.Invoke(ctx, listMethod, wrapperspb.String(""), out, opts...)
		return out.GetValue(), status.Code(err)
	}

	if got, code := list(as("worker", "s1")); code != codes.OK || got != "0 orders, for worker" {
		t.Errorf("allowed call: %v %q", code, got)
	}
	if _, code := list(as("auditor", "s2")); code != codes.PermissionDenied {
		t.Errorf("denied call: %v, want PermissionDenied", code)
	}
	if _, code := list(); code != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", code)
	}
	// Cancel is registered but not in the policy: denied to a caller
	// with a valid token, as the start-up log said.
	if err := conn.Invoke(ctx, cancelMethod, wrapperspb.String("o1"), new(wrapperspb.StringValue), as("worker", "s1")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("cancel: %v, want PermissionDenied", err)
	}
	// Reflection (asked for with -reflection) is open and describes the
	// hand-built service, so grpcurl works without a .proto file.
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: serviceName},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetFileDescriptorResponse() == nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("reflection: %v %v", resp, err)
	}
	_ = stream.CloseSend()
	if res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token: %v %v", res, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "insufficient_scope") {
		t.Errorf("the refusal was not logged:\n%s", out)
	}
	if !strings.Contains(out, `msg="methods the policy leaves to its default (denied)" methods=[`+cancelMethod+`]`) {
		t.Errorf("the start-up check did not list Cancel:\n%s", out)
	}
	// The refusal of Cancel names the method: the check told the
	// interceptor it is registered (records carry routes since authlog
	// has them).
	if strings.Contains(out, "route=") && !strings.Contains(out, "route="+cancelMethod) {
		t.Errorf("the refusal of Cancel does not name it:\n%s", out)
	}
}

// TLS is required unless plaintext is asked for explicitly.
func TestParseTLS(t *testing.T) {
	env := map[string]string{"M2M_ISSUER": "https://op.example.com", "M2M_AUDIENCE": "https://api.example.com",
		"M2M_SCOPE": "orders.read", "M2M_CLIENT_IDS": "worker"}
	getenv := func(k string) string { return env[k] }
	if _, err := parse(nil, getenv, io.Discard); err == nil {
		t.Error("no TLS and no -plaintext: accepted")
	}
	if _, err := parse([]string{"-tls-cert", "c.pem"}, getenv, io.Discard); err == nil {
		t.Error("-tls-cert without -tls-key: accepted")
	}
	if _, err := parse([]string{"-plaintext", "-tls-cert", "c.pem", "-tls-key", "k.pem"}, getenv, io.Discard); err == nil {
		t.Error("-plaintext with TLS files: accepted")
	}
	if _, err := parse([]string{"-plaintext"}, getenv, io.Discard); err != nil {
		t.Errorf("-plaintext: %v", err)
	}
}
