package manager

import (
	"testing"
	"time"
)

func TestLadderClimbs(t *testing.T) {
	p := Policy{FirstAfter: time.Minute, StepEvery: 2 * time.Minute, MaxInterval: 10 * time.Minute, MaxPowerCycles: 2}
	l := newLadder(p, true, nil)
	down := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	now := down
	var got []string
	var waits []time.Duration
	for i := 0; i < 12; i++ {
		due := l.dueAt(down)
		waits = append(waits, due.Sub(now))
		now = due
		got = append(got, l.step(now, false).String())
	}
	want := []string{"re-attach", "radio off/on", "modem reset", "power cycle", // round 0
		"re-attach", "radio off/on", "modem reset", "power cycle", // round 1
		"re-attach", "radio off/on", "modem reset", "re-attach"} // the cap: two power cycles a day
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("steps %q, want %q", got, want)
		}
	}
	wantWaits := []time.Duration{time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute,
		4 * time.Minute, 4 * time.Minute, 4 * time.Minute, 4 * time.Minute, 8 * time.Minute, 8 * time.Minute, 8 * time.Minute, 8 * time.Minute}
	for i := range wantWaits {
		if waits[i] != wantWaits[i] {
			t.Fatalf("waits %v, want %v", waits, wantWaits)
		}
	}
	if n := len(l.powerCycles()); n != 2 {
		t.Errorf("%d power cycles recorded", n)
	}
	// A day later the cap is lifted.
	if s := l.step(now.Add(25*time.Hour), false); s != RadioCycle {
		t.Errorf("after a day: %v", s)
	}
	l.recovered()
	if d := l.dueAt(now); d != now.Add(time.Minute) {
		t.Errorf("after recovery the first step is due %v after the outage began", d.Sub(now))
	}
}

func TestLadderUnresponsive(t *testing.T) {
	now := time.Now()
	l := newLadder(Policy{}, false, nil)
	if s := l.step(now, true); s != Reset {
		t.Errorf("port not answering: %v, want a reset", s)
	}
	// No relay: the strongest step left is another reset.
	if s := l.step(now, true); s != Reset {
		t.Errorf("then %v, want a reset again", s)
	}
	r := newLadder(Policy{}, true, []time.Time{now.Add(-time.Hour)})
	r.step(now, true)
	if s := r.step(now, true); s != PowerCycle {
		t.Errorf("with a relay: %v, want a power cycle", s)
	}
}
