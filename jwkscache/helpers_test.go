package jwkscache

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a manual clock; its timers fire only in Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*fakeTimer]struct{}
	changed chan struct{} // closed and replaced on every timer change
}

type fakeTimer struct {
	fc   *fakeClock
	when time.Time
	ch   chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		timers: map[*fakeTimer]struct{}{}, changed: make(chan struct{})}
}

func (fc *fakeClock) Now() time.Time {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.now
}

func (fc *fakeClock) signalLocked() {
	close(fc.changed)
	fc.changed = make(chan struct{})
}

func (fc *fakeClock) NewTimer(d time.Duration) Timer {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	t := &fakeTimer{fc: fc, when: fc.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- fc.now
	} else {
		fc.timers[t] = struct{}{}
	}
	fc.signalLocked()
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.fc.mu.Lock()
	defer t.fc.mu.Unlock()
	_, ok := t.fc.timers[t]
	delete(t.fc.timers, t)
	t.fc.signalLocked()
	return ok
}

// Advance moves the clock and fires the timers that are due.
func (fc *fakeClock) Advance(d time.Duration) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.now = fc.now.Add(d)
	for t := range fc.timers {
		if !t.when.After(fc.now) {
			t.ch <- fc.now
			delete(fc.timers, t)
		}
	}
	fc.signalLocked()
}

// waitTimerAt waits until a timer due exactly at when is pending (the
// background loop parked on its next refresh).
func (fc *fakeClock) waitTimerAt(t *testing.T, when time.Time) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second) // safety net only
	defer deadline.Stop()
	for {
		fc.mu.Lock()
		for tm := range fc.timers {
			if tm.when.Equal(when) {
				fc.mu.Unlock()
				return
			}
		}
		ch := fc.changed
		fc.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no timer pending at %v", when)
		}
	}
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu      sync.Mutex
	fetches []FetchEvent
	misses  map[UnknownKIDOutcome]int
	fetchCh chan FetchEvent
}

func newRecorder() *recorder {
	return &recorder{misses: map[UnknownKIDOutcome]int{}, fetchCh: make(chan FetchEvent, 1000)}
}

func (r *recorder) FetchDone(e FetchEvent) {
	r.mu.Lock()
	r.fetches = append(r.fetches, e)
	r.mu.Unlock()
	select {
	case r.fetchCh <- e:
	default:
	}
}

func (r *recorder) UnknownKID(e UnknownKIDEvent) {
	r.mu.Lock()
	r.misses[e.Outcome]++
	r.mu.Unlock()
}

func (r *recorder) miss(o UnknownKIDOutcome) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.misses[o]
}

func (r *recorder) resetMisses() {
	r.mu.Lock()
	r.misses = map[UnknownKIDOutcome]int{}
	r.mu.Unlock()
}

// nextFetch waits for the next fetch event.
func (r *recorder) nextFetch(t *testing.T) FetchEvent {
	t.Helper()
	select {
	case e := <-r.fetchCh:
		return e
	case <-time.After(10 * time.Second): // safety net only
		t.Fatal("no fetch event")
		return FetchEvent{}
	}
}

// env is a cache under test with its clock and recorder.
type env struct {
	c   *Cache
	fc  *fakeClock
	rec *recorder
}

// newEnv starts a cache with a fake clock and a recorder; cfg.Name
// defaults to "test". It is closed at the end of the test.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{fc: newFakeClock(), rec: newRecorder()}
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	cfg.Now, cfg.NewTimer, cfg.Observer = e.fc.Now, e.fc.NewTimer, e.rec
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	e.c = c
	return e
}

func (e *env) ready(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

// waitFor polls cond until it holds (for conditions in another process
// part, such as a server's request counter); the deadline is a safety net.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
