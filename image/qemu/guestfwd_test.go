package qemu

import (
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// A guest forward's addresses become part of QEMU's -netdev option and
// of the relay's command line: only a loopback IPv4 address and a port
// get through.
func TestGuestForwardOption(t *testing.T) {
	testtool.Program(t, "socat")
	opt, err := GuestForward{GuestAddr: "10.0.2.100:8081", HostAddr: "127.0.0.1:41234"}.guestfwd()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(opt, ",guestfwd=tcp:10.0.2.100:8081-cmd:/") || !strings.HasSuffix(opt, "socat - TCP:127.0.0.1:41234") {
		t.Errorf("option %q", opt)
	}
	for _, g := range []GuestForward{
		{"10.0.2.100:8081", "127.0.0.1:80,hostfwd=tcp::22-:22"},
		{"10.0.2.100:8081", "127.0.0.1:80 EXEC:sh"},
		{"10.0.2.100:8081", "192.168.1.1:80"},
		{"10.0.2.100:8081", "localhost:80"},
		{"10.0.2.100:8081", "[::1]:80"},
		{"10.0.2.100:8081", "127.0.0.1:0"},
		{"10.0.2.100:8081", "127.0.0.1"},
		{"10.0.2.100:80,restrict=off", "127.0.0.1:80"},
		{"guest:80", "127.0.0.1:80"},
	} {
		if opt, err := g.guestfwd(); err == nil {
			t.Errorf("%+v accepted: %q", g, opt)
		}
	}
}
