// Package health is watchdogd's health model: it judges, from the
// services' status files and the board's sensors, whether the appliance
// is doing its job, so that the external watchdog is fed only while it
// is. Each rule is a function of what was read (table-driven tests replay
// recorded status files) and says why it fails; the model adds time: a
// problem counts against health once it has lasted its rule's grace,
// measured on the monotonic clock, so that a clock that jumps (NTP
// setting it after boot, a person) neither makes nor hides a failure.
//
// Losing the WAN is never a failure: an upload that fails is an upload
// that was tried.
package health

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/hw"
)

// Config are the model's limits (from the site configuration's
// hardware.health).
type Config struct {
	StartupGrace time.Duration
	StaleAfter   time.Duration
	CameraGrace  time.Duration
	UploadStall  time.Duration
	PermCritical int // percent
	// Required are the services whose status file must exist
	// ("camerad", "uploadd"); every other status file present must be
	// fresh too.
	Required []string
	// Self is the service judging, whose own file is not judged.
	Self string
}

// File is a status file as read.
type File struct {
	ModTime time.Time
	Err     error // unreadable (then the fields below are nil)
	Camera  *statusfile.Camera
	Uploads *statusfile.Uploads
}

// Snapshot is what the model judges at one instant.
type Snapshot struct {
	// Wall is the system clock; Mono a monotonic clock from any origin
	// (time.Since of a fixed start).
	Wall time.Time
	Mono time.Duration
	// Files are the status files by service name.
	Files   map[string]File
	Sensors hw.Readings
}

// Problem is something wrong, found by a rule.
type Problem struct {
	// Key identifies the problem across snapshots ("stale camerad"): its
	// grace runs from the first snapshot that had it.
	Key    string
	Reason string
}

// Rule is one check of the model.
type Rule struct {
	Name string
	// Grace is how long a problem may last before it counts.
	Grace func(Config) time.Duration
	// Check finds the rule's problems in s; m gives what earlier
	// snapshots left (file freshness, the previous snapshot).
	Check func(m *Model, s *Snapshot) []Problem
}

// Model judges snapshots. It keeps what the rules need across them; it is
// not safe for concurrent use.
type Model struct {
	Config Config
	// Rules default to Rules.
	Rules []Rule

	started bool
	start   time.Duration
	first   map[string]time.Duration // problem key → first seen (Mono)
	seen    map[string]seenFile
	prev    *Snapshot
	offset  time.Duration // Wall - Mono of the previous snapshot
	steps   int
	step    *statusfile.ClockStep
}

type seenFile struct {
	mod     time.Time
	changed time.Duration // Mono when the file last changed
}

// Verdict is the model's judgement of a snapshot.
type Verdict struct {
	// Healthy: no problem has lasted past its grace.
	Healthy bool
	// Starting: within the startup grace; problems do not stop the
	// feeding yet.
	Starting   bool
	GraceUntil time.Time
	// Checks are every rule's outcome, failing ones first.
	Checks []statusfile.HealthCheck
	// Reasons are the problems that count, one line each.
	Reasons []string
	// Steps counts the clock's jumps seen, LastStep the newest.
	Steps    int
	LastStep *statusfile.ClockStep
}

// Feed says whether the external watchdog may be fed on this verdict.
func (v Verdict) Feed() bool { return v.Healthy || v.Starting }

// clockStep is how far the wall clock may drift from the monotonic one
// between two snapshots before it counts as a step.
const clockStep = 2 * time.Second

// Judge judges s.
func (m *Model) Judge(s Snapshot) Verdict {
	if !m.started {
		m.started, m.start = true, s.Mono
		m.first, m.seen = map[string]time.Duration{}, map[string]seenFile{}
		m.offset = time.Duration(s.Wall.UnixNano()) - s.Mono
	}
	if off := time.Duration(s.Wall.UnixNano()) - s.Mono; off-m.offset > clockStep || m.offset-off > clockStep {
		m.steps++
		m.step = &statusfile.ClockStep{Time: s.Wall, By: statusfile.Duration(off - m.offset)}
		m.offset = off
	}
	m.track(&s)
	rules := m.Rules
	if rules == nil {
		rules = Rules
	}
	v := Verdict{Healthy: true, Steps: m.steps, LastStep: m.step}
	seen := map[string]bool{}
	var ok []statusfile.HealthCheck
	for _, r := range rules {
		problems := r.Check(m, &s)
		if len(problems) == 0 {
			ok = append(ok, statusfile.HealthCheck{Rule: r.Name, OK: true})
			continue
		}
		grace := r.Grace(m.Config)
		for _, p := range problems {
			seen[p.Key] = true
			first, had := m.first[p.Key]
			if !had {
				first = s.Mono
				m.first[p.Key] = first
			}
			counts := s.Mono-first >= grace
			reason := p.Reason
			if !counts {
				reason += fmt.Sprintf(" (counts after %s)", roundDur(grace-(s.Mono-first)))
			}
			v.Checks = append(v.Checks, statusfile.HealthCheck{Rule: r.Name, Reason: reason,
				Since: s.Wall.Add(first - s.Mono), Counts: counts})
			if counts {
				v.Healthy = false
				v.Reasons = append(v.Reasons, r.Name+": "+p.Reason)
			}
		}
	}
	for k := range m.first {
		if !seen[k] {
			delete(m.first, k) // solved: its grace starts again next time
		}
	}
	v.Checks = append(v.Checks, ok...)
	if s.Mono-m.start < m.Config.StartupGrace {
		v.Starting = true
		v.GraceUntil = s.Wall.Add(m.Config.StartupGrace - (s.Mono - m.start))
	}
	prev := s
	m.prev = &prev
	return v
}

// track notes when each status file last changed, on the monotonic clock.
func (m *Model) track(s *Snapshot) {
	for name, f := range s.Files {
		old, ok := m.seen[name]
		switch {
		case !ok:
			// First sight: trust its age on the wall clock, but no more
			// than StaleAfter (the clock may have jumped since it was
			// written), and no less than zero.
			age := min(max(s.Wall.Sub(f.ModTime), 0), m.Config.StaleAfter)
			m.seen[name] = seenFile{mod: f.ModTime, changed: s.Mono - age}
		case !old.mod.Equal(f.ModTime):
			m.seen[name] = seenFile{mod: f.ModTime, changed: s.Mono}
		}
	}
}

// unchanged is how long the named file has not changed, on the monotonic
// clock.
func (m *Model) unchanged(s *Snapshot, name string) time.Duration {
	return s.Mono - m.seen[name].changed
}

// Prev returns the previous snapshot judged, nil before the second.
func (m *Model) Prev() *Snapshot { return m.prev }

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// services returns the names of the files to judge: the required ones
// and every other present, but not Self's.
func (m *Model) services(s *Snapshot) []string {
	names := append([]string(nil), m.Config.Required...)
	for n := range s.Files {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == m.Config.Self })
	sort.Strings(names)
	return slices.Compact(names)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func short(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
