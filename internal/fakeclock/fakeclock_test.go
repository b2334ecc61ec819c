package fakeclock

import (
	"context"
	"testing"
	"time"
)

func TestSleepMovesTheClockAndStopsAtTheEnd(t *testing.T) {
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	c := New(start)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.StopAt(start.Add(time.Hour), cancel)
	if err := c.Sleep(ctx, 59*time.Minute); err != nil || !c.Now().Equal(start.Add(59*time.Minute)) {
		t.Fatalf("after 59 minutes: %v, %v", c.Now(), err)
	}
	if err := c.Sleep(ctx, time.Minute); err != context.Canceled {
		t.Errorf("the sleep that reaches the end returned %v, want it cancelled", err)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Errorf("Set: %v", c.Now())
	}
}
