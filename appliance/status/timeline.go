package status

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// binsPerDay divides the timeline into half hours: 48 cells fit a phone.
const binsPerDay = 48

// maxEvents bounds the missed and failed captures listed under the
// timeline.
const maxEvents = 20

// Timeline is today's captures in the site's time zone: taken (the
// store's photos of the day), missed (the slots camerad says it missed)
// and failed (the capture attempts that failed, as camerad's recovery
// ladder records them), against the slots the schedule asked for.
type Timeline struct {
	// Day is the date ("2026-07-14") in TimeZone, the site's.
	Day      string `json:"day"`
	TimeZone string `json:"timeZone"`
	// Expected counts the schedule's slots from midnight until now.
	Expected int `json:"expected"`
	Taken    int `json:"taken"`
	Missed   int `json:"missed"`
	Failed   int `json:"failed"`
	// Bins are the day's half hours, in order.
	Bins []Bin `json:"bins"`
	// Events are the day's missed and failed captures, newest first, at
	// most 20.
	Events []Event `json:"events"`
	// Error says what could not be read (the store, the configuration);
	// the counts are then what could be.
	Error string `json:"error,omitempty"`
}

// Bin is one half hour of the timeline.
type Bin struct {
	Start    time.Time `json:"start"`
	Expected int       `json:"expected"`
	Taken    int       `json:"taken"`
	Missed   int       `json:"missed"`
	Failed   int       `json:"failed"`
	// State sums the bin up, worst first: "future", "failed", "missed",
	// "taken", "unknown" (slots were due and nothing is recorded for
	// them) or "idle" (no slot was due).
	State string `json:"state"`
}

// Event is a missed or failed capture.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // "missed" or "failed"
	Reason string    `json:"reason"`
}

// timeline builds today's timeline from the store under permDir, the
// site configuration and camerad's status.
func timeline(now time.Time, site *config.Config, siteErr error, permDir string, cam *statusfile.Camera) *Timeline {
	loc := time.UTC
	if site != nil && site.Site.Location != nil {
		loc = site.Site.Location
	}
	now = now.In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	end := day.AddDate(0, 0, 1)
	tl := &Timeline{Day: day.Format(time.DateOnly), TimeZone: loc.String(), Bins: make([]Bin, binsPerDay), Events: []Event{}}
	var errs []string
	if siteErr != nil {
		errs = append(errs, siteErr.Error())
	}
	// A day is not always 24 hours (daylight saving time): the bins
	// divide the day's real length.
	width := end.Sub(day) / binsPerDay
	bin := func(t time.Time) int {
		if t.Before(day) || !t.Before(end) {
			return -1
		}
		return min(int(t.Sub(day)/width), binsPerDay-1)
	}
	for i := range tl.Bins {
		b := &tl.Bins[i]
		b.Start = day.Add(time.Duration(i) * width)
		if site != nil && b.Start.Before(now) {
			to := b.Start.Add(width)
			if to.After(now) {
				to = now
			}
			b.Expected = site.Schedule.Count(b.Start, to)
			tl.Expected += b.Expected
		}
	}

	taken, err := capturesOn(filepath.Join(permDir, "lapsebox"), day, loc)
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, t := range taken {
		if i := bin(t); i >= 0 {
			tl.Bins[i].Taken++
			tl.Taken++
		}
	}
	if cam != nil {
		for _, m := range cam.RecentMissed {
			if i := bin(m.Slot); i >= 0 {
				tl.Bins[i].Missed++
				tl.Missed++
				tl.Events = append(tl.Events, Event{Time: m.Slot, Kind: "missed", Reason: m.Reason})
			}
		}
		for _, a := range cam.RecoveryActions {
			if i := bin(a.Time); i >= 0 {
				tl.Bins[i].Failed++
				tl.Failed++
				tl.Events = append(tl.Events, Event{Time: a.Time, Kind: "failed", Reason: a.Error + " (then: " + a.Action + ")"})
			}
		}
	}
	for i := range tl.Bins {
		b := &tl.Bins[i]
		switch {
		case b.Failed > 0:
			b.State = "failed"
		case b.Missed > 0:
			b.State = "missed"
		case b.Taken > 0:
			b.State = "taken"
		case !b.Start.Before(now):
			b.State = "future"
		case b.Expected > 0:
			b.State = "unknown"
		default:
			b.State = "idle"
		}
	}
	slices.SortStableFunc(tl.Events, func(a, b Event) int { return b.Time.Compare(a.Time) })
	if len(tl.Events) > maxEvents {
		tl.Events = tl.Events[:maxEvents]
	}
	tl.Error = strings.Join(errs, "; ")
	return tl
}

// capturesOn returns the capture times of the photos the store in
// storeDir holds for day: photos/YYYY/MM/DD/YYYYMMDDHHMMSS[-n].ext, named
// in the site's time zone. The files of one capture (RAW and JPG) count
// once; sidecars and temporary files not at all.
func capturesOn(storeDir string, day time.Time, loc *time.Location) ([]time.Time, error) {
	dir := filepath.Join(storeDir, "photos", day.Format("2006"), day.Format("01"), day.Format("02"))
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		// Not the path: the page and API never show server paths.
		return nil, fmt.Errorf("reading today's pictures: %w", errors.Unwrap(err))
	}
	seen := map[string]bool{}
	var out []time.Time
	for _, d := range des {
		name := d.Name()
		if d.IsDir() || strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		base, _, _ := strings.Cut(name, ".")
		if seen[base] || len(base) < 14 {
			continue
		}
		t, err := time.ParseInLocation("20060102150405", base[:14], loc)
		if err != nil {
			continue
		}
		seen[base] = true
		out = append(out, t)
	}
	return out, nil
}
