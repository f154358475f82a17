package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
)

// The permissions of the orders API, the same for every transport.
var (
	canRead  = jwtverify.RequireAll("orders.read")
	canWrite = jwtverify.RequireAll("orders.write")
)

// store is the orders "database" the three APIs share.
type store struct {
	mu     sync.Mutex
	orders []string
}

func (s *store) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.orders...)
}

func (s *store) add(item string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders = append(s.orders, item)
	return len(s.orders)
}

// item bounds and cleans what a caller wants to order.
func item(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		s = "widget"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// caller names the verified client of a request.
func caller(ctx context.Context) string {
	if p, ok := jwtverify.FromContext(ctx); ok {
		return p.ClientID()
	}
	return "?"
}

// ---- net/http

// newHTTPAPI is the orders API on the standard ServeMux: one line to
// authenticate every request (mw.Handler), one per route for its permission
// (mw.Require). /metrics is left open for the demo's curl commands.
func newHTTPAPI(v *jwtverify.Verifier, m *metrics.Metrics, reg *prometheus.Registry, db *store, lg *authlog.Logger, checker *dpop.Checker) (http.Handler, error) {
	mux := http.NewServeMux()
	opts := []middleware.Option{middleware.WithRealm("orders"), middleware.WithObserver(m), middleware.WithExemptPaths("/metrics"),
		middleware.WithServeMux(mux), // decisions name the route the mux picks
		middleware.WithDPoP(checker)} // DPoP-bound tokens with a proof of their key, beside Bearer
	if lg != nil {
		opts = append(opts, middleware.WithObserver(lg))
	}
	mw, err := middleware.New(v, opts...)
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /orders", mw.Require(canRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"orders": db.list(), "caller": caller(r.Context())})
	})))
	mux.Handle("POST /orders", mw.Require(canWrite)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		writeJSON(w, map[string]any{"id": db.add(item(b)), "caller": caller(r.Context())})
	})))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mw.Handler(mux), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ---- Echo

// newEchoAPI is the same API on Echo.
func newEchoAPI(v *jwtverify.Verifier, m *metrics.Metrics, db *store, lg *authlog.Logger, checker *dpop.Checker) (http.Handler, error) {
	opts := []middleware.Option{middleware.WithRealm("orders"), middleware.WithObserver(m), middleware.WithDPoP(checker)}
	if lg != nil {
		opts = append(opts, middleware.WithObserver(lg))
	}
	auth, err := echoauth.New(v, opts...)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(auth.Authenticate)
	e.GET("/orders", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"orders": db.list(), "caller": caller(c.Request().Context())})
	}, auth.Require(canRead))
	e.POST("/orders", func(c echo.Context) error {
		b, _ := io.ReadAll(io.LimitReader(c.Request().Body, 1<<10))
		return c.JSON(http.StatusOK, map[string]any{"id": db.add(item(b)), "caller": caller(c.Request().Context())})
	}, auth.Require(canWrite))
	return e, nil
}

// ---- gRPC

// The gRPC service, orders.v1.Orders, is hand-written over protobuf
// well-known types (no protoc): List and Create take and return a
// google.protobuf.StringValue.
const (
	grpcService = "orders.v1.Orders"
	grpcList    = "/" + grpcService + "/List"
	grpcCreate  = "/" + grpcService + "/Create"
)

// grpcPolicy gives each method its permission; any other method is denied,
// health and reflection are open.
func grpcPolicy() grpcauth.Policy {
	return grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{
			grpcList:   canRead,
			grpcCreate: canWrite,
		},
	}.ExemptHealth().ExemptReflection()
}

// The service's file descriptor, registered so that server reflection can
// describe it to grpcurl (see -serve).
func init() {
	method := func(name string) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name),
			InputType: proto.String(".google.protobuf.StringValue"), OutputType: proto.String(".google.protobuf.StringValue")}
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:       proto.String("orders/v1/orders_demo.proto"),
		Package:    proto.String("orders.v1"),
		Dependency: []string{"google/protobuf/wrappers.proto"}, // registered by wrapperspb
		Syntax:     proto.String("proto3"),
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Orders"), Method: []*descriptorpb.MethodDescriptorProto{method("List"), method("Create")},
		}},
	}, protoregistry.GlobalFiles)
	if err == nil {
		err = protoregistry.GlobalFiles.RegisterFile(fd)
	}
	if err != nil {
		panic(err)
	}
}

func unary(name string, fn func(ctx context.Context, in string) (string, error)) grpc.MethodDesc {
	full := "/" + grpcService + "/" + name
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				out, err := fn(ctx, req.(*wrapperspb.StringValue).GetValue())
				if err != nil {
					return nil, err
				}
				return wrapperspb.String(out), nil
			}
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, h)
		},
	}
}

func ordersDesc(db *store) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: grpcService,
		HandlerType: (*any)(nil),
		Metadata:    "orders/v1/orders_demo.proto",
		Methods: []grpc.MethodDesc{
			unary("List", func(ctx context.Context, _ string) (string, error) {
				return fmt.Sprintf("%d orders, for %s", len(db.list()), caller(ctx)), nil
			}),
			unary("Create", func(ctx context.Context, in string) (string, error) {
				if len(in) > 1<<10 {
					return "", status.Error(codes.InvalidArgument, "order too long")
				}
				return fmt.Sprintf("order %d, for %s", db.add(item([]byte(in))), caller(ctx)), nil
			}),
		},
	}
}

// newGRPCAPI is the same API as a gRPC service over TLS, with the
// interceptors of grpcauth.
func newGRPCAPI(v *jwtverify.Verifier, m *metrics.Metrics, db *store, cert tls.Certificate, lg *authlog.Logger) (*grpc.Server, error) {
	// One observer value holding both (grpcauth.WithObserver given twice
	// kept only the last one before wave 2).
	var obs jwtverify.DecisionObserver = m
	if lg != nil {
		obs = jwtverify.MultiDecisionObserver(m, lg)
	}
	gopts := []grpcauth.Option{grpcauth.WithObserver(obs)}
	auth, err := grpcauth.New(v, grpcPolicy(), gopts...)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(
		// RequestClientCert: a certificate-bound caller presents its
		// certificate; others need none.
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS13})),
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	srv.RegisterService(ordersDesc(db), nil)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	return srv, nil
}

// selfSigned returns a fresh self-signed P-256 certificate for 127.0.0.1,
// valid for a day, and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "m2mauth demo"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, pool, nil
}
