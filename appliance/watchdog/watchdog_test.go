package watchdog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/hw/hwtest"
)

const site = `{"site": {"name": "t", "time_zone": "UTC"},
 "hardware": {
  "chip": "9030000.pl061",
  "watchdog": {"line": "0", "period": "1s", "pulse": "10ms"},
  "relays": [{"device": "camera", "line": "1", "off": "1s", "min_interval": "10m"}],
  "inputs": [{"name": "door", "line": "3"}, {"name": "rain", "line": "2", "edges": "rising"}],
  "health": {"startup_grace": "0", "stale_after": "1m"}
 }}`

type harness struct {
	svc              *Service
	chip             *hwtest.Chip
	ticks, feedTicks chan time.Time
	status, perm     string
	cancel           func()
	done             chan error
	clockUnset       atomic.Bool // read by the service's next check while the test goes on
}

func start(t *testing.T, cfgJSON string, prepare func(h *harness)) *harness {
	t.Helper()
	cfg, err := config.Parse("site.json", []byte(cfgJSON))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := &harness{
		chip:  &hwtest.Chip{Name: "gpiochip0", Label: "9030000.pl061", LineNames: make([]string, 8)},
		ticks: make(chan time.Time), feedTicks: make(chan time.Time),
		status: filepath.Join(dir, "run"), perm: filepath.Join(dir, "perm"),
	}
	gpio := hwtest.NewGPIO(h.chip)
	// QEMU's virt machine gives line 3 to the kernel's gpio-keys.
	h.chip.Hold(3, "GPIO Key Poweroff")
	for _, name := range []string{"camerad", "uploadd"} {
		if err := statusfile.Write(filepath.Join(h.status, name+".json"), map[string]any{"updated": time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if prepare != nil {
		prepare(h)
	}
	h.svc = &Service{
		Config: cfg, GPIO: gpio, Perm: h.perm, StatusDir: h.status, Socket: filepath.Join(dir, "w.sock"),
		Sensors: hw.Sensors{Sys: dir, Proc: dir, ClockFloor: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			Now: func() time.Time {
				if h.clockUnset.Load() {
					return time.Unix(100, 0)
				}
				return time.Now()
			}},
		BootID: "boot-1", Logf: t.Logf, Ticks: h.ticks, FeedTicks: h.feedTicks,
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Error(err)
		}
		// Every line released: the relays at rest.
		for i := 0; i < 3; i++ {
			if hd := h.chip.Holder(i); hd != "" {
				t.Errorf("line %d still held by %s", i, hd)
			}
		}
	})
	h.check() // the first check, at start
	return h
}

// check makes the service judge once more and returns its status.
func (h *harness) check() statusfile.Watchdog {
	h.ticks <- time.Now()
	h.ticks <- time.Now() // handled once the next one is taken
	return h.svc.Status()
}

// feed gives the feeder two periods and returns the pulses on line 0,
// once both periods are done with (a tick sent only to synchronise
// would itself be handled later, against whatever lease comes next).
func (h *harness) feed() int {
	before := len(h.chip.Changes(0))
	periods := h.svc.feeder.State().Periods
	h.feedTicks <- time.Now()
	h.feedTicks <- time.Now()
	// A feeder that never finishes a period hangs the test, which go
	// test's timeout reports.
	for h.svc.feeder.State().Periods < periods+2 {
		time.Sleep(time.Millisecond)
	}
	return (len(h.chip.Changes(0)) - before) / 2
}

func TestServiceFeedsAndCycles(t *testing.T) {
	h := start(t, site, nil)
	st := h.check()
	if !st.Healthy || !st.Feeding || st.State != statusfile.WatchdogFeeding || st.FeedingReason != "healthy" || st.Hardware != "wired" {
		t.Fatalf("status %+v", st)
	}
	if n := h.feed(); n != 2 {
		t.Errorf("%d pulses in two periods, want 2", n)
	}
	if h.chip.Holder(0) != Consumer || h.chip.Holder(1) != Consumer || h.chip.Level(1) != 0 {
		t.Errorf("lines: %v", h.chip)
	}

	// The input on the kernel's line: an error naming chip, line and
	// holder; the other input works.
	in := st.Inputs
	if len(in) != 2 || !strings.Contains(in[0].Error, `chip "gpiochip0 (9030000.pl061)" line "3": line busy (held by "GPIO Key Poweroff")`) || in[1].Error != "" {
		t.Errorf("inputs %+v", in)
	}
	h.chip.Set(2, 1)
	for st = h.check(); st.Inputs[1].Events == 0; st = h.check() {
		time.Sleep(10 * time.Millisecond)
	}
	if i := st.Inputs[1]; i.Events != 1 || i.LastEdge != "rising" || i.Value == nil || *i.Value != 1 {
		t.Errorf("rain input %+v", i)
	}

	// camerad asks for a power cycle of the camera: the relay line goes
	// active for the off time; a second is refused by the caps.
	cam := &hw.Remote{Device: "camera", From: "camerad", Socket: h.svc.Socket}
	if err := cam.PowerCycle(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if ch := h.chip.Changes(1); len(ch) != 2 || ch[0].Level != 1 || ch[1].Time.Sub(ch[0].Time) < time.Second {
		t.Errorf("relay line changes %+v: want active for 1 s", ch)
	}
	var re *hw.RefusedError
	if err := cam.PowerCycle(context.Background(), 0); !errors.As(err, &re) || !strings.Contains(re.Reason, "at most one every 10m0s") {
		t.Errorf("second cycle: %v", err)
	}
	// modemd asks for the modem, which has no relay: recorded, refused.
	err := (&hw.Remote{Device: "modem", From: "modemd", Socket: h.svc.Socket}).PowerCycle(context.Background(), 0)
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "no hardware.relays entry for modem") {
		t.Errorf("modem: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(h.perm, "lapsebox", "relay-requests.jsonl")); !strings.Contains(string(b), `"modem"`) {
		t.Errorf("modem request not recorded: %q", b)
	}
	st = h.check()
	if r := st.Relays[0]; r.Device != "camera" || !r.Wired || !r.Powered || r.CyclesLastHour != 1 || len(r.Cycles) != 1 ||
		r.Cycles[0].From != "camerad" || len(r.Refusals) != 1 {
		t.Errorf("camera relay %+v", r)
	}
	if r := st.Relays[1]; r.Device != "modem" || r.Wired {
		t.Errorf("modem relay %+v", r)
	}
	var back statusfile.Watchdog
	if _, err := statusfile.Read(filepath.Join(h.status, "watchdogd.json"), &back); err != nil || back.Relays[0].CyclesLastHour != 1 {
		t.Errorf("watchdogd.json: %v, %+v", err, back.Relays)
	}

	// Unhealthy (the clock lost): the feeding stops, and says why.
	h.clockUnset.Store(true)
	st = h.check()
	if st.Healthy || st.Feeding || st.State != statusfile.WatchdogStarving || !strings.Contains(st.FeedingReason, "unhealthy: clock: the clock reads 1970-01-01T00:01:40Z") {
		t.Errorf("unhealthy: %+v", st)
	}
	if n := h.feed(); n != 0 {
		t.Errorf("%d pulses while unhealthy", n)
	}
	h.clockUnset.Store(false)
	if st = h.check(); !st.Feeding {
		t.Errorf("healthy again, not feeding: %s", st.FeedingReason)
	}
	if n := h.feed(); n != 2 {
		t.Errorf("%d pulses after recovery, want 2", n)
	}
}

// With both relays wired, camerad's and modemd's requests reach their
// lines through hw.Remote, each within its own caps.
func TestServiceCyclesBothDevices(t *testing.T) {
	h := start(t, `{"site": {"name": "t", "time_zone": "UTC"},
 "hardware": {
  "chip": "9030000.pl061",
  "relays": [{"device": "camera", "line": "1", "off": "1s", "min_interval": "10m"},
             {"device": "modem", "line": "4", "active_low": true, "off": "1s", "min_interval": "10m"}],
  "health": {"startup_grace": "0", "stale_after": "1m"}
 }}`, nil)
	ctx := context.Background()
	if err := (&hw.Remote{Device: "modem", From: "modemd", Socket: h.svc.Socket}).PowerCycle(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// Active low: energised is a low line; at rest (powered) it is high.
	if ch := h.chip.Changes(4); len(ch) != 3 || ch[0].Level != 1 || ch[1].Level != 0 || ch[2].Level != 1 ||
		ch[2].Time.Sub(ch[1].Time) < time.Second || len(h.chip.Changes(1)) != 0 {
		t.Errorf("modem relay line changes %+v, camera's %+v", ch, h.chip.Changes(1))
	}
	if err := (&hw.Remote{Device: "camera", From: "camerad", Socket: h.svc.Socket}).PowerCycle(ctx, 0); err != nil {
		t.Errorf("camera after modem: %v", err)
	}
	if ch := h.chip.Changes(1); len(ch) != 2 || ch[0].Level != 1 || ch[1].Level != 0 {
		t.Errorf("camera relay line changes %+v", ch)
	}
	err := (&hw.Remote{Device: "modem", From: "modemd", Socket: h.svc.Socket}).PowerCycle(ctx, 0)
	if !errors.Is(err, hw.ErrRefused) {
		t.Errorf("second modem cycle within 10m: %v", err)
	}
	st := h.check()
	for i, want := range []string{"camerad", "modemd"} {
		if r := st.Relays[i]; !r.Wired || !r.Powered || len(r.Cycles) != 1 || r.Cycles[0].From != want {
			t.Errorf("relay %d: %+v", i, r)
		}
	}
	if h.chip.Holder(4) != Consumer {
		t.Errorf("modem line held by %q", h.chip.Holder(4))
	}
}

// After quick reboots in a row the watchdog is fed regardless, with an
// alert.
func TestServiceStopsEscalating(t *testing.T) {
	h := start(t, site, func(h *harness) {
		os.MkdirAll(filepath.Join(h.perm, "lapsebox"), 0o755)
		os.WriteFile(filepath.Join(h.perm, "lapsebox", "boots.json"), []byte(`{"bootId":"boot-0","quickReboots":2,"stable":false}`), 0o644)
		h.clockUnset.Store(true)
	})
	st := h.check()
	if st.Healthy || !st.Feeding || st.State != statusfile.WatchdogFedRegardless || st.Boots.QuickReboots != 3 || st.Boots.Escalating ||
		!strings.Contains(st.Alert, "3 reboots in a row without 30m of health") || !strings.Contains(st.FeedingReason, "fed regardless") {
		t.Errorf("status %+v", st)
	}
	if n := h.feed(); n != 2 {
		t.Errorf("%d pulses, want 2", n)
	}
}

// Without a hardware section no line is requested, and requests are
// recorded and refused.
func TestServiceWithoutHardware(t *testing.T) {
	h := start(t, `{"site": {"name": "t", "time_zone": "UTC"}}`, nil)
	st := h.check()
	if st.Feeding || st.State != statusfile.WatchdogNone || st.Feeder != nil || !strings.Contains(st.FeedingReason, "no watchdog fitted") ||
		!strings.Contains(st.Hardware, "no hardware section") || len(st.Relays) != 2 {
		t.Errorf("status %+v", st)
	}
	for i := 0; i < 8; i++ {
		if hd := h.chip.Holder(i); hd != "" && hd != "GPIO Key Poweroff" {
			t.Errorf("line %d requested by %s without a hardware section", i, hd)
		}
	}
	err := (&hw.Remote{Device: "camera", From: "camerad", Socket: h.svc.Socket}).PowerCycle(context.Background(), time.Second)
	if !errors.Is(err, hw.ErrRefused) || !strings.Contains(err.Error(), "no relay wired (no hardware section in the site configuration); request recorded") {
		t.Errorf("camera: %v", err)
	}
}
