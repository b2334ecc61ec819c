package qemu

import (
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/image"
)

func TestBootCmdline(t *testing.T) {
	const root = "root=PARTUUID=60c24cc1-f3f9-427a-8199-0a8c00000001/PARTNROFF=1 init=/gokrazy/init rootwait panic=10 oops=panic"
	for _, tc := range []struct {
		board, line, want string
	}{
		// The Pi firmware's part: serial0 is the mini UART on GPIO 14/15,
		// ttyS0; the watchdog workaround is QEMU's.
		{"rpi", "console=tty1 console=serial0,115200 " + root + strings.Repeat(" ", 64),
			"console=tty1 console=ttyS0,115200 " + root + " initcall_blacklist=bcm2835_wdt_driver_init"},
		{"rpi", "console=serial0 " + root,
			"console=ttyS0 " + root + " initcall_blacklist=bcm2835_wdt_driver_init"},
		// Not a console named serial0: left alone.
		{"rpi", "console=serial01 " + root,
			"console=serial01 " + root + " initcall_blacklist=bcm2835_wdt_driver_init"},
		{"virt", "console=tty1 console=ttyAMA0,115200 " + root + "   ",
			"console=tty1 console=ttyAMA0,115200 " + root},
	} {
		if got := bootCmdline(image.Boards[tc.board].QEMU, tc.line); got != tc.want {
			t.Errorf("%s: bootCmdline(%q)\n got %q\nwant %q", tc.board, tc.line, got, tc.want)
		}
	}
}
