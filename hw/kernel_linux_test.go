package hw_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/hw"
)

func TestSensorsDisk(t *testing.T) {
	dir := t.TempDir()
	r := (&hw.Sensors{Perm: dir, Sys: dir, Proc: dir}).Read()
	if r.Disk == nil || r.Disk.TotalBytes == 0 || r.Disk.UsedBytes > r.Disk.TotalBytes || r.Disk.UsedPercent() <= 0 {
		t.Errorf("disk %+v", r.Disk)
	}
	r = (&hw.Sensors{Perm: filepath.Join(dir, "missing"), Sys: dir, Proc: dir}).Read()
	if r.Disk != nil || !strings.Contains(strings.Join(r.Errs, " "), "statfs") {
		t.Errorf("missing /perm: %+v, %q", r.Disk, r.Errs)
	}
	if r.Clock.Synchronized == nil {
		t.Error("adjtimex gave nothing")
	}
}

// The kernel implementation's errors name the chip and line, and list
// the chips there are. The chips asked for exist on no machine, so the
// test runs the same with or without GPIO chips (the VM tests in e2e use
// a real one).
func TestKernelNoChip(t *testing.T) {
	chips := "chips: none"
	if m, _ := filepath.Glob("/dev/gpiochip*"); len(m) > 0 {
		chips = "chips: gpiochip"
	}
	_, err := hw.Kernel{}.Request(hw.LineConfig{Chip: "gpiochip999", Line: "17", Consumer: "test", Output: true})
	if !errors.Is(err, hw.ErrNoChip) || !strings.Contains(err.Error(), `chip "gpiochip999" line "17"`) || !strings.Contains(err.Error(), chips) {
		t.Errorf("no chip: %v, want it to say %q", err, chips)
	}
	_, err = hw.Kernel{}.Request(hw.LineConfig{Chip: "lapsebox-no-such-chip", Line: "GPIO17"})
	if !errors.Is(err, hw.ErrNoChip) {
		t.Errorf("no chip by label: %v", err)
	}
	_, err = hw.Kernel{}.Request(hw.LineConfig{Chip: "gpiochip999", Line: "17", Output: true, Edges: hw.Both})
	if err == nil || errors.Is(err, hw.ErrNoChip) {
		t.Errorf("a bad config must fail before any chip is opened: %v", err)
	}
}
