package status

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxErrorsPerService bounds the recent errors kept for one service.
const maxErrorsPerService = 5

// ServiceErrors are the recent errors of one service, newest first.
type ServiceErrors struct {
	Service string         `json:"service"`
	Errors  []ServiceError `json:"errors"`
}

// ServiceError is one error a service reported.
type ServiceError struct {
	// Time is when it happened; zero if the service does not say.
	Time    time.Time `json:"time,omitzero"`
	Message string    `json:"message"`
}

// recentErrors gathers what went wrong lately, per service, from gokrazy's
// view of the services and from each status file (redacted as it was
// read: an error quoting a URL shows it without its password or token).
func (s *Snapshot) recentErrors() []ServiceErrors {
	by := map[string][]ServiceError{}
	add := func(service string, t time.Time, format string, args ...any) {
		by[service] = append(by[service], ServiceError{Time: t, Message: fmt.Sprintf(format, args...)})
	}
	for _, sv := range s.Services {
		switch sv.State {
		case StateExited:
			add(sv.Name, sv.Started, "exited: gokrazy restarts it (started %s)", ago(s.Now, sv.Started))
		case StateNotStarted:
			add(sv.Name, time.Time{}, "not started: waiting for the clock, or its binary cannot run")
		case StateUnknown:
			add(sv.Name, time.Time{}, "whether it runs cannot be read")
		}
	}
	for _, f := range s.Files {
		switch {
		case f.Error != "":
			add(f.Name, f.ModTime, "status file: %s", f.Error)
		case f.Stale:
			add(f.Name, f.ModTime, "status file not written for %s: the service is stuck or stopped", formatSeconds(f.AgeSeconds))
		}
	}
	if c := s.camera(); c != nil {
		if c.LastError != "" {
			add("camerad", c.LastErrorTime, "%s", c.LastError)
		}
		if c.Store != nil && c.Store.LastError != "" {
			add("camerad", c.Store.LastErrorTime, "store: %s", c.Store.LastError)
		}
		for _, a := range c.RecoveryActions {
			add("camerad", a.Time, "%s (then: %s)", a.Error, a.Action)
		}
	}
	if u := s.uploads(); u != nil {
		for _, t := range u.Targets {
			if t.LastError != "" {
				add("uploadd", t.LastErrorTime, "%s: %s", t.Name, t.LastError)
			}
			for _, r := range t.ParkedReasons {
				add("uploadd", time.Time{}, "%s: parked: %s", t.Name, r)
			}
		}
	}
	if m := s.modem(); m != nil {
		if m.Problem != "" {
			add("modemd", m.Updated, "%s", m.Problem)
		}
		if m.Link.LastProbeError != "" {
			add("modemd", m.Link.LastProbe, "probe: %s", m.Link.LastProbeError)
		}
		for _, e := range m.Escalations {
			if e.Error != "" {
				add("modemd", e.Time, "%s (%s): %s", e.Step, e.Reason, e.Error)
			}
		}
	}
	if w := s.watchdog(); w != nil {
		if w.Alert != "" {
			add("watchdogd", w.Updated, "%s", w.Alert)
		}
		if w.Feeder != nil && w.Feeder.Error != "" {
			add("watchdogd", w.Updated, "feeder: %s", w.Feeder.Error)
		}
		if w.Boots.Error != "" {
			add("watchdogd", w.Updated, "boot counter: %s", w.Boots.Error)
		}
		for _, r := range w.Relays {
			if r.Error != "" {
				add("watchdogd", w.Updated, "relay %s: %s", r.Device, r.Error)
			}
		}
		for _, e := range w.Sensors.Errors {
			add("watchdogd", w.Updated, "sensors: %s", e)
		}
	}
	if u := s.update(); u != nil {
		if a := u.LastAttempt; a != nil && resultClass(a.Result) == "bad" {
			why := a.Error
			if a.Refusal != "" {
				why = a.Refusal
			}
			add("updated", a.Time, "%s %s: %s", a.Release.Version, a.Result, why)
		}
	}
	out := []ServiceErrors{}
	for name, errs := range by {
		slices.SortStableFunc(errs, func(a, b ServiceError) int { return b.Time.Compare(a.Time) })
		errs = slices.CompactFunc(errs, func(a, b ServiceError) bool { return a.Message == b.Message })
		if len(errs) > maxErrorsPerService {
			errs = errs[:maxErrorsPerService]
		}
		out = append(out, ServiceErrors{Service: name, Errors: errs})
	}
	slices.SortFunc(out, func(a, b ServiceErrors) int { return strings.Compare(a.Service, b.Service) })
	return out
}
