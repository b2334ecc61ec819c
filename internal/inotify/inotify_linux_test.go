package inotify

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A rename in a watched directory reads back as a MOVED_FROM and a
// MOVED_TO with the same cookie and the files' names; an event cut short
// at the end of a buffer is left out.
func TestWatchAndParse(t *testing.T) {
	dir := t.TempDir()
	f, err := Watch(dir, unix.IN_MOVED_FROM|unix.IN_MOVED_TO)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(filepath.Join(dir, "a.tmp"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "a.tmp"), filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	events := Parse(buf[:n])
	if len(events) != 2 || events[0].Mask&unix.IN_MOVED_FROM == 0 || events[0].Name != "a.tmp" ||
		events[1].Mask&unix.IN_MOVED_TO == 0 || events[1].Name != "a.json" || events[0].Cookie != events[1].Cookie || events[0].Cookie == 0 {
		t.Fatalf("events of a rename: %+v", events)
	}
	if cut := Parse(buf[:n-1]); len(cut) != 1 || cut[0].Name != "a.tmp" {
		t.Errorf("events of a buffer cut short: %+v, want the whole first one only", cut)
	}
	if _, err := Watch(filepath.Join(dir, "missing"), unix.IN_MOVED_TO); err == nil {
		t.Error("Watch of a missing directory succeeded")
	}
}
