package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/durable"
	"github.com/lapsebox/lapsebox/ptp/camera"
)

// Loop takes a picture at every slot of a schedule.
type Loop struct {
	Schedule *schedule.Schedule
	Store    *store.Store
	Device   Device
	Relay    hw.Relay // the camera's power; a power cycle is the ladder's last rung
	Ladder   *recovery.Ladder
	Keep     config.Keep
	// Model is the configured camera model, whose typical picture size is
	// assumed until a capture is measured ("" for any camera).
	Model string
	// MinSize is the smallest file accepted as a picture: a camera that
	// hands back a few hundred bytes failed, whatever it says.
	MinSize int64
	// Targets lists the upload targets owed a file with extension ext.
	Targets func(ext string, raw bool) []string
	// Retention is applied before a capture that would cross its
	// high-water mark, when the disk is found full, and every PruneEvery
	// (default an hour) for photos past their age. Usage measures the
	// store's file system (nil: neither is done).
	Retention  store.Retention
	Usage      store.Usage
	PruneEvery time.Duration
	Clock      Clock
	Status     *StatusFile
	// StateFile keeps the last slot handled across restarts, so slots
	// missed while camerad was down are reported ("" = not kept).
	StateFile string
	// Requests is the directory where other services ask for a picture
	// now (package request); "" takes no requests. It is looked at
	// between slots, every KeepAliveEvery.
	Requests string
	Log      *log.Logger

	// Grace is how late a slot may still be taken (default a minute, or
	// half the shortest interval).
	Grace time.Duration
	// SlotTimeout bounds the attempts at one slot (default two minutes,
	// or less when slots are closer).
	SlotTimeout time.Duration
	// KeepAliveEvery keeps a Canon awake between slots (default 10 s).
	KeepAliveEvery time.Duration
	// Rest, if not nil, is called once the loop has a minute or more to
	// wait for its next slot, once per rest: camerad gives back the
	// memory its downloads used (usb.ReleaseMemory) and runs on one
	// processor (rest.Narrow).
	Rest func()
	// Work, if not nil, is called when a capture follows a Rest, before
	// it begins: camerad takes back its processors (rest.Widen).
	Work func()
	// PowerOff is how long the relay cuts the camera's power (default 10 s).
	PowerOff time.Duration

	cam       *camera.Camera
	lastModel string // of the camera last seen, or of the newest photo
	lastOpen  time.Time
	openErr   string  // why the camera last failed to open between slots
	sizes     []int64 // bytes of recent captures, newest last
	perDay    float64 // the schedule's pictures per day; <0 until counted
	lastPrune time.Time
	prevSlot  time.Time // the last slot captured, for files that arrive late
	tried     int64     // bytes the store took of the last capture attempt
	rested    bool      // Rest was called since the last capture
}

func (l *Loop) defaults() {
	if l.Clock == nil {
		l.Clock = SystemClock{}
	}
	if l.Status == nil {
		l.Status = &StatusFile{}
	}
	if l.Log == nil {
		l.Log = log.New(io.Discard, "", 0)
	}
	if l.Ladder == nil {
		l.Ladder = recovery.New(recovery.Policy{})
	}
	if l.Targets == nil {
		l.Targets = func(string, bool) []string { return nil }
	}
	shortest := 24 * time.Hour
	for _, w := range l.Schedule.Windows {
		shortest = min(shortest, w.Interval)
	}
	if l.Grace == 0 {
		l.Grace = min(time.Minute, shortest/2)
	}
	if l.SlotTimeout == 0 {
		l.SlotTimeout = min(2*time.Minute, max(shortest-shortest/4, 10*time.Second))
	}
	if l.KeepAliveEvery == 0 {
		l.KeepAliveEvery = 10 * time.Second
	}
	if l.PowerOff == 0 {
		l.PowerOff = 10 * time.Second
	}
	if l.PruneEvery == 0 {
		l.PruneEvery = time.Hour
	}
}

// Run captures until ctx is done.
func (l *Loop) Run(ctx context.Context) error {
	l.defaults()
	defer l.closeCamera()
	l.perDay = -1
	l.sizes = nil
	start := l.Clock.Now()
	l.restore() // first: no status of this run lacks the newest capture
	l.status(func(st *statusfile.Camera) {
		st.Mode = "capture"
		if st.Started.IsZero() {
			st.Started = start
		}
	})
	if l.Usage != nil {
		if used, total, err := l.Usage(); err == nil {
			l.measured(used, total)
		}
	}
	last := l.loadLast()
	for ctx.Err() == nil {
		now := l.Clock.Now()
		if !schedule.Plausible(now) {
			// Photos are never named 1970: wait for NTP (or an RTC).
			l.status(func(st *statusfile.Camera) { st.State = "waiting for clock" })
			if err := l.Clock.Sleep(ctx, 10*time.Second); err != nil {
				return nil
			}
			continue
		}
		c := l.Schedule.Catchup(last, now, l.Grace)
		if len(c.Missed) > 0 || c.Truncated {
			l.missed(c.Missed, c.Truncated, "camerad was not running or was late")
		}
		if !c.Due.IsZero() {
			l.shoot(ctx, c.Due)
		}
		last = c.Through
		l.saveLast(last)
		l.maybePrune()
		if !c.NextOK {
			l.status(func(st *statusfile.Camera) { st.State, st.NextSlot = "no slot in the schedule", time.Time{} })
			if err := l.Clock.Sleep(ctx, time.Hour); err != nil {
				return nil
			}
			continue
		}
		l.status(func(st *statusfile.Camera) {
			st.NextSlot = c.Next
			if st.State != "alert" && !strings.HasPrefix(st.State, "storage") {
				st.State = "waiting"
			}
		})
		if l.Rest != nil && !l.rested && c.Next.Sub(l.Clock.Now()) >= time.Minute {
			l.Rest()
			l.rested = true
		}
		if err := l.waitFor(ctx, c.Next); err != nil {
			return nil
		}
	}
	return nil
}

// waitFor sleeps until t, keeping the camera awake meanwhile, or looking
// for it if it is not open.
func (l *Loop) waitFor(ctx context.Context, t time.Time) error {
	for {
		d := t.Sub(l.Clock.Now())
		if d <= 0 {
			return nil
		}
		if l.cam == nil {
			l.openBetweenSlots(ctx, t)
			if d = t.Sub(l.Clock.Now()); d <= 0 {
				return nil
			}
		}
		if err := l.Clock.Sleep(ctx, min(d, l.KeepAliveEvery)); err != nil {
			return err
		}
		// Awake anyway: keep the heartbeat from waking camerad on its
		// own before this loop wakes again.
		if err := l.Status.Refresh(l.Clock.Now(), l.KeepAliveEvery); err != nil {
			l.Log.Printf("writing the status: %v", err)
		}
		if l.captureRequested() {
			l.shoot(ctx, l.Clock.Now().Truncate(time.Second))
			continue
		}
		if l.cam != nil && t.Sub(l.Clock.Now()) > 0 {
			kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := l.cam.KeepAlive(kctx); err != nil {
				l.Log.Printf("keeping the camera awake: %v", err)
				if errors.Is(err, context.Canceled) && ctx.Err() != nil {
					cancel()
					return ctx.Err()
				}
			}
			cancel()
		}
	}
}

// openBetweenSlots opens the camera while waiting for slot, so that its
// model, battery and card show before the first slot: every
// KeepAliveEvery, or every minute while it is not found. Failing here is
// no capture failure: the ladder is not climbed, and the slot opens the
// camera again anyway.
func (l *Loop) openBetweenSlots(ctx context.Context, slot time.Time) {
	now := l.Clock.Now()
	left := slot.Sub(now) - 2*time.Second
	every := l.KeepAliveEvery
	if l.openErr != "" {
		every = max(every, time.Minute)
	}
	if left < 3*time.Second || (!l.lastOpen.IsZero() && now.Sub(l.lastOpen) < every) {
		return
	}
	octx, cancel := context.WithTimeout(ctx, min(left, 10*time.Second))
	defer cancel()
	if err := l.openCamera(octx); err != nil {
		if ctx.Err() == nil && err.Error() != l.openErr {
			l.Log.Printf("looking for the camera: %v", err)
			l.openErr = err.Error()
		}
		return
	}
	l.settings(ctx)
}

// shoot takes the picture for slot, climbing the recovery ladder on
// failure until the slot's time is up.
func (l *Loop) shoot(ctx context.Context, slot time.Time) {
	if l.rested && l.Work != nil {
		l.Work()
	}
	l.rested = false
	deadline := slot.Add(l.SlotTimeout)
	if err := l.makeRoom(); err != nil {
		l.full(err)
		l.missed([]time.Time{slot}, false, err.Error())
		return
	}
	l.status(func(st *statusfile.Camera) { st.State = "capturing" })
	for {
		info, err := l.captureOnce(ctx, slot, deadline)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			l.Ladder.Success()
			l.status(func(st *statusfile.Camera) {
				st.LastCapture = info
				st.Captures++
				st.Recovery = recoveryStatus(l.Ladder.State(l.Clock.Now()))
				st.State = "waiting"
			})
			l.stored(info.Bytes)
			l.Log.Printf("captured %s: %s in %.1fs", slot.Format(time.RFC3339), strings.Join(info.Files, ", "), time.Duration(info.Total).Seconds())
			return
		}
		var se *StorageError
		if errors.As(err, &se) {
			// The camera did its part: its ladder stays where it is.
			if !l.storageFailed(err, l.tried) || !l.Clock.Now().Before(deadline) {
				l.missed([]time.Time{slot}, false, err.Error())
				return
			}
			continue
		}
		now := l.Clock.Now()
		action := l.Ladder.Failure(now)
		l.Log.Printf("capture for %s failed: %v; next: %v", slot.Format(time.RFC3339), err, action)
		l.status(func(st *statusfile.Camera) {
			st.LastError, st.LastErrorTime = err.Error(), now
			st.Recovery = recoveryStatus(l.Ladder.State(now))
			st.RecoveryActions = append(st.RecoveryActions, statusfile.RecoveryAction{Time: now, Action: action.String(), Error: err.Error()})
			if action == recovery.Alert {
				st.State = "alert"
			}
		})
		if action == recovery.Alert || !now.Before(deadline) {
			l.missed([]time.Time{slot}, false, err.Error())
			return
		}
		if rerr := l.recover(ctx, action); rerr != nil {
			l.Log.Printf("recovery %v: %v", action, rerr)
		}
		// Give the camera time to come back: a second after a reset, its
		// boot after a power cycle.
		pause := time.Second
		if action == recovery.PowerCycle {
			pause = l.PowerOff + 5*time.Second
		}
		if err := l.Clock.Sleep(ctx, pause); err != nil {
			return
		}
		if !l.Clock.Now().Before(deadline) {
			l.missed([]time.Time{slot}, false, err.Error())
			return
		}
	}
}

// recover applies a rung of the ladder.
func (l *Loop) recover(ctx context.Context, a recovery.Action) error {
	if a == recovery.PowerCycle {
		l.closeCamera()
		// Also when no camera was open: its transport may be.
		l.Device.Recover(ctx, nil, a)
		if l.Relay == nil {
			return errors.New("no relay for the camera's power")
		}
		// Not bounded like the other rungs: the site's relay may cut
		// the power for longer than asked (watchdogd applies its off
		// time), and the relay bounds its own wait (hw.Remote).
		return l.Relay.PowerCycle(ctx, l.PowerOff)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch a {
	case recovery.Retry:
		return nil
	case recovery.Cancel:
		return l.Device.Recover(rctx, l.cam, a)
	case recovery.ResetSession, recovery.USBReset:
		err := l.Device.Recover(rctx, l.cam, a)
		l.dropCamera()
		return err
	}
	return nil
}

// openCamera finds and opens the camera, and shows it on the status page.
func (l *Loop) openCamera(ctx context.Context) error {
	l.lastOpen = l.Clock.Now()
	cam, err := l.Device.Open(ctx)
	if err != nil {
		l.status(func(st *statusfile.Camera) {
			if st.Camera != nil {
				st.Camera.Connected = false
			}
		})
		return fmt.Errorf("opening the camera: %w", err)
	}
	l.cam = cam
	l.openErr = ""
	id := cam.Identity()
	l.lastModel = id.Model
	l.status(func(st *statusfile.Camera) {
		st.Camera = &statusfile.CameraInfo{Model: id.Model, Serial: id.SerialNumber, Connected: true}
	})
	l.Log.Printf("camera %s", id)
	return nil
}

// captureOnce opens the camera if needed and takes one picture. A failure
// of the store is a *StorageError; l.tried says how many bytes the store
// took before it.
func (l *Loop) captureOnce(ctx context.Context, slot, deadline time.Time) (*statusfile.Capture, error) {
	cctx, cancel := context.WithTimeout(ctx, max(deadline.Sub(l.Clock.Now()), 5*time.Second))
	defer cancel()
	l.tried = 0
	if l.cam == nil {
		l.status(func(st *statusfile.Camera) { st.State = "waiting for camera" })
		if err := l.openCamera(cctx); err != nil {
			return nil, err
		}
		l.status(func(st *statusfile.Camera) { st.State = "capturing" })
	}
	id := l.cam.Identity()
	tx, err := l.Store.Begin(slot, store.Camera{Model: id.Model, Serial: id.SerialNumber}, nil)
	if err != nil {
		return nil, storageErr(err)
	}
	defer tx.Abort()

	var writers, lateWriters []*fileWriter
	var lateTx *store.Tx
	var firstByte time.Time
	var sinkErr error // the store's, when the camera's sink failed
	sink := func(f camera.File) (io.Writer, error) {
		if !wanted(l.Keep, f.RAW) {
			return io.Discard, nil
		}
		ext := fileExt(f)
		if f.Late && !l.prevSlot.IsZero() {
			// The other half of the previous picture (a RAW after its
			// JPG): it joins that capture's name if it is free.
			if lateTx == nil {
				if lateTx, err = l.Store.Begin(l.prevSlot, store.Camera{Model: id.Model, Serial: id.SerialNumber}, nil); err != nil {
					sinkErr = err
					return nil, err
				}
			}
			w, err := lateTx.Create(ext, l.Targets(ext, f.RAW))
			if err != nil {
				sinkErr = err
				return nil, err
			}
			fw := &fileWriter{w: w, name: f.Name, onFirst: func() {}}
			lateWriters = append(lateWriters, fw)
			return fw, nil
		}
		w, err := tx.Create(ext, l.Targets(ext, f.RAW))
		if err != nil {
			sinkErr = err
			return nil, err
		}
		fw := &fileWriter{w: w, name: f.Name, onFirst: func() {
			if firstByte.IsZero() {
				firstByte = l.Clock.Now()
			}
		}}
		writers = append(writers, fw)
		return fw, nil
	}
	_, err = l.cam.Capture(cctx, sink)
	delivered := l.Clock.Now()
	var closeErr error
	for _, w := range writers {
		l.tried += w.n
		if sinkErr == nil && w.err != nil {
			sinkErr = w.err
		}
		if cerr := w.w.Close(); closeErr == nil {
			closeErr = cerr
		}
	}
	for _, w := range lateWriters {
		if sinkErr == nil && w.err != nil {
			sinkErr = w.err
		}
	}
	if lateTx != nil {
		l.commitLate(lateTx, lateWriters)
	}
	switch {
	case sinkErr != nil:
		return nil, storageErr(sinkErr)
	case err != nil:
		return nil, err
	case closeErr != nil:
		return nil, storageErr(closeErr)
	}
	if len(writers) == 0 {
		return nil, fmt.Errorf("the camera delivered no %s file", l.Keep)
	}
	var bytes int64
	for _, w := range writers {
		if w.n < l.MinSize {
			return nil, fmt.Errorf("the camera delivered %s of only %d bytes (at least %d expected)", w.name, w.n, l.MinSize)
		}
		bytes += w.n
	}
	tx.SetSettings(l.settings(ctx))
	photos, err := tx.Commit()
	if err != nil {
		return nil, storageErr(err)
	}
	durable := l.Clock.Now()
	if firstByte.IsZero() {
		firstByte = delivered
	}
	info := &statusfile.Capture{
		Slot: slot, Bytes: bytes,
		Release: statusfile.Duration(firstByte.Sub(slot)), Transfer: statusfile.Duration(delivered.Sub(firstByte)),
		Write: statusfile.Duration(durable.Sub(delivered)), Total: statusfile.Duration(durable.Sub(slot)),
	}
	for _, p := range photos {
		info.Files = append(info.Files, p.Path)
	}
	l.prevSlot = slot
	return info, nil
}

// commitLate stores files that belong to the previous picture: nothing
// the camera delivers is thrown away.
func (l *Loop) commitLate(tx *store.Tx, writers []*fileWriter) {
	defer tx.Abort()
	var err error
	for _, w := range writers {
		if cerr := w.w.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		var photos []store.Photo
		if photos, err = tx.Commit(); err == nil {
			for _, p := range photos {
				l.Log.Printf("stored %s, which arrived after its capture", p.Path)
			}
			return
		}
	}
	l.Log.Printf("storing files that arrived late: %v", err)
}

// settings reads the exposure settings recorded in the sidecars, and the
// battery and card for the status, without holding up the loop for long.
func (l *Loop) settings(ctx context.Context) map[string]string {
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	props, err := l.cam.Props(pctx)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, p := range props {
		m[p.Name] = p.Value
	}
	l.status(func(st *statusfile.Camera) {
		if st.Camera != nil {
			st.Camera.Battery = m[camera.Battery]
			st.Camera.CardFree = m[camera.FreeSpace]
			st.Camera.Format = m[camera.ImageFormat]
		}
	})
	return m
}

func wanted(k config.Keep, raw bool) bool {
	switch k {
	case config.KeepRAW:
		return raw
	case config.KeepBoth:
		return true
	}
	return !raw
}

// fileExt is the store's extension for a camera file: the camera's own,
// lower case, or one from the file's kind when it has none.
func fileExt(f camera.File) string {
	ext := strings.ToLower(path.Ext(f.Name))
	if len(ext) >= 2 && len(ext) <= 9 && strings.Trim(ext[1:], "abcdefghijklmnopqrstuvwxyz0123456789") == "" {
		return ext
	}
	if f.RAW {
		return ".raw"
	}
	return ".jpg"
}

// fileWriter is a file of a capture on its way into the store; it keeps
// the store's error apart from the camera's.
type fileWriter struct {
	w       io.WriteCloser
	name    string
	n       int64
	err     error
	onFirst func()
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.n == 0 && len(p) > 0 {
		w.onFirst()
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func (l *Loop) missed(slots []time.Time, truncated bool, reason string) {
	l.status(func(st *statusfile.Camera) {
		st.MissedSlots += len(slots)
		for _, s := range slots {
			st.RecentMissed = append(st.RecentMissed, statusfile.MissedSlot{Slot: s, Reason: reason})
		}
		if truncated {
			st.RecentMissed = append(st.RecentMissed, statusfile.MissedSlot{Reason: "and more: " + reason})
		}
	})
	if len(slots) > 0 {
		l.Log.Printf("missed %d slot(s) from %s: %s", len(slots), slots[0].Format(time.RFC3339), reason)
	}
}

func (l *Loop) status(fn func(*statusfile.Camera)) {
	if err := l.Status.Update(l.Clock.Now(), fn); err != nil {
		l.Log.Printf("writing status: %v", err)
	}
}

func (l *Loop) dropCamera() { l.cam = nil }

func (l *Loop) closeCamera() {
	if l.cam != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l.cam.Close(ctx)
		cancel()
		l.cam = nil
	}
}

type savedState struct {
	LastSlot time.Time
}

func (l *Loop) loadLast() time.Time {
	if l.StateFile == "" {
		return time.Time{}
	}
	b, err := os.ReadFile(l.StateFile)
	if err != nil {
		return time.Time{}
	}
	var s savedState
	if json.Unmarshal(b, &s) != nil {
		return time.Time{}
	}
	return s.LastSlot
}

func (l *Loop) saveLast(t time.Time) {
	if l.StateFile == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(l.StateFile), 0o755); err == nil {
		if err := writeState(l.StateFile, savedState{LastSlot: t}); err != nil {
			l.Log.Printf("saving the last slot: %v", err)
		}
	}
}

// writeState replaces file with v as JSON, crash-safely.
func writeState(file string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return durable.WriteFile(file, b)
}
