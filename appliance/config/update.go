package config

import (
	"regexp"
	"time"

	"github.com/lapsebox/lapsebox/appliance/schedule"
)

// Update configures the pulled over-the-air updates (updated): where
// releases come from and when the device may install one.
type Update struct {
	// Target names the cloud target whose server and token the releases
	// are fetched with; empty takes the first cloud target, and without
	// one the device pulls no releases.
	Target string
	// Channel is the release channel the device follows ("stable").
	Channel string
	// WindowStart and WindowEnd bound the maintenance window, in the
	// site's time zone ("02:00" to "05:00"; an end before the start
	// spans midnight): an update is downloaded, written and booted only
	// inside it.
	WindowStart, WindowEnd schedule.Edge
	// PollEvery is the time between two looks for a new release (each
	// shifted by a random jitter of up to a quarter of it).
	PollEvery time.Duration
	// TrialTime is how long a release booted on trial has to prove
	// itself (the health model finds nothing wrong, a scheduled picture
	// is taken, the server is reached) before the device returns to its
	// committed root.
	TrialTime time.Duration
}

// channelPattern is a release channel's name (image/release.NamePattern).
var channelPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

type fileUpdate struct {
	Target      string `json:"target,omitempty"`
	Channel     string `json:"channel"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	PollEvery   string `json:"poll_every"`
	TrialTime   string `json:"trial_time,omitempty"`
}

func defaultUpdate() fileUpdate {
	return fileUpdate{Channel: "stable", WindowStart: "02:00", WindowEnd: "05:00", PollEvery: "6h", TrialTime: "20m"}
}

// parseUpdate validates the update section; the targets are parsed.
// Without the section the device pulls no releases (nil); a field the
// section leaves out takes its default.
func (f *fileConfig) parseUpdate(targets []Target, bad func(field, format string, args ...any)) *Update {
	if f.Update == nil {
		return nil
	}
	fu, d := *f.Update, defaultUpdate()
	for _, e := range []struct{ v, def *string }{{&fu.Channel, &d.Channel}, {&fu.WindowStart, &d.WindowStart},
		{&fu.WindowEnd, &d.WindowEnd}, {&fu.PollEvery, &d.PollEvery}, {&fu.TrialTime, &d.TrialTime}} {
		if *e.v == "" {
			*e.v = *e.def
		}
	}
	u := &Update{Target: fu.Target, Channel: fu.Channel}
	if fu.Target != "" {
		found := false
		for _, t := range targets {
			if t.Name == fu.Target {
				found = true
				if t.Kind != Cloud {
					bad("update.target", "%q is a %s target; releases come from a cloud target", fu.Target, t.Kind)
				}
			}
		}
		if !found {
			bad("update.target", "%q is not the name of a target", fu.Target)
		}
	}
	if !channelPattern.MatchString(fu.Channel) {
		bad("update.channel", "%q: want lower-case letters, digits and dashes (at most 32), e.g. \"stable\"", fu.Channel)
	}
	for _, e := range []struct {
		field, value string
		dst          *schedule.Edge
	}{{"update.window_start", fu.WindowStart, &u.WindowStart}, {"update.window_end", fu.WindowEnd, &u.WindowEnd}} {
		edge, err := schedule.ParseEdge(e.value)
		switch {
		case err != nil:
			bad(e.field, "%v", err)
		case edge.Anchor != schedule.Clock:
			bad(e.field, "%q: want a time of day such as \"02:00\"", e.value)
		default:
			*e.dst = edge
		}
	}
	var err error
	if u.PollEvery, err = parseDuration(fu.PollEvery); err != nil {
		bad("update.poll_every", "%v", err)
	} else if u.PollEvery < 10*time.Minute {
		bad("update.poll_every", "%q: at least 10m (each look costs data)", fu.PollEvery)
	}
	if u.TrialTime, err = parseDuration(fu.TrialTime); err != nil {
		bad("update.trial_time", "%v", err)
	} else if u.TrialTime < time.Minute || u.TrialTime > 24*time.Hour {
		bad("update.trial_time", "%q: between 1m and 24h", fu.TrialTime)
	}
	return u
}

func (u *Update) file() *fileUpdate {
	if u == nil {
		return nil
	}
	return &fileUpdate{Target: u.Target, Channel: u.Channel, WindowStart: u.WindowStart.String(),
		WindowEnd: u.WindowEnd.String(), PollEvery: schedule.FormatDuration(u.PollEvery),
		TrialTime: schedule.FormatDuration(u.TrialTime)}
}

// InWindow reports whether t (in the site's time zone) is inside the
// maintenance window. Equal start and end mean any time.
func (u Update) InWindow(t time.Time) bool {
	start, end := u.WindowStart.Offset, u.WindowEnd.Offset
	if start == end {
		return true
	}
	y, m, d := t.Date()
	now := t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location()))
	if start < end {
		return now >= start && now < end
	}
	return now >= start || now < end
}
