package dpop_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/dpop"
)

func key(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

func TestMemoryStoreReplayAndExpiry(t *testing.T) {
	s := dpop.NewMemoryStore(10)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	if err := s.Record(ctx, key(1), now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, key(1), now.Add(59*time.Second), now.Add(2*time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("replay within the window: %v", err)
	}
	// Held through its until instant, evicted after it (a proof that old
	// fails the iat check anyway).
	if err := s.Record(ctx, key(1), now.Add(time.Minute), now.Add(2*time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("replay at the until instant: %v", err)
	}
	if err := s.Record(ctx, key(1), now.Add(time.Minute+1), now.Add(2*time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	// An already expired entry is not stored.
	if err := s.Record(ctx, key(2), now, now.Add(-time.Second)); err != nil || s.Len() != 1 {
		t.Fatalf("expired entry: %v, len %d", err, s.Len())
	}
	// A cancelled context records nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Record(cctx, key(3), now, now.Add(time.Minute)); err == nil {
		t.Fatal("cancelled context recorded")
	}
}

func TestMemoryStoreFullRefusesThenRecovers(t *testing.T) {
	const max = 100
	s := dpop.NewMemoryStore(max)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	for i := range max {
		if err := s.Record(ctx, key(i), now, now.Add(time.Minute+time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	for i := max; i < 3*max; i++ {
		if err := s.Record(ctx, key(i), now, now.Add(time.Minute)); !errors.Is(err, dpop.ErrStoreFull) {
			t.Fatalf("full store recorded key %d: %v", i, err)
		}
	}
	// Full: a replay is still a replay, not an outage.
	if err := s.Record(ctx, key(5), now, now.Add(time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("replay in a full store: %v", err)
	}
	if s.Len() != max || s.Cap() != max {
		t.Fatalf("len %d cap %d", s.Len(), s.Cap())
	}
	// Expired entries are evicted as new ones arrive: the 10 oldest expire.
	later := now.Add(time.Minute + 9*time.Millisecond + 1)
	for i := range 10 {
		if err := s.Record(ctx, key(1000+i), later, later.Add(time.Minute)); err != nil {
			t.Fatalf("after expiry, key %d: %v", i, err)
		}
	}
	if err := s.Record(ctx, key(2000), later, later.Add(time.Minute)); !errors.Is(err, dpop.ErrStoreFull) {
		t.Fatalf("evicted more than expired: %v", err)
	}
}

// A flood of unique proofs keeps the store within its configured size and
// memory.
func TestMemoryStoreBoundedUnderFlood(t *testing.T) {
	const max = 20_000
	s := dpop.NewMemoryStore(max)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	full := 0
	for i := range 10 * max {
		if errors.Is(s.Record(ctx, key(i), now, now.Add(time.Minute)), dpop.ErrStoreFull) {
			full++
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s.Len() != max || full != 9*max {
		t.Fatalf("len %d, refused %d", s.Len(), full)
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	const perEntry = 256 // documented: about 125 bytes an entry; allow map growth slack
	if grown > max*perEntry {
		t.Fatalf("heap grew by %d bytes for %d entries (> %d bytes an entry)", grown, max, perEntry)
	}
	t.Logf("heap growth %d bytes, %d bytes an entry", grown, grown/max)
	runtime.KeepAlive(s)
}

func TestMemoryStoreConcurrent(t *testing.T) {
	s := dpop.NewMemoryStore(0)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				// Every goroutine tries the same 500 keys: each is accepted once.
				if s.Record(ctx, key(i), now, now.Add(time.Minute)) == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
			_ = g
		}()
	}
	wg.Wait()
	if accepted != 500 || s.Cap() != dpop.DefaultMaxEntries {
		t.Fatalf("accepted %d of 500 keys (cap %d)", accepted, s.Cap())
	}
}
