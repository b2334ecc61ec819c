package hw_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/hw/hwtest"
)

// fakeClock is a clock whose sleeps advance it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newRelay(t *testing.T, g hw.GPIO, history string, clock *fakeClock, activeLow bool) *hw.GPIORelay {
	t.Helper()
	l, err := g.Request(hw.RelayLine("gpiochip0", "1", "watchdogd", activeLow))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &hw.GPIORelay{Device: "camera", Line: l, HistoryFile: history,
		Caps: hw.Caps{Off: 5 * time.Second, MinInterval: 10 * time.Minute, MaxPerHour: 3},
		Now:  clock.Now, Sleep: clock.Sleep}
}

func TestRelayCyclesAndCaps(t *testing.T) {
	chip := &hwtest.Chip{Name: "gpiochip0", Label: "test", LineNames: make([]string, 4)}
	g := hwtest.NewGPIO(chip)
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	history := filepath.Join(t.TempDir(), "camera.json")
	r := newRelay(t, g, history, clock, false)
	if chip.Level(1) != 0 {
		t.Fatal("a relay line starts energised")
	}

	// A short request gets the minimum off time: the line is active (the
	// NC contact open, the camera off) for 5 s, then inactive.
	if err := r.Cycle(context.Background(), "camerad", time.Second); err != nil {
		t.Fatal(err)
	}
	ch := chip.Changes(1)
	if len(ch) != 2 || ch[0].Level != 1 || ch[1].Level != 0 {
		t.Fatalf("line changes %+v, want active then inactive", ch)
	}
	st := r.State()
	if len(st.Cycles) != 1 || st.Cycles[0].Off != 5*time.Second || st.Cycles[0].From != "camerad" || !st.Powered {
		t.Errorf("state %+v", st)
	}

	// Too soon.
	clock.Advance(3 * time.Minute)
	err := r.Cycle(context.Background(), "modemd", 0)
	var re *hw.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, hw.ErrRefused) || !strings.Contains(re.Reason, "at most one every 10m0s") {
		t.Fatalf("cycle 3 minutes later: %v", err)
	}
	if len(chip.Changes(1)) != 2 {
		t.Error("a refused cycle touched the line")
	}

	// Two more, then the hourly cap.
	for i := 0; i < 2; i++ {
		clock.Advance(11 * time.Minute)
		if err := r.Cycle(context.Background(), "camerad", 0); err != nil {
			t.Fatalf("cycle %d: %v", i+2, err)
		}
	}
	clock.Advance(11 * time.Minute)
	if err := r.Cycle(context.Background(), "camerad", 0); !errors.As(err, &re) || !strings.Contains(re.Reason, "3 power cycles in the last hour; at most 3") {
		t.Fatalf("fourth cycle within the hour: %v", err)
	}

	// The caps hold across a restart of the service: a new relay on the
	// same history file.
	r2 := &hw.GPIORelay{Device: "camera", Line: r.Line, HistoryFile: history, Caps: r.Caps, Now: clock.Now, Sleep: clock.Sleep}
	if err := r2.Cycle(context.Background(), "camerad", 0); !errors.As(err, &re) {
		t.Fatalf("after a restart the hourly cap is gone: %v", err)
	}
	// The refusal saved with the last cycle, and this one.
	if n := len(r2.State().Refusals); n != 2 {
		t.Errorf("%d refusals after restart, want 2", n)
	}
	clock.Advance(40 * time.Minute)
	if err := r2.Cycle(context.Background(), "camerad", 0); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

// A cycle whose context ends restores the power at once; a service that
// died during a cut finds the power back on (the line is requested
// inactive) and the cycle counted.
func TestRelayNeverLeftOff(t *testing.T) {
	chip := &hwtest.Chip{Name: "gpiochip0", Label: "test", LineNames: make([]string, 4)}
	g := hwtest.NewGPIO(chip)
	history := filepath.Join(t.TempDir(), "camera.json")
	l, err := g.Request(hw.RelayLine("gpiochip0", "1", "watchdogd", true))
	if err != nil {
		t.Fatal(err)
	}
	// An active-low relay board: inactive is a high pin.
	if chip.Level(1) != 1 {
		t.Fatalf("active-low relay line at rest: pin %d, want 1", chip.Level(1))
	}
	r := &hw.GPIORelay{Device: "camera", Line: l, HistoryFile: history, Caps: hw.Caps{Off: time.Hour}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Cycle(ctx, "camerad", 0) }()
	for chip.Level(1) != 0 {
		time.Sleep(time.Millisecond)
	}
	if st := r.State(); st.Powered || st.Cycling == nil {
		t.Errorf("during the cut: %+v", st)
	}
	if err := r.Cycle(context.Background(), "modemd", 0); !errors.Is(err, hw.ErrRefused) || !strings.Contains(err.Error(), "in progress") {
		t.Errorf("a second cycle during the first: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cut short: %v", err)
	}
	if chip.Level(1) != 1 {
		t.Error("the power is still cut after the context ended")
	}

	// The service dies during a cut: the history says so, and the line,
	// requested again at the next start, powers the device.
	os.WriteFile(history, []byte(`{"cycles":[{"start":"2026-05-01T12:00:00Z","off":10000000000,"from":"camerad"}]}`), 0o644)
	l.Close()
	l, err = g.Request(hw.RelayLine("gpiochip0", "1", "watchdogd", true))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if chip.Level(1) != 1 {
		t.Error("requested again, the relay line cuts the power")
	}
	r = &hw.GPIORelay{Device: "camera", Line: l, HistoryFile: history}
	if c := r.State().Cycles; len(c) != 1 || !strings.Contains(c[0].Err, "interrupted") {
		t.Errorf("interrupted cycle: %+v", c)
	}

	// An unreadable history still holds the caps.
	os.WriteFile(history, []byte("{not json"), 0o644)
	r = &hw.GPIORelay{Device: "camera", Line: l, HistoryFile: history}
	if err := r.Cycle(context.Background(), "camerad", 0); !errors.Is(err, hw.ErrRefused) {
		t.Errorf("cycle with a lost history: %v", err)
	}
	if st := r.State(); st.Err == nil || !strings.Contains(st.Err.Error(), "history unreadable") {
		t.Errorf("lost history not reported: %v", st.Err)
	}
}
