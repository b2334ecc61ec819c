package cellular

import (
	"fmt"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// cameraStopped says why an alert "camera stopped" is due, or "": camerad
// stopped writing its status, or the schedule wanted pictures for longer
// than after and none was taken.
func cameraStopped(st *statusfile.Camera, mtime, now time.Time, after time.Duration, loc *time.Location) string {
	if st == nil {
		return ""
	}
	if age := now.Sub(mtime); age > max(after, 10*time.Minute) {
		return fmt.Sprintf("camera stopped: camerad has not reported for %s", roundDuration(age))
	}
	var last time.Time
	if st.LastCapture != nil {
		last = st.LastCapture.Slot
	}
	var first time.Time
	missed, reason := 0, ""
	for _, m := range st.RecentMissed {
		if m.Slot.IsZero() || !m.Slot.After(last) {
			continue
		}
		if first.IsZero() || m.Slot.Before(first) {
			first = m.Slot
		}
		missed++
		reason = m.Reason
	}
	if first.IsZero() || now.Sub(first) < after {
		return ""
	}
	since := "no picture yet"
	if !last.IsZero() {
		since = "last picture " + last.In(loc).Format("Jan 2 15:04")
	}
	return fmt.Sprintf("camera stopped: %s, %d slots missed since %s: %s", since, missed, first.In(loc).Format("15:04"), reason)
}

// diskNearlyFull says why an alert "disk nearly full" is due, or "": /perm
// is above the retention's high water, so pruning cannot keep up (the
// targets still want the pictures).
func diskNearlyFull(st *statusfile.Camera, highWater int) string {
	if st == nil || st.Store == nil || st.Store.TotalBytes == 0 || highWater <= 0 {
		return ""
	}
	pct := float64(st.Store.UsedBytes) * 100 / float64(st.Store.TotalBytes)
	if pct < float64(highWater) {
		return ""
	}
	s := fmt.Sprintf("disk nearly full: %.0f%% of /perm used", pct)
	if st.Autonomy != nil && st.Autonomy.Days != nil {
		s += fmt.Sprintf(", %.1f days left", *st.Autonomy.Days)
	}
	return s
}

// roundDuration shows a duration the way a text message should: 3h12m,
// 4m, 2d5h.
func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
