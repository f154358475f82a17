package soak

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// Expected outcomes.
const (
	mustAccept uint8 = iota
	mustRefuse
	either
)

// Reasons for "either", each charged to one event.
const (
	eitherUnfetched = "unfetched" // published, the API has not fetched it yet
	eitherWithdrawn = "withdrawn" // withdrawn, the API has not refetched yet
	eitherStale     = "stale"     // the key set goes stale, or comes back, during the request
	eitherExpiry    = "expiry"    // the token expires during the request (never with x/oauth2)
)

// apiState is one key set the API may serve: possibly from From to To
// (Unix nanoseconds; the bounds include the uncertainty of the change).
type apiState struct {
	from, to int64
	none     bool // no usable key set (before the first fetch, or stale)
	kids     map[string]bool
	// gained is when this state began for sure (its transition's end).
	gained int64
}

// apiTimeline is the API's served key set over time, from its fetch
// events: a successful fetch changes the set somewhere between its End
// (the set's FetchedAt, taken before publication) and Obs (the observer
// ran after publication); a set with no successful fetch for MaxStaleness
// is withdrawn by the cache's background loop at that moment, or up to one
// fetch timeout later when a fetch is in flight then (plus stall: the
// longest time the machine did not run the API, whose loop can be late).
type apiTimeline struct {
	states []apiState
}

func buildTimeline(fetches []FetchRecord, cfg *Config, stall time.Duration) *apiTimeline {
	var ok []FetchRecord
	for _, f := range fetches {
		if f.Class == string(jwkscache.ClassOK) && !f.Mismatch {
			ok = append(ok, f)
		}
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].End < ok[j].End })
	const never = int64(1) << 62
	tl := &apiTimeline{}
	tl.states = append(tl.states, apiState{from: -never, none: true})
	staleSlack := int64(cfg.FetchTimeout + 500*time.Millisecond + stall)
	for i, f := range ok {
		kids := map[string]bool{}
		for _, k := range f.KIDs {
			kids[k] = true
		}
		// The previous state lasts at most until this change ends.
		tl.states[len(tl.states)-1].to = f.Obs
		tl.states = append(tl.states, apiState{from: f.End, kids: kids, gained: f.Obs})
		staleAt := f.End + int64(cfg.MaxStaleness)
		if i+1 == len(ok) || ok[i+1].End > staleAt {
			tl.states[len(tl.states)-1].to = staleAt + staleSlack
			tl.states = append(tl.states, apiState{from: staleAt, none: true, gained: staleAt + staleSlack})
		}
	}
	// query's binary search needs non-decreasing ends: a stale state that
	// ends (by the next fetch) before the stale moment's slack is over is
	// stretched, which only widens "either".
	for i := 1; i < len(tl.states); i++ {
		tl.states[i].to = max(tl.states[i].to, tl.states[i-1].to)
	}
	tl.states[len(tl.states)-1].to = never
	return tl
}

// query says which states the API may have been in during [a, b] with
// respect to kid: a set holding it, a set without it, no set.
func (tl *apiTimeline) query(a, b int64, kid string) (in, out, none bool) {
	i := sort.Search(len(tl.states), func(i int) bool { return tl.states[i].to >= a })
	for ; i < len(tl.states) && tl.states[i].from <= b; i++ {
		s := &tl.states[i]
		switch {
		case s.none:
			none = true
		case s.kids[kid]:
			in = true
		default:
			out = true
		}
	}
	return in, out, none
}

// firstWith returns when the API surely served a set holding kid (want)
// or a set without it (!want), at or after t; 0 if never.
func (tl *apiTimeline) firstWith(t int64, kid string, want bool) int64 {
	for _, s := range tl.states {
		if s.none || s.gained < t {
			continue
		}
		if s.kids[kid] == want {
			return s.gained
		}
	}
	return 0
}

// pubState answers whether a key was published during [a, b]: surely
// throughout, possibly at some moment.
func pubState(k *keyEntry, a, b int64) (surely, possibly bool) {
	if k == nil {
		return false, false
	}
	surely = k.AddAfter <= a && (k.RmBefore == 0 || k.RmBefore > b)
	possibly = k.AddBefore <= b && (k.RmAfter == 0 || k.RmAfter >= a)
	return surely, possibly
}

// classify computes the expected outcome of a request with a valid token
// (signed by the issuer's key kid, expiring at exp) sent during [a, b],
// whether a 503 is allowed, and the reason of an "either".
func classify(tl *apiTimeline, k *keyEntry, kid string, exp int64, a, b int64, leeway time.Duration) (want uint8, allow503 bool, reason string) {
	in, out, none := tl.query(a, b, kid)
	allow503 = none
	expLimit := exp*int64(time.Second) + int64(leeway)
	switch {
	case a >= expLimit+int64(time.Second):
		return mustRefuse, allow503, ""
	case b >= expLimit-int64(time.Second):
		return either, allow503, eitherExpiry
	}
	surely, possibly := pubState(k, a, b)
	switch {
	case in && !out && !none:
		if surely {
			return mustAccept, false, ""
		}
		return either, false, eitherWithdrawn
	case !in:
		if out && possibly {
			return either, allow503, eitherUnfetched
		}
		return mustRefuse, allow503, ""
	case none:
		return either, true, eitherStale
	case !surely:
		return either, false, eitherWithdrawn
	default:
		return either, false, eitherUnfetched
	}
}

// blocked returns how long, within [a, b], a fetch could not succeed: a
// fault on the JWKS or on discovery (which the API needs after a failed
// fetch) was active.
func blocked(faults []faultEntry, a, b int64) time.Duration {
	var iv [][2]int64
	for _, f := range faults {
		if !keyFault(f) {
			continue
		}
		s, e := max(f.Start, a), f.End
		if e == 0 || e > b {
			e = b
		}
		if e > s {
			iv = append(iv, [2]int64{s, e})
		}
	}
	slices.SortFunc(iv, func(x, y [2]int64) int { return cmp.Compare(x[0], y[0]) })
	var total, cur int64 = 0, a
	for _, v := range iv {
		s := max(v[0], cur)
		if v[1] > s {
			total += v[1] - s
			cur = v[1]
		}
	}
	return time.Duration(total)
}

// keyFault reports whether f can keep the API from fetching keys: a fault
// of the JWKS or of discovery (not of the token or introspection
// endpoints).
func keyFault(f faultEntry) bool { return f.Endpoint == "jwks" || f.Endpoint == "discovery" }
