package capture

import (
	"sync"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
)

const keepRecent = 20

// StatusFile keeps camerad's status (statusfile.Camera) and rewrites it
// atomically on every change; the file's age is camerad's heartbeat.
type StatusFile struct {
	Path string // "" keeps the status in memory only

	mu    sync.Mutex
	st    statusfile.Camera // st.Updated is the time of the last write
	every time.Duration     // the heartbeat's period, 0 before SetHeartbeat
	beat  *time.Timer
}

// SetHeartbeat keeps the file no older than every: it is rewritten as is
// whenever every passes without a write. A write resets the wait, so a
// service that writes anyway (Refresh) is not woken for it.
func (f *StatusFile) SetHeartbeat(every time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.every = every
	if f.beat == nil {
		f.beat = time.AfterFunc(every, func() { f.Update(time.Now(), func(*statusfile.Camera) {}) })
		return
	}
	f.beat.Reset(every)
}

// Refresh rewrites the file as is if its heartbeat is due within the
// next within: a caller that is awake anyway, and will next wake after
// within, saves the heartbeat a wake-up of its own.
func (f *StatusFile) Refresh(now time.Time, within time.Duration) error {
	f.mu.Lock()
	due := f.every > 0 && !now.Before(f.st.Updated.Add(f.every-within))
	f.mu.Unlock()
	if !due {
		return nil
	}
	return f.Update(now, func(*statusfile.Camera) {})
}

// Update changes the status and writes it.
func (f *StatusFile) Update(now time.Time, fn func(*statusfile.Camera)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
	f.st.MaxRSSBytes = maxRSS()
	if n := len(f.st.RecentMissed); n > keepRecent {
		f.st.RecentMissed = f.st.RecentMissed[n-keepRecent:]
	}
	if n := len(f.st.RecoveryActions); n > keepRecent {
		f.st.RecoveryActions = f.st.RecoveryActions[n-keepRecent:]
	}
	f.st.Updated = now
	if f.beat != nil {
		f.beat.Reset(f.every)
	}
	if f.Path == "" {
		return nil
	}
	return statusfile.Write(f.Path, f.st)
}

// Snapshot returns a copy of the status.
func (f *StatusFile) Snapshot() statusfile.Camera {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	if st.Download != nil {
		ds := *st.Download
		st.Download = &ds
	}
	st.RecentMissed = append([]statusfile.MissedSlot(nil), st.RecentMissed...)
	st.RecoveryActions = append([]statusfile.RecoveryAction(nil), st.RecoveryActions...)
	return st
}

// recoveryStatus is the ladder's state as camerad.json shows it.
func recoveryStatus(s recovery.State) statusfile.Recovery {
	return statusfile.Recovery{
		ConsecutiveFailures: s.ConsecutiveFailures,
		LastAction:          s.LastAction.String(),
		PowerCyclesLastHour: s.PowerCyclesLastHour,
		Alert:               s.Alert,
	}
}

// pruneStatus is a retention pass as camerad.json shows it.
func pruneStatus(r store.PruneReport, t time.Time, reason string) *statusfile.Prune {
	return &statusfile.Prune{
		Time:            t,
		Reason:          reason,
		DeletedForAge:   r.DeletedForAge,
		DeletedForSpace: r.DeletedForSpace,
		DroppedQueued:   r.DroppedQueued,
		DroppedTargets:  r.DroppedTargets,
		FreedBytes:      r.FreedBytes,
		UsedFraction:    r.UsedFraction,
	}
}

// maxRSS is the process's peak resident set size in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}
