package readiness

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// Source is a key source whose state a Checker reads; *jwkscache.Cache
// implements it. Stats must be safe for concurrent use and cheap.
type Source interface {
	Stats() jwkscache.Stats
}

var _ Source = (*jwkscache.Cache)(nil)

// Mode selects when a Checker is ready.
type Mode int

const (
	// StartupGate: ready once every source has had a usable key set since
	// start (jwkscache.Stats.HadUsableKeys), and from then on. The
	// default.
	StartupGate Mode = iota
	// Strict: ready only while every source serves usable keys
	// (jwkscache.Stats.Usable). See the package documentation for the
	// trade-off.
	Strict
)

// String returns "startup" or "strict".
func (m Mode) String() string {
	switch m {
	case StartupGate:
		return "startup"
	case Strict:
		return "strict"
	}
	return "unknown"
}

// DefaultInterval is how often Watch re-checks by default.
const DefaultInterval = 5 * time.Second

// Options configures a Checker. The zero value is valid.
type Options struct {
	// Mode is StartupGate (the zero value) or Strict.
	Mode Mode
	// Interval is how often Watch re-checks the sources. Default
	// DefaultInterval.
	Interval time.Duration
}

// ErrInvalidConfig is wrapped by New's errors.
var ErrInvalidConfig = errors.New("readiness: invalid config")

// Checker reports the readiness of its key sources. Safe for concurrent
// use.
type Checker struct {
	sources  []Source
	mode     Mode
	interval time.Duration
}

// New returns a Checker over sources (at least one; none may be nil).
func New(opts Options, sources ...Source) (*Checker, error) {
	if len(sources) == 0 {
		return nil, errors.Join(ErrInvalidConfig, errors.New("readiness: no source"))
	}
	for _, s := range sources {
		if s == nil {
			return nil, errors.Join(ErrInvalidConfig, errors.New("readiness: nil source"))
		}
	}
	if opts.Mode != StartupGate && opts.Mode != Strict {
		return nil, errors.Join(ErrInvalidConfig, errors.New("readiness: unknown mode"))
	}
	if opts.Interval < 0 {
		return nil, errors.Join(ErrInvalidConfig, errors.New("readiness: negative Interval"))
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	return &Checker{sources: append([]Source(nil), sources...), mode: opts.Mode, interval: opts.Interval}, nil
}

// Report is a Checker's answer, the JSON body of its handler.
type Report struct {
	// Ready is the verdict under Mode.
	Ready bool `json:"ready"`
	// Mode is "startup" or "strict".
	Mode string `json:"mode"`
	// Sources has one entry per source, in the order given to New.
	Sources []SourceStatus `json:"sources"`
}

// SourceStatus is one source's state.
type SourceStatus struct {
	// Name is the source's configured name.
	Name string `json:"name"`
	// Usable reports whether the source serves usable keys now.
	Usable bool `json:"usable"`
	// HadUsableKeys reports whether it has had usable keys since start.
	HadUsableKeys bool `json:"had_usable_keys"`
	// LastFailure is the class of its last failed fetch ("" if none),
	// kept after recovery.
	LastFailure jwkscache.ErrorClass `json:"last_failure,omitempty"`
	// Failing reports whether its last fetch failed.
	Failing bool `json:"failing,omitempty"`
	// KeysAgeSeconds is the age of its last good key set in whole
	// seconds; nil before the first one.
	KeysAgeSeconds *int64 `json:"keys_age_seconds,omitempty"`
}

// Check reads every source's state and returns the verdict.
func (c *Checker) Check() Report {
	r := Report{Ready: true, Mode: c.mode.String(), Sources: make([]SourceStatus, 0, len(c.sources))}
	for _, s := range c.sources {
		st := s.Stats()
		ss := SourceStatus{Name: st.Source, Usable: st.Usable, HadUsableKeys: st.HadUsableKeys,
			LastFailure: st.LastFailureClass, Failing: st.ConsecutiveFailures > 0}
		if st.Generation > 0 {
			age := int64(st.Age / time.Second)
			ss.KeysAgeSeconds = &age
		}
		switch c.mode {
		case Strict:
			r.Ready = r.Ready && st.Usable
		default:
			r.Ready = r.Ready && st.HadUsableKeys
		}
		r.Sources = append(r.Sources, ss)
	}
	return r
}

// Ready reports Check().Ready.
func (c *Checker) Ready() bool { return c.Check().Ready }

// ServeHTTP answers GET and HEAD with the Report as JSON: 200 when ready,
// 503 when not; other methods get 405.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rep := c.Check()
	body, err := json.Marshal(rep)
	if err != nil { // cannot happen: fixed types
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if rep.Ready {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// Watch feeds gRPC health checking: it sets service's status on hs to
// SERVING when ready and NOT_SERVING when not, at once and then on every
// change (checked every Options.Interval), until ctx is done; then it returns ctx's error and
// leaves the last status (hs.Shutdown marks every service NOT_SERVING on
// graceful stop). Run it on a goroutine of your own: it owns no other.
// service "" is the server's overall health.
func (c *Checker) Watch(ctx context.Context, hs *health.Server, service string) error {
	if hs == nil {
		return errors.Join(ErrInvalidConfig, errors.New("readiness: nil health server"))
	}
	return c.Notify(ctx, func(ready bool) {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if ready {
			st = healthpb.HealthCheckResponse_SERVING
		}
		hs.SetServingStatus(service, st)
	})
}

// Notify calls fn with the verdict at once and then whenever it changes,
// checking every Options.Interval, until ctx is done; then it returns
// ctx's error. fn runs on the caller's goroutine. Watch is Notify for gRPC
// health.
func (c *Checker) Notify(ctx context.Context, fn func(ready bool)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	last, first := false, true
	for {
		if ready := c.Ready(); first || ready != last {
			fn(ready)
			last, first = ready, false
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
