package health

import (
	"fmt"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// Rules are the model's rules, in the order a status page shows them.
var Rules = []Rule{
	{Name: "status files", Grace: func(Config) time.Duration { return 0 }, Check: checkFiles},
	{Name: "camera slots", Grace: func(c Config) time.Duration { return c.CameraGrace }, Check: checkSlots},
	{Name: "uploads", Grace: func(c Config) time.Duration { return c.UploadStall }, Check: checkUploads},
	{Name: "perm", Grace: func(Config) time.Duration { return 0 }, Check: checkPerm},
	{Name: "clock", Grace: func(Config) time.Duration { return 0 }, Check: checkClock},
}

// checkFiles: every required service has its status file, and every file
// present changes at least every StaleAfter (its age is the service's
// heartbeat). A missing file counts after StaleAfter.
func checkFiles(m *Model, s *Snapshot) []Problem {
	var out []Problem
	for _, name := range m.services(s) {
		f, ok := s.Files[name]
		switch {
		case !ok:
			// A missing file is as good as stale once it has been
			// missing that long.
			if s.Mono-m.start >= m.Config.StaleAfter {
				out = append(out, Problem{Key: "missing " + name, Reason: name + ": no status file"})
			}
		case f.Err != nil:
			out = append(out, Problem{Key: "unreadable " + name, Reason: fmt.Sprintf("%s: %v", name, f.Err)})
		default:
			if d := m.unchanged(s, name); d > m.Config.StaleAfter {
				out = append(out, Problem{Key: "stale " + name,
					Reason: fmt.Sprintf("%s: status file unchanged for %s (at most %s): the service is stopped or hung", name, roundDur(d), m.Config.StaleAfter)})
			}
		}
	}
	return out
}

// slotGrace is how long after its time a slot may still be in the works
// (camerad gives a slot at most two minutes, and may start it late).
const slotGrace = 5 * time.Minute

// checkSlots: camerad took the pictures its schedule asked for. Slots it
// reports missed after its last capture, or a next slot long past, are
// problems; CameraGrace lets its recovery ladder (up to a power cycle)
// work first.
func checkSlots(m *Model, s *Snapshot) []Problem {
	f, ok := s.Files["camerad"]
	if !ok || f.Camera == nil || f.Camera.Mode != "capture" {
		return nil
	}
	c := f.Camera
	var last time.Time
	if c.LastCapture != nil {
		last = c.LastCapture.Slot
	}
	var missed []statusfile.MissedSlot
	for _, ms := range c.RecentMissed {
		if ms.Slot.After(last) {
			missed = append(missed, ms)
		}
	}
	var out []Problem
	if len(missed) > 0 {
		newest := missed[len(missed)-1]
		reason := fmt.Sprintf("%s missed since %s, none taken since", plural(len(missed), "slot", "slots"), missed[0].Slot.UTC().Format(time.RFC3339))
		if newest.Reason != "" {
			reason += ": " + short(newest.Reason)
		}
		if c.Recovery.Alert {
			reason += " (recovery ladder exhausted)"
		}
		out = append(out, Problem{Key: "missed slots", Reason: reason})
	}
	if !c.NextSlot.IsZero() && s.Wall.Sub(c.NextSlot) > slotGrace && c.State != "waiting for clock" {
		out = append(out, Problem{Key: "overdue slot",
			Reason: fmt.Sprintf("the slot of %s is %s overdue (state %q)", c.NextSlot.UTC().Format(time.RFC3339), roundDur(s.Wall.Sub(c.NextSlot)), c.State)})
	}
	return out
}

// checkUploads: uploadd makes progress when it has work in an open
// window. Any attempt counts, a failed one too: a link that is down makes
// failures, not a stall, and losing the WAN alone never stops the
// feeding. A target held by the modem's data cap sends nothing until the
// month ends, which is no stall either. Only a target with pending work
// and nothing happening at all (a hung uploadd that still writes its
// heartbeat) is a problem.
func checkUploads(m *Model, s *Snapshot) []Problem {
	f, ok := s.Files["uploadd"]
	prev := m.Prev()
	if !ok || f.Uploads == nil || prev == nil {
		return nil
	}
	pf, ok := prev.Files["uploadd"]
	if !ok || pf.Uploads == nil {
		return nil
	}
	var out []Problem
	for _, t := range f.Uploads.Targets {
		if t.Pending == 0 || t.State == "closed" || t.State == "held" {
			continue
		}
		for _, p := range pf.Uploads.Targets {
			if p.Name == t.Name && activity(p) == activity(t) {
				out = append(out, Problem{Key: "stalled " + t.Name,
					Reason: fmt.Sprintf("%s: %d pending, no attempt", t.Name, t.Pending)})
			}
		}
	}
	return out
}

type uploadActivity struct {
	sent, skipped           int
	sentBytes               int64
	lastSuccess, lastError  time.Time
	current, state, lastErr string
}

func activity(t statusfile.Target) uploadActivity {
	return uploadActivity{t.Sent, t.Skipped, t.SentBytes, t.LastSuccess, t.LastErrorTime, t.Current, t.State, t.LastError}
}

// checkPerm: /perm below its critical mark.
func checkPerm(m *Model, s *Snapshot) []Problem {
	d := s.Sensors.Disk
	if d == nil {
		for _, e := range s.Sensors.Errs {
			if strings.HasPrefix(e, "disk:") {
				return []Problem{{Key: "perm unreadable", Reason: e}}
			}
		}
		return nil
	}
	if u := d.UsedPercent(); u >= float64(m.Config.PermCritical) {
		return []Problem{{Key: "perm full", Reason: fmt.Sprintf("/perm %.1f%% used, critical from %d%%", u, m.Config.PermCritical)}}
	}
	return nil
}

// checkClock: the clock has been set (photos are named by it).
func checkClock(m *Model, s *Snapshot) []Problem {
	if !s.Sensors.Clock.Now.IsZero() && !s.Sensors.Clock.Plausible {
		return []Problem{{Key: "clock unset", Reason: fmt.Sprintf("the clock reads %s: never set (no NTP answer, no saved time)", s.Sensors.Clock.Now.UTC().Format(time.RFC3339))}}
	}
	return nil
}
