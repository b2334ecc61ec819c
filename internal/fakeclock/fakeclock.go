// Package fakeclock is a clock for tests of code that waits through a
// clock interface (capture.Clock): time moves only when that code sleeps
// or the test sets it, so a month of schedule runs in seconds.
package fakeclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake clock; its zero value is not usable, see New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	end    time.Time
	cancel context.CancelFunc
}

// New returns a clock at now.
func New(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to now.
func (c *Clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// StopAt makes the sleep that reaches end call cancel: how a test ends
// the run of the code under test at a time of its clock.
func (c *Clock) StopAt(end time.Time, cancel context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.end, c.cancel = end, cancel
}

// Sleep moves the clock by d at once, and returns ctx's error.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	cancel := c.cancel
	if c.now.Before(c.end) {
		cancel = nil
	}
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return ctx.Err()
}
