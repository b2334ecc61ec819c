package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Anchor says what an Edge is measured from.
type Anchor int

const (
	// Clock edges are a local time of day: Offset after local midnight.
	Clock Anchor = iota
	// Sunrise edges are Offset after (negative: before) sunrise.
	Sunrise
	// Sunset edges are Offset after (negative: before) sunset.
	Sunset
)

// MaxSunOffset bounds the offset of a sunrise or sunset edge.
const MaxSunOffset = 12 * time.Hour

// Edge is the start or the end of a window: a local time of day ("07:30";
// "24:00" is the end of the day) or sunrise or sunset shifted by an offset
// ("sunrise-30m", "sunset+1h15m").
type Edge struct {
	Anchor Anchor
	// Offset is the time of day for Clock edges (0 to 24h), the shift
	// from the event for Sunrise and Sunset edges (±MaxSunOffset).
	Offset time.Duration
}

// At returns the Clock edge at hour:minute local time.
func At(hour, minute int) Edge {
	return Edge{Clock, time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute}
}

// ParseEdge parses "HH:MM" (00:00 to 24:00), "sunrise" or "sunset",
// optionally followed by a signed Go duration ("sunrise-30m", "sunset+1h").
// Case and spaces around the sign are ignored.
func ParseEdge(s string) (Edge, error) {
	t := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	for _, a := range []struct {
		name   string
		anchor Anchor
	}{{"sunrise", Sunrise}, {"sunset", Sunset}} {
		rest, ok := strings.CutPrefix(t, a.name)
		if !ok {
			continue
		}
		if rest == "" {
			return Edge{Anchor: a.anchor}, nil
		}
		if rest[0] != '+' && rest[0] != '-' {
			return Edge{}, fmt.Errorf("%q: want %s, %s+DURATION or %s-DURATION", s, a.name, a.name, a.name)
		}
		off, err := time.ParseDuration(rest)
		if err != nil {
			return Edge{}, fmt.Errorf("%q: bad offset %q (want a duration such as 30m or 1h15m)", s, rest[1:])
		}
		if off > MaxSunOffset || off < -MaxSunOffset {
			return Edge{}, fmt.Errorf("%q: offset beyond ±%v", s, MaxSunOffset)
		}
		return Edge{a.anchor, off}, nil
	}
	h, m, ok := strings.Cut(t, ":")
	if ok && len(h) >= 1 && len(h) <= 2 && len(m) == 2 && digits(h) && digits(m) {
		hh, _ := strconv.Atoi(h)
		mm, _ := strconv.Atoi(m)
		if (hh < 24 && mm < 60) || (hh == 24 && mm == 0) {
			return At(hh, mm), nil
		}
	}
	return Edge{}, fmt.Errorf("%q is not a time of day (HH:MM) or sunrise/sunset with an offset", s)
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats e so that ParseEdge reads it back.
func (e Edge) String() string {
	switch e.Anchor {
	case Sunrise, Sunset:
		name := "sunrise"
		if e.Anchor == Sunset {
			name = "sunset"
		}
		switch {
		case e.Offset > 0:
			return name + "+" + FormatDuration(e.Offset)
		case e.Offset < 0:
			return name + "-" + FormatDuration(-e.Offset)
		}
		return name
	}
	h, m := int(e.Offset/time.Hour), int(e.Offset%time.Hour/time.Minute)
	if s := e.Offset % time.Minute; s != 0 {
		return fmt.Sprintf("%02d:%02d+%v", h, m, s) // not parseable; only built by code
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

// sun reports whether e depends on the sun.
func (e Edge) sun() bool { return e.Anchor == Sunrise || e.Anchor == Sunset }

// FormatDuration formats d compactly ("1h30m", "10m", "3s") in a form that
// time.ParseDuration reads back; zero is "0s".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}, {time.Nanosecond, "ns"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

// Weekdays is a set of days of the week; bit i is time.Weekday(i). The zero
// value means every day.
type Weekdays uint8

// Everyday holds all seven days.
const Everyday Weekdays = 1<<7 - 1

// Days returns the set holding days.
func Days(days ...time.Weekday) Weekdays {
	var w Weekdays
	for _, d := range days {
		w |= 1 << (d % 7)
	}
	return w
}

// Has reports whether d is in w; every day is in the zero value.
func (w Weekdays) Has(d time.Weekday) bool {
	return w == 0 || w&(1<<(d%7)) != 0
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWeekday parses a day name: its first three letters ("mon") or the
// full English name ("monday"), in any case.
func ParseWeekday(s string) (time.Weekday, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i, n := range dayNames {
		if t == n || t == strings.ToLower(time.Weekday(i).String()) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not a day of the week (mon, tue, wed, thu, fri, sat, sun)", s)
}

// Names returns w's days as three-letter names, Monday first; nil for every
// day.
func (w Weekdays) Names() []string {
	if w == 0 || w&Everyday == Everyday {
		return nil
	}
	var out []string
	for i := 1; i <= 7; i++ {
		if w.Has(time.Weekday(i % 7)) {
			out = append(out, dayNames[i%7])
		}
	}
	return out
}

// String returns w's days joined by commas, or "every day".
func (w Weekdays) String() string {
	if n := w.Names(); n != nil {
		return strings.Join(n, ",")
	}
	return "every day"
}
