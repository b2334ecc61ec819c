package manager

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DHCP runs one client per interface, restarts it when it exits, and
// stops it on Down.
func TestDHCPClient(t *testing.T) {
	log := filepath.Join(t.TempDir(), "starts")
	// A stand-in for /gokrazy/dhcp that records its arguments; the first
	// run exits at once (a DHCP failure), the next ones stay.
	script := `echo "$0" >> ` + log + `; [ $(wc -l < ` + log + `) -gt 1 ] && exec sleep 60; exit 1`
	d := &DHCP{Command: []string{"/bin/sh", "-c", script}, Logf: t.Logf}
	d.Up("usb0")
	d.Up("usb0") // already running: no second client
	starts := func() []string {
		b, _ := os.ReadFile(log)
		return strings.Fields(string(b))
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(starts()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := starts(); len(got) != 2 || got[0] != "-interface=usb0" {
		t.Fatalf("starts %q, want two (the first exited)", got)
	}
	d.Restart("usb0")
	for len(starts()) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	d.Down("usb0")
	time.Sleep(200 * time.Millisecond)
	if got := starts(); len(got) != 3 {
		t.Errorf("starts %q, want three", got)
	}
}
