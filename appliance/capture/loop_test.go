package capture

import (
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/fakeclock"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// simDevice drives the simulator the way the USB device drives a camera.
type simDevice struct {
	dev         *sim.Device
	opens       atomic.Int32 // read by a test while the loop runs
	fail        error        // Open fails with this while set
	powerCycles int          // the times it was told the power would be cut
}

func (d *simDevice) Open(ctx context.Context) (*camera.Camera, error) {
	d.opens.Add(1)
	if d.fail != nil {
		return nil, d.fail
	}
	opts := camera.Options{OpTimeout: 500 * time.Millisecond, PairTimeout: 2 * time.Second}
	cam, err := camera.Open(ctx, d.dev, opts)
	if errors.Is(err, ptp.ErrClosed) {
		// Closed by the loop (before a power cycle, at the end of a run):
		// find the camera again, as usbcam does, with a new session.
		d.dev.Replug()
		cam, err = camera.Open(ctx, d.dev, opts)
	}
	return cam, err
}

func (d *simDevice) Recover(ctx context.Context, cam *camera.Camera, a recovery.Action) error {
	switch a {
	case recovery.Cancel:
		if cam != nil {
			return cam.Conn().Recover(ctx)
		}
	case recovery.ResetSession:
		return d.dev.Reset(ctx)
	case recovery.USBReset:
		d.dev.Unplug()
		d.dev.Replug()
	case recovery.PowerCycle:
		d.powerCycles++
	}
	return nil
}

type harness struct {
	loop  *Loop
	clock *fakeclock.Clock
	dev   *simDevice
	relay *hw.Recorder
	store *store.Store
	ctx   context.Context
}

func newHarness(t *testing.T, cfg sim.Config, sched *schedule.Schedule, start, end time.Time) *harness {
	t.Helper()
	if cfg.JPEGSize == 0 {
		cfg.JPEGSize = 20000
	}
	if cfg.RAWSize == 0 {
		cfg.RAWSize = 50000
	}
	cfg.JPEGWidth, cfg.JPEGHeight = 160, 120
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clock := fakeclock.New(start)
	clock.StopAt(end, cancel)
	h := &harness{clock: clock, dev: &simDevice{dev: sim.New(cfg)}, relay: &hw.Recorder{Device: "camera"}, store: st, ctx: ctx}
	h.loop = &Loop{
		Schedule: sched, Store: st, Device: h.dev, Relay: h.relay,
		Keep: config.KeepJPG, MinSize: 3000,
		Targets: func(ext string, raw bool) []string { return []string{"cloud"} },
		Clock:   clock, Status: &StatusFile{Path: filepath.Join(t.TempDir(), "camerad.json")},
		Log:       log.New(os.Stderr, "camerad: ", 0),
		StateFile: filepath.Join(t.TempDir(), "state.json"),
	}
	if !testing.Verbose() {
		h.loop.Log = log.New(discard{}, "", 0)
	}
	return h
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func every(d time.Duration) *schedule.Schedule {
	return &schedule.Schedule{Location: time.UTC, Windows: []schedule.Window{{
		Days:  schedule.Days(time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday),
		Start: schedule.At(0, 0), End: schedule.At(0, 0), Interval: d,
	}}}
}

var day0 = time.Date(2026, 11, 26, 0, 0, 30, 0, time.UTC)

func photosOf(t *testing.T, s *store.Store) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(s.Dir(), "photos"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".json") {
			rel, _ := filepath.Rel(s.Dir(), p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestCapturesEverySlotOfADay(t *testing.T) {
	h := newHarness(t, sim.Config{}, every(10*time.Minute), day0, day0.Add(24*time.Hour))
	if err := h.loop.Run(h.ctx); err != nil {
		t.Fatal(err)
	}
	photos := photosOf(t, h.store)
	// Slots from 00:00 (30 s late at start, within the grace) to 24:00.
	if len(photos) != 145 {
		t.Fatalf("%d photos in a day of 10-minute slots, want 145", len(photos))
	}
	if photos[0] != "photos/2026/11/26/20261126000000.jpg" || photos[1] != "photos/2026/11/26/20261126001000.jpg" {
		t.Errorf("first photos %s, %s: want them named after their slots, 00:00 and 00:10", photos[0], photos[1])
	}
	es, _ := h.store.Pending("cloud")
	if len(es) != 145 {
		t.Errorf("%d outbox entries, want 145", len(es))
	}
	st := h.loop.Status.Snapshot()
	if st.Captures != 145 || st.MissedSlots != 0 || st.Camera == nil || st.Camera.Model == "" || st.LastCapture == nil {
		t.Errorf("status %+v", st)
	}
	if v := h.dev.dev.Violations(); len(v) > 0 {
		t.Errorf("protocol violations seen by the camera: %v", v)
	}
}

func TestKeepsRAWAndJPG(t *testing.T) {
	h := newHarness(t, sim.Config{Quality: sim.RAWAndJPEG}, every(time.Hour), day0, day0.Add(3*time.Hour))
	h.loop.Keep = config.KeepBoth
	h.loop.Run(h.ctx)
	photos := photosOf(t, h.store)
	var jpg, raw int
	for _, p := range photos {
		switch filepath.Ext(p) {
		case ".jpg":
			jpg++
		case ".cr2":
			raw++
		}
	}
	if jpg != 4 || raw != 4 {
		t.Errorf("photos %v: want 4 JPG and 4 CR2 (00:00 to 03:00)", photos)
	}
	sc, err := h.store.ReadSidecar(photos[0])
	if err != nil || len(sc.Others) != 1 {
		t.Errorf("sidecar %+v, %v: want the pair's other file named", sc, err)
	}
}

func TestTooSmallFileIsAFailure(t *testing.T) {
	h := newHarness(t, sim.Config{JPEGSize: 100}, every(time.Hour), day0, day0.Add(2*time.Hour))
	h.loop.MinSize = 1 << 20
	h.loop.Run(h.ctx)
	if n := len(photosOf(t, h.store)); n != 0 {
		t.Errorf("%d photos stored below the minimum size", n)
	}
	st := h.loop.Status.Snapshot()
	if st.MissedSlots == 0 || !strings.Contains(st.LastError, "only") {
		t.Errorf("status %+v: want the slot missed for a file too small", st)
	}
}

func TestUnsetClockWaits(t *testing.T) {
	start := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, sim.Config{}, every(time.Minute), start, start.Add(10*time.Minute))
	h.loop.Run(h.ctx)
	if n := len(photosOf(t, h.store)); n != 0 {
		t.Errorf("%d photos taken with the clock at 1970", n)
	}
	if st := h.loop.Status.Snapshot(); st.State != "waiting for clock" {
		t.Errorf("state %q, want waiting for clock", st.State)
	}
}

// deadlineRelay records the deadline of each power cycle's context.
type deadlineRelay struct {
	hw.Recorder
	bounded []bool
}

func (r *deadlineRelay) PowerCycle(ctx context.Context, off time.Duration) error {
	_, ok := ctx.Deadline()
	r.bounded = append(r.bounded, ok)
	return r.Recorder.PowerCycle(ctx, off)
}

// The power cycle is not cut short by the 30 s the other rungs get: the
// relay's owner may cut the power for longer than camerad asks, and
// hw.Remote bounds its own wait.
func TestPowerCycleNotCutShort(t *testing.T) {
	h := newHarness(t, sim.Config{}, every(10*time.Minute), day0, day0.Add(15*time.Minute))
	relay := &deadlineRelay{Recorder: hw.Recorder{Device: "camera"}}
	h.loop.Relay = relay
	h.dev.fail = errors.New("no camera on the bus")
	h.loop.Run(h.ctx)
	if len(relay.bounded) == 0 || slices.Contains(relay.bounded, true) {
		t.Errorf("power cycles with a deadline: %v", relay.bounded)
	}
}

func TestLadderUpToPowerCycleThenAlert(t *testing.T) {
	// Five slots: the first climbs the whole ladder, the others alert.
	h := newHarness(t, sim.Config{}, every(10*time.Minute), day0, day0.Add(45*time.Minute))
	h.dev.fail = errors.New("no camera on the bus")
	h.loop.Run(h.ctx)
	st := h.loop.Status.Snapshot()
	var actions []string
	for _, a := range st.RecoveryActions {
		actions = append(actions, a.Action)
	}
	got := strings.Join(actions, ",")
	if got != "retry,cancel,reset session,USB reset,power cycle,retry,cancel,reset session,USB reset,power cycle,retry,cancel,reset session,USB reset,alert,alert,alert,alert,alert" {
		t.Errorf("recovery actions %s", got)
	}
	if n := len(h.relay.Requests()); n != 2 || h.dev.powerCycles != n {
		t.Errorf("%d power cycles in the first hour, the device told of %d: want the cap of 2, told each", n, h.dev.powerCycles)
	}
	if st.MissedSlots == 0 || !st.Recovery.Alert {
		t.Errorf("status %+v: want missed slots and an alert", st)
	}

	// The camera comes back: the next capture ends the alert.
	h.dev.fail = nil
	ctx, cancel := context.WithCancel(context.Background())
	h.clock.StopAt(h.clock.Now().Add(30*time.Minute), cancel)
	h.loop.Run(ctx)
	if st := h.loop.Status.Snapshot(); st.Recovery.Alert || st.Captures == 0 {
		t.Errorf("after the camera came back: %+v", st.Recovery)
	}
}

func TestRecoversFromInjectedFaults(t *testing.T) {
	for _, f := range []sim.Fault{
		{Kind: sim.Stall, Op: ptp.OpGetPartialObject, At: 100},
		{Kind: sim.Garbage},
		{Kind: sim.WrongTID},
		{Kind: sim.Busy, Times: 3},
	} {
		t.Run(f.Kind.String(), func(t *testing.T) {
			h := newHarness(t, sim.Config{}, every(10*time.Minute), day0, day0.Add(time.Hour))
			h.dev.dev.Inject(f)
			h.loop.Run(h.ctx)
			if n := len(photosOf(t, h.store)); n < 5 {
				t.Errorf("%d photos in an hour of 10-minute slots with one %v fault, want at least 5", n, f.Kind)
			}
			if left := h.dev.dev.Faults(); len(left) != 0 {
				t.Errorf("the fault never fired: %+v", left)
			}
		})
	}
}

func TestUnplugAndReplug(t *testing.T) {
	h := newHarness(t, sim.Config{}, every(10*time.Minute), day0, day0.Add(time.Hour))
	h.dev.dev.Unplug()
	go func() {
		// Replugged while camerad climbs its ladder.
		for h.dev.opens.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		h.dev.dev.Replug()
	}()
	h.loop.Run(h.ctx)
	if n := len(photosOf(t, h.store)); n < 4 {
		t.Errorf("%d photos after an unplug and replug, want at least 4", n)
	}
}

func TestLateStartReportsMissedSlots(t *testing.T) {
	h := newHarness(t, sim.Config{}, every(10*time.Minute), day0, day0.Add(time.Hour))
	os.WriteFile(h.loop.StateFile, []byte(`{"LastSlot":"2026-11-25T23:00:00Z"}`), 0o644)
	h.loop.Run(h.ctx)
	st := h.loop.Status.Snapshot()
	// Down from 23:00 to 00:00:30: 23:10 … 23:50 missed (5), none made
	// up; 00:00 is within the grace.
	if st.MissedSlots != 5 {
		t.Errorf("%d missed slots, want 5", st.MissedSlots)
	}
	if n := len(photosOf(t, h.store)); n != 7 {
		t.Errorf("%d photos, want 7 (00:00 … 01:00), no burst", n)
	}
}

// TestHangAtEveryStep stalls the camera at each operation a capture uses,
// in turn: every run ends with pictures taken after the stall, never a hang.
func TestHangAtEveryStep(t *testing.T) {
	probe := newHarness(t, sim.Config{}, every(time.Hour), day0, day0.Add(time.Minute))
	probe.loop.Run(probe.ctx)
	seen := map[ptp.OpCode]bool{}
	var ops []ptp.OpCode
	for _, op := range probe.dev.dev.Ops() {
		if !seen[op] && op != ptp.OpOpenSession && op != ptp.OpGetDeviceInfo {
			seen[op] = true
			ops = append(ops, op)
		}
	}
	if len(ops) < 4 {
		t.Fatalf("a capture used only %v", ops)
	}
	for _, op := range ops {
		t.Run(op.String(), func(t *testing.T) {
			h := newHarness(t, sim.Config{}, every(10*time.Minute), day0, day0.Add(time.Hour))
			h.dev.dev.Inject(sim.Fault{Kind: sim.Stall, Op: op})
			start := time.Now()
			h.loop.Run(h.ctx)
			if n := len(photosOf(t, h.store)); n < 5 {
				st := h.loop.Status.Snapshot()
				t.Errorf("stall in %v: %d photos in an hour of 10-minute slots, want at least 5; last error %q", op, n, st.LastError)
			}
			if left := h.dev.dev.Faults(); len(left) != 0 {
				t.Errorf("the stall in %v never happened: %+v", op, left)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("stall in %v: the simulated hour took %v of real time", op, d)
			}
		})
	}
}

// Rest comes once after each capture that leaves a minute or more to the
// next slot (camerad gives back its download buffers then), never between
// slots closer than that; Work comes before each capture that follows a
// Rest, and only then.
func TestRestBeforeLongWaits(t *testing.T) {
	for _, interval := range []time.Duration{10 * time.Minute, 30 * time.Second} {
		h := newHarness(t, sim.Config{}, every(interval), day0, day0.Add(time.Hour))
		var seq strings.Builder
		h.loop.Rest = func() { seq.WriteString("R") }
		h.loop.Work = func() { seq.WriteString("W") }
		h.loop.Run(h.ctx)
		photos := len(photosOf(t, h.store))
		rests, works := strings.Count(seq.String(), "R"), strings.Count(seq.String(), "W")
		if interval >= time.Minute && (photos < 5 || rests != photos || works < rests-1 ||
			strings.Contains(seq.String(), "RR") || strings.Contains(seq.String(), "WW") || strings.HasPrefix(seq.String(), "W")) {
			t.Errorf("every %v: rests and works %q for %d photos, want a rest after each and work before the next", interval, seq.String(), photos)
		}
		if interval < time.Minute && (photos < 100 || seq.Len() != 0) {
			t.Errorf("every %v: rests and works %q for %d photos, want none", interval, seq.String(), photos)
		}
	}
}
