package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/internal/tmpfs"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// pictureSize is the simulated camera's JPEG in the disk-full tests: 40
// of them fill the 12 MiB disk.
const pictureSize = 300_000

// onSmallDisk is a harness whose store is alone on a real 12 MiB file
// system, with the default retention marks.
func onSmallDisk(t *testing.T, start, end time.Time) *harness {
	t.Helper()
	h := newHarness(t, sim.Config{JPEGSize: pictureSize}, every(time.Minute), start, end)
	st, err := store.Open(filepath.Join(tmpfs.Mount(t, 12<<20), "lapsebox"))
	if err != nil {
		t.Fatal(err)
	}
	h.store, h.loop.Store = st, st
	h.loop.Usage = store.StatfsUsage(st.Dir())
	h.loop.Retention = store.Retention{HighWater: 0.85, LowWater: 0.75, Critical: 0.95}
	return h
}

// noSpaceMisses lists the missed slots put down to the store.
func noSpaceMisses(st statusfile.Camera) []statusfile.MissedSlot {
	var out []statusfile.MissedSlot
	for _, m := range st.RecentMissed {
		if strings.Contains(m.Reason, "storing") || strings.Contains(m.Reason, "storage") || strings.Contains(m.Reason, "space") {
			out = append(out, m)
		}
	}
	return out
}

// Every picture already sent: three hours of a picture a minute are 15
// times the disk, and no slot is missed, none climbs the camera's ladder,
// no queued photo is dropped, and the status says what retention did.
func TestFullDiskOfSentPhotosMissesNothing(t *testing.T) {
	h := onSmallDisk(t, day0, day0.Add(3*time.Hour))
	h.loop.Targets = func(string, bool) []string { return nil }
	if err := h.loop.Run(h.ctx); err != nil {
		t.Fatal(err)
	}
	st := h.loop.Status.Snapshot()
	if st.Captures != 181 || st.MissedSlots != 0 {
		t.Errorf("%d captures, %d missed (%v); want every one of the 181 slots", st.Captures, st.MissedSlots, st.RecentMissed)
	}
	if len(st.RecoveryActions) != 0 || st.Recovery.ConsecutiveFailures != 0 {
		t.Errorf("the camera's ladder moved: %+v %+v", st.Recovery, st.RecoveryActions)
	}
	r := st.Retention
	if r == nil || r.DeletedForSpace < 181-40 || r.DroppedQueued != 0 {
		t.Fatalf("retention %+v: want most photos deleted for space and none dropped", r)
	}
	if st.Prune == nil || st.Prune.Reason != "high-water mark before a capture" || st.Prune.DeletedForSpace == 0 {
		t.Errorf("last retention pass %+v", st.Prune)
	}
	if st.Store == nil || st.Store.Full || st.Store.TotalBytes != 12<<20 || float64(st.Store.UsedBytes) > 0.85*float64(st.Store.TotalBytes) {
		t.Errorf("store %+v: want it measured, below the high-water mark, not full", st.Store)
	}
	if a := st.Autonomy; a == nil || a.PicturesPerDay != 1440 || a.SizeSource != "median of the last 20 pictures" || a.BytesPerPicture < pictureSize {
		t.Errorf("autonomy %+v", a)
	}
	if errs := h.store.Verify(true); len(errs) > 0 {
		t.Errorf("store after the run: %v", errs)
	}
}

// No target ever confirms a picture: past the critical mark the oldest
// queued photos are dropped, loudly, just enough for the next one, and
// the camera never stops.
func TestFullDiskOfQueuedPhotosDropsOldestAndKeepsShooting(t *testing.T) {
	h := onSmallDisk(t, day0, day0.Add(2*time.Hour))
	if err := h.loop.Run(h.ctx); err != nil {
		t.Fatal(err)
	}
	st := h.loop.Status.Snapshot()
	if st.Captures != 121 || st.MissedSlots != 0 || len(st.RecoveryActions) != 0 {
		t.Errorf("%d captures, %d missed (%v), ladder %v; want all 121 slots taken", st.Captures, st.MissedSlots, st.RecentMissed, st.RecoveryActions)
	}
	r := st.Retention
	if r == nil || r.DroppedQueued < 121-40 || r.DeletedForSpace != 0 || r.LastDropped.IsZero() {
		t.Fatalf("retention %+v: want queued photos dropped", r)
	}
	p := st.Prune
	if p == nil || len(p.DroppedTargets) != 1 || p.DroppedTargets[0] != "cloud" {
		t.Fatalf("last pass %+v: want it to name cloud", p)
	}
	// Dropped down to the critical mark, not to the low-water mark.
	if p.UsedFraction < 0.85 || p.UsedFraction > 0.95 {
		t.Errorf("after dropping queued photos %.3f of the disk is used, want between the high-water and critical marks", p.UsedFraction)
	}
	es, _ := h.store.Pending("cloud")
	photos := photosOf(t, h.store)
	if len(es) != len(photos) || len(photos) < 30 {
		t.Errorf("%d photos, %d still queued: want every photo left still queued", len(photos), len(es))
	}
	// The newest survive: the last slot is on the disk.
	last := "photos/2026/11/26/20261126020000.jpg"
	if len(photos) == 0 || photos[len(photos)-1] != last {
		t.Errorf("newest photo %v, want %s", photos[len(photos)-1:], last)
	}
}

// Something else fills the disk, and retention has nothing left it may
// delete: the slot is missed as the store's failure, not the camera's,
// and the next slot after space is freed is taken.
func TestDiskFullByOthersIsAStorageFailure(t *testing.T) {
	h := onSmallDisk(t, day0, day0.Add(2*time.Minute))
	h.loop.Targets = func(string, bool) []string { return nil }
	run := func(d time.Duration) statusfile.Camera {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.clock.StopAt(h.clock.Now().Add(d), cancel)
		if err := h.loop.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return h.loop.Status.Snapshot()
	}
	st := run(2 * time.Minute)
	if st.Captures != 3 {
		t.Fatalf("%d captures on an empty disk, want 3", st.Captures)
	}
	// The photos are gone (by age, say), and something else fills the
	// disk: retention has nothing it may delete.
	if _, err := h.store.Prune(store.Retention{MaxAge: time.Nanosecond, HighWater: 0.85, LowWater: 0.75, Critical: 0.95}, h.loop.Usage, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(filepath.Dir(h.store.Dir()), "ballast")
	fill(t, ballast)
	st = run(10 * time.Minute)
	if st.Captures != 3 || st.MissedSlots != 10 || len(noSpaceMisses(st)) != 10 {
		t.Errorf("%d captures, %d missed: %v; want 10 slots missed for want of space", st.Captures, st.MissedSlots, st.RecentMissed)
	}
	if len(st.RecoveryActions) != 0 || st.Recovery.ConsecutiveFailures != 0 || st.Recovery.Alert {
		t.Errorf("a full disk climbed the camera's ladder: %+v %v", st.Recovery, st.RecoveryActions)
	}
	if st.Store == nil || !st.Store.Full || st.Store.FullSince.IsZero() || st.State != "storage full" ||
		!strings.Contains(st.Store.LastError, "no space left on device") {
		t.Errorf("state %q, store %+v: want it reported full", st.State, st.Store)
	}
	if st.Camera == nil || !st.Camera.Connected {
		t.Errorf("camera %+v: the camera is fine and found", st.Camera)
	}

	// Space is freed: the next slot is taken, with nobody's help.
	os.Remove(ballast)
	st = run(3 * time.Minute)
	if st.Captures < 6 || st.Store.Full || st.State == "storage full" {
		t.Errorf("after freeing space: %d captures, state %q, store %+v", st.Captures, st.State, st.Store)
	}
}

// With pictures of a measured size that do not fit, and nothing retention
// may delete, a slot is not even tried.
func TestNoRoomSkipsTheCapture(t *testing.T) {
	h := newHarness(t, sim.Config{}, every(time.Minute), day0, day0.Add(time.Minute))
	h.loop.Usage = func() (uint64, uint64, error) { return 99e6, 100e6, nil }
	h.loop.Retention = store.Retention{HighWater: 0.85, LowWater: 0.75, Critical: 0.95}
	h.loop.defaults()
	h.loop.sizes = []int64{2e6, 2e6, 3e6}
	err := h.loop.makeRoom()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "storage full: 1.0 MB free on /perm, a picture needs about 2.0 MB") {
		t.Errorf("makeRoom = %v", err)
	}
	h.loop.sizes = nil // the model's typical size is only a guess: try
	if err := h.loop.makeRoom(); err != nil {
		t.Errorf("makeRoom with a typical size: %v", err)
	}
}

// A write that fails for want of space in the middle of a picture (the
// expected size was too small: the camera switched to RAW+JPG, or another
// program wrote meanwhile) is the store's failure too: retention runs at
// once, and the slot is taken again while there is time.
func TestNoSpaceWhileWriting(t *testing.T) {
	h := onSmallDisk(t, day0, day0.Add(3*time.Minute))
	h.loop.Targets = func(string, bool) []string { return nil }
	h.loop.Retention = store.Retention{HighWater: 0.99, LowWater: 0.9, Critical: 0.995}
	// Old photos, all sent, then twenty tiny ones: the check before a
	// capture expects 4 kB, not the 300 kB that come.
	for i := range 50 {
		size := pictureSize
		if i >= 30 {
			size = 4000
		}
		if _, err := h.store.Put(store.Capture{Time: day0.Add(-time.Duration(100-i) * time.Minute), Files: []store.NewFile{{Ext: ".jpg", Write: func(w io.Writer) error {
			_, err := w.Write(make([]byte, size))
			return err
		}}}}); err != nil {
			t.Fatal(err)
		}
	}
	h.loop.MinSize = 1000
	used, total, _ := h.loop.Usage()
	ballast := filepath.Join(filepath.Dir(h.store.Dir()), "ballast")
	if err := os.WriteFile(ballast, make([]byte, total-used-200_000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.loop.Run(h.ctx); err != nil {
		t.Fatal(err)
	}
	st := h.loop.Status.Snapshot()
	if st.Captures != 4 || st.MissedSlots != 0 || len(st.RecoveryActions) != 0 {
		t.Errorf("%d captures, %d missed (%v), ladder %v; want every slot taken", st.Captures, st.MissedSlots, st.RecentMissed, st.RecoveryActions)
	}
	if st.Store == nil || !strings.Contains(st.Store.LastError, "no space left on device") || st.Store.Full {
		t.Errorf("store %+v: want the failed write reported, and the disk no longer full", st.Store)
	}
	if st.Retention == nil || st.Retention.DeletedForSpace == 0 || st.Prune == nil {
		t.Errorf("retention %+v: want old photos deleted when the write failed", st.Retention)
	}
}

// fill writes file until the disk is full.
func fill(t *testing.T, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// After a restart the status shows what the store holds, not what the
// process remembers: the newest picture, its files and time, and the
// sizes the autonomy assumes; and the camera, as soon as it is found,
// before the first slot.
func TestRestartShowsTheStoresLatestPicture(t *testing.T) {
	h := newHarness(t, sim.Config{Quality: sim.RAWAndJPEG}, every(10*time.Minute), day0, day0.Add(30*time.Minute))
	h.loop.Keep = "both"
	h.loop.Run(h.ctx)
	before := h.loop.Status.Snapshot().LastCapture
	if before == nil || len(before.Files) != 2 {
		t.Fatalf("first run: last capture %+v", before)
	}

	// camerad starts again, between two slots.
	h.loop.Status = &StatusFile{Path: filepath.Join(t.TempDir(), "camerad.json")}
	h.clock.Set(day0.Add(32 * time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.clock.StopAt(day0.Add(38*time.Minute), cancel)
	h.loop.Run(ctx)
	st := h.loop.Status.Snapshot()
	lc := st.LastCapture
	if st.Captures != 0 || lc == nil || !lc.Slot.Equal(before.Slot) || lc.Bytes != before.Bytes || len(lc.Files) != 2 {
		t.Fatalf("after the restart: %d captures, last capture %+v; want %+v from the store", st.Captures, lc, before)
	}
	if st.LatestPhoto() != before.Files[0] && st.LatestPhoto() != before.Files[1] {
		t.Errorf("latest photo %q, want the JPG of %v", st.LatestPhoto(), before.Files)
	}
	if st.Camera == nil || st.Camera.Model != "Canon EOS 600D" || !st.Camera.Connected || st.Camera.Battery == "" || st.Camera.CardFree == "" {
		t.Errorf("camera %+v: want it shown, battery and card, before the first slot", st.Camera)
	}
	if st.Started.IsZero() || !st.NextSlot.Equal(day0.Add(40*time.Minute-30*time.Second)) {
		t.Errorf("started %v, next slot %v", st.Started, st.NextSlot)
	}
}

// Autonomy before any capture assumes the configured camera's typical
// size, and says so.
func TestAutonomyBeforeTheFirstCapture(t *testing.T) {
	h := newHarness(t, sim.Config{}, every(5*time.Minute), day0.Add(time.Minute), day0.Add(2*time.Minute))
	h.loop.Usage = func() (uint64, uint64, error) { return 100e6, 1000e6, nil }
	h.loop.Retention = store.Retention{HighWater: 0.85, LowWater: 0.75, Critical: 0.95}
	h.loop.Model = "T3i"
	h.dev.fail = errors.New("no camera yet")
	h.loop.Run(h.ctx)
	a := h.loop.Status.Snapshot().Autonomy
	if a == nil || a.Days == nil || a.PicturesPerDay != 288 || a.SizeSource != "typical for Canon EOS 600D (jpg)" || a.UsableBytes != 750e6 {
		t.Fatalf("autonomy %+v", a)
	}
	if *a.Days < 0.4 || *a.Days > 0.45 { // 750 MB / (288 × 6 MB)
		t.Errorf("autonomy %.2f days, want about 0.43", *a.Days)
	}
}

// Download mode on a small disk: a camera holding 2.5 times the disk in
// pictures. Every file is imported, retention makes room as it goes (for
// sent photos first, queued ones only at the critical mark, loudly), and
// the download never stops for a full disk.
func TestDownloadOntoASmallDisk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queued bool // every photo still owed to a target that never takes it
	}{
		{name: "sent"},
		{name: "queued", queued: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := tmpfs.Mount(t, 12<<20)
			var files []sim.File
			for i := range 60 {
				files = append(files, sim.File{Path: fmt.Sprintf("DCIM/100CANON/IMG_%04d.JPG", i+1), Data: bytes.Repeat([]byte{byte(i)}, 500_000)})
			}
			taken := time.Date(2026, 11, 20, 14, 30, 0, 0, time.UTC)
			dev := &simDevice{dev: sim.New(sim.Config{Model: sim.DownloadOnly, Files: files, Now: func() time.Time { return taken }})}
			st, err := store.Open(filepath.Join(disk, "lapsebox"))
			if err != nil {
				t.Fatal(err)
			}
			var targets []string
			if tc.queued {
				targets = []string{"cloud"}
			}
			status := &StatusFile{}
			d := &Download{
				Device: dev, Interval: 10 * time.Millisecond, Status: status, Log: log.New(io.Discard, "", 0),
				Sink:      &StoreSink{Store: st, Staging: filepath.Join(disk, "download"), Targets: func(string, bool) []string { return targets }},
				Retention: store.Retention{HighWater: 0.85, LowWater: 0.75, Critical: 0.95},
				Usage:     store.StatfsUsage(st.Dir()),
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			var last statusfile.Camera
			for ctx.Err() == nil {
				last = status.Snapshot()
				if last.Download != nil && last.LastPass != nil && last.LastPass.Objects == len(files) && last.LastPass.Failed == 0 && last.LastPass.Fetched == 0 {
					break // a whole pass found every file in the store already
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			<-done
			if last.Download == nil || last.LastPass == nil || last.LastPass.Fetched != 0 || last.FilesFetched != len(files) {
				t.Fatalf("fetched %+v of %d files, each once; last error %q", last.Download, len(files), last.LastError)
			}
			if errs := st.Verify(true); len(errs) > 0 {
				t.Errorf("store: %v", errs)
			}
			r := last.Retention
			if r == nil || r.DeletedForSpace+r.DroppedQueued == 0 {
				t.Fatalf("retention %+v: 30 MB onto a 12 MiB disk deleted nothing", r)
			}
			if tc.queued != (r.DroppedQueued > 0) || (tc.queued && r.DeletedForSpace > 0) {
				t.Errorf("retention %+v: sent photos go for space, queued ones only when nothing else is left", r)
			}
			used, total, _ := d.Usage()
			if f := float64(used) / float64(total); f > 0.95 {
				t.Errorf("the disk ended %.0f%% full, above the critical mark", 100*f)
			}
			photos, _ := st.Photos()
			if imported := len(photos) + r.DeletedForAge + r.DeletedForSpace + r.DroppedQueued; imported != len(files) {
				t.Errorf("%d photos kept and %d deleted: %d imported, want the camera's %d", len(photos), imported-len(photos), imported, len(files))
			}
			if strings.Contains(last.LastError, "no space") {
				t.Errorf("a file did not fit (%q): retention should have made room before it", last.LastError)
			}
			t.Logf("%s: %d files fetched, %d photos kept, retention %+v, disk %.0f%% used", tc.name, last.FilesFetched, len(photos), *r, 100*float64(used)/float64(total))
		})
	}
}
