package schedule

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file simulates whole months and compares against expectations built
// without the code under test: a brute-force walk over every UTC minute that
// asks, from the minute's local wall-clock reading alone, whether it is in a
// window and on the window's grid. Only the sun's times come from Sun, which
// TestSunPublished checks against published tables.

// bruteWindow is a window as the brute force understands it.
type bruteWindow struct {
	days   []time.Weekday // nil: every day
	start  string         // "HH:MM" or "sunrise"/"sunset" with a whole-minute offset
	end    string
	everyM int // interval in minutes
}

type bruteSite struct {
	loc      *time.Location
	lat, lon float64
	windows  []bruteWindow
	minGap   time.Duration
}

func (w bruteWindow) on(d time.Weekday) bool {
	return w.days == nil || slices.Contains(w.days, d)
}

// clockMinutes parses "HH:MM" into minutes after midnight, or -1 for a sun edge.
func clockMinutes(s string) int {
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil {
		return -1
	}
	return h*60 + m
}

// sunEdge returns the instant of a sun edge on the local date of day.
func (b *bruteSite) sunEdge(s string, day time.Time, cache map[string]SunDay) time.Time {
	key := day.Format("2006-01-02")
	sd, ok := cache[key]
	if !ok {
		sd = Sun(day, b.lat, b.lon)
		cache[key] = sd
	}
	if sd.Polar != Normal {
		panic("the brute force handles normal days only")
	}
	base, off := sd.Rise, ""
	if rest, ok := strings.CutPrefix(s, "sunrise"); ok {
		off = rest
	} else {
		base, off = sd.Set, strings.TrimPrefix(s, "sunset")
	}
	if off != "" {
		d, err := time.ParseDuration(off)
		if err != nil {
			panic(err)
		}
		base = base.Add(d)
	}
	return base
}

// in reports whether instant t (whose local reading is lt) lies in w.
func (b *bruteSite) in(w bruteWindow, t, lt time.Time, cache map[string]SunDay) bool {
	y, m, d := lt.Date()
	today := time.Date(y, m, d, 12, 0, 0, 0, b.loc)
	yesterday := time.Date(y, m, d-1, 12, 0, 0, 0, b.loc)
	wall := lt.Hour()*60 + lt.Minute()
	s, e := clockMinutes(w.start), clockMinutes(w.end)
	if s >= 0 && e >= 0 {
		if e > s {
			return w.on(today.Weekday()) && s <= wall && wall < e
		}
		return (w.on(today.Weekday()) && wall >= s) || (w.on(yesterday.Weekday()) && wall < e)
	}
	// Sun windows: check the windows of yesterday, today and tomorrow.
	for i := -1; i <= 1; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, b.loc)
		if !w.on(day.Weekday()) {
			continue
		}
		st, en := b.sunEdge(w.start, day, cache), b.sunEdge(w.end, day, cache)
		if !t.Before(st) && t.Before(en) {
			return true
		}
	}
	return false
}

// slots returns the brute-force slots in [from, to).
func (b *bruteSite) slots(from, to time.Time) []time.Time {
	cache := map[string]SunDay{}
	var out []time.Time
	for t := from.Truncate(time.Minute); t.Before(to); t = t.Add(time.Minute) {
		if t.Before(from) {
			continue
		}
		lt := t.In(b.loc)
		wall := lt.Hour()*60 + lt.Minute()
		for _, w := range b.windows {
			if wall%w.everyM == 0 && b.in(w, t, lt, cache) {
				if len(out) == 0 || t.Sub(out[len(out)-1]) >= b.minGap {
					out = append(out, t)
				}
				break
			}
		}
	}
	return out
}

// schedule builds the Schedule under test from the same description.
func (b *bruteSite) schedule(t *testing.T) *Schedule {
	s := &Schedule{Location: b.loc, Latitude: b.lat, Longitude: b.lon, MinGap: b.minGap}
	for _, w := range b.windows {
		start, err1 := ParseEdge(w.start)
		end, err2 := ParseEdge(w.end)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		s.Windows = append(s.Windows, Window{Days: Days(w.days...), Start: start, End: end, Interval: time.Duration(w.everyM) * time.Minute})
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	weekend  = []time.Weekday{time.Saturday, time.Sunday}
)

// sites are the simulated months: each spans a DST change.
func sites(t *testing.T) []struct {
	name     string
	site     bruteSite
	from, to time.Time
} {
	paris := mustLoad(t, "Europe/Paris")
	ny := mustLoad(t, "America/New_York")
	// A building site: weekday working hours every 10 minutes, daylight
	// every 5 minutes with margins, a night window at the weekend that
	// crosses midnight, and an all-day hourly shot on Sundays.
	building := []bruteWindow{
		{days: weekdays, start: "07:00", end: "19:00", everyM: 10},
		{start: "sunrise-30m", end: "sunset+45m", everyM: 5},
		{days: weekend, start: "22:00", end: "04:00", everyM: 15},
		{days: []time.Weekday{time.Sunday}, start: "00:00", end: "24:00", everyM: 60},
	}
	return []struct {
		name     string
		site     bruteSite
		from, to time.Time
	}{
		{"Paris spring forward", bruteSite{paris, 48.86, 2.35, building, 3 * time.Second},
			time.Date(2026, 3, 14, 0, 0, 0, 0, paris), time.Date(2026, 4, 14, 0, 0, 0, 0, paris)},
		{"Paris fall back", bruteSite{paris, 48.86, 2.35, building, 3 * time.Second},
			time.Date(2026, 10, 10, 0, 0, 0, 0, paris), time.Date(2026, 11, 10, 0, 0, 0, 0, paris)},
		{"New York spring forward", bruteSite{ny, 40.71, -74.01, building, 3 * time.Second},
			time.Date(2026, 2, 25, 0, 0, 0, 0, ny), time.Date(2026, 3, 25, 0, 0, 0, 0, ny)},
		{"New York fall back", bruteSite{ny, 40.71, -74.01, building, 3 * time.Second},
			time.Date(2026, 10, 20, 0, 0, 0, 0, ny), time.Date(2026, 11, 20, 0, 0, 0, 0, ny)},
		// Grids that do not divide an hour and a minimum gap that drops
		// slots: the 7m and 5m grids meet every 35 minutes and come within
		// a minute of each other in between.
		{"New York odd grids", bruteSite{ny, 40.71, -74.01, []bruteWindow{
			{start: "06:00", end: "22:00", everyM: 5},
			{start: "00:00", end: "24:00", everyM: 7},
			{days: weekend, start: "sunset-1h", end: "sunset+1h", everyM: 2},
		}, 150 * time.Second},
			time.Date(2026, 10, 20, 0, 0, 0, 0, ny), time.Date(2026, 11, 20, 0, 0, 0, 0, ny)},
	}
}

func diffSlots(t *testing.T, loc *time.Location, got, want []time.Time) {
	t.Helper()
	if slices.EqualFunc(got, want, time.Time.Equal) {
		return
	}
	t.Errorf("%d slots, want %d", len(got), len(want))
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w time.Time
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if !g.Equal(w) {
			t.Fatalf("first difference at %d: got %v, want %v", i, g.In(loc), w.In(loc))
		}
	}
}

func TestSimulatedMonthSlots(t *testing.T) {
	for _, tc := range sites(t) {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.site.schedule(t)
			want := tc.site.slots(tc.from, tc.to)
			if len(want) < 1000 {
				t.Fatalf("only %d expected slots; the simulation is too thin", len(want))
			}
			diffSlots(t, tc.site.loc, s.Slots(tc.from, tc.to), want)
		})
	}
}

// jump moves the fake clock by delta when it first reaches at.
type jump struct {
	at    time.Time
	delta time.Duration
}

// TestSimulatedMonthCaptureLoop runs a capture loop on a fake clock that
// wakes a little late for every slot and is stepped forward and back, and
// checks which slots it takes and which it records as missed.
func TestSimulatedMonthCaptureLoop(t *testing.T) {
	const latency = 200 * time.Millisecond
	const grace = time.Minute
	for _, tc := range sites(t)[:4] { // grids on whole 5 minutes: no slot is dropped by MinGap
		t.Run(tc.name, func(t *testing.T) {
			s := tc.site.schedule(t)
			loc := tc.site.loc
			mid := tc.from.Add(tc.to.Sub(tc.from) / 2)
			// Steps between slots (:x2:30), inside the daylight window.
			fwdAt := time.Date(mid.Year(), mid.Month(), mid.Day(), 11, 2, 30, 0, loc)
			backAt := time.Date(mid.Year(), mid.Month(), mid.Day()+3, 12, 2, 30, 0, loc)
			jumps := []jump{{fwdAt, 3 * time.Hour}, {backAt, -2 * time.Hour}}

			var taken, missed []time.Time
			var last time.Time
			now := tc.from
			wentBack := 0
			for now.Before(tc.to) {
				c := s.Catchup(last, now, grace)
				missed = append(missed, c.Missed...)
				if c.ClockWentBack {
					wentBack++
				}
				if !c.Due.IsZero() {
					taken = append(taken, c.Due)
				}
				last = c.Through
				if !c.NextOK {
					t.Fatal("no next slot")
				}
				wake := c.Next.Add(latency)
				if len(jumps) > 0 && !wake.Before(jumps[0].at) {
					now = jumps[0].at.Add(jumps[0].delta)
					jumps = jumps[1:]
					continue
				}
				now = wake
			}

			// Expected, from the brute force: everything up to the forward
			// step; the slots it jumped over are missed; everything from the
			// landing to the backward step; then again everything from the
			// backward landing (the two hours before backAt are taken twice).
			all := tc.site.slots(tc.from, tc.to)
			between := func(a, b time.Time) []time.Time { // (a, b]
				var out []time.Time
				for _, x := range all {
					if x.After(a) && !x.After(b) {
						out = append(out, x)
					}
				}
				return out
			}
			fwdLand, backLand := fwdAt.Add(3*time.Hour), backAt.Add(-2*time.Hour)
			var wantTaken []time.Time
			wantTaken = append(wantTaken, between(tc.from.Add(-time.Nanosecond), fwdAt)...)
			wantTaken = append(wantTaken, between(fwdLand, backAt)...)
			wantTaken = append(wantTaken, between(backLand, tc.to.Add(-time.Nanosecond))...)
			wantMissed := between(fwdAt, fwdLand)

			if len(wantMissed) < 10 {
				t.Fatalf("the forward step skips only %d slots", len(wantMissed))
			}
			t.Run("taken", func(t *testing.T) { diffSlots(t, loc, taken, wantTaken) })
			t.Run("missed", func(t *testing.T) { diffSlots(t, loc, missed, wantMissed) })
			if wentBack != 1 {
				t.Errorf("ClockWentBack reported %d times, want 1", wentBack)
			}
		})
	}
}
