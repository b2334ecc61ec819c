package updater

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
)

// CaptureGap is how far the next capture slot must be for an install to
// start: writing the root and rebooting take the camera away for about
// a minute on a Raspberry Pi. A schedule whose slots are closer than
// that never leaves such a gap: there the install starts in the first
// half of a gap, right after a capture, and costs the slots of a reboot.
const CaptureGap = 2 * time.Minute

// Conditions are what the device is doing when a release could be
// fetched or installed.
type Conditions struct {
	// Now is the time in the site's time zone.
	Now time.Time
	// Used and Total are the store's file system, as camerad measures
	// it (Total 0: unknown).
	Used, Total uint64
	// Need is what the release would still add to the store (the
	// staging files).
	Need uint64
	// NextSlot is camerad's next capture (zero: none known);
	// Capturing is set while a capture is under way. Gap is the time
	// between the last slot taken and NextSlot (zero: unknown).
	NextSlot  time.Time
	Capturing bool
	Gap       time.Duration
}

// withoutCamera is c with the camera's part left out: what a download,
// which may go on beside a capture, is judged by.
func (c Conditions) withoutCamera() Conditions {
	c.NextSlot, c.Capturing, c.Gap = time.Time{}, false, 0
	return c
}

// Gate decides whether now is a time to fetch and install a release.
type Gate struct {
	Update config.Update
	// HighWater is the store's high-water mark, a percentage (the site's
	// retention high_water): pictures come before updates.
	HighWater int
}

// Check returns why a release must wait, or "" when it may go ahead.
func (g Gate) Check(c Conditions) string {
	if !g.Update.InWindow(c.Now) {
		return fmt.Sprintf("outside the maintenance window %s–%s", g.Update.WindowStart, g.Update.WindowEnd)
	}
	if c.Total > 0 {
		used := float64(c.Used) / float64(c.Total) * 100
		after := float64(c.Used+c.Need) / float64(c.Total) * 100
		switch {
		case used > float64(g.HighWater):
			return fmt.Sprintf("the store is %.0f %% full, above its high-water mark of %d %%", used, g.HighWater)
		case after > float64(g.HighWater):
			return fmt.Sprintf("staging the release (%d MiB) would take the store to %.0f %%, above its high-water mark of %d %%",
				c.Need>>20, after, g.HighWater)
		}
	}
	if c.Capturing {
		return "a capture is under way"
	}
	need := CaptureGap
	if c.Gap > 0 && c.Gap < CaptureGap {
		need = c.Gap / 2 // slots this close: go right after one
	}
	if !c.NextSlot.IsZero() && c.NextSlot.After(c.Now) && c.NextSlot.Sub(c.Now) < need {
		return fmt.Sprintf("a capture is due at %s", c.NextSlot.Format("15:04:05"))
	}
	return ""
}

// NextLook returns when to look for a release next, after a look at last
// (zero: none yet): PollEvery later, plus a random jitter of up to a
// quarter of it so that a fleet does not ask at once, moved into the
// maintenance window when it falls outside it. The first look after a
// start comes within FirstLookJitter: a device that just returned from a
// failed trial retries soon, and a look costs one small request.
func NextLook(u config.Update, now, last time.Time, jitter func(max time.Duration) time.Duration) time.Time {
	if jitter == nil {
		jitter = randJitter
	}
	t := now
	spread := min(u.PollEvery/4, FirstLookJitter)
	if !last.IsZero() && last.Add(u.PollEvery).After(now) {
		t = last.Add(u.PollEvery)
		spread = u.PollEvery / 4
	}
	t = t.Add(jitter(spread))
	if u.InWindow(t) {
		return t
	}
	return windowOpens(u, t).Add(jitter(min(windowLength(u), u.PollEvery) / 4))
}

// FirstLookJitter bounds the random delay of the first look after a
// start.
const FirstLookJitter = time.Minute

func randJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// windowLength is how long the maintenance window lasts each day.
func windowLength(u config.Update) time.Duration {
	d := u.WindowEnd.Offset - u.WindowStart.Offset
	if d <= 0 {
		d += 24 * time.Hour
	}
	return d
}

// windowOpens returns the first opening of the maintenance window after
// t, in t's time zone.
func windowOpens(u config.Update, t time.Time) time.Time {
	y, m, d := t.Date()
	for i := 0; ; i++ {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, t.Location())
		// Offsets count wall-clock time from midnight, so a DST day
		// still opens at the configured hour.
		h := u.WindowStart.Offset
		open := time.Date(day.Year(), day.Month(), day.Day(), int(h/time.Hour), int(h%time.Hour/time.Minute), 0, 0, t.Location())
		if open.After(t) {
			return open
		}
	}
}
