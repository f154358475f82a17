package jwkscache

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// The outage history an observer or a readiness check needs: when the
// source started failing, the age of the keys it serves meanwhile, and
// whether it ever had keys since start.
func TestEventAndStatsCarryOutageHistory(t *testing.T) {
	srv := oauthtest.NewT(t)
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	// Timers far away: every fetch after the first is a Refresh.
	const far = 10 * time.Hour
	e := newEnv(t, Config{JWKSURL: srv.JWKSURL(), BackoffInitial: far, BackoffMax: far,
		MinRefreshInterval: far, MaxRefreshInterval: far})
	t0 := e.fc.Now()
	ev := e.rec.nextFetch(t)
	if ev.Class != ClassStatus || ev.ConsecutiveFailures != 1 || !ev.FailingSince.Equal(t0) || !ev.LastSuccess.IsZero() || ev.Usable || !ev.At.Equal(t0) {
		t.Fatalf("start-up failure event = %+v", ev)
	}
	if st := e.c.Stats(); st.HadUsableKeys || st.Usable || st.LastFailureClass != ClassStatus || !st.FailingSince.Equal(t0) {
		t.Fatalf("stats = %+v", st)
	}

	srv.ClearFault(oauthtest.EndpointJWKS)
	e.fc.Advance(time.Minute)
	t1 := e.fc.Now()
	if err := e.c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev = e.rec.nextFetch(t)
	if ev.Class != ClassOK || !ev.FailingSince.Equal(t0) || ev.ConsecutiveFailures != 0 || !ev.Usable || !ev.LastSuccess.IsZero() {
		t.Fatalf("first success event = %+v", ev)
	}
	st := e.c.Stats()
	if !st.HadUsableKeys || !st.Usable || !st.FailingSince.IsZero() || st.LastFailureClass != ClassStatus || !st.LastFailure.Equal(t0) {
		t.Fatalf("stats after success = %+v", st)
	}

	// An outage with keys cached.
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusBadGateway})
	e.fc.Advance(time.Hour)
	t2 := e.fc.Now()
	fetchError(t, e.c.Refresh(context.Background()), ClassStatus)
	ev = e.rec.nextFetch(t)
	if ev.ConsecutiveFailures != 1 || !ev.FailingSince.Equal(t2) || !ev.LastSuccess.Equal(t1) || !ev.Usable {
		t.Fatalf("outage event = %+v", ev)
	}
	e.fc.Advance(time.Hour)
	fetchError(t, e.c.Refresh(context.Background()), ClassStatus)
	if ev = e.rec.nextFetch(t); ev.ConsecutiveFailures != 2 || !ev.FailingSince.Equal(t2) {
		t.Fatalf("second failure event = %+v", ev)
	}
	srv.ClearFault(oauthtest.EndpointJWKS)
	e.fc.Advance(time.Hour)
	if err := e.c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev = e.rec.nextFetch(t)
	if ev.Class != ClassOK || !ev.FailingSince.Equal(t2) || !ev.LastSuccess.Equal(t1) || ev.At.Sub(ev.LastSuccess) != 3*time.Hour {
		t.Fatalf("recovery event = %+v", ev)
	}
	if st := e.c.Stats(); !st.HadUsableKeys || st.LastFailureClass != ClassStatus || st.ConsecutiveFailures != 0 {
		t.Fatalf("stats after recovery = %+v", st)
	}
}
