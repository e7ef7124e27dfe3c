package fleettest

import (
	"sync"
	"time"
)

// Clock is a settable clock for the autoscaler's and the providers'
// tests (cooldowns, idle windows, quarantines).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock is a Clock showing now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
