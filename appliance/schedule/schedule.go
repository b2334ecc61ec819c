// Package schedule says when the appliance takes pictures: on an interval
// grid aligned to the site's local clock, inside weekly windows whose edges
// are local times of day or sunrise and sunset with offsets, with a minimum
// gap between two captures. It also tells a capture loop which slots it
// missed after an outage (so they are recorded rather than taken late in a
// burst) and whether the system clock can be trusted at all.
//
// # Slots
//
// A window of day D covers the instants from its start to its end (end
// excluded). Inside it, the slots are the instants whose local wall-clock
// time is a whole number of Intervals after local midnight of their own
// date: every 10 minutes means :00, :10, :20 and so on, and an interval that
// does not divide a day (7m, 25m) restarts at each local midnight, so the
// last gap of a day is shorter.
//
// Daylight-saving time follows from that definition. When the clock springs
// forward, the skipped wall times have no instant, so the day simply has
// fewer slots (Europe/Paris, last Sunday of March, every 10 minutes: 138
// slots instead of 144), and the gap across the jump is still one interval
// of real time (01:50 CET, then 03:00 CEST). When the clock falls back, the
// repeated wall times are two distinct instants, both on the grid, so the
// day has more slots (150) and the camera keeps shooting every 10 minutes of
// real time through the repeated hour: 02:50 CEST, 02:00 CET, 02:10 CET. No
// instant is produced twice and none is skipped.
//
// # Window edges
//
// A Clock edge at a wall time the clock jumps over (02:30 on a
// spring-forward day) resolves to the instant of the jump; a Clock edge at a
// repeated wall time resolves to its first occurrence as a start and to its
// last occurrence as an end, so a window always covers every instant whose
// wall time lies between its edges. If the end, computed on day D, is not
// after the start, it is taken on day D+1: "22:00" to "06:00" crosses
// midnight, "sunset" to "sunrise" covers the night, and equal Clock edges
// cover 24 hours. Days names the day D on which a window starts; the slots
// after midnight of a window that crosses it belong to that window.
//
// Sunrise and sunset are computed on the device (see Sun). On a polar day
// sunrise is the start and sunset the end of the local day (offsets
// ignored), so a sunrise-to-sunset window covers the whole day; on a polar
// night sunset is the start and sunrise the end of the day, so a day window
// is empty and a sunset-to-sunrise window covers the whole day.
//
// # Minimum gap
//
// Overlapping windows with different intervals can put two slots very close
// together; Next never returns a slot closer than MinGap after the time it
// is given, which a capture loop passes as the slot it last took.
package schedule

import (
	"errors"
	"fmt"
	"time"
)

// Window is one weekly capture window with its own interval.
type Window struct {
	// Days are the days of the week on which the window starts (local
	// dates); the zero value means every day.
	Days Weekdays
	// Start and End bound the window; End is excluded.
	Start, End Edge
	// Interval is the grid step, from 1s to 24h in whole seconds.
	Interval time.Duration
}

// Schedule is a site's capture schedule. Its zero value never captures.
type Schedule struct {
	// Location is the site's time zone; the interval grid and Clock edges
	// follow its wall clock.
	Location *time.Location
	// Latitude and Longitude (degrees, north and east positive) place the
	// site for sunrise and sunset edges.
	Latitude, Longitude float64
	// Windows are the capture windows; their slots are merged. With no
	// windows there are no slots.
	Windows []Window
	// MinGap is the least time between two slots returned by Next.
	MinGap time.Duration
}

// horizon bounds how far Next looks ahead for a slot (a polar night can
// empty daylight windows for months).
const horizon = 400

// FieldError is a validation error about one field of a Schedule, such as
// "windows[1].interval".
type FieldError struct {
	// Field is the path of the bad field.
	Field string
	// Err says what is wrong with it.
	Err error
}

// Error returns "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports every problem with s, each as a *FieldError, joined with
// errors.Join; nil if s is usable.
func (s *Schedule) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{field, fmt.Errorf(format, args...)})
	}
	if s.Location == nil {
		add("location", "missing")
	}
	if !(s.Latitude >= -90 && s.Latitude <= 90) {
		add("latitude", "%v is not between -90 and 90", s.Latitude)
	}
	if !(s.Longitude >= -180 && s.Longitude <= 180) {
		add("longitude", "%v is not between -180 and 180", s.Longitude)
	}
	if s.MinGap < 0 || s.MinGap > time.Hour {
		add("min_gap", "%v is not between 0 and 1h", s.MinGap)
	}
	for i, w := range s.Windows {
		f := fmt.Sprintf("windows[%d].", i)
		if err := checkInterval(w.Interval); err != nil {
			add(f+"interval", "%v", err)
		}
		for _, e := range []struct {
			name string
			edge Edge
		}{{"start", w.Start}, {"end", w.End}} {
			switch {
			case e.edge.Anchor == Clock && (e.edge.Offset < 0 || e.edge.Offset > 24*time.Hour):
				add(f+e.name, "%v is not a time of day", e.edge.Offset)
			case e.edge.Anchor == Clock && e.name == "start" && e.edge.Offset == 24*time.Hour:
				add(f+e.name, "24:00 ends a day; start the window at 00:00")
			case e.edge.sun() && (e.edge.Offset < -MaxSunOffset || e.edge.Offset > MaxSunOffset):
				add(f+e.name, "offset %v beyond ±%v", e.edge.Offset, MaxSunOffset)
			case e.edge.Anchor != Clock && !e.edge.sun():
				add(f+e.name, "unknown anchor %d", e.edge.Anchor)
			}
		}
		if w.Days&^Everyday != 0 {
			add(f+"days", "bits beyond the seven days: %#x", uint8(w.Days))
		}
	}
	return errors.Join(errs...)
}

// checkInterval checks a grid step.
func checkInterval(d time.Duration) error {
	switch {
	case d < time.Second || d > 24*time.Hour:
		return fmt.Errorf("%v is not between 1s and 24h", d)
	case d%time.Second != 0:
		return fmt.Errorf("%v is not a whole number of seconds", d)
	}
	return nil
}

// usable reports whether Next can work on s at all; Validate says why not.
func (s *Schedule) usable() bool {
	if s == nil || s.Location == nil || len(s.Windows) == 0 {
		return false
	}
	for _, w := range s.Windows {
		if checkInterval(w.Interval) != nil {
			return false
		}
	}
	return true
}

// Next returns the first slot strictly after after and at least MinGap after
// it; false if there is none within about a year (no windows, or windows
// that never open), or if s does not validate. A capture loop passes the
// slot it last took.
func (s *Schedule) Next(after time.Time) (time.Time, bool) {
	return s.next(after, after.Add(s.MinGap))
}

// next returns the first slot t with t > after and t >= notBefore.
func (s *Schedule) next(after, notBefore time.Time) (time.Time, bool) {
	var sc sunCache
	return s.nextCached(after, notBefore, &sc)
}

// nextCached is next with the sun of the days it looks at kept in sc,
// which successive calls may share.
func (s *Schedule) nextCached(after, notBefore time.Time, sc *sunCache) (time.Time, bool) {
	if !s.usable() {
		return time.Time{}, false
	}
	lo := after.Add(time.Nanosecond)
	if notBefore.After(lo) {
		lo = notBefore
	}
	first := dateOf(lo.In(s.Location))
	var best time.Time
	found := false
	// A window of day D never opens before the local midnight of D minus a
	// day and a half (sunrise-12h where solar noon is hours off the zone's
	// noon) and never closes after D+3; scan from D-3 until the windows
	// start after the best slot found.
	for i := -3; i <= horizon; i++ {
		day := first.add(i)
		if found && time.Date(day.y, day.m, day.d, 0, 0, 0, 0, s.Location).Add(-48*time.Hour).After(best) {
			break
		}
		for wi := range s.Windows {
			w := &s.Windows[wi]
			if !w.Days.Has(day.weekday()) {
				continue
			}
			start, end, ok := s.span(w, day, sc)
			if !ok || !end.After(lo) {
				continue
			}
			if found && !start.Before(best) {
				continue
			}
			x := lo
			if start.After(x) {
				x = start
			}
			if t, ok := gridNext(s.Location, x, end, w.Interval); ok && (!found || t.Before(best)) {
				best, found = t, true
			}
		}
	}
	return best, found
}

// Slots returns the slots t with from <= t < to, each at least MinGap after
// the one before (the first slot at or after from is always included). The
// caller bounds the range: a year of 1-minute slots is half a million.
func (s *Schedule) Slots(from, to time.Time) []time.Time {
	var out []time.Time
	t, ok := s.next(from.Add(-time.Nanosecond), from)
	for ok && t.Before(to) {
		out = append(out, t)
		t, ok = s.Next(t)
	}
	return out
}

// Window returns the instants [start, end) that window w of s covers when it
// starts on the local date of day; ok is false if it is empty that day
// (including days not in w.Days).
func (s *Schedule) Window(w Window, day time.Time) (start, end time.Time, ok bool) {
	if s.Location == nil {
		return time.Time{}, time.Time{}, false
	}
	d := dateOf(day.In(s.Location))
	if !w.Days.Has(d.weekday()) {
		return time.Time{}, time.Time{}, false
	}
	var sc sunCache
	return s.span(&w, d, &sc)
}

// span resolves window w on date d.
func (s *Schedule) span(w *Window, d date, sc *sunCache) (start, end time.Time, ok bool) {
	start = s.edge(w.Start, d, true, sc)
	end = s.edge(w.End, d, false, sc)
	if !end.After(start) {
		end = s.edge(w.End, d.add(1), false, sc)
	}
	return start, end, end.After(start)
}

// edge resolves e on date d; isStart picks the first occurrence of a
// repeated wall time, otherwise the last.
func (s *Schedule) edge(e Edge, d date, isStart bool, sc *sunCache) time.Time {
	pick := func(w int64) time.Time {
		first, last := resolve(s.Location, w)
		if isStart {
			return first
		}
		return last
	}
	if e.Anchor == Clock {
		return pick(d.wall(e.Offset))
	}
	sun := sc.get(s, d)
	dayStart, _ := resolve(s.Location, d.wall(0))
	nextStart, _ := resolve(s.Location, d.wall(24*time.Hour))
	switch {
	case sun.Polar == PolarDay && e.Anchor == Sunrise, sun.Polar == PolarNight && e.Anchor == Sunset:
		return dayStart
	case sun.Polar != Normal:
		return nextStart
	case e.Anchor == Sunrise:
		return sun.Rise.Add(e.Offset)
	}
	return sun.Set.Add(e.Offset)
}

// sunCache remembers the last few days' sun: one call of next looks at
// about five days, and successive calls at mostly the same ones.
type sunCache struct {
	n    int
	days [8]date
	sun  [8]SunDay
}

func (c *sunCache) get(s *Schedule, d date) SunDay {
	for i := range min(c.n, len(c.days)) {
		if c.days[i] == d {
			return c.sun[i]
		}
	}
	v := Sun(time.Date(d.y, d.m, d.d, 12, 0, 0, 0, s.Location), s.Latitude, s.Longitude)
	i := c.n % len(c.days)
	c.days[i], c.sun[i] = d, v
	c.n++
	return v
}
