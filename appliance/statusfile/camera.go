package statusfile

import (
	"strings"
	"time"
)

// Camera is camerad.json: the camera, the captures, the recovery ladder
// and the store on /perm.
type Camera struct {
	Mode    string    `json:"mode"`  // "capture" or "download"
	State   string    `json:"state"` // "waiting for clock", "waiting for camera", "waiting", "capturing", "alert", …
	Updated time.Time `json:"updated"`

	Camera      *CameraInfo `json:"camera,omitempty"`
	LastCapture *Capture    `json:"lastCapture,omitempty"`
	NextSlot    time.Time   `json:"nextSlot,omitzero"`
	Captures    int         `json:"captures"` // since camerad started

	MissedSlots  int          `json:"missedSlots"`            // since camerad started
	RecentMissed []MissedSlot `json:"recentMissed,omitempty"` // newest last

	Recovery        Recovery         `json:"recovery"`
	RecoveryActions []RecoveryAction `json:"recoveryActions,omitempty"` // newest last

	Store        *Store   `json:"store,omitempty"`
	AutonomyDays *float64 `json:"autonomyDays,omitempty"` // nil: unknown
	Prune        *Prune   `json:"prune,omitempty"`        // the last retention pass

	LastError     string    `json:"lastError,omitempty"`
	LastErrorTime time.Time `json:"lastErrorTime,omitzero"`

	// MaxRSSBytes is camerad's peak resident memory so far.
	MaxRSSBytes int64 `json:"maxRSSBytes"`

	// Download is set in download mode; its fields appear at the top
	// level of the JSON.
	*Download
}

// DownloadStatus returns the download-mode part of the status, creating
// it.
func (c *Camera) DownloadStatus() *Download {
	if c.Download == nil {
		c.Download = &Download{}
	}
	return c.Download
}

// LatestPhoto returns the store path of the newest JPG captured, or "".
func (c *Camera) LatestPhoto() string {
	if c == nil || c.LastCapture == nil {
		return ""
	}
	for _, f := range c.LastCapture.Files {
		if strings.HasSuffix(f, ".jpg") {
			return f
		}
	}
	return ""
}

// CameraInfo describes the camera in use.
type CameraInfo struct {
	Model     string `json:"model"`
	Serial    string `json:"serial"`
	Battery   string `json:"battery,omitempty"`  // "75%"
	CardFree  string `json:"cardFree,omitempty"` // as the camera reports it
	Format    string `json:"format,omitempty"`   // image quality setting
	Connected bool   `json:"connected"`
}

// Capture is one capture and how long each step took.
type Capture struct {
	Slot  time.Time `json:"slot"`
	Files []string  `json:"files"` // store paths, "photos/2026/…/x.jpg"
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
	Slot   time.Time `json:"slot,omitzero"`
	Reason string    `json:"reason"`
}

// Recovery is the camera's recovery ladder.
type Recovery struct {
	ConsecutiveFailures int    `json:"consecutiveFailures"`
	LastAction          string `json:"lastAction"` // "none", "retry", …, "power cycle", "alert"
	PowerCyclesLastHour int    `json:"powerCyclesLastHour"`
	Alert               bool   `json:"alert"`
}

// RecoveryAction is one rung of the ladder taken.
type RecoveryAction struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Error  string    `json:"error"` // the failure that caused it
}

// Store is the use of the file system the store lives on.
type Store struct {
	UsedBytes  uint64 `json:"usedBytes"`
	TotalBytes uint64 `json:"totalBytes"`
}

// Prune is what a retention pass did.
type Prune struct {
	DeletedForAge   int `json:"deletedForAge"`
	DeletedForSpace int `json:"deletedForSpace"`
	// DroppedQueued counts photos deleted although targets still wanted
	// them (the disk was critically full); DroppedTargets names them.
	DroppedQueued  int      `json:"droppedQueued"`
	DroppedTargets []string `json:"droppedTargets,omitempty"`
	FreedBytes     int64    `json:"freedBytes"`
	UsedFraction   float64  `json:"usedFraction"` // after pruning
}

// Download is download mode's progress.
type Download struct {
	FilesFetched int              `json:"filesFetched"`
	BytesFetched int64            `json:"bytesFetched"` // including those of unfinished downloads
	Resumed      int              `json:"resumed"`      // downloads that continued a partial copy
	Reconnects   int              `json:"reconnects"`   // times the camera was found again after it went away
	CPUSeconds   float64          `json:"cpuSeconds"`
	Current      *DownloadCurrent `json:"current,omitempty"`  // the file being downloaded
	LastPass     *DownloadPass    `json:"lastPass,omitempty"` // the last complete pass over the camera
}

// DownloadCurrent is the file being downloaded.
type DownloadCurrent struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	Done        int64  `json:"done"`
	ResumedFrom int64  `json:"resumedFrom"`
}

// DownloadPass is one walk over the camera.
type DownloadPass struct {
	Objects    int       `json:"objects"`
	Fetched    int       `json:"fetched"`
	Skipped    int       `json:"skipped"`
	Failed     int       `json:"failed"`
	Bytes      int64     `json:"bytes"`
	Seconds    float64   `json:"seconds"`
	CPUSeconds float64   `json:"cpuSeconds"`
	Finished   time.Time `json:"finished"`
}
