package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// updateOf returns the update section of the device's last heartbeat,
// nil without one (a device without updated, or never seen). Only that
// section is decoded: the fleet page does it for every device.
func updateOf(st state.Status) *heartbeat.Update {
	if len(st.Heartbeat) == 0 {
		return nil
	}
	var hb struct {
		Update *heartbeat.Update `json:"update"`
	}
	if json.Unmarshal(st.Heartbeat, &hb) != nil {
		return nil
	}
	return hb.Update
}

// Results of an update attempt the fleet tells apart (heartbeat.Attempt).
const (
	resultInstalled  = "installed"
	resultRolledBack = "rolled back"
	resultRefused    = "refused"
	resultFailed     = "failed"
)

// UpdateView is a device's over-the-air update on the fleet page.
type UpdateView struct {
	// Release is the running release's version ("2026.06.09").
	Release string
	// Committed names the release the device comes back on after a
	// reset, when it is not the running one: "on trial until 03:10 UTC
	// (committed: 2026.06.02), waiting for a picture from camerad".
	Committed string
	// Last is the last attempt, its result and when ("2026.06.16 rolled
	// back: camerad took no picture, 2h ago"); LastClass is "bad" for a
	// release rolled back, refused or failed, "good" for one installed.
	Last, LastClass string
}

// updateView describes u for the page at now; nil without an update
// section.
func updateView(u *heartbeat.Update, now time.Time) *UpdateView {
	if u == nil {
		return nil
	}
	v := &UpdateView{Release: u.Version}
	committed := u.CommittedVersion
	if committed == "" && !u.Committed.IsZero() {
		committed = "the build of " + u.Committed.UTC().Format("2006-01-02 15:04")
	}
	differs := committed != "" && (u.CommittedVersion != u.Version || !u.Committed.Equal(u.Build))
	switch t := u.Trial; {
	case t != nil:
		v.Committed = "on trial until " + t.Deadline.UTC().Format("2006-01-02 15:04 UTC")
		if differs {
			v.Committed += " (committed: " + committed + ")"
		}
		if t.Waiting != "" {
			v.Committed += ", waiting for " + t.Waiting
		}
	case differs:
		v.Committed = "committed: " + committed
	}
	if a := u.Last; a != nil {
		v.Last = attemptText(a) + ", " + human(now.Sub(a.Time)) + " ago"
		switch a.Result {
		case resultRolledBack, resultRefused, resultFailed:
			v.LastClass = "bad"
		case resultInstalled:
			v.LastClass = "good"
		}
	}
	return v
}

// attemptText says what became of an attempt: "2026.06.02 rolled back:
// camerad took no picture (1 failed trial)", "2026.06.02 rolled back
// and refused: failed its trial 2 times, last: …", "2026.05.01 refused:
// not newer".
func attemptText(a *heartbeat.Attempt) string {
	s := a.Version + " " + a.Result
	if a.Version == "" {
		s = "a release " + a.Result
	}
	switch {
	case a.Refusal != "" && a.Result != resultRefused:
		// The trial that failed once too often: the refusal says how
		// many times, and the last reason.
		return s + " and refused: " + a.Refusal
	case a.Refusal != "":
		s += ": " + a.Refusal
	case a.Error != "":
		s += ": " + a.Error
	}
	switch {
	case a.Failures > 0 && a.Interrupted > 0:
		s += fmt.Sprintf(" (%d failed trial%s, %d interrupted)", a.Failures, plural(a.Failures), a.Interrupted)
	case a.Failures > 0:
		s += fmt.Sprintf(" (%d failed trial%s)", a.Failures, plural(a.Failures))
	case a.Interrupted > 0:
		s += fmt.Sprintf(" (%d interrupted trial%s)", a.Interrupted, plural(a.Interrupted))
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// updateCondition is the update alert's condition: the last release
// tried was rolled back or refused. It holds until another attempt
// (the same release again, or a newer one) takes the last one's place.
func updateCondition(u *heartbeat.Update) (condition, bool) {
	a := u.Last
	if a == nil || a.Result != resultRolledBack && a.Result != resultRefused {
		return condition{}, false
	}
	return condition{severity: Warning, message: "release " + attemptText(a)}, true
}

// RunningBuilds returns each device's running build, as the update
// section of its last heartbeat says (devices without one are left out):
// what a new release is weighed against (cloud/releases).
func (s *Service) RunningBuilds(ctx context.Context) (map[string]time.Time, error) {
	sts, err := s.db.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, st := range sts {
		if u := updateOf(st); u != nil && !u.Build.IsZero() {
			out[st.Device] = u.Build
		}
	}
	return out, nil
}
