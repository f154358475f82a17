package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// op is what a scenario asks of the API.
type op int

const (
	opRead  op = iota // GET /orders, orders.v1.Orders/List: needs orders.read
	opWrite           // POST /orders, orders.v1.Orders/Create: needs orders.write
)

// answer is what a call got: the status ("200", "401", "OK",
// "Unauthenticated", ...) and the error code the server gave, if any.
type answer struct {
	status string
	code   string
}

func (a answer) String() string {
	if a.code == "" {
		return a.status
	}
	return a.status + " " + a.code
}

// transport calls the orders API over one transport. A nil token source
// sends no credentials.
type transport interface {
	name() string
	call(ctx context.Context, o op, ts oauth2.TokenSource) (answer, error)
}

// httpTransport calls the net/http or the Echo API.
type httpTransport struct {
	label string
	base  string // http://127.0.0.1:PORT
	rt    http.RoundTripper
}

func (t *httpTransport) name() string { return t.label }

func (t *httpTransport) call(ctx context.Context, o op, ts oauth2.TokenSource) (answer, error) {
	method, body := http.MethodGet, ""
	if o == opWrite {
		method, body = http.MethodPost, "widget"
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+"/orders", strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	client := &http.Client{Transport: t.rt}
	if ts != nil {
		// The oauth2 transport adds "Authorization: Bearer <token>".
		client.Transport = &oauth2.Transport{Source: ts, Base: t.rt}
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	return answer{status: strconv.Itoa(resp.StatusCode), code: challengeError(resp.Header.Get("WWW-Authenticate"))}, nil
}

// challengeError returns the error="..." parameter of a Bearer challenge.
func challengeError(h string) string {
	_, rest, ok := strings.Cut(h, `error="`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

// grpcTransport calls the gRPC service over TLS. Credentials go per call
// through oauth.TokenSource, which gRPC only sends over a secure
// connection.
type grpcTransport struct {
	conn *grpc.ClientConn
}

func dialGRPC(addr string, roots *x509.CertPool) (*grpcTransport, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(roots, "")))
	if err != nil {
		return nil, err
	}
	return &grpcTransport{conn: conn}, nil
}

// dialGRPCConfig dials with a TLS configuration of the caller's (one
// presenting a client certificate).
func dialGRPCConfig(addr string, cfg *tls.Config) (*grpcTransport, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, err
	}
	return &grpcTransport{conn: conn}, nil
}

func (t *grpcTransport) name() string { return "gRPC" }

func (t *grpcTransport) call(ctx context.Context, o op, ts oauth2.TokenSource) (answer, error) {
	method, in := grpcList, ""
	if o == opWrite {
		method, in = grpcCreate, "widget"
	}
	var callOpts []grpc.CallOption
	if ts != nil {
		callOpts = append(callOpts, grpc.PerRPCCredentials(oauth.TokenSource{TokenSource: ts}))
	}
	err := t.conn.Invoke(ctx, method, wrapperspb.String(in), new(wrapperspb.StringValue), callOpts...)
	st := status.Convert(err)
	a := answer{status: st.Code().String()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			a.code = info.GetReason()
		}
	}
	return a, nil
}
