package schedule

import "time"

// MinTrustedYear is the first year a clock reading is believed in. A Raspberry
// Pi has no real-time clock: until NTP (or a GPS, an RTC, the camera) sets
// it, its clock starts in 1970 or at the last saved time, and pictures named
// by it would be misfiled or overwrite each other.
const MinTrustedYear = 2020

// maxTrustedYear rejects readings from a clock that is wildly ahead.
const maxTrustedYear = 2100

// TimeSource is a clock reading from something other than the system clock:
// the camera's own clock, a battery-backed RTC, a GPS receiver.
type TimeSource struct {
	// Name says where the reading came from ("camera", "rtc", "gps").
	Name string
	// Time is the reading. A camera clock has no time zone: convert it with
	// the site's Location before passing it.
	Time time.Time
	// ReadAt is the system clock when Time was read, so that an older
	// reading is carried forward by the system clock's elapsed time. Zero
	// means the reading was taken at now.
	ReadAt time.Time
}

// Plausible reports whether t could be the current time: its year is from
// MinTrustedYear to 2099. A store should refuse to name a file after a time
// that is not.
func Plausible(t time.Time) bool {
	y := t.Year()
	return y >= MinTrustedYear && y < maxTrustedYear
}

// ClockTrusted decides whether it is safe to capture at all. It returns now
// and "system" if the system clock is plausible; otherwise the first
// plausible source carried forward to now, and that source's name; otherwise
// ok is false and the appliance must not capture (nor name any file) until
// the clock is set.
func ClockTrusted(now time.Time, sources ...TimeSource) (t time.Time, source string, ok bool) {
	if Plausible(now) {
		return now, "system", true
	}
	for _, src := range sources {
		t := src.Time
		if !src.ReadAt.IsZero() {
			elapsed := now.Sub(src.ReadAt)
			if elapsed < 0 {
				continue // the system clock moved back since: the reading's age is unknown
			}
			t = t.Add(elapsed)
		}
		if !src.Time.IsZero() && Plausible(t) {
			return t, src.Name, true
		}
	}
	return time.Time{}, "", false
}
