package recovery

import (
	"testing"
	"time"
)

func TestLadderClimbsAndCaps(t *testing.T) {
	l := New(Policy{PowerCycleAfter: 5, MaxPowerCyclesPerHour: 2})
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	want := []Action{Retry, Cancel, ResetSession, USBReset, PowerCycle,
		Retry, Cancel, ResetSession, USBReset, PowerCycle,
		Retry, Cancel, ResetSession, USBReset, Alert, Alert}
	for i, w := range want {
		if got := l.Failure(now.Add(time.Duration(i) * time.Minute)); got != w {
			t.Fatalf("failure %d: %v, want %v", i+1, got, w)
		}
	}
	st := l.State(now.Add(16 * time.Minute))
	if !st.Alert || st.PowerCyclesLastHour != 2 || st.LastAction != Alert {
		t.Errorf("state %+v", st)
	}
	// An hour after the first power cycle, one more is allowed.
	if got := l.Failure(now.Add(65 * time.Minute)); got != PowerCycle {
		t.Errorf("an hour later: %v, want a power cycle", got)
	}
	l.Success()
	if st := l.State(now.Add(66 * time.Minute)); st.Alert || st.ConsecutiveFailures != 0 {
		t.Errorf("after a success: %+v", st)
	}
	if got := l.Failure(now.Add(67 * time.Minute)); got != Retry {
		t.Errorf("first failure after a success: %v, want retry", got)
	}
}

func TestLadderDefaultsAndNames(t *testing.T) {
	l := New(Policy{})
	now := time.Now()
	var last Action
	for i := 0; i < 5; i++ {
		last = l.Failure(now)
	}
	if last != PowerCycle {
		t.Errorf("fifth failure with defaults: %v, want power cycle", last)
	}
	if PowerCycle.String() != "power cycle" || Action(42).String() != "Action(42)" {
		t.Error("action names")
	}
}
