package statusfile

import (
	"strings"
	"time"
)

// Camera is camerad.json: the camera, the captures, the recovery ladder
// and the store on /perm.
type Camera struct {
	Mode    string    `json:"mode"`  // "capture" or "download"
	State   string    `json:"state"` // "waiting for clock", "waiting for camera", "waiting", "capturing", "storage full", "alert", …
	Updated time.Time `json:"updated"`
	Started time.Time `json:"started,omitzero"` // when camerad started

	Camera *CameraInfo `json:"camera,omitempty"`
	// LastCapture is the newest capture in the store: read from the store
	// when camerad starts, then each capture's.
	LastCapture *Capture  `json:"lastCapture,omitempty"`
	NextSlot    time.Time `json:"nextSlot,omitzero"`
	Captures    int       `json:"captures"` // since camerad started

	MissedSlots  int          `json:"missedSlots"`            // since camerad started
	RecentMissed []MissedSlot `json:"recentMissed,omitempty"` // newest last

	Recovery        Recovery         `json:"recovery"`
	RecoveryActions []RecoveryAction `json:"recoveryActions,omitempty"` // newest last

	Store     *Store     `json:"store,omitempty"`
	Autonomy  *Autonomy  `json:"autonomy,omitempty"`  // nil: unknown
	Prune     *Prune     `json:"prune,omitempty"`     // the last retention pass that deleted anything
	Retention *Retention `json:"retention,omitempty"` // what retention did since camerad started

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

// Store is the file system the store lives on, as df measures it, and
// whether captures fit on it.
type Store struct {
	UsedBytes  uint64    `json:"usedBytes"`
	TotalBytes uint64    `json:"totalBytes"` // used and available: blocks reserved for root count as neither
	FreeBytes  uint64    `json:"freeBytes"`
	Measured   time.Time `json:"measured"`
	// Full is set while pictures cannot be stored for want of space,
	// although retention deleted what it may: a storage failure, not the
	// camera's. Captures resume by themselves once there is room.
	Full      bool      `json:"full"`
	FullSince time.Time `json:"fullSince,omitzero"`
	// LastError is the last failure to store a picture (the disk full, a
	// file system gone read-only).
	LastError     string    `json:"lastError,omitempty"`
	LastErrorTime time.Time `json:"lastErrorTime,omitzero"`
}

// Autonomy is how many days of pictures fit on /perm before retention
// deletes any, and what that assumes.
type Autonomy struct {
	// Days is nil when the schedule takes no pictures.
	Days           *float64 `json:"days,omitempty"`
	PicturesPerDay float64  `json:"picturesPerDay"`
	// BytesPerPicture is a capture's expected size on /perm; SizeSource
	// says where it comes from ("median of the last 20 pictures",
	// "typical for Canon EOS 600D (jpg)").
	BytesPerPicture int64  `json:"bytesPerPicture"`
	SizeSource      string `json:"sizeSource"`
	// UsableBytes is the free space below the high-water mark, HighWater
	// (a fraction of the file system).
	UsableBytes uint64  `json:"usableBytes"`
	HighWater   float64 `json:"highWater"`
}

// Prune is what a retention pass did.
type Prune struct {
	Time time.Time `json:"time"`
	// Reason says what started the pass: "hourly", "high-water mark before
	// a capture", "disk full".
	Reason          string `json:"reason"`
	DeletedForAge   int    `json:"deletedForAge"`
	DeletedForSpace int    `json:"deletedForSpace"`
	// DroppedQueued counts photos deleted although targets still wanted
	// them (the disk was critically full); DroppedTargets names them.
	DroppedQueued  int      `json:"droppedQueued"`
	DroppedTargets []string `json:"droppedTargets,omitempty"`
	FreedBytes     int64    `json:"freedBytes"`
	UsedFraction   float64  `json:"usedFraction"` // after pruning
}

// Retention adds up the retention passes since camerad started.
type Retention struct {
	Passes          int   `json:"passes"`
	DeletedForAge   int   `json:"deletedForAge"`
	DeletedForSpace int   `json:"deletedForSpace"`
	DroppedQueued   int   `json:"droppedQueued"`
	FreedBytes      int64 `json:"freedBytes"`
	// LastDropped is when photos still owed to a target were last
	// deleted.
	LastDropped time.Time `json:"lastDropped,omitzero"`
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
