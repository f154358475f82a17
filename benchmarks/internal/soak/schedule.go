package soak

import (
	"fmt"
	"sync"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// maxResponseBytes is the API's JWKS size limit; the oversized fault
// answers four times as much.
const maxResponseBytes = 64 << 10

// step is an action at an offset into its phase.
type step struct {
	at time.Duration
	do func(is *issuerLog, d *driver) error
}

// phaseDef is one phase of the fault schedule.
type phaseDef struct {
	name  string
	dur   time.Duration
	steps []step
	burst bool // attackers send a burst of unknown-kid tokens
	what  string
}

// schedule returns one cycle of the fault schedule on the compressed clock.
func schedule(c *Config) []phaseDef {
	r, ft := c.Refresh, c.FetchTimeout
	jwks := func(f oauthtest.Fault) func(*issuerLog, *driver) error {
		return func(is *issuerLog, d *driver) error { is.setFault(oauthtest.EndpointJWKS, f); return nil }
	}
	// Faulted stretches stay under MaxStaleness minus a refresh interval,
	// with a recovery between them, so that only the "stale" phase lets the
	// key set go stale.
	recover := phaseDef{name: "recover", dur: c.BackoffMax + ft + 1500*time.Millisecond, what: "no fault: the API fetches again"}
	// The introspection endpoint's faults last twice the answers' maximum
	// age: answers cached before keep working, then expire, and new or
	// expired tokens get 503 until the endpoint is back.
	intro := func(f oauthtest.Fault) func(*issuerLog, *driver) error {
		return func(is *issuerLog, d *driver) error { is.setFault(oauthtest.EndpointIntrospect, f); return nil }
	}
	im, it := c.IntrospectMaxAge, c.IntrospectTimeout
	introRecover := phaseDef{name: "recover-introspect", dur: it + 1500*time.Millisecond, what: "no fault: new opaque tokens are introspected again"}
	return []phaseDef{
		{name: "steady", dur: 2 * r, what: "no fault"},
		{name: "jwks-500", dur: 3 * r, what: "JWKS answers 500 over three refresh periods",
			steps: []step{{0, jwks(oauthtest.Fault{Status: 500})}}},
		recover,
		{name: "jwks-slow", dur: 2 * r, what: fmt.Sprintf("JWKS answers after %v, over the %v fetch timeout", 3*ft, ft),
			steps: []step{{0, jwks(oauthtest.Fault{Delay: 3 * ft})}}},
		recover,
		{name: "jwks-truncated", dur: r + time.Second, what: "JWKS body cut in half",
			steps: []step{{0, jwks(oauthtest.Fault{Truncate: true})}}},
		{name: "jwks-oversized", dur: r + time.Second, what: fmt.Sprintf("JWKS padded to %d KiB, over the %d KiB limit", 4*maxResponseBytes>>10, maxResponseBytes>>10),
			steps: []step{{0, jwks(oauthtest.Fault{Oversize: 4 * maxResponseBytes})}}},
		recover,
		{name: "discovery-down", dur: 8 * time.Second, what: "discovery and JWKS 500 for 4 s, then discovery alone 500 (a failed fetch makes the API rediscover)",
			steps: []step{
				{0, func(is *issuerLog, d *driver) error {
					is.setFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500})
					is.setFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
					return nil
				}},
				{4 * time.Second, func(is *issuerLog, d *driver) error { is.clearFault(oauthtest.EndpointJWKS); return nil }},
			}},
		recover,
		{name: "introspect-500", dur: 2 * im, what: fmt.Sprintf("introspection endpoint answers 500 for twice the %v answer max age: cached answers keep working, other opaque tokens 503", im),
			steps: []step{{0, intro(oauthtest.Fault{Status: 500})}}},
		introRecover,
		{name: "introspect-slow", dur: 2 * im, what: fmt.Sprintf("introspection answers after %v, over the %v call timeout", 3*it, it),
			steps: []step{{0, intro(oauthtest.Fault{Delay: 3 * it})}}},
		introRecover,
		{name: "introspect-down", dur: 2 * im, what: "introspection answers cut off mid-body (the server going down)",
			steps: []step{{0, intro(oauthtest.Fault{Truncate: true})}}},
		introRecover,
		{name: "rotate-overlap", dur: 2 * r, what: "new signing key published; the old one stays until its tokens expired",
			steps: []step{{0, func(is *issuerLog, d *driver) error { return is.rotate(true) }}}},
		{name: "token-down", dur: 10 * time.Second, what: "token endpoint 503: clients keep their tokens, renewals fail",
			steps: []step{{0, func(is *issuerLog, d *driver) error {
				is.setFault(oauthtest.EndpointToken, oauthtest.Fault{Status: 503})
				return nil
			}}}},
		{name: "withdraw", dur: 10 * time.Second, what: "rotation, then the previous key withdrawn after 4 s while tokens signed by it are in use and cached",
			steps: []step{
				{0, func(is *issuerLog, d *driver) error { return is.rotate(false) }},
				{4 * time.Second, func(is *issuerLog, d *driver) error { return is.withdrawPrevious() }},
			}},
		{name: "outage-rotation", dur: 10 * time.Second, burst: true,
			what: "JWKS 500, a rotation 2 s in (a quarter of the clients restart then and get tokens signed by the new key: refused until the outage ends, by design), and a burst of unknown-kid tokens",
			steps: []step{
				{0, jwks(oauthtest.Fault{Status: 500})},
				{2 * time.Second, func(is *issuerLog, d *driver) error {
					if err := is.rotate(true); err != nil {
						return err
					}
					d.restartClients(4) // new instances get tokens signed by the new key
					return nil
				}},
			}},
		recover,
		{name: "stale", dur: c.MaxStaleness + 4*time.Second, what: fmt.Sprintf("JWKS 500 beyond the %v maximum staleness: 503 allowed once the set is stale", c.MaxStaleness),
			steps: []step{{0, jwks(oauthtest.Fault{Status: 500})}}},
		recover,
	}
}

// cycleLength is the length of one cycle of the schedule.
func cycleLength(c *Config) time.Duration {
	var d time.Duration
	for _, p := range schedule(c) {
		d += p.dur
	}
	return d
}

// keyEntry is the issuer's history of one key. Times are Unix nanoseconds
// taken just before and just after the issuer's call; 0 means never.
type keyEntry struct {
	KID       string `json:"kid"`
	AddBefore int64  `json:"add_before"`
	AddAfter  int64  `json:"add_after"`
	RmBefore  int64  `json:"rm_before,omitempty"`
	RmAfter   int64  `json:"rm_after,omitempty"`
	// Withdrawn: removed while tokens signed by it were still in use.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

// faultEntry is one fault played on an endpoint.
type faultEntry struct {
	Endpoint string `json:"endpoint"`
	Start    int64  `json:"start"`
	End      int64  `json:"end"`
}

// phaseRun is one played phase.
type phaseRun struct {
	Name  string `json:"name"`
	Cycle int    `json:"cycle"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
}

// issuerLog plays the schedule against the issuer and logs what it did:
// the issuer's key history and its faults.
type issuerLog struct {
	iss      *oauthtest.Server
	alg      string
	lifetime time.Duration

	mu       sync.Mutex
	keys     map[string]*keyEntry
	order    []string
	faults   []faultEntry
	open     map[oauthtest.Endpoint]int // index into faults
	retire   map[string]time.Time       // kid -> when to remove it
	previous string                     // the signer before the last rotation
}

func newIssuerLog(iss *oauthtest.Server, alg string, lifetime time.Duration, start int64) *issuerLog {
	is := &issuerLog{iss: iss, alg: alg, lifetime: lifetime, keys: map[string]*keyEntry{},
		open: map[oauthtest.Endpoint]int{}, retire: map[string]time.Time{}}
	for _, kid := range iss.KeyIDs() {
		is.keys[kid] = &keyEntry{KID: kid, AddBefore: start, AddAfter: start}
		is.order = append(is.order, kid)
	}
	return is
}

func (is *issuerLog) setFault(e oauthtest.Endpoint, f oauthtest.Fault) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if _, ok := is.open[e]; !ok {
		is.faults = append(is.faults, faultEntry{Endpoint: e.String(), Start: time.Now().UnixNano()})
		is.open[e] = len(is.faults) - 1
	}
	is.iss.SetFault(e, f)
}

func (is *issuerLog) clearFault(e oauthtest.Endpoint) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.iss.ClearFault(e)
	if i, ok := is.open[e]; ok {
		is.faults[i].End = time.Now().UnixNano()
		delete(is.open, e)
	}
}

func (is *issuerLog) clearAll() {
	for _, e := range []oauthtest.Endpoint{oauthtest.EndpointDiscovery, oauthtest.EndpointJWKS, oauthtest.EndpointToken, oauthtest.EndpointIntrospect} {
		is.clearFault(e)
	}
}

// rotate publishes a new signing key; retire schedules the removal of the
// previous signer once every token it signed has expired.
func (is *issuerLog) rotate(retire bool) error {
	is.mu.Lock()
	defer is.mu.Unlock()
	prev := is.iss.SigningKeyID()
	before := time.Now().UnixNano()
	kid, err := is.iss.RotateKey(is.alg)
	after := time.Now().UnixNano()
	if err != nil {
		return err
	}
	is.keys[kid] = &keyEntry{KID: kid, AddBefore: before, AddAfter: after}
	is.order = append(is.order, kid)
	is.previous = prev
	if retire {
		is.retire[prev] = time.Now().Add(is.lifetime + 2*time.Second)
	}
	return nil
}

// withdrawPrevious removes the signer before the last rotation at once.
func (is *issuerLog) withdrawPrevious() error {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.previous == "" {
		return nil
	}
	return is.removeLocked(is.previous, true)
}

func (is *issuerLog) removeLocked(kid string, withdrawn bool) error {
	k := is.keys[kid]
	if k == nil || k.RmBefore != 0 {
		return nil
	}
	delete(is.retire, kid)
	k.RmBefore = time.Now().UnixNano()
	err := is.iss.RemoveKey(kid)
	k.RmAfter = time.Now().UnixNano()
	k.Withdrawn = withdrawn
	if kid == is.previous {
		is.previous = ""
	}
	return err
}

// retireDue removes the keys whose retirement time has come.
func (is *issuerLog) retireDue(now time.Time) error {
	is.mu.Lock()
	defer is.mu.Unlock()
	for kid, at := range is.retire {
		if !now.Before(at) {
			if err := is.removeLocked(kid, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// snapshot returns copies of the logs.
func (is *issuerLog) snapshot() ([]keyEntry, []faultEntry) {
	is.mu.Lock()
	defer is.mu.Unlock()
	keys := make([]keyEntry, 0, len(is.order))
	for _, kid := range is.order {
		keys = append(keys, *is.keys[kid])
	}
	return keys, append([]faultEntry(nil), is.faults...)
}
