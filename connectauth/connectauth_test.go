package connectauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/connectauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type (
	str    = wrapperspb.StringValue
	hcReq  = healthpb.HealthCheckRequest
	hcResp = healthpb.HealthCheckResponse
)

// probeMux serves the conformance kit's methods with Connect handlers
// behind the interceptor.
func probeMux(ic *connectauth.Interceptor) *http.ServeMux {
	opt := connect.WithInterceptors(ic)
	whoami := func(ctx context.Context, _ *connect.Request[str]) (*connect.Response[str], error) {
		out, err := adaptertest.Whoami(ctx)
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
		return connect.NewResponse(wrapperspb.String(out)), nil
	}
	mux := http.NewServeMux()
	for _, m := range []string{adaptertest.MethodWhoami, adaptertest.MethodOrders, adaptertest.MethodUndeclared} {
		mux.Handle(m, connect.NewUnaryHandler(m, whoami, opt))
	}
	mux.Handle(adaptertest.MethodWatch, connect.NewServerStreamHandler(adaptertest.MethodWatch,
		func(ctx context.Context, _ *connect.Request[str], s *connect.ServerStream[str]) error {
			for range 2 {
				out, err := adaptertest.Whoami(ctx)
				if err != nil {
					return connect.NewError(connect.CodeInternal, err)
				}
				if err := s.Send(wrapperspb.String(out)); err != nil {
					return err
				}
			}
			return nil
		}, opt))
	mux.Handle(adaptertest.MethodHealthCheck, connect.NewUnaryHandler(adaptertest.MethodHealthCheck,
		func(context.Context, *connect.Request[hcReq]) (*connect.Response[hcResp], error) {
			return connect.NewResponse(&hcResp{Status: healthpb.HealthCheckResponse_SERVING}), nil
		}, opt))
	return mux
}

// startServer serves h on loopback, over HTTP/2 (TLS) or HTTP/1.1, with a
// header limit above the kit's 1 MB token.
func startServer(t testing.TB, h http.Handler, h2 bool) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.MaxHeaderBytes = 4 << 20
	if h2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

// asStatus turns a Connect error into the gRPC status the kit reads: same
// code numbers, message and details.
func asStatus(err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	st := status.New(codes.Code(ce.Code()), ce.Message())
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			return derr
		}
		if st, derr = st.WithDetails(protoadapt.MessageV1Of(v)); derr != nil {
			return derr
		}
	}
	return st.Err()
}

// client returns the kit's CallFunc over a real Connect client.
func client(ts *httptest.Server, opts ...connect.ClientOption) adaptertest.CallFunc {
	return func(ctx context.Context, method string, md metadata.MD) (string, error) {
		header := func(h http.Header) {
			for k, vs := range md {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
		}
		switch method {
		case adaptertest.MethodHealthCheck:
			req := connect.NewRequest(&hcReq{})
			header(req.Header())
			resp, err := connect.NewClient[hcReq, hcResp](ts.Client(), ts.URL+method, opts...).CallUnary(ctx, req)
			if err != nil {
				return "", asStatus(err)
			}
			return resp.Msg.GetStatus().String(), nil
		case adaptertest.MethodWatch:
			req := connect.NewRequest(wrapperspb.String(""))
			header(req.Header())
			s, err := connect.NewClient[str, str](ts.Client(), ts.URL+method, opts...).CallServerStream(ctx, req)
			if err != nil {
				return "", asStatus(err)
			}
			defer s.Close()
			var got []string
			for s.Receive() {
				got = append(got, s.Msg().GetValue())
			}
			if err := s.Err(); err != nil {
				return "", asStatus(err)
			}
			return strings.Join(got, ","), nil
		default:
			req := connect.NewRequest(wrapperspb.String(""))
			header(req.Header())
			resp, err := connect.NewClient[str, str](ts.Client(), ts.URL+method, opts...).CallUnary(ctx, req)
			if err != nil {
				return "", asStatus(err)
			}
			return resp.Msg.GetValue(), nil
		}
	}
}

// TestConformance runs the kit against a real Connect server and client:
// the Connect protocol over HTTP/1.1 and HTTP/2, and the gRPC protocol
// over HTTP/2.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		h2   bool
		opts []connect.ClientOption
	}{
		{"connect_http1", false, nil},
		{"connect_http2", true, nil},
		{"grpc_http2", true, []connect.ClientOption{connect.WithGRPC()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adaptertest.RunGRPC(t, adaptertest.GRPCAdapter{
				Transport: connectauth.Transport,
				Client: func(t testing.TB, s adaptertest.GRPCSetup) adaptertest.CallFunc {
					ic, err := connectauth.New(s.Verifier, connectauth.Policy{Procedures: s.Methods, Public: s.Public},
						connectauth.WithObserver(s.Observer))
					if err != nil {
						t.Fatal(err)
					}
					return client(startServer(t, probeMux(ic), tc.h2), tc.opts...)
				},
			})
		})
	}
}

// TestHTTPAnswer: under the Connect protocol a refusal is also an RFC 6750
// answer: the HTTP status and the WWW-Authenticate challenge.
func TestHTTPAnswer(t *testing.T) {
	env := adaptertest.NewEnv(t)
	ic, err := connectauth.New(env.Verifier, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		adaptertest.MethodOrders: jwtverify.RequireAll(adaptertest.OrdersScope),
	}}, connectauth.WithRealm("orders"))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, probeMux(ic), false)
	expired := env.Token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(), "nbf": nil})
	for _, tc := range []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"no_credentials", "", 401, `Bearer realm="orders"`},
		// Connect maps unauthenticated to 401 whatever the cause, so a
		// malformed request is 401 too, with the invalid_request challenge.
		{"malformed", "Bearer", 401, `Bearer realm="orders", error="invalid_request", error_description="The request carries malformed or ambiguous bearer credentials"`},
		{"expired", "Bearer " + expired, 401, `Bearer realm="orders", error="invalid_token", error_description="` + jwtverify.ReasonExpired.Description() + `"`},
		{"lacking_scope", "Bearer " + env.Token(t, map[string]any{"scope": "profile"}), 403,
			`Bearer realm="orders", error="insufficient_scope", error_description="` + jwtverify.ReasonInsufficientScope.Description() + `", scope="orders.read"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.URL+adaptertest.MethodOrders, strings.NewReader(`""`))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := tc.status
			if resp.StatusCode != want || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want, tc.challenge)
			}
		})
	}
}

// TestStreamEndsWhenTheTokenExpires: a stream authorized by a token that
// expires mid-stream is cut with unauthenticated TOKEN_EXPIRED.
func TestStreamEndsWhenTheTokenExpires(t *testing.T) {
	env := adaptertest.NewEnv(t)
	kid := env.Issuer.SigningKeyID()
	pub, _ := env.Issuer.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "short", Issuer: env.Issuer.Issuer(), Keys: jwkscache.NewStatic("short", key),
		Audiences: []string{adaptertest.Audience}, ClientIDs: []string{adaptertest.ClientID},
		Algorithms: []string{"RS256"}, Leeway: jwtverify.NoLeeway,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	const proc = "/test.v1.Ticker/Tick"
	ic, err := connectauth.New(v, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{proc: jwtverify.Authenticated()}})
	if err != nil {
		t.Fatal(err)
	}
	handlerErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle(proc, connect.NewServerStreamHandler(proc, func(ctx context.Context, _ *connect.Request[str], s *connect.ServerStream[str]) error {
		if err := s.Send(wrapperspb.String("first")); err != nil {
			return err
		}
		<-ctx.Done() // the token's expiry cancels the handler's context
		err := s.Send(wrapperspb.String("after expiry"))
		handlerErr <- err
		return err
	}, connect.WithInterceptors(ic)))
	ts := startServer(t, mux, true)
	exp := float64(time.Now().Add(1500*time.Millisecond).UnixMilli()) / 1000
	tok := env.Token(t, map[string]any{"exp": exp, "iat": time.Now().Unix(), "nbf": nil})
	req := connect.NewRequest(wrapperspb.String(""))
	req.Header().Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := connect.NewClient[str, str](ts.Client(), ts.URL+proc).CallServerStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	for s.Receive() {
		got = append(got, s.Msg().GetValue())
	}
	if len(got) != 1 || got[0] != "first" {
		t.Fatalf("messages %q", got)
	}
	st, _ := status.FromError(asStatus(s.Err()))
	var info string
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			info = ei.GetReason()
		}
	}
	if st.Code() != codes.Unauthenticated || info != connectauth.InfoTokenExpired {
		t.Fatalf("stream ended with %v %q", s.Err(), info)
	}
	if err := <-handlerErr; err == nil {
		t.Fatal("Send after expiry succeeded")
	}
	if time.Now().Before(time.UnixMilli(int64(exp * 1000))) {
		t.Fatal("the stream ended before the token expired")
	}
}

// TestPolicy: misconfiguration fails at construction; CheckProcedures
// finds patterns naming no registered procedure.
func TestPolicy(t *testing.T) {
	env := adaptertest.NewEnv(t)
	if _, err := connectauth.New(nil, connectauth.Policy{}); !errors.Is(err, connectauth.ErrNilVerifier) {
		t.Fatalf("nil verifier: %v", err)
	}
	_, err := connectauth.New(env.Verifier, connectauth.Policy{
		Procedures: map[string]jwtverify.Requirement{"orders.v1.Orders/List": jwtverify.Authenticated(), "/a.B/*": jwtverify.Authenticated()},
		Public:     []string{"/a.B/*", "/x.Y/Get", "/x.Y/Get"},
	})
	for _, want := range []error{connectauth.ErrInvalidPattern, connectauth.ErrConflictingRule, connectauth.ErrDuplicateRule} {
		if !errors.Is(err, want) {
			t.Errorf("policy error %v does not report %v", err, want)
		}
	}
	ic, err := connectauth.New(env.Verifier, connectauth.Policy{
		Procedures: map[string]jwtverify.Requirement{
			"/orders.v1.Orders/List": jwtverify.Authenticated(),
			"/orders.v1.Orders/Lsit": jwtverify.Authenticated(), // typo
			"/admin.v1.Admin/*":      jwtverify.RequireAll("admin"),
		},
	}.ExemptHealth())
	if err != nil {
		t.Fatal(err)
	}
	err = ic.CheckProcedures("/orders.v1.Orders/List", "/orders.v1.Orders/Create", "/admin.v1.Admin/Reset")
	var pe *connectauth.PolicyError
	if !errors.Is(err, connectauth.ErrUnknownProcedure) || !errors.As(err, &pe) || pe.Pattern != "/orders.v1.Orders/Lsit" ||
		strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("CheckProcedures = %v", err)
	}
	if err := ic.CheckProcedures("/orders.v1.Orders/List", "/orders.v1.Orders/Lsit", "/admin.v1.Admin/Reset"); err != nil {
		t.Fatalf("CheckProcedures on a matching set = %v", err)
	}
}

// TestRules: Deny carves a procedure out of a service wildcard, and the
// Default rule decides undeclared procedures (deny, authenticated, allow).
func TestRules(t *testing.T) {
	env := adaptertest.NewEnv(t)
	tok := env.Token(t, map[string]any{"scope": "orders.read"})
	const list, purge, other = "/orders.v1.Orders/List", "/orders.v1.Orders/Purge", "/misc.v1.Misc/Ping"
	for _, tc := range []struct {
		name   string
		def    connectauth.DefaultRule
		method string
		token  string
		want   connect.Code // 0: OK
	}{
		{"wildcard_allows", connectauth.DefaultDeny, list, tok, 0},
		{"deny_overrides_wildcard", connectauth.DefaultDeny, purge, tok, connect.CodePermissionDenied},
		{"deny_still_authenticates_first", connectauth.DefaultDeny, purge, "", connect.CodeUnauthenticated},
		{"default_deny", connectauth.DefaultDeny, other, tok, connect.CodePermissionDenied},
		{"default_authenticated", connectauth.DefaultAuthenticated, other, tok, 0},
		{"default_authenticated_needs_a_token", connectauth.DefaultAuthenticated, other, "", connect.CodeUnauthenticated},
		{"default_allow", connectauth.DefaultAllow, other, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, err := connectauth.New(env.Verifier, connectauth.Policy{
				Procedures: map[string]jwtverify.Requirement{"/orders.v1.Orders/*": jwtverify.RequireAll("orders.read")},
				Deny:       []string{purge},
				Default:    tc.def,
			})
			if err != nil {
				t.Fatal(err)
			}
			h := func(ctx context.Context, _ *connect.Request[str]) (*connect.Response[str], error) {
				if p, ok := jwtverify.FromContext(ctx); ok {
					return connect.NewResponse(wrapperspb.String(p.ClientID())), nil
				}
				return connect.NewResponse(wrapperspb.String("-")), nil
			}
			mux := http.NewServeMux()
			for _, m := range []string{list, purge, other} {
				mux.Handle(m, connect.NewUnaryHandler(m, h, connect.WithInterceptors(ic)))
			}
			ts := startServer(t, mux, false)
			req := connect.NewRequest(wrapperspb.String(""))
			if tc.token != "" {
				req.Header().Set("Authorization", "Bearer "+tc.token)
			}
			// The interceptor on the client side passes calls through.
			c := connect.NewClient[str, str](ts.Client(), ts.URL+tc.method, connect.WithInterceptors(ic))
			_, err = c.CallUnary(context.Background(), req)
			if got := connect.CodeOf(err); (err == nil) != (tc.want == 0) || (err != nil && got != tc.want) {
				t.Fatalf("%s: %v, want code %v", tc.method, err, tc.want)
			}
		})
	}
}

// TestDPoPRefused: the DPoP scheme (RFC 9449) is refused as such over the
// Connect and gRPC protocols, unauthenticated DPOP_UNSUPPORTED, never taken
// for a call without credentials; the decision names the bounded reason.
func TestDPoPRefused(t *testing.T) {
	env := adaptertest.NewEnv(t)
	rec := &adaptertest.Recorder{}
	ic, err := connectauth.New(env.Verifier, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		adaptertest.MethodOrders: jwtverify.RequireAll(adaptertest.OrdersScope),
	}}, connectauth.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	tok := env.Token(t, map[string]any{"scope": adaptertest.OrdersScope})
	for _, opts := range [][]connect.ClientOption{nil, {connect.WithGRPC()}} {
		call := client(startServer(t, probeMux(ic), true), opts...)
		for _, v := range []string{"DPoP " + tok, "dpop " + tok, "DPoP"} {
			rec.Take()
			_, err := call(context.Background(), adaptertest.MethodOrders, metadata.MD{"authorization": {v}})
			st := status.Convert(err)
			info := ""
			for _, d := range st.Details() {
				if ei, ok := d.(*errdetails.ErrorInfo); ok {
					info = ei.GetReason()
				}
			}
			if st.Code() != codes.Unauthenticated || info != connectauth.InfoDPoPUnsupported || strings.Contains(st.Message(), tok) {
				t.Errorf("%.10q: %v %q %q", v, st.Code(), st.Message(), info)
			}
			evs := rec.Take()
			if len(evs) != 1 || evs[0].Reason != jwtverify.ReasonDPoPProof || evs[0].Rule != connectauth.RuleDPoPUnsupported {
				t.Errorf("%.10q: events %+v", v, evs)
			}
		}
		// A bearer token still works.
		if _, err := call(context.Background(), adaptertest.MethodOrders, metadata.MD{"authorization": {"Bearer " + tok}}); err != nil {
			t.Errorf("bearer: %v", err)
		}
	}
}
