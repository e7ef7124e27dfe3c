package worker

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff waits between retries of a call to the server: 200 ms doubling
// to 10 s, with jitter so that many workers do not retry in step.
type backoff struct {
	next time.Duration
}

func newBackoff() *backoff { return &backoff{next: 200 * time.Millisecond} }

func (b *backoff) reset() { b.next = 200 * time.Millisecond }

// wait sleeps for the next interval; false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(b.next*2, 10*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
