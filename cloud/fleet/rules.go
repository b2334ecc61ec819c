package fleet

import (
	"fmt"
	"slices"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// Kinds of alert.
const (
	Silent  = "silent"  // no heartbeat for a while
	Camera  = "camera"  // camerad down, the camera gone, or its recovery given up
	Missed  = "missed"  // slots missed
	Small   = "small"   // the last picture is too small (a black frame, a cut file)
	Dark    = "dark"    // the last picture is too dark
	Queue   = "queue"   // the upload queue keeps growing
	Disk    = "disk"    // the device's disk is filling, or its autonomy is short
	DataCap = "datacap" // the SIM's monthly data cap is reached
	Temp    = "temp"    // the board is too hot
	Update  = "update"  // the last release tried was rolled back or refused
)

// Kinds lists every kind of alert, in the order they are evaluated.
var Kinds = []string{Silent, Camera, Missed, Small, Dark, Queue, Disk, DataCap, Temp, Update}

// Severities.
const (
	Warning  = "warning"
	Critical = "critical"
)

// Rules are the alerts' thresholds and grace periods. The zero value of
// a field is its default.
type Rules struct {
	// SilentAfter is how long a device may send no heartbeat before it
	// is silent (default 15 minutes: three heartbeats). A silent device's
	// other alerts stay as they were: nothing new is known about it.
	SilentAfter time.Duration
	// MissedSlots in MissedWindow raise "missed" (default 3 in 6 hours).
	MissedSlots  int
	MissedWindow time.Duration
	// MinPictureBytes and MinLuma are the smallest size and mean
	// brightness (0–255) of a received JPEG not to be "small" or "dark"
	// (default 50 KiB and 20).
	MinPictureBytes int64
	MinLuma         float64
	// A queue that never shrank over QueueWindow and grew by at least
	// QueueGrowth photos is "queue" (default 3 hours, 10 photos).
	QueueWindow time.Duration
	QueueGrowth int64
	// DiskPercent full, or fewer than MinAutonomyDays days before the
	// disk is full, is "disk" (default 90 %, 3 days; critical under 1 day,
	// and when the device says pictures no longer fit).
	DiskPercent     float64
	MinAutonomyDays float64
	// MaxTempC is the highest board temperature without "temp" (default
	// 75 °C; critical from 85 °C).
	MaxTempC float64
	// Grace is how long a condition must hold before its alert fires, by
	// kind (defaults: small and disk 30 minutes, dark 1 hour, camera and
	// temp 15 minutes, the others at once: their thresholds have their
	// own windows).
	Grace map[string]time.Duration
}

// DefaultGrace are the grace periods Rules uses for kinds its Grace does
// not name.
var DefaultGrace = map[string]time.Duration{
	Camera: 15 * time.Minute,
	Small:  30 * time.Minute,
	Dark:   time.Hour,
	Disk:   30 * time.Minute,
	Temp:   15 * time.Minute,
}

// WithDefaults returns r with its zero fields set to the defaults.
func (r Rules) WithDefaults() Rules {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&r.SilentAfter, 15*time.Minute)
	def(&r.MissedWindow, 6*time.Hour)
	def(&r.QueueWindow, 3*time.Hour)
	if r.MissedSlots <= 0 {
		r.MissedSlots = 3
	}
	if r.MinPictureBytes <= 0 {
		r.MinPictureBytes = 50 << 10
	}
	if r.MinLuma <= 0 {
		r.MinLuma = 20
	}
	if r.QueueGrowth <= 0 {
		r.QueueGrowth = 10
	}
	if r.DiskPercent <= 0 {
		r.DiskPercent = 90
	}
	if r.MinAutonomyDays <= 0 {
		r.MinAutonomyDays = 3
	}
	if r.MaxTempC <= 0 {
		r.MaxTempC = 75
	}
	g := map[string]time.Duration{}
	for k, v := range DefaultGrace {
		g[k] = v
	}
	for k, v := range r.Grace {
		g[k] = v
	}
	r.Grace = g
	return r
}

// condition is an alert's condition holding now.
type condition struct {
	severity, message string
	since             time.Time // zero: now
}

// logWindow is how far back conditions read the heartbeat log.
func (r Rules) logWindow() time.Duration { return max(r.MissedWindow, r.QueueWindow) }

// conditions evaluates the rules on a device's status at now: the kinds
// it could judge, and those that hold.
func (r Rules) conditions(st state.Status, hb *heartbeat.Heartbeat, log []state.LogEntry, now time.Time) ([]string, map[string]condition) {
	on := map[string]condition{}
	if st.LastSeen.IsZero() {
		// Added but never heard of: not installed yet.
		return []string{Silent}, on
	}
	if d := now.Sub(st.LastSeen); d > r.SilentAfter {
		on[Silent] = condition{Critical, fmt.Sprintf("no heartbeat for %s (last seen %s)", human(d), st.LastSeen.UTC().Format("2006-01-02 15:04 UTC")), st.LastSeen}
		return []string{Silent}, on
	}
	if hb == nil {
		return []string{Silent}, on
	}
	switch c := hb.Camera; {
	case c == nil || slices.Contains(hb.Stale, "camerad"):
		on[Camera] = condition{severity: Critical, message: "camerad is not reporting"}
	case c.Alert:
		on[Camera] = condition{severity: Critical, message: "the camera's recovery has given up: " + orNone(c.LastError)}
	case !c.Connected:
		on[Camera] = condition{severity: Critical, message: fmt.Sprintf("no camera connected (camerad: %s)", c.State)}
	}
	var missed int
	for _, e := range log {
		if !e.At.Before(now.Add(-r.MissedWindow)) {
			missed += e.Missed
		}
	}
	if missed >= r.MissedSlots {
		on[Missed] = condition{severity: Warning, message: fmt.Sprintf("%d slots missed in the last %s", missed, human(r.MissedWindow))}
	}
	if p := st.Photo; p.Name != "" && p.Bytes < r.MinPictureBytes {
		on[Small] = condition{severity: Warning, message: fmt.Sprintf("the last picture, %s, has only %s (at least %s expected)", p.Name, bytesIEC(p.Bytes), bytesIEC(r.MinPictureBytes))}
	}
	if p := st.Photo; p.Luma != nil && *p.Luma < r.MinLuma {
		on[Dark] = condition{severity: Warning, message: fmt.Sprintf("the last picture, %s, is dark: mean brightness %.0f/255 (at least %.0f expected)", p.Name, *p.Luma, r.MinLuma)}
	}
	kinds := slices.Clone(Kinds)
	unjudged := func(kind string) { kinds = slices.DeleteFunc(kinds, func(k string) bool { return k == kind }) }
	switch c, holds, judged := r.growing(log, now); {
	case !judged:
		// Too few heartbeats in the window (the device was silent):
		// the queue alert stays as it is.
		unjudged(Queue)
	case holds:
		on[Queue] = c
	}
	if hb.Update == nil {
		// No updated.json (just after a reboot, or no updated): the
		// update alert stays as it is, not resolved and fired again.
		unjudged(Update)
	} else if c, holds := updateCondition(hb.Update); holds {
		on[Update] = c
	}
	if d := hb.Disk; d != nil && d.TotalBytes > 0 {
		pct := float64(d.UsedBytes) / float64(d.TotalBytes) * 100
		switch {
		case d.Full:
			on[Disk] = condition{severity: Critical, message: fmt.Sprintf("pictures cannot be stored: the disk is full (%.0f %% used)", pct)}
		case d.AutonomyDays != nil && *d.AutonomyDays < 1:
			on[Disk] = condition{severity: Critical, message: fmt.Sprintf("the disk is full in %.1f days (%.0f %% used)", *d.AutonomyDays, pct)}
		case d.AutonomyDays != nil && *d.AutonomyDays < r.MinAutonomyDays:
			on[Disk] = condition{severity: Warning, message: fmt.Sprintf("the disk is full in %.1f days (%.0f %% used)", *d.AutonomyDays, pct)}
		case pct >= r.DiskPercent:
			on[Disk] = condition{severity: Warning, message: fmt.Sprintf("the disk is %.0f %% full", pct)}
		}
	}
	if m := hb.Modem; m != nil && (m.OverCap || m.CapBytes > 0 && m.UsedBytes >= m.CapBytes) {
		on[DataCap] = condition{severity: Warning, message: fmt.Sprintf("the SIM's data cap is reached: %s of %s used this month", bytesIEC(int64(m.UsedBytes)), bytesIEC(int64(m.CapBytes)))}
	}
	if t := hb.TempC; t != nil && *t >= r.MaxTempC {
		sev := Warning
		if *t >= 85 {
			sev = Critical
		}
		on[Temp] = condition{severity: sev, message: fmt.Sprintf("the board is at %.1f °C (at most %.0f °C expected)", *t, r.MaxTempC)}
	}
	return kinds, on
}

// growing reports whether the queue never shrank over the window and
// grew by QueueGrowth or more. It can judge (judged) only if the log
// covers most of the window; a queue that shrank is judged at once.
func (r Rules) growing(log []state.LogEntry, now time.Time) (c condition, holds, judged bool) {
	from := now.Add(-r.QueueWindow)
	i := 0
	for i < len(log) && log[i].At.Before(from) {
		i++
	}
	w := log[i:]
	for j := 1; j < len(w); j++ {
		if w[j].Queue < w[j-1].Queue {
			return condition{}, false, true
		}
	}
	if len(w) < 3 || w[0].At.After(now.Add(-r.QueueWindow*3/4)) {
		return condition{}, false, false
	}
	first, last := w[0], w[len(w)-1]
	if last.Queue-first.Queue < r.QueueGrowth {
		return condition{}, false, true
	}
	return condition{severity: Warning, message: fmt.Sprintf("the upload queue grew from %d to %d photos in %s", first.Queue, last.Queue, human(last.At.Sub(first.At))),
		since: first.At}, true, true
}

func orNone(s string) string {
	if s == "" {
		return "(no error recorded)"
	}
	return s
}

// human formats a duration coarsely: "42s", "17m", "2h 13m", "3d 4h".
func human(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 0:
		return "-" + human(-d)
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm", s/60)
	case s < 86400:
		if s%3600/60 == 0 {
			return fmt.Sprintf("%dh", s/3600)
		}
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

// bytesIEC formats n in binary units: "512 B", "3.4 GiB".
func bytesIEC(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 4 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[unit])
}
