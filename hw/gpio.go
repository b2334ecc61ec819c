package hw

import (
	"errors"
	"fmt"
	"time"
)

// GPIO hands out GPIO lines: the kernel's GPIO character devices (Kernel)
// or a fake chip in tests (hwtest). A line is held by one requester at a
// time, as the kernel enforces; on the appliance that requester is
// watchdogd.
type GPIO interface {
	// Request claims the line c describes, configured as c says.
	Request(c LineConfig) (Line, error)
}

// Line is a requested GPIO line. Values are logical: 1 is active, which is
// a low level on an active-low line.
type Line interface {
	// Value reads the line: its input level, or the value an output
	// drives.
	Value() (int, error)
	// SetValue drives an output line; it fails on an input.
	SetValue(v int) error
	// Close releases the line. What the pin does then is the kernel's and
	// the board's business (see LineConfig): wire loads so that a
	// released line is safe.
	Close() error
}

// LineConfig describes a line to request.
type LineConfig struct {
	// Chip is the GPIO chip: its name ("gpiochip0"), its device path
	// ("/dev/gpiochip0") or its label ("pinctrl-bcm2711",
	// "9030000.pl061"). Labels survive renumbering: the Pi 5's header moved
	// from gpiochip4 to gpiochip0 between kernels.
	Chip string
	// Line is the line's offset on the chip ("17") or its name ("GPIO17").
	Line string
	// Consumer is the name the kernel shows as the line's user.
	Consumer string

	// Output makes the line an output driving Initial from the moment it
	// is requested; otherwise it is an input.
	Output  bool
	Initial int
	// ActiveLow inverts the line: logical 1 is a low level.
	ActiveLow bool
	// Drive is how an output drives the line (push-pull by default).
	Drive Drive
	// Bias is the pull resistor (left as it is by default).
	Bias Bias

	// Edges selects the edges of an input reported to OnEvent, in logical
	// terms: Rising is a change to active.
	Edges Edge
	// Debounce filters input glitches shorter than this (0: none).
	Debounce time.Duration
	// OnEvent receives edge events, one at a time, from a goroutine of
	// the line's; it must not call Close.
	OnEvent func(Event)
}

// Drive is how an output drives its line.
type Drive int

// Drives.
const (
	PushPull   Drive = iota // drives both levels
	OpenDrain               // drives low only, floats high (needs a pull-up)
	OpenSource              // drives high only, floats low
)

func (d Drive) String() string {
	switch d {
	case PushPull:
		return "push-pull"
	case OpenDrain:
		return "open-drain"
	case OpenSource:
		return "open-source"
	}
	return fmt.Sprintf("Drive(%d)", int(d))
}

// Bias is a line's pull resistor.
type Bias int

// Biases.
const (
	BiasAsIs Bias = iota // leave it as the board set it
	BiasDisabled
	PullUp
	PullDown
)

func (b Bias) String() string {
	switch b {
	case BiasAsIs:
		return "as-is"
	case BiasDisabled:
		return "disabled"
	case PullUp:
		return "pull-up"
	case PullDown:
		return "pull-down"
	}
	return fmt.Sprintf("Bias(%d)", int(b))
}

// Edge selects edges of an input.
type Edge int

// Edges.
const (
	NoEdges Edge = 0
	Rising  Edge = 1
	Falling Edge = 2
	Both         = Rising | Falling
)

func (e Edge) String() string {
	switch e {
	case NoEdges:
		return "none"
	case Rising:
		return "rising"
	case Falling:
		return "falling"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Edge(%d)", int(e))
}

// Event is an edge seen on an input line.
type Event struct {
	// Rising is true for a change to active, false for a change to
	// inactive.
	Rising bool
	// Time is the kernel's timestamp of the edge on CLOCK_MONOTONIC.
	Time time.Duration
	// Seqno counts the line's events since it was requested, from 1; a gap
	// means events were lost (the kernel's buffer overflowed).
	Seqno uint32
}

// Errors a Request fails with, wrapped in a *LineError.
var (
	ErrNoChip = errors.New("no such GPIO chip")
	ErrNoLine = errors.New("no such line")
	ErrBusy   = errors.New("line busy")
	// ErrInput is returned by SetValue on an input line.
	ErrInput = errors.New("line is an input")
)

// LineError is a failure of a line, naming its chip and line.
type LineError struct {
	Chip, Line string
	// Holder is who holds a busy line, as the kernel names its consumer
	// ("" if unknown).
	Holder string
	Err    error
}

func (e *LineError) Error() string {
	msg := fmt.Sprintf("gpio: chip %q line %q: %v", e.Chip, e.Line, e.Err)
	if e.Holder != "" {
		msg += fmt.Sprintf(" (held by %q)", e.Holder)
	}
	return msg
}

func (e *LineError) Unwrap() error { return e.Err }

// Check reports what is wrong with c before any chip is asked: a line
// config names a chip and a line, outputs have no edges, an edge needs a
// handler.
func (c LineConfig) Check() error {
	bad := func(format string, args ...any) error {
		return &LineError{Chip: c.Chip, Line: c.Line, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case c.Chip == "":
		return bad("no chip given")
	case c.Line == "":
		return bad("no line given")
	case c.Initial != 0 && c.Initial != 1:
		return bad("initial value %d: want 0 or 1", c.Initial)
	case c.Output && c.Edges != NoEdges:
		return bad("an output has no edge events")
	case !c.Output && c.Drive != PushPull:
		return bad("%v drive is for outputs", c.Drive)
	case c.Edges < NoEdges || c.Edges > Both:
		return bad("edges %v", c.Edges)
	case c.Edges != NoEdges && c.OnEvent == nil:
		return bad("edge events without a handler")
	case c.Debounce < 0:
		return bad("negative debounce %v", c.Debounce)
	}
	return nil
}
