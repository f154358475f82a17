package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// The methods of the gRPC conformance server. The probe service is the
// kit's own (a hand-written service over wrapperspb.StringValue, so no
// generated code is needed); the health service is the standard one.
const (
	// ProbeService is the name of the kit's service.
	ProbeService = "m2mauth.conformance.v1.Probe"
	// MethodWhoami (unary) requires a valid token only: it answers
	// "client=<client ID>".
	MethodWhoami = "/" + ProbeService + "/Whoami"
	// MethodOrders (unary) requires OrdersScope.
	MethodOrders = "/" + ProbeService + "/Orders"
	// MethodUndeclared (unary) is in no policy entry: it must be denied
	// (after authentication).
	MethodUndeclared = "/" + ProbeService + "/Undeclared"
	// MethodWatch (server streaming) requires OrdersScope; it sends
	// "client=<client ID>" twice, read from the stream's context.
	MethodWatch = "/" + ProbeService + "/Watch"
	// MethodHealthCheck is public: callable without credentials.
	MethodHealthCheck = "/grpc.health.v1.Health/Check"
)

// GRPCSetup is what the kit asks a gRPC adapter to serve.
type GRPCSetup struct {
	// Verifier verifies the tokens.
	Verifier *jwtverify.Verifier
	// Observer must receive the adapter's decision events.
	Observer jwtverify.DecisionObserver
	// Methods maps full method names to the requirement of each. A method
	// neither here nor in Public must be denied.
	Methods map[string]jwtverify.Requirement
	// Public lists full method names callable without credentials.
	Public []string
	// Register registers the kit's services (the probe service and the
	// standard health service) on the server the adapter builds.
	Register func(grpc.ServiceRegistrar)
}

// GRPCAdapter describes the gRPC adapter under test.
type GRPCAdapter struct {
	// Transport is the DecisionEvent.Transport the adapter reports ("" =
	// not checked).
	Transport string
	// Dial starts a gRPC server on loopback (or bufconn) with the
	// adapter's interceptors configured from s, calls s.Register on it,
	// stops it with t.Cleanup, and returns a client connection to it
	// without per-RPC credentials (the kit sends the authorization
	// metadata itself), closed with t.Cleanup too. The server must accept
	// header lists of at least 2 MiB (grpc-go's default is 16 MiB).
	Dial func(t testing.TB, s GRPCSetup) *grpc.ClientConn
	// Client, instead of Dial, is for servers that are not grpc-go (Connect,
	// say): it starts a server with the adapter configured from s and the
	// kit's methods (each answering as Whoami does; MethodHealthCheck with
	// SERVING; MethodWatch sending Whoami's answer twice), stops it with
	// t.Cleanup, and returns the function that makes one call with its own
	// client.
	Client func(t testing.TB, s GRPCSetup) CallFunc
}

// CallFunc makes one call of method with the request metadata md (for
// MethodWatch a server-streaming call, its answers joined with ","). It
// returns the answer, or an error status.FromError reads: the code, the
// message and the details (errdetails.ErrorInfo) the client received.
type CallFunc func(ctx context.Context, method string, md metadata.MD) (string, error)

// RunGRPC runs the conformance suite against a gRPC adapter: every H and I
// row of SECURITY.md's catalogue that gRPC can carry (and B13a), for
// unary and server-streaming methods, a public health method and an
// undeclared method. For every call it checks the status code, the
// errdetails.ErrorInfo (Domain grpcauth.Domain, Reason grpcauth.Info*,
// metadata error, scope, missing), the fixed message, that nothing the
// client sent is reflected, that the handler sees the Principal in its
// context, and that the observer got exactly one decision with the
// expected result and reason.
func RunGRPC(t *testing.T, a GRPCAdapter) {
	if (a.Dial == nil) == (a.Client == nil) {
		t.Fatal("adaptertest: set exactly one of GRPCAdapter.Dial and GRPCAdapter.Client")
	}
	env := NewEnv(t)
	calls := map[bool]CallFunc{}
	recs := map[bool]*Recorder{}
	for _, isDown := range []bool{false, true} {
		rec := &Recorder{}
		v := env.Verifier
		if isDown {
			v = env.Down
		}
		recs[isDown] = rec
		s := GRPCSetup{
			Verifier: v, Observer: rec,
			Methods: map[string]jwtverify.Requirement{
				MethodWhoami: jwtverify.Authenticated(),
				MethodOrders: jwtverify.RequireAll(OrdersScope),
				MethodWatch:  jwtverify.RequireAll(OrdersScope),
			},
			Public:   []string{MethodHealthCheck},
			Register: registerProbe,
		}
		if a.Client != nil {
			calls[isDown] = a.Client(t, s)
		} else {
			conn := a.Dial(t, s)
			calls[isDown] = func(ctx context.Context, method string, md metadata.MD) (string, error) {
				for k, vs := range md {
					for _, v := range vs {
						ctx = metadata.AppendToOutgoingContext(ctx, k, v) // lower-cases k
					}
				}
				return call(ctx, conn, method)
			}
		}
	}
	for _, c := range grpcCases(t, env) {
		t.Run(c.Name, func(t *testing.T) {
			rec := recs[c.Down]
			rec.Take()
			if err := doGRPC(calls[c.Down], c); err != nil {
				t.Fatal(err)
			}
			if err := checkEvents(rec.Take(), wantEvents(c.Result, c.Reason, false), a.Transport, c.Secrets); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// grpcCase is one call and the answer every gRPC adapter must give.
type grpcCase struct {
	Name string
	Down bool
	// Method defaults to MethodWhoami.
	Method string
	// Key is the metadata key (default "authorization"); Auth its values.
	Key  string
	Auth []string

	// Code is the expected status code; Info the ErrorInfo reason of a
	// refusal; Message its exact message ("" = any non-empty text).
	Code    codes.Code
	Info    string
	Message string
	// Scope and Missing are the expected ErrorInfo metadata of a
	// PermissionDenied (exact, "" = absent).
	Scope, Missing string
	// Answer is the expected answer of an OK call.
	Answer string

	Result  string
	Reason  jwtverify.Reason
	Secrets []string
}

func grpcCases(t testing.TB, env *Env) []grpcCase {
	k := newTokens(t, env)
	tok := k.read
	ok := "client=" + ClientID
	unauthenticated := func(info string) grpcCase {
		c := grpcCase{Code: codes.Unauthenticated, Info: info, Result: unauth}
		if info == grpcauth.InfoInvalidRequest {
			c.Result, c.Reason = invalid, jwtverify.ReasonMalformed
		}
		return c
	}
	named := func(c grpcCase, name string, auth ...string) grpcCase {
		c.Name, c.Auth = name, auth
		return c
	}
	denied := grpcCase{Code: codes.PermissionDenied, Info: grpcauth.InfoInsufficientScope,
		Result: forbidden, Reason: jwtverify.ReasonInsufficientScope}
	cs := []grpcCase{
		{Name: "H1_lowercase_scheme", Auth: []string{"bearer " + tok}, Answer: ok, Result: allowed},
		{Name: "H1_uppercase_scheme", Auth: []string{"BEARER " + tok}, Answer: ok, Result: allowed},
		{Name: "H1_canonical_scheme", Auth: []string{"Bearer " + tok}, Answer: ok, Result: allowed},
		{Name: "H2_several_spaces", Auth: []string{"Bearer     " + tok}, Answer: ok, Result: allowed},
		named(unauthenticated(grpcauth.InfoInvalidRequest), "H3_scheme_without_token", "Bearer"),
		named(unauthenticated(grpcauth.InfoInvalidRequest), "H3_trailing_extra_word", "Bearer "+tok+" "+marker),
		named(unauthenticated(grpcauth.InfoInvalidRequest), "H3_C6_whitespace_inside_token", "Bearer "+tok[:20]+" "+tok[20:]),
		named(unauthenticated(grpcauth.InfoInvalidRequest), "H5_H10_two_authorization_values", "Bearer "+tok, "Bearer "+tok),
		named(unauthenticated(grpcauth.InfoInvalidRequest), "H5_bearer_and_basic_values", "Bearer "+tok, "Basic dXNlcjpwYXNz"),
		{Name: "H10_capitalised_key", Key: "Authorization", Auth: []string{"Bearer " + tok}, Answer: ok, Result: allowed},
		{Name: "H10_upper_case_key", Key: "AUTHORIZATION", Auth: []string{"BEARER " + tok}, Answer: ok, Result: allowed},
		named(unauthenticated(grpcauth.InfoMissingToken), "H6_basic_only", "Basic dXNlcjpwYXNz"),
		named(unauthenticated(grpcauth.InfoMissingToken), "H6_no_credentials"),
		{Name: "I1_invalid_token_expired", Auth: []string{"Bearer " + k.expired}, Code: codes.Unauthenticated,
			Info: grpcauth.InfoTokenExpired, Message: jwtverify.ReasonExpired.Description(), Result: unauth, Reason: jwtverify.ReasonExpired},
		named(unauthenticated(grpcauth.InfoInvalidToken), "I1_invalid_token_untrusted_key", "Bearer "+k.untrusted),
		named(unauthenticated(grpcauth.InfoInvalidToken), "I1_invalid_token_garbage", "Bearer "+marker),
		named(unauthenticated(grpcauth.InfoInvalidToken), "I1_C4_1MB_of_dots", "Bearer "+strings.Repeat(".", 1<<20)),
		func() grpcCase {
			c := named(denied, "I3_valid_token_lacking_scope", "Bearer "+k.noScope)
			c.Method, c.Scope, c.Missing = MethodOrders, OrdersScope, OrdersScope
			return c
		}(),
		{Name: "I3_valid_token_with_scope", Method: MethodOrders, Auth: []string{"Bearer " + tok}, Answer: ok, Result: allowed},
		func() grpcCase {
			c := named(unauthenticated(grpcauth.InfoMissingToken), "I3_required_method_without_token")
			c.Method = MethodOrders
			return c
		}(),
		func() grpcCase {
			c := named(unauthenticated(grpcauth.InfoMissingToken), "I3_undeclared_method_anonymous")
			c.Method = MethodUndeclared
			return c
		}(),
		func() grpcCase {
			c := named(denied, "I3_undeclared_method_denied_after_authentication", "Bearer "+tok)
			c.Method = MethodUndeclared
			return c
		}(),
		{Name: "I3_stream_with_scope", Method: MethodWatch, Auth: []string{"Bearer " + tok}, Answer: ok + "," + ok, Result: allowed},
		func() grpcCase {
			c := named(denied, "I3_stream_lacking_scope", "Bearer "+k.noScope)
			c.Method, c.Scope, c.Missing = MethodWatch, OrdersScope, OrdersScope
			return c
		}(),
		func() grpcCase {
			c := named(unauthenticated(grpcauth.InfoMissingToken), "I3_stream_without_token")
			c.Method = MethodWatch
			return c
		}(),
		{Name: "I5_health_public", Method: MethodHealthCheck, Answer: "SERVING", Result: skipped},
		{Name: "I5_health_public_ignores_bad_credentials", Method: MethodHealthCheck, Auth: []string{"Bearer"}, Answer: "SERVING", Result: skipped},
		{Name: "B13a_keys_unavailable", Down: true, Auth: []string{"Bearer " + tok}, Code: codes.Unavailable,
			Info: grpcauth.InfoKeysUnavailable, Result: down, Reason: jwtverify.ReasonKeysUnavailable},
	}
	for _, s := range permissionShapes() {
		pt := env.Token(t, s.claims)
		cs = append(cs, grpcCase{Name: s.name, Method: MethodOrders, Auth: []string{"Bearer " + pt}, Answer: ok,
			Result: allowed, Secrets: []string{pt}})
	}
	for i := range cs {
		cs[i].Secrets = append(cs[i].Secrets, k.secrets()...)
	}
	return cs
}

// doGRPC makes the call of c and checks the answer.
func doGRPC(call CallFunc, c grpcCase) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := c.Key
	if key == "" {
		key = "authorization"
	}
	// Keys are kept as the case spells them: grpc-go lower-cases them on
	// the wire, HTTP clients canonicalise them.
	md := metadata.MD{}
	if len(c.Auth) > 0 {
		md[key] = c.Auth
	}
	method := c.Method
	if method == "" {
		method = MethodWhoami
	}
	answer, err := call(ctx, method, md)
	return checkGRPCAnswer(c, answer, err)
}

func call(ctx context.Context, conn *grpc.ClientConn, method string) (string, error) {
	switch method {
	case MethodHealthCheck:
		out := new(healthpb.HealthCheckResponse)
		if err := conn.Invoke(ctx, method, &healthpb.HealthCheckRequest{}, out); err != nil {
			return "", err
		}
		return out.GetStatus().String(), nil
	case MethodWatch:
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}, method)
		if err != nil {
			return "", err
		}
		if err := s.SendMsg(wrapperspb.String("")); err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		if err := s.CloseSend(); err != nil {
			return "", err
		}
		var got []string
		for {
			m := new(wrapperspb.StringValue)
			err := s.RecvMsg(m)
			if errors.Is(err, io.EOF) {
				return strings.Join(got, ","), nil
			}
			if err != nil {
				return "", err
			}
			got = append(got, m.GetValue())
		}
	default:
		out := new(wrapperspb.StringValue)
		if err := conn.Invoke(ctx, method, wrapperspb.String(""), out); err != nil {
			return "", err
		}
		return out.GetValue(), nil
	}
}

// checkGRPCAnswer checks the answer (or the error) of a call for c.
func checkGRPCAnswer(c grpcCase, answer string, err error) error {
	st, _ := status.FromError(err)
	if st.Code() != c.Code {
		return fmt.Errorf("code = %s (%q), want %s", st.Code(), st.Message(), c.Code)
	}
	for _, s := range c.Secrets {
		if s != "" && (strings.Contains(st.Message(), s) || strings.Contains(prototext.Format(st.Proto()), s)) {
			return errors.New("status reflects client input")
		}
	}
	if c.Code == codes.OK {
		if answer != c.Answer {
			return fmt.Errorf("answer = %q, want %q", answer, c.Answer)
		}
		return nil
	}
	if st.Message() == "" || (c.Message != "" && st.Message() != c.Message) {
		return fmt.Errorf("message = %q, want %q", st.Message(), c.Message)
	}
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, ei)
		}
	}
	if len(infos) != 1 {
		return fmt.Errorf("details = %v, want one ErrorInfo", st.Details())
	}
	ei := infos[0]
	if ei.GetDomain() != grpcauth.Domain || ei.GetReason() != c.Info {
		return fmt.Errorf("ErrorInfo = %s/%s, want %s/%s", ei.GetDomain(), ei.GetReason(), grpcauth.Domain, c.Info)
	}
	md := ei.GetMetadata()
	wantCode := map[string]string{
		grpcauth.InfoInvalidRequest:    jwtverify.CodeInvalidRequest,
		grpcauth.InfoInvalidToken:      jwtverify.CodeInvalidToken,
		grpcauth.InfoTokenExpired:      jwtverify.CodeInvalidToken,
		grpcauth.InfoInsufficientScope: jwtverify.CodeInsufficientScope,
	}[c.Info]
	if md[grpcauth.MetadataError] != wantCode {
		return fmt.Errorf("ErrorInfo metadata %s = %q, want %q", grpcauth.MetadataError, md[grpcauth.MetadataError], wantCode)
	}
	if md[grpcauth.MetadataScope] != c.Scope || md[grpcauth.MetadataMissing] != c.Missing {
		return fmt.Errorf("ErrorInfo metadata %v, want scope %q missing %q", md, c.Scope, c.Missing)
	}
	return nil
}

// registerProbe registers the probe and health services.
func registerProbe(s grpc.ServiceRegistrar) {
	s.RegisterService(&probeDesc, nil)
	healthpb.RegisterHealthServer(s, health.NewServer())
}

// Whoami is the answer of the kit's methods: "client=<client ID>" for the
// Principal of ctx, or a codes.Internal status error when the adapter put
// none there. Servers that are not grpc-go (GRPCAdapter.Client) answer
// with it.
func Whoami(ctx context.Context) (string, error) {
	p, ok := jwtverify.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Internal, "adaptertest: no Principal in the handler's context")
	}
	return "client=" + p.ClientID(), nil
}

func probeUnary(name string) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				out, err := Whoami(ctx)
				if err != nil {
					return nil, err
				}
				return wrapperspb.String(out), nil
			}
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + ProbeService + "/" + name}, h)
		},
	}
}

var probeDesc = grpc.ServiceDesc{
	ServiceName: ProbeService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{probeUnary("Whoami"), probeUnary("Orders"), probeUnary("Undeclared")},
	Streams: []grpc.StreamDesc{{
		StreamName: "Watch", ServerStreams: true,
		Handler: func(_ any, s grpc.ServerStream) error {
			if err := s.RecvMsg(new(wrapperspb.StringValue)); err != nil {
				return err
			}
			for range 2 {
				who, err := Whoami(s.Context())
				if err != nil {
					return err
				}
				if err := s.SendMsg(wrapperspb.String(who)); err != nil {
					return err
				}
			}
			return nil
		},
	}},
}
