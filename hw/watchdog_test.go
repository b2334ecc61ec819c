package hw_test

import (
	"context"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/hw/hwtest"
)

// The feeder pulses the line once a period, only while its lease runs.
func TestFeederOnlyWhileAllowed(t *testing.T) {
	chip := &hwtest.Chip{Name: "gpiochip0", Label: "test", LineNames: make([]string, 2)}
	g := hwtest.NewGPIO(chip)
	l, err := g.Request(hw.LineConfig{Chip: "test", Line: "0", Consumer: "watchdogd", Output: true})
	if err != nil {
		t.Fatal(err)
	}
	pulsed := make(chan int, 10)
	w := &hw.PulseWatchdog{Line: l, Pulse: 50 * time.Millisecond, Sleep: func(ctx context.Context, d time.Duration) error {
		pulsed <- chip.Level(0) // the level during the pulse
		return nil
	}}
	ticks := make(chan time.Time)
	f := &hw.Feeder{Watchdog: w, Ticks: ticks}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()

	// tick lets one period pass and waits until the feeder has judged
	// it: a second tick sent to synchronise would itself be judged after
	// the test moved on, against the next lease.
	tick := func() {
		before := f.State().Periods
		ticks <- time.Now()
		for f.State().Periods == before {
			time.Sleep(time.Millisecond)
		}
	}
	tick() // no lease yet
	if n := len(chip.Changes(0)); n != 0 {
		t.Fatalf("fed without a lease: %v", chip.Changes(0))
	}
	f.Allow(time.Now().Add(time.Hour))
	tick()
	tick()
	if st := f.State(); !st.Feeding || st.Pulses != 2 || st.Periods != 3 {
		t.Errorf("allowed: %+v, want feeding with 2 pulses in 3 periods", st)
	}
	ch := chip.Changes(0)
	if len(ch) != 4 || ch[0].Level != 1 || ch[1].Level != 0 || <-pulsed != 1 {
		t.Errorf("line changes %+v: want two pulses high then low", ch)
	}
	f.Allow(time.Now()) // the lease ran out
	tick()
	if st := f.State(); st.Feeding || st.Pulses != 2 || len(chip.Changes(0)) != 4 {
		t.Errorf("after the lease: %+v, %d changes", st, len(chip.Changes(0)))
	}
	if chip.Level(0) != 0 {
		t.Error("the feeder left the line active")
	}
	cancel()
	<-done
}
