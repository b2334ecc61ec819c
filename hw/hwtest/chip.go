// Package hwtest has test doubles of lapsebox's hardware that behave like
// the real thing: a GPIO chip with the kernel's rules (one holder per line,
// active-low, edges in logical terms, outputs driven from the moment they
// are requested, released lines going back to their pull).
package hwtest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/hw"
)

// GPIO is a set of fake chips; it implements hw.GPIO.
type GPIO struct {
	mu    sync.Mutex
	chips []*Chip
	start time.Time
}

// NewGPIO returns a GPIO with chips.
func NewGPIO(chips ...*Chip) *GPIO {
	g := &GPIO{chips: chips, start: time.Now()}
	for _, c := range chips {
		c.g = g
		c.lines = make([]*line, len(c.LineNames))
		for i := range c.lines {
			c.lines[i] = &line{}
		}
	}
	return g
}

// Chip is a fake GPIO chip. Its lines are pulled down unless PulledUp
// says otherwise.
type Chip struct {
	Name  string // "gpiochip0"
	Label string // "pinctrl-bcm2711"
	// LineNames has one entry per line ("" for an unnamed line).
	LineNames []string
	// PulledUp lists the offsets with a board pull-up: a released or
	// undriven line reads high.
	PulledUp []int

	g     *GPIO
	lines []*line
}

type line struct {
	holder   string // consumer; "" when free
	cfg      hw.LineConfig
	driven   bool // an output drives the level
	level    int  // physical level of a driven line
	external *int // level the outside world forces on an input
	changes  []Change
	events   chan hw.Event
	seq      uint32
	req      *fakeLine
}

// Change is a physical level change of a line.
type Change struct {
	Time  time.Time
	Level int
}

// Request implements hw.GPIO.
func (g *GPIO) Request(c hw.LineConfig) (hw.Line, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	chip := g.chip(c.Chip)
	if chip == nil {
		return nil, &hw.LineError{Chip: c.Chip, Line: c.Line, Err: hw.ErrNoChip}
	}
	where := fmt.Sprintf("%s (%s)", chip.Name, chip.Label)
	off, err := chip.offset(c.Line)
	if err != nil {
		return nil, &hw.LineError{Chip: where, Line: c.Line, Err: err}
	}
	l := chip.lines[off]
	if l.holder != "" {
		return nil, &hw.LineError{Chip: where, Line: c.Line, Holder: l.holder, Err: hw.ErrBusy}
	}
	consumer := c.Consumer
	if consumer == "" {
		consumer = "?"
	}
	l.holder, l.cfg, l.seq = consumer, c, 0
	before := chip.level(off)
	l.driven = c.Output
	if c.Output {
		l.level = c.Initial ^ b2i(c.ActiveLow)
	}
	chip.record(off, before)
	fl := &fakeLine{chip: chip, off: off, where: where, name: c.Line}
	l.req = fl
	if c.Edges != hw.NoEdges {
		l.events = make(chan hw.Event, 64)
		fl.done = make(chan struct{})
		go func(events <-chan hw.Event, done chan<- struct{}, fn func(hw.Event)) {
			for e := range events {
				fn(e)
			}
			close(done)
		}(l.events, fl.done, c.OnEvent)
	}
	return fl, nil
}

func (g *GPIO) chip(name string) *Chip {
	for _, c := range g.chips {
		if name == c.Name || name == "/dev/"+c.Name || name == c.Label {
			return c
		}
	}
	return nil
}

func (c *Chip) offset(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 || n >= len(c.lines) {
			return 0, fmt.Errorf("%w: the chip has %d lines (0 to %d)", hw.ErrNoLine, len(c.lines), len(c.lines)-1)
		}
		return n, nil
	}
	for i, n := range c.LineNames {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: no line of the chip is named %q", hw.ErrNoLine, name)
}

// level is the physical level of a line. c.g.mu is held.
func (c *Chip) level(off int) int {
	l := c.lines[off]
	switch {
	case l.driven:
		return l.level
	case l.external != nil:
		return *l.external
	}
	for _, p := range c.PulledUp {
		if p == off {
			return 1
		}
	}
	return 0
}

// record notes a change of a line's physical level from before, and
// queues the edge event it makes. c.g.mu is held.
func (c *Chip) record(off, before int) {
	now := c.level(off)
	if now == before {
		return
	}
	l := c.lines[off]
	t := time.Now()
	l.changes = append(l.changes, Change{Time: t, Level: now})
	if l.events == nil || l.driven {
		return
	}
	rising := (now ^ b2i(l.cfg.ActiveLow)) == 1
	if rising && l.cfg.Edges&hw.Rising == 0 || !rising && l.cfg.Edges&hw.Falling == 0 {
		return
	}
	l.seq++
	select {
	case l.events <- hw.Event{Rising: rising, Time: t.Sub(c.g.start), Seqno: l.seq}:
	default: // the kernel's buffer overflows: the event is lost, its seqno too
	}
}

// Hold makes a line busy, as a kernel driver (gpio-keys) or another
// process holding it would.
func (c *Chip) Hold(off int, consumer string) {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	c.lines[off].holder = consumer
}

// Set forces the physical level of a line from outside (a switch, a
// sensor), as seen by an input; it makes edge events.
func (c *Chip) Set(off, level int) {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	before := c.level(off)
	c.lines[off].external = &level
	c.record(off, before)
}

// Level returns the physical level of a line.
func (c *Chip) Level(off int) int {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return c.level(off)
}

// Holder returns who holds a line ("" if free).
func (c *Chip) Holder(off int) string {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return c.lines[off].holder
}

// Changes returns the physical level changes of a line so far.
func (c *Chip) Changes(off int) []Change {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return append([]Change(nil), c.lines[off].changes...)
}

// fakeLine is a requested line.
type fakeLine struct {
	chip   *Chip
	off    int
	where  string
	name   string
	closed bool
	done   chan struct{} // closed when the event goroutine ends
}

func (f *fakeLine) err(err error) error {
	return &hw.LineError{Chip: f.where, Line: f.name, Err: err}
}

var errClosed = errors.New("already closed")

func (f *fakeLine) Value() (int, error) {
	f.chip.g.mu.Lock()
	defer f.chip.g.mu.Unlock()
	if f.closed {
		return 0, f.err(errClosed)
	}
	return f.chip.level(f.off) ^ b2i(f.chip.lines[f.off].cfg.ActiveLow), nil
}

func (f *fakeLine) SetValue(v int) error {
	f.chip.g.mu.Lock()
	defer f.chip.g.mu.Unlock()
	l := f.chip.lines[f.off]
	switch {
	case f.closed:
		return f.err(errClosed)
	case !l.cfg.Output:
		return f.err(hw.ErrInput)
	case v != 0 && v != 1:
		return f.err(fmt.Errorf("value %d: want 0 or 1", v))
	}
	before := f.chip.level(f.off)
	l.level = v ^ b2i(l.cfg.ActiveLow)
	f.chip.record(f.off, before)
	return nil
}

// Close releases the line: an output stops driving it, and the line goes
// back to its pull (upstream kernels make released lines inputs).
func (f *fakeLine) Close() error {
	f.chip.g.mu.Lock()
	if f.closed {
		f.chip.g.mu.Unlock()
		return f.err(errClosed)
	}
	f.closed = true
	l := f.chip.lines[f.off]
	before := f.chip.level(f.off)
	events := l.events
	l.holder, l.driven, l.events, l.req = "", false, nil, nil
	f.chip.record(f.off, before)
	f.chip.g.mu.Unlock()
	if events != nil {
		close(events)
		<-f.done
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// String describes the chip's lines: holder and level.
func (c *Chip) String() string {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s (%s):", c.Name, c.Label)
	for i, l := range c.lines {
		fmt.Fprintf(&sb, " %d=%d", i, c.level(i))
		if l.holder != "" {
			fmt.Fprintf(&sb, "[%s]", l.holder)
		}
	}
	return sb.String()
}
