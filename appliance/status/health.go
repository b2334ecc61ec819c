package status

import (
	"fmt"
	"time"
)

// Health is whether the appliance is healthy, and why not.
type Health struct {
	// OK is the verdict.
	OK bool `json:"ok"`
	// Source says whose verdict it is: "watchdogd" (its health model, the
	// one that decides the external watchdog's feeding), or "statusd"
	// when watchdogd's status is missing or stale and statusd judged from
	// the status files itself.
	Source string `json:"source"`
	// Checks are the rules and their verdicts, failing ones first.
	Checks []Check `json:"checks"`
}

// Check is one rule of the health verdict.
type Check struct {
	Rule   string `json:"rule"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// health judges s: by watchdogd's verdict while its status is fresh, else
// from what statusd itself sees.
func (s *Snapshot) health() *Health {
	if f := s.file("watchdogd"); f != nil && !f.Stale {
		if w := s.watchdog(); w != nil {
			h := &Health{OK: w.Healthy, Source: "watchdogd", Checks: []Check{}}
			for _, c := range w.Checks {
				h.Checks = append(h.Checks, Check{Rule: c.Rule, OK: c.OK, Reason: c.Reason})
			}
			if w.Alert != "" {
				h.Checks = append([]Check{{Rule: "alert", Reason: w.Alert}}, h.Checks...)
			}
			return h
		}
	}
	return s.ownHealth()
}

// ownHealth is statusd's verdict without watchdogd: every status file is
// fresh, the camera is not in alert and can store its pictures, /perm is
// mounted and writable.
func (s *Snapshot) ownHealth() *Health {
	h := &Health{Source: "statusd", Checks: []Check{}}
	add := func(rule string, ok bool, reason string) {
		h.Checks = append(h.Checks, Check{Rule: rule, OK: ok, Reason: reason})
	}
	switch f := s.file("watchdogd"); {
	case f == nil:
		add("watchdogd", true, "watchdogd not running: statusd judges")
	case f.Stale:
		add("watchdogd", false, fmt.Sprintf("watchdogd's status is %s old", formatSeconds(f.AgeSeconds)))
	}
	for _, f := range s.Files {
		switch {
		case f.Name == "watchdogd":
		case f.Error != "":
			add(f.Name+" status", false, f.Error)
		case f.Stale:
			add(f.Name+" status", false, fmt.Sprintf("%s.json is %s old: %s stopped writing its heartbeat", f.Name, formatSeconds(f.AgeSeconds), f.Name))
		default:
			add(f.Name+" status", true, "")
		}
	}
	if s.FilesError != "" {
		add("status files", false, s.FilesError)
	}
	if c := s.camera(); c == nil {
		add("camera", false, "no status from camerad")
	} else {
		switch {
		case c.Recovery.Alert:
			add("camera", false, fmt.Sprintf("%s after %d failures in a row (last action: %s)", c.State, c.Recovery.ConsecutiveFailures, c.Recovery.LastAction))
		case c.Store != nil && c.Store.Full:
			add("camera", false, "storage full since "+c.Store.FullSince.Format(time.DateTime))
		default:
			add("camera", true, c.State)
		}
	}
	switch p := s.Perm; {
	case p.Error != "":
		add("perm", false, p.Error)
	case !p.Mounted:
		add("perm", false, p.Path+" is not mounted")
	case p.ReadOnly:
		add("perm", false, p.Path+" is read-only")
	default:
		add("perm", true, fmt.Sprintf("%d%% used", p.UsedPercent()))
	}
	h.OK = true
	var failing, passing []Check
	for _, c := range h.Checks {
		if c.OK {
			passing = append(passing, c)
		} else {
			failing = append(failing, c)
			h.OK = false
		}
	}
	h.Checks = append(failing, passing...)
	return h
}

// file returns the status file of service, or nil.
func (s *Snapshot) file(service string) *File {
	for i := range s.Files {
		if s.Files[i].Name == service {
			return &s.Files[i]
		}
	}
	return nil
}
