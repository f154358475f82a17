package grpcauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestObserversAddUp (issue 15): two WithObserver options both see every
// decision, unary and streaming. Regression test: the last one won, so
// wiring metrics and logs as two observers silently dropped the first.
func TestObserversAddUp(t *testing.T) {
	second := &recorder{}
	e := newEnv(t, envConfig{icOpts: []grpcauth.Option{grpcauth.WithObserver(second)}})
	reader := e.iss.MintT(t, oauthtest.WithClient(readerID))
	if _, err := e.unary(withToken(callCtx(t), reader), "/test.v1.Echo/Whoami"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.unary(withToken(callCtx(t), reader), "/test.v1.Echo/Write"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("write: %v", err)
	}
	if _, err := e.watch(withToken(callCtx(t), reader)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.chat(withToken(callCtx(t), reader)); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("chat: %v", err)
	}
	first, other := e.obs.take(), second.take()
	if len(first) != 4 || !reflect.DeepEqual(first, other) {
		t.Fatalf("first observer saw %+v\nsecond saw %+v\nwant the same 4 decisions", first, other)
	}
	want := []string{jwtverify.DecisionAllowed, jwtverify.DecisionForbidden, jwtverify.DecisionAllowed, jwtverify.DecisionForbidden}
	for n, ev := range first {
		if ev.Result != want[n] {
			t.Errorf("decision %d: %s, want %s", n, ev.Result, want[n])
		}
	}
}

// TestRoute (issue 15): decision events name the method as their Route
// only once CheckServer has seen it registered on the server; a method
// the caller made up (served by an unknown-service handler) is
// RouteUnknown, whatever the interceptor was told.
func TestRoute(t *testing.T) {
	e := newEnv(t, envConfig{})
	writerTok, readerTok := e.iss.MintT(t, oauthtest.WithClient(writerID)), e.iss.MintT(t, oauthtest.WithClient(readerID))
	writer := func() context.Context { return withToken(callCtx(t), writerTok) }
	reader := func() context.Context { return withToken(callCtx(t), readerTok) }
	anonymous := func() context.Context { return callCtx(t) }
	const resetM = "/test.v1.Admin/Reset"

	if _, err := e.unary(writer(), resetM); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("reset: %v", err)
	}
	if ev := e.lastEvent(t); ev.Route != jwtverify.RouteUnknown {
		t.Errorf("route %q before CheckServer, want %q", ev.Route, jwtverify.RouteUnknown)
	}

	if _, err := e.ic.CheckServer(e.srv); err != nil {
		t.Fatal(err)
	}
	// The denial of a method the policy does not name carries that
	// method, as do every other decision on a registered method.
	for _, c := range []struct {
		method string
		ctx    func() context.Context
		result string
	}{
		{resetM, writer, jwtverify.DecisionForbidden},
		{"/test.v1.Echo/Whoami", reader, jwtverify.DecisionAllowed},
		{"/test.v1.Echo/Write", reader, jwtverify.DecisionForbidden},
		{"/test.v1.Echo/Whoami", anonymous, jwtverify.DecisionUnauthenticated},
		{"/grpc.health.v1.Health/Check", anonymous, jwtverify.DecisionSkipped},
	} {
		_, _ = e.unary(c.ctx(), c.method)
		if ev := e.lastEvent(t); ev.Route != c.method || ev.Result != c.result {
			t.Errorf("%s: event %+v, want route %s and %s", c.method, ev, c.method, c.result)
		}
	}
	if _, err := e.watch(reader()); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(t); ev.Route != "/test.v1.Echo/Watch" {
		t.Errorf("stream route %q", ev.Route)
	}
	if ev := func() jwtverify.DecisionEvent { _, _ = e.unary(callCtx(t), resetM); return e.lastEvent(t) }(); ev.Issuer != jwtverify.NoIssuer {
		t.Errorf("issuer %q of a call without a token, want %q", ev.Issuer, jwtverify.NoIssuer)
	}

	// A server with an unknown-service handler behind the same
	// interceptor: the caller chooses the method name.
	srv := grpc.NewServer(grpc.ChainStreamInterceptor(e.ic.StreamServerInterceptor()),
		grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error { return nil }))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-served }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, m := range []string{"/evil.v1.Chosen/ByTheCaller", resetM} {
		// resetM is registered on e.srv, which CheckServer saw, but on
		// this server it reaches the unknown-service handler: the route
		// set is of e.srv, so it still names it. Methods that no server
		// registers never do.
		err := conn.Invoke(writer(), m, &emptyMsg{}, &emptyMsg{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s: %v", m, err)
		}
		ev := e.lastEvent(t)
		if want := map[bool]string{true: resetM, false: jwtverify.RouteUnknown}[m == resetM]; ev.Route != want {
			t.Errorf("%s: route %q, want %q", m, ev.Route, want)
		}
	}
}

// TestRuleInEvents (issue 15): a token refused by a rule carries the
// rule's sub-reason code (jwtverify.Error.Rule) in the decision event.
func TestRuleInEvents(t *testing.T) {
	refused := errors.New("test: refused by the user's rule")
	e := newEnv(t, envConfig{validate: func(p *jwtverify.Principal) error {
		if p.ClientID() == writerID {
			return refused
		}
		return nil
	}})
	tok := e.iss.MintT(t, oauthtest.WithClient(writerID))
	_, verr := e.verifier.Verify(context.Background(), tok)
	var je *jwtverify.Error
	if !errors.As(verr, &je) {
		t.Fatalf("Verify: %v, want a *jwtverify.Error", verr)
	}
	if je.Rule == "" {
		t.Skip("this jwtverify sets no Error.Rule for Validate (the core's part of issue 15)")
	}
	_, err := e.unary(withToken(callCtx(t), tok), "/test.v1.Echo/Whoami")
	wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidToken)
	if ev := e.lastEvent(t); ev.Rule != je.Rule || ev.Reason != je.Reason {
		t.Errorf("event %+v, want rule %q and reason %q", ev, je.Rule, je.Reason)
	}
}

// emptyMsg is the message sent to the unknown-service server.
type emptyMsg = wrapperspb.StringValue

// TestWithLoggerIsAuthlog (issue 15): the deprecated WithLogger writes
// what authlog writes, once per decision it logs: one denial is one
// record, and an allowed call none (it wrote a Debug record of its own
// format before). Regression test: the records were "grpcauth: ..."
// records of their own shape, and a Debug handler got one per allowed
// call.
func TestWithLoggerIsAuthlog(t *testing.T) {
	e := newEnv(t, envConfig{})
	var viaWithLogger, viaAuthlog bytes.Buffer
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	old, err := grpcauth.New(e.verifier, testPolicy(), grpcauth.WithLogger(slog.New(slog.NewJSONHandler(&viaWithLogger, debug))))
	if err != nil {
		t.Fatal(err)
	}
	documented, err := grpcauth.New(e.verifier, testPolicy(), grpcauth.WithObserver(authlog.New(slog.New(slog.NewJSONHandler(&viaAuthlog, debug)), authlog.Options{})))
	if err != nil {
		t.Fatal(err)
	}
	tok := e.iss.MintT(t, oauthtest.WithClient(readerID))
	in := incoming(map[string][]string{"authorization": {"Bearer " + tok}})
	for _, ic := range []*grpcauth.Interceptor{old, documented} {
		if _, err := ic.Authorize(in, "/test.v1.Echo/Whoami"); err != nil {
			t.Fatal(err)
		}
		if _, err := ic.Authorize(in, "/test.v1.Echo/Write"); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("write: %v", err)
		}
	}
	records := func(b *bytes.Buffer) []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("record %q: %v", line, err)
			}
			delete(m, "time")
			out = append(out, m)
		}
		return out
	}
	got, want := records(&viaWithLogger), records(&viaAuthlog)
	if len(got) != 1 {
		t.Fatalf("WithLogger wrote %d records for one allowed call and one denial, want 1: %v", len(got), got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WithLogger wrote %v\nauthlog wrote %v", got, want)
	}
	if got[0]["result"] != jwtverify.DecisionForbidden || got[0]["transport"] != grpcauth.Transport {
		t.Errorf("record %v", got[0])
	}
}

// TestPolicyCheck (issue 15): Policy.Check names every pattern that
// matches nothing registered, and lists the registered methods left to
// the default.
func TestPolicyCheck(t *testing.T) {
	e := newEnv(t, envConfig{})
	p := testPolicy()
	p.Methods["/test.v1.Echo/Lsit"] = jwtverify.RequireAll("echo.read")
	p.Methods["/test.v1.Ecoh/*"] = jwtverify.Authenticated()
	p.Deny = append(p.Deny, "/test.v1.Admin/Rest")
	defaulted, err := p.Check(e.srv)
	if !errors.Is(err, grpcauth.ErrUnknownMethod) {
		t.Fatalf("Check: %v, want ErrUnknownMethod", err)
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *grpcauth.PolicyError
		if !errors.As(e, &pe) {
			t.Fatalf("%v is not a *PolicyError", e)
		}
		got = append(got, pe.Field+" "+pe.Pattern)
	}
	if want := []string{"Deny /test.v1.Admin/Rest", "Methods /test.v1.Echo/Lsit", "Methods /test.v1.Ecoh/*"}; !slices.Equal(got, want) {
		t.Errorf("errors for %q, want %q", got, want)
	}
	if !strings.Contains(err.Error(), `"/test.v1.Echo/Lsit" in Methods`) {
		t.Errorf("message %q", err)
	}
	if want := []string{"/test.v1.Admin/Reset"}; !slices.Equal(defaulted, want) {
		t.Errorf("defaulted %q, want %q", defaulted, want)
	}

	// The test policy itself is clean: reflection and health are
	// registered, Long and Echo declared.
	defaulted, err = testPolicy().Check(e.srv)
	if err != nil || !slices.Equal(defaulted, []string{"/test.v1.Admin/Reset"}) {
		t.Errorf("Check(testPolicy) = %q, %v", defaulted, err)
	}
	// ExemptHealth and ExemptReflection on a server without them: not
	// errors. A typo in a wildcard of one's own is.
	bare := grpc.NewServer()
	bare.RegisterService(&adminDesc, nil)
	if d, err := (grpcauth.Policy{Default: grpcauth.DefaultAuthenticated}).ExemptHealth().ExemptReflection().Check(bare); err != nil || !slices.Equal(d, []string{"/test.v1.Admin/Reset"}) {
		t.Errorf("exempt helpers on a bare server: %q, %v", d, err)
	}
	if _, err := (grpcauth.Policy{Public: []string{"/grpc.health.v2.Health/*"}}).Check(bare); !errors.Is(err, grpcauth.ErrUnknownMethod) {
		t.Errorf("an unknown public wildcard: %v", err)
	}
	// An invalid policy fails as New would; a nil server is an error.
	if _, err := (grpcauth.Policy{Public: []string{"nope"}}).Check(bare); !errors.Is(err, grpcauth.ErrInvalidPattern) {
		t.Errorf("invalid policy: %v", err)
	}
	var nilSrv *grpc.Server
	if _, err := testPolicy().Check(nilSrv); !errors.Is(err, grpcauth.ErrNilServer) {
		t.Errorf("nil *grpc.Server: %v", err)
	}
	if _, err := e.ic.CheckServer(nil); !errors.Is(err, grpcauth.ErrNilServer) {
		t.Errorf("nil server: %v", err)
	}
	// CheckServer checks the interceptor's own policy.
	if d, err := e.ic.CheckServer(e.srv); err != nil || !slices.Equal(d, []string{"/test.v1.Admin/Reset"}) {
		t.Errorf("CheckServer = %q, %v", d, err)
	}
}
