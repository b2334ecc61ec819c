package status

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

	err := capturesOn(filepath.Join(permDir, "lapsebox"), day, end, func(t time.Time) {
		if i := bin(t); i >= 0 {
			tl.Bins[i].Taken++
			tl.Taken++
		}
	})
	if err != nil {
		errs = append(errs, err.Error())
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

// readBatch is how many entries of the day's directory capturesOn holds
// at a time.
const readBatch = 256

// capturesOn calls add with the capture time of each photo the store in
// storeDir holds for the day from midnight day to midnight end:
// photos/YYYY/MM/DD/YYYYMMDDHHMMSS[-n].ext, named in day's time zone. The
// files of one capture (RAW and JPG) count once; sidecars and temporary
// files not at all.
//
// It runs on every request, and the directory grows all day (a picture
// every 5 s leaves 17,280 pictures and as many sidecars by midnight). So
// it reads the directory a batch at a time and remembers the captures it
// has seen in a bitmap of the day's seconds: what it holds stays the same
// from morning to night. Reading the directory whole (os.ReadDir) and
// keeping a set of names held some 250 bytes a picture during each
// request, and the garbage collector's heap goal followed: with a whole
// day of a 5 s schedule, 13 MB instead of 4, and statusd's resident
// memory 6 MiB more under a client that polls.
func capturesOn(storeDir string, day, end time.Time, add func(time.Time)) error {
	dir := filepath.Join(storeDir, "photos", day.Format("2006"), day.Format("01"), day.Format("02"))
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Not the path: the page and API never show server paths.
		return fmt.Errorf("reading today's pictures: %w", errors.Unwrap(err))
	}
	defer f.Close()
	date := day.Format("20060102")
	// One bit for each second of the day, for the plain names; the
	// others (a second capture in one second is named -n) are rare and
	// remembered by name.
	var seen [24 * 60 * 60 / 64]uint64
	var seenNames map[string]bool
	for {
		des, rerr := f.ReadDir(readBatch)
		for _, d := range des {
			name := d.Name()
			if d.IsDir() || strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
				continue
			}
			base, _, _ := strings.Cut(name, ".")
			if len(base) < 14 {
				continue
			}
			t, err := time.ParseInLocation("20060102150405", base[:14], day.Location())
			if err != nil || t.Before(day) || !t.Before(end) {
				continue
			}
			if len(base) == 14 && base[:8] == date {
				// Parsed: HHMMSS are in range.
				h, _ := strconv.Atoi(base[8:10])
				m, _ := strconv.Atoi(base[10:12])
				sec, _ := strconv.Atoi(base[12:14])
				i := h*3600 + m*60 + sec
				if seen[i/64]&(1<<(i%64)) != 0 {
					continue
				}
				seen[i/64] |= 1 << (i % 64)
			} else {
				if seenNames[base] {
					continue
				}
				if seenNames == nil {
					seenNames = map[string]bool{}
				}
				seenNames[base] = true
			}
			add(t)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("reading today's pictures: %w", errors.Unwrap(rerr))
		}
	}
}
