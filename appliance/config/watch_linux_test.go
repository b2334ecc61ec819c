package config

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// With a polling interval of an hour, a change is still seen: the
// kernel tells of it. Files beside it (the store's state) do not count.
func TestWatcherToldByTheKernel(t *testing.T) {
	perm := t.TempDir()
	path := filepath.Join(perm, Path)
	replace(t, path, siteNamed("first"))
	w := watchEvery(t, perm, time.Hour, nil)
	if got := w.next(t); got != "first" {
		t.Fatalf("first run with %q", got)
	}
	replace(t, filepath.Join(perm, "lapsebox", "camerad-state.json"), []byte("{}"))
	replace(t, path, siteNamed("second"))
	if got := w.next(t); got != "second" {
		t.Fatalf("after a change, run with %q", got)
	}
	// Written in place, as an editor on breakglass does.
	if err := os.WriteFile(path, siteNamed("third"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := w.next(t); got != "third" {
		t.Fatalf("after an edit in place, run with %q", got)
	}
}

// A directory that appears later, or is removed and made again, is
// polled for until it is there, then followed.
func TestWatcherDirectoryComesAndGoes(t *testing.T) {
	perm := t.TempDir()
	path := filepath.Join(perm, Path)
	w := watchEvery(t, perm, 10*time.Millisecond, nil)
	if got := w.next(t); got != Default().Site.Name {
		t.Fatalf("without a directory, run with %q", got)
	}
	replace(t, path, siteNamed("first"))
	if got := w.next(t); got != "first" {
		t.Fatalf("once the directory is made, run with %q", got)
	}
	replace(t, path, siteNamed("second"))
	if got := w.next(t); got != "second" {
		t.Fatalf("after a change, run with %q", got)
	}
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if got := w.next(t); got != Default().Site.Name {
		t.Fatalf("after the directory is removed, run with %q", got)
	}
	replace(t, path, siteNamed("third"))
	if got := w.next(t); got != "third" {
		t.Fatalf("once the directory is back, run with %q", got)
	}
}

func TestParseEvents(t *testing.T) {
	event := func(mask uint32, name string) []byte {
		n := 0
		if name != "" {
			n = (len(name) + 1 + 15) &^ 15 // NUL-padded, as the kernel does
		}
		b := make([]byte, unix.SizeofInotifyEvent+n)
		binary.NativeEndian.PutUint32(b[4:], mask)
		binary.NativeEndian.PutUint32(b[12:], uint32(n))
		copy(b[unix.SizeofInotifyEvent:], name)
		return b
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		buf        []byte
		ours, gone bool
	}{
		{"another file", event(unix.IN_CLOSE_WRITE, "camerad-state.json"), false, false},
		{"a longer name", event(unix.IN_MOVED_TO, "config.json.prev"), false, false},
		{"the file, after another", cat(event(unix.IN_CREATE, "x"), event(unix.IN_MOVED_TO, "config.json")), true, false},
		{"lost events", event(unix.IN_Q_OVERFLOW, ""), true, false},
		{"the directory removed", cat(event(unix.IN_DELETE_SELF, ""), event(unix.IN_IGNORED, "")), false, true},
		{"a cut event", event(unix.IN_MOVED_TO, "config.json")[:unix.SizeofInotifyEvent+3], false, false},
	} {
		ours, gone := parseEvents(tc.buf, "config.json")
		if ours != tc.ours || gone != tc.gone {
			t.Errorf("%s: ours %v gone %v, want %v %v", tc.name, ours, gone, tc.ours, tc.gone)
		}
	}
}
