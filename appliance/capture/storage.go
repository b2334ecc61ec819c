package capture

import (
	"errors"
	"fmt"
	"log"
	"math"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/plan"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
)

// recentSizes is how many captures the expected size is the median of.
const recentSizes = 20

// StorageError is a failure to store a capture: the camera did its part.
// It never climbs the camera's recovery ladder.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "storing the picture: " + e.Err.Error() }

// Unwrap returns the store's error.
func (e *StorageError) Unwrap() error { return e.Err }

func storageErr(err error) error {
	if err == nil {
		return nil
	}
	var se *StorageError
	if errors.As(err, &se) {
		return err
	}
	return &StorageError{Err: err}
}

// restore reads what a status page shows from the store rather than from
// memory, so that a restart or an update forgets nothing: the newest
// capture, the camera that took it, and the sizes of recent captures.
func (l *Loop) restore() {
	photos, err := l.Store.Recent(3 * recentSizes)
	if err != nil {
		l.Log.Printf("reading the newest photos: %v", err)
	}
	caps := store.Captures(photos)
	for i := len(caps) - 1; i >= 0; i-- { // oldest first: sizes are newest last
		if n := l.keptBytes(caps[i]); n > 0 {
			l.addSize(n)
		}
	}
	if len(caps) == 0 {
		return
	}
	newest := caps[0]
	sc := newest[0].Sidecar
	if l.lastModel == "" {
		l.lastModel = sc.Camera.Model
	}
	info := &statusfile.Capture{Slot: sc.CaptureTime}
	for _, p := range newest {
		info.Files = append(info.Files, p.Path)
		info.Bytes += p.Sidecar.Size
	}
	l.status(func(st *statusfile.Camera) {
		if st.LastCapture == nil {
			st.LastCapture = info
		}
	})
}

// keptBytes is what a capture's files that Keep keeps hold.
func (l *Loop) keptBytes(capture []store.Photo) int64 {
	var n int64
	for _, p := range capture {
		if wanted(l.Keep, !isJPG(p.Path)) {
			n += p.Sidecar.Size
		}
	}
	return n
}

func isJPG(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	return ext == ".jpg" || ext == ".jpeg"
}

// addSize records a capture's size for the expected size of the next.
func (l *Loop) addSize(n int64) {
	l.sizes = append(l.sizes, n)
	if len(l.sizes) > recentSizes {
		l.sizes = l.sizes[len(l.sizes)-recentSizes:]
	}
}

// expected is the expected size of the next capture on the disk, and
// where the figure comes from.
func (l *Loop) expected() (int64, string) {
	model := l.lastModel
	if model == "" {
		model = l.Model
	}
	return plan.PictureSize(l.sizes, model, l.Keep)
}

// retention reports whether retention can be applied at all.
func (l *Loop) retention() bool { return l.Usage != nil && l.Retention.Validate() == nil }

// makeRoom runs retention at once if the next capture would cross the
// high-water mark. It returns an error only when a capture of the
// measured size cannot fit and retention found nothing it may delete: the
// slot is then missed for want of space, never by the camera's fault. A
// size that is only the model's typical one is tried: the write tells.
func (l *Loop) makeRoom() error {
	if l.Usage == nil {
		return nil
	}
	need, _ := l.expected()
	used, total, err := l.Usage()
	if err != nil {
		l.Log.Printf("measuring the store: %v", err)
		return nil // try: the write will say
	}
	var freed int64
	if l.retention() && float64(used)+float64(need) > l.Retention.HighWater*float64(total) {
		rep, ok := l.prune("high-water mark before a capture", uint64(need))
		if ok {
			used, total, freed = rep.Used, rep.Total, rep.FreedBytes
		}
	}
	l.measured(used, total)
	if total-min(used, total) < uint64(need) && freed == 0 && len(l.sizes) > 0 {
		return fmt.Errorf("storage full: %s free on /perm, a picture needs about %s, and retention found nothing it may delete (%w)",
			plan.FormatBytes(int64(total-min(used, total))), plan.FormatBytes(need), syscall.ENOSPC)
	}
	return nil
}

// noSpace reports whether err means the file system is full.
func noSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) }

// full reports that a picture could not be stored: the store's failure,
// not the camera's. The file system is full, or failing (read-only after
// errors, an I/O error).
func (l *Loop) full(err error) {
	now := l.Clock.Now()
	l.Log.Printf("storage: %v", err)
	l.status(func(st *statusfile.Camera) {
		s := storeStatus(st)
		s.LastError, s.LastErrorTime = err.Error(), now
		st.State = "storage failing"
		if noSpace(err) {
			st.State = "storage full"
			if !s.Full {
				s.Full, s.FullSince = true, now
			}
		}
		st.LastError, st.LastErrorTime = err.Error(), now
	})
}

// storageFailed handles a capture the store failed to take: it is
// reported, and if the disk is full retention runs at once for at least
// what the capture tried to write. It reports whether room was made to
// try again.
func (l *Loop) storageFailed(err error, tried int64) bool {
	l.full(err)
	if !noSpace(err) || !l.retention() {
		return false
	}
	need, _ := l.expected()
	rep, ok := l.prune("disk full", uint64(max(need, tried+plan.MetadataBytes)))
	if !ok {
		return false
	}
	l.measured(rep.Used, rep.Total)
	return rep.FreedBytes > 0
}

// stored records a capture that the store took: the disk is not full.
func (l *Loop) stored(bytes int64) {
	l.addSize(bytes)
	l.status(func(st *statusfile.Camera) {
		if st.Store != nil && st.Store.Full {
			l.Log.Printf("storage: room again since a capture was stored")
			st.Store.Full, st.Store.FullSince = false, time.Time{}
		}
	})
	if l.Usage != nil {
		if used, total, err := l.Usage(); err == nil {
			l.measured(used, total)
		}
	}
}

// prune runs a retention pass for need more bytes and reports it.
func (l *Loop) prune(reason string, need uint64) (store.PruneReport, bool) {
	return applyRetention(l.Store, l.Retention, l.Usage, l.Clock.Now(), need, reason, l.status, l.Log)
}

// applyRetention runs one retention pass on s for need more bytes, logs
// what it deleted (loudly when photos still owed to a target went) and
// adds it to the status. Capture and download mode share it: neither may
// stop on a full disk.
func applyRetention(s *store.Store, r store.Retention, usage store.Usage, now time.Time, need uint64, reason string,
	status func(func(*statusfile.Camera)), logger *log.Logger) (store.PruneReport, bool) {
	rep, err := s.Prune(r, usage, now, need)
	if err != nil {
		logger.Printf("retention (%s): %v", reason, err)
		return rep, false
	}
	deleted := rep.DeletedForAge + rep.DeletedForSpace + rep.DroppedQueued
	if rep.DroppedQueued > 0 {
		logger.Printf("DISK CRITICALLY FULL: deleted %d photos still owed to %s, oldest first (%.0f%% of /perm in use)",
			rep.DroppedQueued, strings.Join(rep.DroppedTargets, ", "), 100*rep.UsedFraction)
	}
	if deleted > 0 {
		logger.Printf("retention: deleted %d photos (%d for age, %d for space, %d still queued), freed %s; %.0f%% of /perm in use (%s)",
			deleted, rep.DeletedForAge, rep.DeletedForSpace, rep.DroppedQueued, plan.FormatBytes(rep.FreedBytes), 100*rep.UsedFraction, reason)
	}
	status(func(st *statusfile.Camera) {
		if st.Retention == nil {
			st.Retention = &statusfile.Retention{}
		}
		t := st.Retention
		t.Passes++
		t.DeletedForAge += rep.DeletedForAge
		t.DeletedForSpace += rep.DeletedForSpace
		t.DroppedQueued += rep.DroppedQueued
		t.FreedBytes += rep.FreedBytes
		if rep.DroppedQueued > 0 {
			t.LastDropped = now
		}
		if deleted > 0 || st.Prune == nil {
			st.Prune = pruneStatus(rep, now, reason)
		}
	})
	return rep, true
}

// maybePrune applies retention (age, then space) every PruneEvery.
func (l *Loop) maybePrune() {
	now := l.Clock.Now()
	if !l.retention() || (!l.lastPrune.IsZero() && now.Sub(l.lastPrune) < l.PruneEvery) {
		return
	}
	l.lastPrune = now
	if rep, ok := l.prune("hourly", 0); ok {
		l.measured(rep.Used, rep.Total)
	}
}

// measured puts the file system's use and the autonomy it gives on the
// status page.
func (l *Loop) measured(used, total uint64) {
	now := l.Clock.Now()
	if l.perDay < 0 {
		l.perDay = plan.PicturesPerDay(l.Schedule, now)
	}
	bytes, source := l.expected()
	highWater := l.Retention.HighWater
	if l.Retention.Validate() != nil {
		highWater = 1
	}
	e := plan.New(l.perDay, bytes, source, plan.Usable(used, total, highWater))
	a := &statusfile.Autonomy{PicturesPerDay: e.PicturesPerDay, BytesPerPicture: e.BytesPerPicture, SizeSource: e.SizeSource,
		UsableBytes: e.UsableBytes, HighWater: highWater}
	if !math.IsInf(e.Days, 1) {
		a.Days = &e.Days
	}
	l.status(func(st *statusfile.Camera) {
		s := storeStatus(st)
		s.UsedBytes, s.TotalBytes, s.FreeBytes, s.Measured = used, total, total-min(used, total), now
		st.Autonomy = a
	})
}

// storeStatus returns the status's store part, creating it.
func storeStatus(st *statusfile.Camera) *statusfile.Store {
	if st.Store == nil {
		st.Store = &statusfile.Store{}
	}
	return st.Store
}
