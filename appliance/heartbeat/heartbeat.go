// Package heartbeat is the appliance's report to the central server: a
// summary of its status files (the last picture and its age, missed
// slots, the queue per target, disk and autonomy, the modem's signal and
// data used, the watchdog's health, versions, the last over-the-air
// update), sent every few minutes and soon after each upload,
// authenticated by the device's token for the cloud target. It travels
// over 4G: the document is small, and is sent gzip-compressed. Free
// text (errors, refusals) passes through internal/redact before it
// leaves: a URL in it keeps no password or token.
//
// The Heartbeat type is the wire format; cloudd decodes it with Decode.
// Collect builds one from the status files; Sender sends them.
package heartbeat

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Version is the format's version; a server accepts any version at least
// 1 and ignores the fields it does not know.
const Version = 1

// Path is where the server receives heartbeats (see cloud/ingest's API).
const Path = "/v1/heartbeat"

// Heartbeat is one report. Keys are camelCase, times RFC 3339 in UTC.
type Heartbeat struct {
	V int `json:"v"`
	// Time is the device's clock when it was made: the server tells from
	// it how far the device's clock is off.
	Time time.Time `json:"time"`
	// Version is lapsebox's version on the device.
	Version string `json:"version,omitempty"`
	// UptimeSeconds is the time since the device booted.
	UptimeSeconds int64     `json:"uptime,omitempty"`
	Camera        *Camera   `json:"camera,omitempty"`
	Disk          *Disk     `json:"disk,omitempty"`
	Queues        []Queue   `json:"queues,omitempty"`
	Modem         *Modem    `json:"modem,omitempty"`
	Watchdog      *Watchdog `json:"watchdog,omitempty"`
	// Update is updated's part; absent from devices without updated
	// (older ones) and while updated.json is missing.
	Update *Update `json:"update,omitempty"`
	// TempC is the board's temperature (the SoC's), nil when unknown.
	TempC *float64 `json:"tempC,omitempty"`
	// Stale names the services whose status file is missing or has not
	// been rewritten for a while: they are down or hung.
	Stale []string `json:"stale,omitempty"`
}

// Camera is camerad's part.
type Camera struct {
	State     string `json:"state"`
	Model     string `json:"model,omitempty"`
	Connected bool   `json:"connected"`
	// LastCapture is when the last picture was taken, LastBytes its size
	// (every file of the capture).
	LastCapture time.Time `json:"lastCapture,omitzero"`
	LastBytes   int64     `json:"lastBytes,omitempty"`
	// Captures and Missed count pictures taken and slots missed since
	// camerad started; the server adds up their increases.
	Captures int `json:"captures"`
	Missed   int `json:"missed"`
	// Alert is set when camerad's recovery ladder has given up.
	Alert     bool   `json:"alert,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// Disk is the store's file system.
type Disk struct {
	UsedBytes  uint64 `json:"used"`
	TotalBytes uint64 `json:"total"`
	// Full is set while pictures cannot be stored for want of space.
	Full bool `json:"full,omitempty"`
	// AutonomyDays is how many days of pictures fit before retention
	// deletes any (nil: unknown, or no pictures scheduled).
	AutonomyDays *float64 `json:"autonomyDays,omitempty"`
}

// Queue is one upload target's outbox.
type Queue struct {
	Target       string    `json:"target"`
	Pending      int       `json:"pending"`
	PendingBytes int64     `json:"bytes"`
	Oldest       time.Time `json:"oldest,omitzero"`
	Parked       int       `json:"parked,omitempty"`
	LastSuccess  time.Time `json:"lastSuccess,omitzero"`
	LastError    string    `json:"lastError,omitempty"`
}

// Modem is modemd's part.
type Modem struct {
	State      string `json:"state"`
	Operator   string `json:"operator,omitempty"`
	Technology string `json:"tech,omitempty"`
	SignalDBM  *int   `json:"dbm,omitempty"`
	SignalBars int    `json:"bars"`
	UsedBytes  uint64 `json:"used"`
	CapBytes   uint64 `json:"cap,omitempty"`
	OverCap    bool   `json:"overCap,omitempty"`
}

// Watchdog is watchdogd's part.
type Watchdog struct {
	State   string `json:"state,omitempty"`
	Healthy *bool  `json:"healthy,omitempty"`
}

// Update is updated's part: the release the device runs, the one it
// comes back on after a reboot, the trial in progress and the last
// attempt to install a release.
type Update struct {
	// State is updated's ("waiting", "deferred", "downloading", …).
	State   string `json:"state,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Version and Build are the running release's; CommittedVersion and
	// Committed the one the boot configuration names. They differ only
	// while a release runs on trial.
	Version          string    `json:"version,omitempty"`
	Build            time.Time `json:"build,omitzero"`
	CommittedVersion string    `json:"committedVersion,omitempty"`
	Committed        time.Time `json:"committed,omitzero"`
	Trial            *Trial    `json:"trial,omitempty"`
	Last             *Attempt  `json:"last,omitempty"`
}

// Trial is a release running on trial: committed once healthy, or left
// by Deadline.
type Trial struct {
	Version  string    `json:"version"`
	Deadline time.Time `json:"deadline"`
	// Waiting says what the commit waits for.
	Waiting string `json:"waiting,omitempty"`
}

// Attempt is the last attempt to install a release.
type Attempt struct {
	Time    time.Time `json:"time"`
	Version string    `json:"version,omitempty"`
	// Result is statusfile.UpdateAttempt's: "installed", "rebooting",
	// "trying", "rolled back", "refused" or "failed".
	Result  string `json:"result"`
	Refusal string `json:"refusal,omitempty"`
	Error   string `json:"error,omitempty"`
	// FetchedBytes travelled over the link for the release's RootBytes
	// (its blocks and its patch).
	RootBytes    int64 `json:"rootBytes,omitempty"`
	FetchedBytes int64 `json:"fetchedBytes,omitempty"`
	// Failures counts the release's failed trials, Interrupted those
	// that ended without a verdict after it was found healthy.
	Failures    int `json:"failures,omitempty"`
	Interrupted int `json:"interrupted,omitempty"`
}

// Limits on what a heartbeat may hold; Decode refuses more.
const (
	// MaxBytes bounds a heartbeat's body, compressed or not.
	MaxBytes = 16 << 10
	// maxQueues bounds the targets reported.
	maxQueues = 32
	// maxString bounds every string; Collect shortens longer ones.
	maxString = 200
)

// Encode returns h as gzip-compressed JSON, the body Sender posts.
func Encode(h *Heartbeat) ([]byte, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: encoding: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("heartbeat: compressing: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reads a heartbeat from r, gzip-compressed if gzipped, and
// checks it: at most MaxBytes (before and after decompression), one JSON
// object, a version of at least 1, at most 32 queues, strings of at most
// 200 bytes of UTF-8, counts that are not negative. Unknown fields are
// ignored: a newer device may say more.
func Decode(r io.Reader, gzipped bool) (*Heartbeat, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("heartbeat: reading: %w", err)
	}
	if len(body) > MaxBytes {
		return nil, fmt.Errorf("heartbeat: longer than %d bytes", MaxBytes)
	}
	if gzipped {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("heartbeat: gzip: %w", err)
		}
		if body, err = io.ReadAll(io.LimitReader(zr, MaxBytes+1)); err != nil {
			return nil, fmt.Errorf("heartbeat: gzip: %w", err)
		}
		if len(body) > MaxBytes {
			return nil, fmt.Errorf("heartbeat: decompresses to more than %d bytes", MaxBytes)
		}
	}
	var h Heartbeat
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	if dec.More() {
		return nil, errors.New("heartbeat: data after the JSON object")
	}
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return &h, nil
}

func (h *Heartbeat) check() error {
	if h.V < 1 {
		return fmt.Errorf("version %d: want 1 or more", h.V)
	}
	if h.Time.IsZero() {
		return errors.New("no time")
	}
	if len(h.Queues) > maxQueues {
		return fmt.Errorf("%d queues: at most %d", len(h.Queues), maxQueues)
	}
	strs := map[string]string{"version": h.Version}
	nonneg := map[string]int64{"uptime": h.UptimeSeconds}
	if c := h.Camera; c != nil {
		strs["camera.state"], strs["camera.model"], strs["camera.lastError"] = c.State, c.Model, c.LastError
		nonneg["camera.captures"], nonneg["camera.missed"], nonneg["camera.lastBytes"] = int64(c.Captures), int64(c.Missed), c.LastBytes
	}
	for i, q := range h.Queues {
		p := fmt.Sprintf("queues[%d].", i)
		strs[p+"target"], strs[p+"lastError"] = q.Target, q.LastError
		nonneg[p+"pending"], nonneg[p+"bytes"], nonneg[p+"parked"] = int64(q.Pending), q.PendingBytes, int64(q.Parked)
	}
	if m := h.Modem; m != nil {
		strs["modem.state"], strs["modem.operator"], strs["modem.tech"] = m.State, m.Operator, m.Technology
		nonneg["modem.bars"] = int64(m.SignalBars)
	}
	if w := h.Watchdog; w != nil {
		strs["watchdog.state"] = w.State
	}
	if u := h.Update; u != nil {
		strs["update.state"], strs["update.channel"], strs["update.version"], strs["update.committedVersion"] = u.State, u.Channel, u.Version, u.CommittedVersion
		if t := u.Trial; t != nil {
			strs["update.trial.version"], strs["update.trial.waiting"] = t.Version, t.Waiting
		}
		if a := u.Last; a != nil {
			strs["update.last.version"], strs["update.last.result"], strs["update.last.refusal"], strs["update.last.error"] = a.Version, a.Result, a.Refusal, a.Error
			nonneg["update.last.rootBytes"], nonneg["update.last.fetchedBytes"], nonneg["update.last.failures"] = a.RootBytes, a.FetchedBytes, int64(a.Failures)
			nonneg["update.last.interrupted"] = int64(a.Interrupted)
		}
	}
	if len(h.Stale) > 16 {
		return fmt.Errorf("%d stale services: at most 16", len(h.Stale))
	}
	for i, s := range h.Stale {
		strs[fmt.Sprintf("stale[%d]", i)] = s
	}
	for k, s := range strs {
		if len(s) > maxString || !utf8.ValidString(s) {
			return fmt.Errorf("%s: want at most %d bytes of UTF-8", k, maxString)
		}
	}
	for k, v := range nonneg {
		if v < 0 {
			return fmt.Errorf("%s is negative (%d)", k, v)
		}
	}
	return nil
}

// QueueTotal returns the photos and bytes waiting for every target.
func (h *Heartbeat) QueueTotal() (photos, bytes int64) {
	for _, q := range h.Queues {
		photos += int64(q.Pending)
		bytes += q.PendingBytes
	}
	return photos, bytes
}
