// Package recovery decides how hard to try when the camera fails: each
// consecutive failure climbs one rung, from a plain retry to a power cycle
// through a relay, with power cycles capped per hour; past the cap the
// camera is in alert until a capture succeeds.
package recovery

import (
	"fmt"
	"time"
)

// Action is a rung of the ladder.
type Action int

// The rungs, in the order they are climbed.
const (
	None         Action = iota // no failure yet
	Retry                      // try the same call again
	Cancel                     // cancel the PTP transaction, drain, retry
	ResetSession               // PTP device reset and a new session
	USBReset                   // USB port reset and reopen
	PowerCycle                 // cut the camera's power through its relay
	Alert                      // nothing left to try this hour: report, keep retrying
)

var actionNames = [...]string{"none", "retry", "cancel", "reset session", "USB reset", "power cycle", "alert"}

func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return fmt.Sprintf("Action(%d)", int(a))
	}
	return actionNames[a]
}

// MarshalText makes actions readable in status files.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Policy tunes the ladder.
type Policy struct {
	// PowerCycleAfter is the number of consecutive failures after which
	// the camera's power is cycled (default 5).
	PowerCycleAfter int
	// MaxPowerCyclesPerHour caps power cycles (default 2): a camera that
	// a power cycle does not cure is not helped by twenty.
	MaxPowerCyclesPerHour int
}

// Ladder tracks consecutive failures. It is not safe for concurrent use.
type Ladder struct {
	policy      Policy
	consecutive int
	cycles      []time.Time
	last        Action
	alert       bool
}

// New returns a ladder with p's settings, defaults filled in.
func New(p Policy) *Ladder {
	if p.PowerCycleAfter <= 0 {
		p.PowerCycleAfter = 5
	}
	if p.MaxPowerCyclesPerHour <= 0 {
		p.MaxPowerCyclesPerHour = 2
	}
	return &Ladder{policy: p}
}

// Failure records a failed capture at now and returns what to do about it.
func (l *Ladder) Failure(now time.Time) Action {
	l.consecutive++
	l.pruneCycles(now)
	var a Action
	switch n := l.consecutive; {
	case n < l.policy.PowerCycleAfter:
		// Retry, Cancel, ResetSession, USBReset, then USBReset again
		// until the power-cycle threshold.
		a = min(Action(n), USBReset)
	case len(l.cycles) < l.policy.MaxPowerCyclesPerHour:
		a = PowerCycle
		l.cycles = append(l.cycles, now)
		// After a power cycle the camera gets the lower rungs again.
		l.consecutive = 0
	default:
		a = Alert
		l.alert = true
	}
	l.last = a
	return a
}

// Success records a capture that worked: the ladder starts again at the
// bottom and an alert ends.
func (l *Ladder) Success() {
	l.consecutive = 0
	l.alert = false
}

func (l *Ladder) pruneCycles(now time.Time) {
	i := 0
	for i < len(l.cycles) && now.Sub(l.cycles[i]) >= time.Hour {
		i++
	}
	l.cycles = l.cycles[i:]
}

// State is the ladder as a status page shows it.
type State struct {
	ConsecutiveFailures int
	LastAction          Action
	PowerCyclesLastHour int
	Alert               bool
}

// State returns the ladder's state at now.
func (l *Ladder) State(now time.Time) State {
	l.pruneCycles(now)
	return State{ConsecutiveFailures: l.consecutive, LastAction: l.last, PowerCyclesLastHour: len(l.cycles), Alert: l.alert}
}
