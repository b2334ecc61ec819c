package hw

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Watchdog is an external hardware watchdog: fed in time, it leaves the
// appliance alone; starved, it cuts the power and restores it. gokrazy's
// init holds the SoC's own watchdog and pets it every second whatever the
// services do, so application health can only gate an external one.
type Watchdog interface {
	// Feed feeds it once.
	Feed(ctx context.Context) error
}

// PulseWatchdog is a watchdog fed by a pulse on a GPIO line: the line
// goes active for Pulse, then inactive. A pulse, not a level: a halted
// controller keeps its GPIO levels, and must not keep the watchdog fed.
type PulseWatchdog struct {
	Line  Line          // an output, requested inactive
	Pulse time.Duration // default 100 ms
	// Sleep waits out the pulse (a context-aware sleep if nil).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Feed implements Watchdog. The line is always left inactive.
func (w *PulseWatchdog) Feed(ctx context.Context) error {
	pulse := w.Pulse
	if pulse <= 0 {
		pulse = 100 * time.Millisecond
	}
	sleep := w.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	if err := w.Line.SetValue(1); err != nil {
		w.Line.SetValue(0)
		return err
	}
	err := sleep(ctx, pulse)
	return errors.Join(err, w.Line.SetValue(0))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Feeder feeds a Watchdog every Period, but only while allowed: whoever
// judges the appliance's health grants it a lease with Allow, and renews
// it while healthy. A judge that stops (hangs, crashes) lets the lease
// run out, and the watchdog starves as it should.
type Feeder struct {
	Watchdog Watchdog
	Period   time.Duration // default 10 s
	// Ticks, if set, replaces the ticker of Period (tests).
	Ticks <-chan time.Time

	mu        sync.Mutex
	until     time.Time // the lease, on the monotonic clock
	feeding   bool
	periods   int64
	pulses    int64
	lastPulse time.Time
	lastErr   error
}

// Allow lets the feeder feed until the given time (compared on the
// monotonic clock: take it from time.Now().Add). A zero time stops the
// feeding at the next period.
func (f *Feeder) Allow(until time.Time) {
	f.mu.Lock()
	f.until = until
	f.mu.Unlock()
}

// Run feeds until ctx is done.
func (f *Feeder) Run(ctx context.Context) error {
	ticks := f.Ticks
	if ticks == nil {
		period := f.Period
		if period <= 0 {
			period = 10 * time.Second
		}
		t := time.NewTicker(period)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
		now := time.Now()
		f.mu.Lock()
		allowed := now.Before(f.until)
		f.feeding = allowed
		if !allowed {
			f.periods++
			f.mu.Unlock()
			continue
		}
		f.mu.Unlock()
		err := f.Watchdog.Feed(ctx)
		f.mu.Lock()
		f.periods++
		if err == nil {
			f.pulses++
			f.lastPulse = now
		}
		if ctx.Err() == nil {
			f.lastErr = err
		}
		f.mu.Unlock()
	}
}

// FeederState is what a feeder has done.
type FeederState struct {
	Feeding   bool  // fed at the last period
	Periods   int64 // periods done with, fed or not
	Pulses    int64
	LastPulse time.Time
	Err       error // the last feed's failure
}

// State returns the feeder's state.
func (f *Feeder) State() FeederState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FeederState{Feeding: f.feeding, Periods: f.periods, Pulses: f.pulses, LastPulse: f.lastPulse, Err: f.lastErr}
}
