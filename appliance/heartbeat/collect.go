package heartbeat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/redact"
)

// Sources says where Collect reads. The zero value of a field is its
// place on a device.
type Sources struct {
	// StatusDir holds the services' status files (default
	// statusfile.Dir).
	StatusDir string
	// ProcDir is procfs (default "/proc"), for the uptime.
	ProcDir string
	// ThermalFile holds the SoC's temperature in millidegrees Celsius
	// (default "/sys/class/thermal/thermal_zone0/temp").
	ThermalFile string
	// StaleAfter is how old a status file may be before its service
	// counts as stale (default 5 minutes, statusd's threshold).
	StaleAfter time.Duration
	// Version is lapsebox's version.
	Version string
}

func (s Sources) withDefaults() Sources {
	if s.StatusDir == "" {
		s.StatusDir = statusfile.Dir
	}
	if s.ProcDir == "" {
		s.ProcDir = "/proc"
	}
	if s.ThermalFile == "" {
		s.ThermalFile = "/sys/class/thermal/thermal_zone0/temp"
	}
	if s.StaleAfter <= 0 {
		s.StaleAfter = 5 * time.Minute
	}
	return s
}

// services whose status files a heartbeat summarises, in order.
var services = []string{"camerad", "uploadd", "modemd", "watchdogd", "updated"}

// optional are the services not every device runs: a missing status
// file of theirs is no fault.
var optional = []string{"modemd", "watchdogd", "updated"}

// Collect makes a heartbeat from what the device's files say at now.
// What cannot be read is left out; a service whose status file is
// missing, unreadable or older than StaleAfter is listed in Stale (but
// modemd, watchdogd and updated only if their file exists: not every
// device has a modem, a watchdog or updated).
func Collect(src Sources, now time.Time) *Heartbeat {
	src = src.withDefaults()
	h := &Heartbeat{V: Version, Time: now.UTC().Truncate(time.Second), Version: short(src.Version)}
	fresh := func(service string, v any) bool {
		mtime, err := statusfile.Read(filepath.Join(src.StatusDir, service+".json"), v)
		switch {
		case errors.Is(err, fs.ErrNotExist) && slices.Contains(optional, service):
			return false
		case err != nil:
			h.Stale = append(h.Stale, service)
			return false
		case now.Sub(mtime) > src.StaleAfter:
			h.Stale = append(h.Stale, service)
		}
		return true
	}
	var cam statusfile.Camera
	if fresh("camerad", &cam) {
		h.Camera, h.Disk = camera(&cam)
	}
	var up statusfile.Uploads
	if fresh("uploadd", &up) {
		for _, t := range up.Targets {
			if len(h.Queues) == maxQueues {
				break
			}
			h.Queues = append(h.Queues, Queue{
				Target: short(t.Name), Pending: t.Pending, PendingBytes: t.PendingBytes,
				Oldest: t.OldestPending.UTC(), Parked: t.Parked, LastSuccess: t.LastSuccess.UTC(), LastError: text(t.LastError),
			})
		}
	}
	var m statusfile.Modem
	if fresh("modemd", &m) {
		h.Modem = modem(&m)
	}
	// watchdogd.json's schema is watchdogd's; the heartbeat takes its
	// state and health by name.
	var w struct {
		State   string `json:"state"`
		Healthy *bool  `json:"healthy"`
	}
	if fresh("watchdogd", &w) {
		h.Watchdog = &Watchdog{State: short(w.State), Healthy: w.Healthy}
	}
	var u statusfile.Update
	if fresh("updated", &u) {
		h.Update = update(&u)
	}
	if b, err := os.ReadFile(filepath.Join(src.ProcDir, "uptime")); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if s, err := strconv.ParseFloat(f[0], 64); err == nil {
				h.UptimeSeconds = int64(s)
			}
		}
	}
	if b, err := os.ReadFile(src.ThermalFile); err == nil {
		if mc, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil {
			c := float64(mc) / 1000
			h.TempC = &c
		}
	}
	return h
}

func camera(c *statusfile.Camera) (*Camera, *Disk) {
	out := &Camera{State: short(c.State), Captures: c.Captures, Missed: c.MissedSlots,
		Alert: c.Recovery.Alert, LastError: text(c.LastError)}
	if c.Camera != nil {
		out.Model, out.Connected = short(c.Camera.Model), c.Camera.Connected
	}
	if lc := c.LastCapture; lc != nil {
		out.LastCapture, out.LastBytes = lc.Slot.UTC(), lc.Bytes
	}
	var d *Disk
	if c.Store != nil {
		d = &Disk{UsedBytes: c.Store.UsedBytes, TotalBytes: c.Store.TotalBytes, Full: c.Store.Full}
		if c.Autonomy != nil {
			d.AutonomyDays = c.Autonomy.Days
		}
	}
	return out, d
}

func modem(m *statusfile.Modem) *Modem {
	out := &Modem{State: short(m.State), UsedBytes: m.Data.UsedBytes, CapBytes: m.Data.CapBytes, OverCap: m.Data.OverCap}
	if n := m.Net; n != nil {
		out.Operator, out.Technology, out.SignalDBM, out.SignalBars = short(n.Operator), short(n.Technology), n.SignalDBM, n.SignalBars
	}
	return out
}

// update summarises updated.json. Its free text (errors, refusals, what
// a trial waits for) is redacted: it may quote a release URL with its
// credentials.
func update(u *statusfile.Update) *Update {
	out := &Update{State: short(u.State), Channel: short(u.Channel), Version: short(u.Version), Build: u.Running.UTC(),
		CommittedVersion: short(u.CommittedVersion), Committed: u.Committed.UTC()}
	if t := u.Trial; t != nil {
		out.Trial = &Trial{Version: short(t.Release.Version), Deadline: t.Deadline.UTC(), Waiting: text(t.Waiting)}
	}
	if a := u.LastAttempt; a != nil {
		out.Last = &Attempt{Time: a.Time.UTC(), Version: short(a.Release.Version), Result: short(a.Result),
			Refusal: text(a.Refusal), Error: text(a.Error), RootBytes: max(a.RootBytes, 0), FetchedBytes: max(a.FetchedBytes, 0) + max(a.PatchBytes, 0),
			Failures: max(a.Failures, 0), Interrupted: max(a.Interrupted, 0)}
	}
	return out
}

// text is free text as a heartbeat carries it: redacted, then short.
func text(s string) string { return short(redact.String(s)) }

// short cuts s to what Decode accepts, on a rune boundary.
func short(s string) string {
	if len(s) <= maxString {
		return s
	}
	i := maxString - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Marshal is json.Marshal of h, uncompressed.
func Marshal(h *Heartbeat) ([]byte, error) { return json.Marshal(h) }
