package introspect

import (
	"math"
	"sync"
	"time"
)

// budget bounds the calls of one Source: at most max in flight, and a token
// bucket of rate per second with burst. A call beyond it is refused at once
// (never queued), so a flood cannot build a backlog.
type budget struct {
	sem chan struct{}

	mu     sync.Mutex
	tokens float64
	last   time.Time
	rate   float64
	burst  float64
}

func newBudget(maxConcurrent int, rate float64, burst int) *budget {
	return &budget{sem: make(chan struct{}, maxConcurrent), rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// acquire takes a slot and a rate token. On refusal it returns the limit
// that refused and when to retry.
func (b *budget) acquire(now time.Time) (ok bool, limit string, retry time.Duration) {
	select {
	case b.sem <- struct{}{}:
	default:
		return false, "concurrency", defaultRetryAfterFloor
	}
	b.mu.Lock()
	if !b.last.IsZero() {
		if el := now.Sub(b.last).Seconds(); el > 0 {
			b.tokens = math.Min(b.burst, b.tokens+el*b.rate)
		}
	}
	b.last = now
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
		b.mu.Unlock()
		<-b.sem
		return false, "rate", max(defaultRetryAfterFloor, wait.Round(time.Second))
	}
	b.tokens--
	b.mu.Unlock()
	return true, "", 0
}

func (b *budget) release() { <-b.sem }
