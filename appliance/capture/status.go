package capture

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"

	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/appliance/store"
)

// Status is camerad.json: what statusd shows about the camera.
type Status struct {
	Mode    string    `json:"mode"`  // "capture" or "download"
	State   string    `json:"state"` // "waiting for clock", "waiting for camera", "waiting", "capturing", "alert"
	Updated time.Time `json:"updated"`

	Camera      *CameraStatus `json:"camera,omitempty"`
	LastCapture *CaptureInfo  `json:"lastCapture,omitempty"`
	NextSlot    time.Time     `json:"nextSlot,omitzero"`
	Captures    int           `json:"captures"` // since camerad started

	MissedSlots  int          `json:"missedSlots"`            // since camerad started
	RecentMissed []MissedSlot `json:"recentMissed,omitempty"` // newest last

	Recovery        recovery.State   `json:"recovery"`
	RecoveryActions []RecoveryAction `json:"recoveryActions,omitempty"` // newest last

	Store        *StoreStatus       `json:"store,omitempty"`
	AutonomyDays *float64           `json:"autonomyDays,omitempty"` // nil: no recent photos to extrapolate from
	Prune        *store.PruneReport `json:"prune,omitempty"`        // the last retention pass

	LastError     string    `json:"lastError,omitempty"`
	LastErrorTime time.Time `json:"lastErrorTime,omitzero"`

	// MaxRSSBytes is camerad's peak resident memory so far.
	MaxRSSBytes int64 `json:"maxRSSBytes"`

	// DownloadStatus is set in download mode; its fields appear at the
	// top level of the JSON.
	*DownloadStatus
}

// Download returns the download-mode part of the status, creating it.
func (s *Status) Download() *DownloadStatus {
	if s.DownloadStatus == nil {
		s.DownloadStatus = &DownloadStatus{}
	}
	return s.DownloadStatus
}

// CameraStatus describes the camera in use.
type CameraStatus struct {
	Model     string `json:"model"`
	Serial    string `json:"serial"`
	Battery   string `json:"battery,omitempty"`  // "75%"
	CardFree  string `json:"cardFree,omitempty"` // as the camera reports it
	Format    string `json:"format,omitempty"`   // image quality setting
	Connected bool   `json:"connected"`
}

// CaptureInfo is one capture and how long each step took.
type CaptureInfo struct {
	Slot  time.Time `json:"slot"`
	Files []string  `json:"files"`
	Bytes int64     `json:"bytes"`
	// Release is from the slot until the first byte of the first file
	// (trigger, exposure, the camera writing its card); Transfer until the
	// camera delivered its last byte; Write until the store made the
	// capture durable. Total is from the scheduled instant to durable.
	Release  Duration `json:"release"`
	Transfer Duration `json:"transfer"`
	Write    Duration `json:"write"`
	Total    Duration `json:"total"`
}

// MissedSlot is a slot no picture was taken for, and why.
type MissedSlot struct {
	Slot   time.Time `json:"slot"`
	Reason string    `json:"reason"`
}

// RecoveryAction is one rung of the ladder taken.
type RecoveryAction struct {
	Time   time.Time       `json:"time"`
	Action recovery.Action `json:"action"`
	Error  string          `json:"error"` // the failure that caused it
}

// StoreStatus is /perm's use.
type StoreStatus struct {
	UsedBytes  uint64 `json:"usedBytes"`
	TotalBytes uint64 `json:"totalBytes"`
}

// Duration marshals as seconds with millisecond precision.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Duration(d).Milliseconds()) / 1000)
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

const keepRecent = 20

// StatusFile keeps a Status and rewrites it atomically on every change;
// the file's age is camerad's heartbeat.
type StatusFile struct {
	Path string // "" keeps the status in memory only

	mu sync.Mutex
	st Status
}

// Update changes the status and writes it.
func (f *StatusFile) Update(now time.Time, fn func(*Status)) error {
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
	if f.Path == "" {
		return nil
	}
	return writeJSONAtomic(f.Path, f.st)
}

// Snapshot returns a copy of the status.
func (f *StatusFile) Snapshot() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	if st.DownloadStatus != nil {
		ds := *st.DownloadStatus
		st.DownloadStatus = &ds
	}
	st.RecentMissed = append([]MissedSlot(nil), st.RecentMissed...)
	st.RecoveryActions = append([]RecoveryAction(nil), st.RecoveryActions...)
	return st
}

// writeJSONAtomic replaces path with v as JSON: readers see the old or
// the new status whole.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return durable.WriteFile(path, append(b, '\n'))
}

// maxRSS is the process's peak resident set size in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}
