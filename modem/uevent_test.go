package modem

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

func TestDeviceEvent(t *testing.T) {
	for msg, want := range map[string]bool{
		"add@/devices/x/ttyUSB2\x00ACTION=add\x00DEVPATH=/devices/x/ttyUSB2\x00SUBSYSTEM=tty\x00": true,
		"remove@/devices/x/1-1\x00ACTION=remove\x00SUBSYSTEM=usb\x00":                             true,
		"change@/devices/x/power_supply\x00ACTION=change\x00SUBSYSTEM=power_supply\x00":           false,
		"garbage": false,
	} {
		if got := deviceEvent([]byte(msg)); got != want {
			t.Errorf("deviceEvent(%q) = %v", msg, got)
		}
	}
}

// The kernel sends a uevent when one is requested through sysfs; the
// watcher must wake up for it.
func TestWatchDevices(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := WatchDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile("/sys/class/tty/tty1/uevent", os.O_WRONLY, 0)
	if err != nil {
		testtool.Missing(t, fmt.Sprintf("asking the kernel for a uevent (%v)", err), "run the tests as root, with /sys mounted")
	}
	if _, err := f.WriteString("change"); err != nil {
		testtool.Missing(t, fmt.Sprintf("asking the kernel for a uevent (%v)", err), "run the tests as root, with /sys mounted")
	}
	f.Close()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up for a tty uevent")
	}
	cancel()
	for range ch {
	}
}
