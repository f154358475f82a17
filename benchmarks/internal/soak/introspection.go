package soak

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// eitherRevoked: an opaque token revoked at the issuer, within the API's
// revocation delay (the introspection answer's maximum age).
const eitherRevoked = "revoked"

// revokeLoop revokes, in turn, the current token of each opaque client at
// the issuer's RFC 7009 endpoint (with the client's own credentials). The
// client keeps sending the revoked token for the revocation bound plus 2 s
// (accepted at first from the API's cache, then refused), then restarts
// and gets a new token. It ends with ctx.
func (d *driver) revokeLoop(ctx context.Context, clientIDs []string, hc *http.Client) error {
	var opaque []int
	for i, o := range d.isOpaque {
		if o {
			opaque = append(opaque, i)
		}
	}
	keep := revocationBound(&d.cfg, 0) + 2*time.Second
	sleep := func(dur time.Duration) bool {
		t := time.NewTimer(dur)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	if !sleep(keep) {
		return nil
	}
	for n := 0; ; n++ {
		i := opaque[n%len(opaque)]
		tok, err := d.clients[i].Load().Token()
		if err != nil {
			// The token endpoint is down: nothing to revoke this round.
			if !sleep(time.Second) {
				return nil
			}
			continue
		}
		d.opaque.id(tok.AccessToken, i)
		before := time.Now().UnixNano()
		if err := revoke(ctx, hc, d.iss.RevocationURL(), clientIDs[i], "secret-"+clientIDs[i], tok.AccessToken); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		d.opaque.revoked(tok.AccessToken, before, time.Now().UnixNano())
		if !sleep(keep) {
			return nil
		}
		d.clients[i].Store(d.newSource(i)) // the client restarts: a new token
	}
}

// revoke calls an RFC 7009 revocation endpoint with client_secret_basic.
func revoke(ctx context.Context, hc *http.Client, endpoint, id, secret, tok string) error {
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint: %s", resp.Status)
	}
	return nil
}

// callSample is the issuer's count of introspection requests at T (Unix
// nanoseconds).
type callSample struct {
	T int64 `json:"t"`
	N int64 `json:"n"`
}

// sampleCalls reads the issuer's introspection request counter every
// 100 ms until ctx ends.
func sampleCalls(ctx context.Context, iss *oauthtest.Server) []callSample {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var out []callSample
	for {
		n := iss.Requests(oauthtest.EndpointIntrospect)
		out = append(out, callSample{T: time.Now().UnixNano(), N: n})
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
	}
}

// revocationBound is how long after a revocation the API may still accept
// the token: an answer cached by a call that began before the revocation
// lives for the maximum age after the call, which lasts at most the call
// timeout; plus slack and the measured starvation.
func revocationBound(cfg *Config, stall time.Duration) time.Duration {
	return cfg.IntrospectMaxAge + cfg.IntrospectTimeout + cfg.Slack + stall
}

// introOutages are the stretches during which an introspected token may
// get 503: each introspection fault, extended by a call timeout (a call
// begun during the fault), a second (the budget spent by the outage
// refills) and slack.
func introOutages(faults []faultEntry, end int64, cfg *Config, stall time.Duration) [][2]int64 {
	var out [][2]int64
	ext := int64(cfg.IntrospectTimeout + time.Second + cfg.Slack + stall)
	for _, f := range faults {
		if f.Endpoint != oauthtest.EndpointIntrospect.String() {
			continue
		}
		e := f.End
		if e == 0 {
			e = end
		}
		out = append(out, [2]int64{f.Start, e + ext})
	}
	return out
}

func overlaps(iv [][2]int64, a, b int64) bool {
	for _, v := range iv {
		if a <= v[1] && b >= v[0] {
			return true
		}
	}
	return false
}

// opaqueTruth is the expected outcome of an introspected request: a
// client's own opaque token must be accepted until it is revoked and must
// be refused once the revocation bound has passed ("either" in between);
// opaque attacks must be refused. A 503 is allowed only during an
// introspection outage.
func opaqueTruth(rec *record, toks []opaqueToken, outages [][2]int64, bound time.Duration) (want uint8, allow503 bool, reason string) {
	allow503 = overlaps(outages, rec.start, rec.end)
	if rec.kind != kindOpaque {
		return mustRefuse, allow503, ""
	}
	if rec.kid < 0 || int(rec.kid) >= len(toks) {
		return mustAccept, allow503, ""
	}
	t := &toks[rec.kid]
	switch {
	case t.RevBefore == 0 || rec.end < t.RevBefore:
		return mustAccept, allow503, ""
	case rec.start > t.RevAfter+int64(bound):
		return mustRefuse, allow503, ""
	}
	return either, allow503, eitherRevoked
}

// budgetCheck checks the issuer's introspection request counts against
// the API's budget: in any stretch of length T at most burst + rate x (T +
// tol) requests (a token bucket; tol covers the time between taking a
// token and the request's arrival). It returns the worst excess (<= 0
// when the budget held) and the highest count in a one-second window.
func budgetCheck(s []callSample, rate float64, burst int, tol time.Duration) (excess float64, peak1s int64) {
	excess = math.Inf(-1)
	minV := math.Inf(1) // min over i of n_i - rate*t_i
	j := 0
	for i, x := range s {
		v := float64(x.N) - rate*float64(x.T)/1e9
		if i > 0 {
			excess = max(excess, v-minV-float64(burst)-rate*tol.Seconds())
		}
		minV = min(minV, v)
		for j < i && s[j].T < x.T-int64(time.Second) {
			j++
		}
		peak1s = max(peak1s, x.N-s[j].N)
	}
	if len(s) < 2 {
		excess = 0
	}
	return excess, peak1s
}

// IntrospectionStats summarises the introspected routes of a run.
type IntrospectionStats struct {
	OpaqueClients int     `json:"opaque_clients"`
	MaxAge        string  `json:"max_age"`
	Timeout       string  `json:"timeout"`
	Rate          float64 `json:"rate"`
	Burst         int     `json:"burst"`
	MaxConcurrent int     `json:"max_concurrent"`
	// Revocations: opaque tokens revoked at the issuer; Checked: of them,
	// how many were then sent after the revocation bound (must refuse).
	Revocations int `json:"revocations"`
	Checked     int `json:"revocations_checked"`
	// AcceptedAfterS is the longest a revoked token was still accepted
	// after its revocation (s); BoundS what the design allows.
	AcceptedAfterS float64 `json:"accepted_after_revocation_s"`
	BoundS         float64 `json:"revocation_bound_s"`
	// Either: requests with a token revoked within the bound.
	Either int `json:"either"`
	// Outage503: introspected requests answered 503 during an outage.
	Outage503 int `json:"outage_503"`
	// Calls to the issuer's introspection endpoint (its own counter): in
	// all, on average per second, at most in one second, and the worst
	// excess over the budget (<= 0: held).
	Calls       int64   `json:"calls"`
	CallsPerSec float64 `json:"calls_per_s"`
	Peak1s      int64   `json:"peak_calls_1s"`
	Excess      float64 `json:"budget_excess"`
	// API is the API's own count (its introspect.Observer), at the end.
	API *IntrospectionCounts `json:"api,omitempty"`
}

// evalIntrospection fills rep.Introspection and checks the introspected
// routes: every revocation within its bound, the call budget, and that
// the routes were exercised at all.
func evalIntrospection(rep *Report, in evalInput, stall time.Duration, either, outage503 int) {
	cfg := &in.cfg
	if cfg.OpaqueClients <= 0 {
		return
	}
	bound := revocationBound(cfg, stall)
	st := &IntrospectionStats{OpaqueClients: cfg.OpaqueClients, MaxAge: cfg.IntrospectMaxAge.String(), Timeout: cfg.IntrospectTimeout.String(),
		Rate: cfg.IntrospectRate, Burst: cfg.IntrospectBurst, MaxConcurrent: cfg.IntrospectMaxConcurrent,
		BoundS: secs(bound), Either: either, Outage503: outage503}
	rep.Introspection = st
	checked := map[int32]bool{}
	for i := range in.records {
		r := &in.records[i]
		if r.kind != kindOpaque || r.kid < 0 || int(r.kid) >= len(in.opaque) {
			continue
		}
		t := in.opaque[r.kid]
		if t.RevAfter == 0 || r.start <= t.RevAfter {
			continue
		}
		if r.outcome == outAccepted {
			st.AcceptedAfterS = max(st.AcceptedAfterS, secs(time.Duration(r.start-t.RevAfter)))
		}
		if r.start > t.RevAfter+int64(bound) && (r.outcome == outRefused || r.outcome == outAccepted) {
			checked[r.kid] = true
		}
	}
	for _, t := range in.opaque {
		if t.RevAfter != 0 {
			st.Revocations++
		}
	}
	st.Checked = len(checked)
	if n := len(in.calls); n > 0 {
		st.Calls = in.calls[n-1].N - in.calls[0].N
		if d := float64(in.calls[n-1].T-in.calls[0].T) / 1e9; d > 0 {
			st.CallsPerSec = math.Round(float64(st.Calls)/d*100) / 100
		}
		st.Excess, st.Peak1s = budgetCheck(in.calls, cfg.IntrospectRate, cfg.IntrospectBurst, cfg.IntrospectTimeout+100*time.Millisecond+stall)
		st.Excess = math.Round(st.Excess*100) / 100
	}
	for i := len(in.samples) - 1; i >= 0; i-- {
		if in.samples[i].Introspection != nil {
			st.API = in.samples[i].Introspection
			break
		}
	}

	own := rep.ByKind[kindNames[kindOpaque]]
	junk, foreign := rep.ByKind[kindNames[kindOpaqueJunk]], rep.ByKind[kindNames[kindOpaqueForeign]]
	switch {
	case own == nil || own.MustAccept == 0 || own.Accepted == 0:
		rep.fail("introspection was not exercised: no opaque token that must be accepted was accepted")
	case st.Checked == 0:
		rep.fail("introspection was not exercised: no revoked token was sent after its revocation bound")
	case junk == nil || junk.MustRefuse == 0 || foreign == nil || foreign.MustRefuse == 0:
		rep.fail("introspection was not exercised: no junk or no foreign opaque token was sent")
	case st.Calls == 0:
		rep.fail("introspection was not exercised: the issuer counted no introspection request")
	}
	if st.Excess > 0 {
		rep.fail("introspection calls beyond the budget: %.1f more than %d + %g/s x (T + tolerance) in some stretch", st.Excess, cfg.IntrospectBurst, cfg.IntrospectRate)
	}
}
