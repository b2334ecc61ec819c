package usbcam

import (
	"context"
	"errors"
	"io"
	"log"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/capture"
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/internal/fakeclock"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// relay is the camera's relay on the bus: a power cycle takes the camera
// off the bus, cures it (its autofocus locks again) and plugs it in
// again as a new device. It notes the ports still open at the cut.
type relay struct {
	b          *bus
	cuts       int
	openAtCuts [][]int
}

func (r *relay) Name() string { return "camera" }

func (r *relay) PowerCycle(ctx context.Context, off time.Duration) error {
	r.cuts++
	r.openAtCuts = append(r.openAtCuts, r.b.open())
	r.b.unplug()
	r.b.cam.SetFocus(true)
	r.b.plug()
	return nil
}

// The camera behind its relay, as on site: it cannot focus until a power
// cycle, so camerad climbs the whole ladder; the power cycle takes it off
// the bus, and it comes back as a new device. camerad must find it at its
// new address and take pictures again, without ever using a handle on
// the old device (which libusb fails only once used) and without leaving
// one open across the cut; whether a camera was open when the ladder
// reached the power cycle or not (it did not open again after the USB
// reset), and whether the USB reset itself failed.
func TestPowerCycleReenumerates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*bus)
	}{
		{"camera open at the cut", func(*bus) {}},
		{"no camera open at the cut", func(b *bus) {
			// The sessions opened at the start and after the session
			// reset pass; the one after the USB reset gets garbage, each
			// of the three times ptp.Conn tries.
			b.cam.Inject(sim.Fault{Kind: sim.Garbage, Op: ptp.OpOpenSession, Skip: 2, Times: 3})
		}},
		{"the USB reset fails", func(b *bus) {
			b.claimAfterReset = errors.New("claiming interface 0 again: libusb: timeout [code -7]")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := sim.New(sim.Config{SerialNumber: "CAM0001", JPEGSize: 20000, JPEGWidth: 160, JPEGHeight: 120})
			d, b := onBus(cam)
			tc.setup(b)
			cam.SetFocus(false)
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Date(2026, 11, 26, 0, 0, 30, 0, time.UTC)
			r := &relay{b: b}
			clock := fakeclock.New(start)
			clock.StopAt(start.Add(time.Hour), cancel)
			l := &capture.Loop{
				Schedule: &schedule.Schedule{Location: time.UTC, Windows: []schedule.Window{{
					Days:  schedule.Days(time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday),
					Start: schedule.At(0, 0), End: schedule.At(0, 0), Interval: 10 * time.Minute,
				}}},
				Store: st, Device: d, Relay: r, Keep: config.KeepJPG, MinSize: 3000,
				Targets:   func(string, bool) []string { return nil },
				Clock:     clock,
				Status:    &capture.StatusFile{Path: filepath.Join(t.TempDir(), "camerad.json")},
				Log:       log.New(io.Discard, "", 0),
				StateFile: filepath.Join(t.TempDir(), "state.json"),
			}
			if testing.Verbose() {
				l.Log = log.New(testWriter{t}, "camerad: ", 0)
			}
			l.Run(ctx)
			d.Close()

			s := l.Status.Snapshot()
			var actions []string
			for _, a := range s.RecoveryActions {
				actions = append(actions, a.Action)
			}
			// Slots 00:00 to 01:00; the first one is taken after the
			// power cycle.
			if r.cuts != 1 || s.Captures != 7 || s.Recovery.ConsecutiveFailures != 0 || !slices.Contains(actions, "power cycle") {
				t.Fatalf("%d power cycles, %d pictures, ladder %v (%+v); last error %q", r.cuts, s.Captures, actions, s.Recovery, s.LastError)
			}
			if a := b.addresses(); len(a) == 0 || a[len(a)-1] != 2 {
				t.Errorf("the camera was found at addresses %v: want it at 2, its address after the power cycle, at last", a)
			}
			if len(r.openAtCuts[0]) != 0 {
				t.Errorf("handles on the camera at addresses %v were open when its power was cut", r.openAtCuts[0])
			}
			for _, p := range b.ports {
				if p.staleCalls != 0 {
					t.Errorf("the handle on address %d was used %d times after the camera left it", p.address, p.staleCalls)
				}
			}
			if o := b.open(); len(o) != 0 {
				t.Errorf("handles on addresses %v left open after Close", o)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
