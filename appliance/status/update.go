package status

import (
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// update decodes updated.json from a snapshot's status files (redacted
// as they were read).
func (s *Snapshot) update() *statusfile.Update {
	var u statusfile.Update
	if s.decode("updated", &u) {
		return &u
	}
	return nil
}

// committedDiffers reports whether the release the boot configuration
// names is not the running one: one on trial, or one written for good
// and not yet booted.
func committedDiffers(u *statusfile.Update) bool {
	return !u.Committed.IsZero() && !u.Running.IsZero() && !u.Committed.Equal(u.Running)
}

// resultClass is the page's class for an update attempt's result: bad
// for a release rolled back, refused or failed, good for one installed.
func resultClass(result string) string {
	switch result {
	case "rolled back", "refused", "failed":
		return "bad"
	case "installed":
		return "good"
	}
	return ""
}

// stepText says what gokrazy does during an install's step (update's
// Step names).
func stepText(step string) string {
	switch step {
	case "features":
		return "asking gokrazy what it supports"
	case "root":
		return "writing the root"
	case "boot":
		return "writing the boot files"
	case "mbr":
		return "writing the MBR boot code"
	case "switch":
		return "setting up the next boot"
	case "reboot":
		return "rebooting"
	}
	return step
}

// until says how long from now to t: "in 5m 12s", or "12s ago" once
// past.
func until(now, t time.Time) string {
	if d := t.Sub(now); d >= 0 {
		return "in " + formatSeconds(d.Seconds())
	}
	return ago(now, t)
}
