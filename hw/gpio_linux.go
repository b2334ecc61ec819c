package hw

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"

	"github.com/warthog618/go-gpiocdev"
)

// Kernel is GPIO through the kernel's GPIO character devices
// (/dev/gpiochipN, uAPI v2, or v1 on old kernels), with go-gpiocdev.
type Kernel struct{}

// Request implements GPIO.
func (Kernel) Request(c LineConfig) (Line, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	chip, err := openChip(c.Chip, c.Consumer)
	if err != nil {
		return nil, &LineError{Chip: c.Chip, Line: c.Line, Err: err}
	}
	defer chip.Close() // the line stays requested
	where := func(err error) *LineError {
		return &LineError{Chip: chipName(chip), Line: c.Line, Err: err}
	}
	offset, err := findLine(chip, c.Line)
	if err != nil {
		return nil, where(err)
	}
	l, err := chip.RequestLine(offset, kernelOptions(c)...)
	if err != nil {
		e := where(err)
		if errors.Is(err, syscall.EBUSY) {
			e.Err = ErrBusy
			if info, ierr := chip.LineInfo(offset); ierr == nil {
				e.Holder = info.Consumer
			}
		}
		return nil, e
	}
	return &kernelLine{l: l, chip: chipName(chip), line: c.Line}, nil
}

// openChip opens a chip by device path, name or label.
func openChip(name, consumer string) (*gpiocdev.Chip, error) {
	opts := []gpiocdev.ChipOption{gpiocdev.WithConsumer(consumer)}
	if strings.HasPrefix(name, "/dev/") || strings.HasPrefix(name, "gpiochip") {
		c, err := gpiocdev.NewChip(name, opts...)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, gpiocdev.ErrNotCharacterDevice) {
			return nil, fmt.Errorf("%w (chips: %s)", ErrNoChip, chipList())
		}
		return c, err
	}
	for _, n := range gpiocdev.Chips() {
		c, err := gpiocdev.NewChip(n, opts...)
		if err != nil {
			continue
		}
		if c.Label == name {
			return c, nil
		}
		c.Close()
	}
	return nil, fmt.Errorf("%w (chips: %s)", ErrNoChip, chipList())
}

// chipList names the chips there are, for an error message.
func chipList() string {
	var names []string
	for _, n := range gpiocdev.Chips() {
		if c, err := gpiocdev.NewChip(n); err == nil {
			names = append(names, fmt.Sprintf("%s %q, %d lines", c.Name, c.Label, c.Lines()))
			c.Close()
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "; ")
}

func chipName(c *gpiocdev.Chip) string { return fmt.Sprintf("%s (%s)", c.Name, c.Label) }

// findLine resolves an offset or a line name.
func findLine(c *gpiocdev.Chip, line string) (int, error) {
	if n, err := strconv.Atoi(line); err == nil {
		if n < 0 || n >= c.Lines() {
			return 0, fmt.Errorf("%w: the chip has %d lines (0 to %d)", ErrNoLine, c.Lines(), c.Lines()-1)
		}
		return n, nil
	}
	n, err := c.FindLine(line)
	if err != nil {
		return 0, fmt.Errorf("%w: no line of the chip is named %q", ErrNoLine, line)
	}
	return n, nil
}

func kernelOptions(c LineConfig) []gpiocdev.LineReqOption {
	opts := []gpiocdev.LineReqOption{gpiocdev.WithConsumer(c.Consumer)}
	if c.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	switch c.Bias {
	case BiasDisabled:
		opts = append(opts, gpiocdev.WithBiasDisabled)
	case PullUp:
		opts = append(opts, gpiocdev.WithPullUp)
	case PullDown:
		opts = append(opts, gpiocdev.WithPullDown)
	}
	if c.Output {
		opts = append(opts, gpiocdev.AsOutput(c.Initial))
		switch c.Drive {
		case OpenDrain:
			opts = append(opts, gpiocdev.AsOpenDrain)
		case OpenSource:
			opts = append(opts, gpiocdev.AsOpenSource)
		}
		return opts
	}
	opts = append(opts, gpiocdev.AsInput)
	switch c.Edges {
	case Rising:
		opts = append(opts, gpiocdev.WithRisingEdge)
	case Falling:
		opts = append(opts, gpiocdev.WithFallingEdge)
	case Both:
		opts = append(opts, gpiocdev.WithBothEdges)
	}
	if c.Edges != NoEdges {
		handler := c.OnEvent
		opts = append(opts, gpiocdev.WithEventHandler(func(e gpiocdev.LineEvent) {
			seq := e.LineSeqno
			if seq == 0 {
				seq = e.Seqno // uAPI v1 has neither; v2 both
			}
			handler(Event{Rising: e.Type == gpiocdev.LineEventRisingEdge, Time: e.Timestamp, Seqno: seq})
		}))
	}
	if c.Debounce > 0 {
		opts = append(opts, gpiocdev.WithDebounce(c.Debounce))
	}
	return opts
}

type kernelLine struct {
	l          *gpiocdev.Line
	chip, line string
}

func (k *kernelLine) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gpiocdev.ErrPermissionDenied) {
		err = ErrInput
	}
	return &LineError{Chip: k.chip, Line: k.line, Err: err}
}

func (k *kernelLine) Value() (int, error) {
	v, err := k.l.Value()
	return v, k.wrap(err)
}

func (k *kernelLine) SetValue(v int) error { return k.wrap(k.l.SetValue(v)) }

func (k *kernelLine) Close() error { return k.wrap(k.l.Close()) }
