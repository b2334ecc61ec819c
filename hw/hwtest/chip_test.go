package hwtest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
)

func newChip() (*GPIO, *Chip) {
	c := &Chip{Name: "gpiochip0", Label: "pinctrl-bcm2711", LineNames: []string{"ID_SDA", "ID_SCL", "GPIO2", "GPIO3", "GPIO4"}, PulledUp: []int{2, 3}}
	return NewGPIO(c), c
}

func TestRequestErrors(t *testing.T) {
	g, c := newChip()
	c.Hold(4, "GPIO Key Poweroff")
	for _, tc := range []struct {
		cfg  hw.LineConfig
		is   error
		want string
	}{
		{hw.LineConfig{Chip: "gpiochip9", Line: "1"}, hw.ErrNoChip, `chip "gpiochip9" line "1"`},
		{hw.LineConfig{Chip: "gpiochip0", Line: "5"}, hw.ErrNoLine, "the chip has 5 lines (0 to 4)"},
		{hw.LineConfig{Chip: "pinctrl-bcm2711", Line: "GPIO17"}, hw.ErrNoLine, `no line of the chip is named "GPIO17"`},
		{hw.LineConfig{Chip: "/dev/gpiochip0", Line: "GPIO4"}, hw.ErrBusy, `held by "GPIO Key Poweroff"`},
		{hw.LineConfig{Chip: "gpiochip0", Line: "1", Output: true, Edges: hw.Both}, nil, "an output has no edge events"},
		{hw.LineConfig{Chip: "gpiochip0", Line: "1", Edges: hw.Rising}, nil, "edge events without a handler"},
		{hw.LineConfig{Chip: "gpiochip0", Line: "1", Drive: hw.OpenDrain}, nil, "open-drain drive is for outputs"},
		{hw.LineConfig{Chip: "", Line: "1"}, nil, "no chip given"},
	} {
		_, err := g.Request(tc.cfg)
		if err == nil {
			t.Errorf("%+v: no error", tc.cfg)
			continue
		}
		var le *hw.LineError
		if !errors.As(err, &le) {
			t.Errorf("%+v: %v is not a *hw.LineError", tc.cfg, err)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%+v: %v is not %v", tc.cfg, err, tc.is)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %q lacks %q", tc.cfg, err, tc.want)
		}
	}
}

func TestOutputsActiveLowAndRelease(t *testing.T) {
	g, c := newChip()
	// An active-low output requested inactive drives the pin high at once.
	l, err := g.Request(hw.LineConfig{Chip: "gpiochip0", Line: "0", Consumer: "test", Output: true, ActiveLow: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Level(0) != 1 || c.Holder(0) != "test" {
		t.Errorf("active-low output at 0: level %d holder %q, want 1 test", c.Level(0), c.Holder(0))
	}
	if _, err := g.Request(hw.LineConfig{Chip: "gpiochip0", Line: "ID_SDA"}); !errors.Is(err, hw.ErrBusy) {
		t.Errorf("second request of a held line: %v", err)
	}
	l.SetValue(1)
	if v, _ := l.Value(); c.Level(0) != 0 || v != 1 {
		t.Errorf("active-low output at 1: level %d value %d", c.Level(0), v)
	}
	// Released, the line goes back to its pull (down).
	l.Close()
	if c.Level(0) != 0 || c.Holder(0) != "" {
		t.Errorf("released: level %d holder %q", c.Level(0), c.Holder(0))
	}
	if err := l.SetValue(1); err == nil {
		t.Error("SetValue after Close worked")
	}
	if got := len(c.Changes(0)); got != 2 {
		t.Errorf("changes %v, want high then low", c.Changes(0))
	}

	in, err := g.Request(hw.LineConfig{Chip: "gpiochip0", Line: "GPIO2"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := in.Value(); v != 1 {
		t.Errorf("pulled-up input reads %d", v)
	}
	if err := in.SetValue(0); !errors.Is(err, hw.ErrInput) {
		t.Errorf("SetValue on an input: %v", err)
	}
}

func TestEdges(t *testing.T) {
	g, c := newChip()
	events := make(chan hw.Event, 10)
	// An active-low door switch to ground on a pulled-up line: closing it
	// is a rising edge in logical terms.
	l, err := g.Request(hw.LineConfig{Chip: "gpiochip0", Line: "3", ActiveLow: true, Edges: hw.Both,
		OnEvent: func(e hw.Event) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(3, 0)
	c.Set(3, 0) // no change, no event
	c.Set(3, 1)
	for i, want := range []bool{true, false} {
		select {
		case e := <-events:
			if e.Rising != want || e.Seqno != uint32(i+1) {
				t.Errorf("event %d: %+v, want rising %v seqno %d", i, e, want, i+1)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d never came", i)
		}
	}
	l.Close()
	c.Set(3, 0)
	select {
	case e := <-events:
		t.Errorf("event after Close: %+v", e)
	default:
	}

	rising := make(chan hw.Event, 10)
	l, _ = g.Request(hw.LineConfig{Chip: "gpiochip0", Line: "3", Edges: hw.Rising, OnEvent: func(e hw.Event) { rising <- e }})
	c.Set(3, 1)
	c.Set(3, 0)
	c.Set(3, 1)
	l.Close() // waits for the handler
	if len(rising) != 2 {
		t.Errorf("%d rising edges, want 2", len(rising))
	}
}
