package hw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Caps limit how a relay cuts power: how long, how often.
type Caps struct {
	// Off is the shortest power cut (default 10 s: bulk capacitors
	// drain); a request for longer gets what it asked, up to MaxOff.
	Off time.Duration
	// MinInterval is the least time between the starts of two cycles
	// (default 10 minutes).
	MinInterval time.Duration
	// MaxPerHour caps the cycles in any hour (default 4).
	MaxPerHour int
}

// MaxOff is the longest power cut a request gets.
const MaxOff = 5 * time.Minute

// WithDefaults returns c with zero fields set to their defaults.
func (c Caps) WithDefaults() Caps {
	if c.Off <= 0 {
		c.Off = 10 * time.Second
	}
	if c.MinInterval <= 0 {
		c.MinInterval = 10 * time.Minute
	}
	if c.MaxPerHour <= 0 {
		c.MaxPerHour = 4
	}
	return c
}

// ErrRefused is matched (errors.Is) by every *RefusedError.
var ErrRefused = errors.New("power cycle refused")

// RefusedError is a power cycle that did not happen, and why: the caps,
// a cycle in progress, no relay wired.
type RefusedError struct {
	Relay, Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("hw: power cycle of %s refused: %s", e.Relay, e.Reason)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Cycle is one power cycle of a relay.
type Cycle struct {
	Start time.Time     `json:"start"`
	Off   time.Duration `json:"off"`
	From  string        `json:"from,omitempty"` // who asked
	// End is when the power came back; zero while the cycle runs, or if
	// the service stopped during it (Err then says so).
	End time.Time `json:"end,omitzero"`
	Err string    `json:"err,omitempty"`
}

// Refusal is a refused power cycle.
type Refusal struct {
	Time   time.Time `json:"time"`
	From   string    `json:"from,omitempty"`
	Reason string    `json:"reason"`
}

// RelayLine is the configuration of a relay's output line on chip: it
// starts inactive, so that requesting it (at every start of the service)
// leaves the device powered whatever a crash left behind.
func RelayLine(chip, line, consumer string, activeLow bool) LineConfig {
	return LineConfig{Chip: chip, Line: line, Consumer: consumer, Output: true, Initial: 0, ActiveLow: activeLow}
}

// GPIORelay switches a device's power through a relay on a GPIO line,
// wired normally closed: at rest (line inactive, released, or the
// controller dead or rebooting) the device is powered; energised (line
// active) the relay cuts its power. A dead controller thus leaves camera
// and modem running, and only an explicit, bounded pulse turns them off.
type GPIORelay struct {
	Device string
	Line   Line // requested with RelayLine
	Caps   Caps
	// HistoryFile keeps the cycles across restarts, so that the caps hold
	// when the service restarts ("" keeps them in memory only).
	HistoryFile string
	// Now and Sleep are the clock (time.Now and a context-aware sleep if
	// nil).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	loaded   bool
	cycling  *Cycle
	history  []Cycle // oldest first, the last historyLen
	refusals []Refusal
	err      error // the last failure to drive the line
}

// historyLen is how many cycles a relay remembers: enough for the caps and
// the status page.
const historyLen = 20

// Name implements Relay.
func (r *GPIORelay) Name() string { return r.Device }

// PowerCycle implements Relay.
func (r *GPIORelay) PowerCycle(ctx context.Context, off time.Duration) error {
	return r.Cycle(ctx, "", off)
}

func (r *GPIORelay) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *GPIORelay) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return sleepCtx(ctx, d)
}

// Cycle cuts the device's power for off (at least Caps.Off, at most
// MaxOff), then restores it, and returns once the power is back; from
// names who asked. A cycle the caps forbid, or asked for while another
// runs, returns a *RefusedError at once. If ctx ends during the cut, the
// power is restored early and ctx's error returned: the device is never
// left off.
func (r *GPIORelay) Cycle(ctx context.Context, from string, off time.Duration) error {
	caps := r.Caps.WithDefaults()
	off = min(max(off, caps.Off), MaxOff)
	r.mu.Lock()
	r.load()
	now := r.now()
	if reason := r.refuse(now, caps); reason != "" {
		r.refusals = append(r.refusals, Refusal{Time: now, From: from, Reason: reason})
		if len(r.refusals) > historyLen {
			r.refusals = r.refusals[1:]
		}
		r.mu.Unlock()
		return &RefusedError{Relay: r.Device, Reason: reason}
	}
	c := &Cycle{Start: now, Off: off, From: from}
	r.cycling = c
	r.history = append(r.history, *c)
	if len(r.history) > historyLen {
		r.history = r.history[1:]
	}
	// Written before the power goes: a crash during the cut still
	// counts against the caps after the restart.
	saveErr := r.save()
	r.mu.Unlock()

	var err error
	if err = r.Line.SetValue(1); err == nil {
		err = r.sleep(ctx, off)
	}
	// Power back on whatever happened; retried once, as a relay left
	// energised keeps the device off.
	restore := r.Line.SetValue(0)
	if restore != nil {
		restore = r.Line.SetValue(0)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c.End = r.now()
	err = errors.Join(err, restore)
	if err != nil {
		c.Err = err.Error()
		r.err = err
	} else {
		r.err = nil
	}
	r.history[len(r.history)-1] = *c
	r.cycling = nil
	if serr := errors.Join(saveErr, r.save()); serr != nil {
		err = errors.Join(err, fmt.Errorf("keeping its history: %w", serr))
	}
	if err != nil {
		return fmt.Errorf("hw: power cycle of %s: %w", r.Device, err)
	}
	return nil
}

// refuse says why a cycle at now breaks caps, or "". r.mu is held.
func (r *GPIORelay) refuse(now time.Time, caps Caps) string {
	if r.cycling != nil {
		who := ""
		if r.cycling.From != "" {
			who = " for " + r.cycling.From
		}
		return fmt.Sprintf("a power cycle%s is in progress since %s", who, r.cycling.Start.Format(time.TimeOnly))
	}
	n := 0
	var last time.Time
	for _, c := range r.history {
		if age := now.Sub(c.Start); age < time.Hour && age > -time.Hour {
			n++
		}
		if c.Start.After(last) {
			last = c.Start
		}
	}
	if !last.IsZero() {
		// A clock set backwards makes the last cycle look like the
		// future: it still counts as recent.
		if since := now.Sub(last); since < caps.MinInterval {
			return fmt.Sprintf("the last power cycle was %s ago; at most one every %s", roundDur(max(since, 0)), caps.MinInterval)
		}
	}
	if n >= caps.MaxPerHour {
		return fmt.Sprintf("%d power cycles in the last hour; at most %d", n, caps.MaxPerHour)
	}
	return ""
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// RelayState is what a relay is doing and has done.
type RelayState struct {
	Device   string
	Powered  bool   // false during a cycle's cut
	Cycling  *Cycle // the cycle in progress
	Cycles   []Cycle
	Refusals []Refusal
	Err      error // the last failure to drive the line
}

// State returns the relay's state.
func (r *GPIORelay) State() RelayState {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load()
	st := RelayState{Device: r.Device, Powered: r.cycling == nil, Err: r.err,
		Cycles: append([]Cycle(nil), r.history...), Refusals: append([]Refusal(nil), r.refusals...)}
	if r.cycling != nil {
		c := *r.cycling
		st.Cycling = &c
	}
	return st
}

type relayHistory struct {
	Cycles   []Cycle   `json:"cycles"`
	Refusals []Refusal `json:"refusals,omitempty"`
}

// load reads the history once. r.mu is held. A cycle without an end was
// cut short by a stop of the service; requesting the line again restored
// the power.
func (r *GPIORelay) load() {
	if r.loaded || r.HistoryFile == "" {
		r.loaded = true
		return
	}
	r.loaded = true
	b, err := os.ReadFile(r.HistoryFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var h relayHistory
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		// The caps must hold even so: count a cycle now.
		r.err = fmt.Errorf("hw: %s: history unreadable (%v): counting a cycle now", r.Device, err)
		r.history = []Cycle{{Start: r.now(), End: r.now(), Err: "history lost"}}
		return
	}
	for i := range h.Cycles {
		if h.Cycles[i].End.IsZero() && h.Cycles[i].Err == "" {
			h.Cycles[i].Err = "interrupted: the service stopped during the power cut; power restored when it started again"
		}
	}
	r.history, r.refusals = h.Cycles, h.Refusals
}

// save writes the history. r.mu is held.
func (r *GPIORelay) save() error {
	if r.HistoryFile == "" {
		return nil
	}
	b, err := json.Marshal(relayHistory{Cycles: r.history, Refusals: r.refusals})
	if err != nil {
		return err
	}
	return durable.WriteFile(r.HistoryFile, b)
}
