package fetch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lapsebox/lapsebox/ptp/camera"
)

func TestCapturesKeepAPictureUnderOneStem(t *testing.T) {
	dir := t.TempDir()
	// A JPEG of that name is there (not a CR2): the pair moves on together.
	for _, name := range []string{"IMG_0001.JPG", "IMG_0002-1.JPG", "IMG_0002.CR2"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &Captures{Dir: dir}
	for _, tt := range []struct{ in, want string }{
		{"IMG_0001.CR2", "IMG_0001-1.CR2"},
		{"IMG_0001.JPG", "IMG_0001-1.JPG"},
		{"IMG_0002.JPG", "IMG_0002-2.JPG"},
		{"IMG_0003.JPG", "IMG_0003.JPG"},
		{"DCIM/100CANON/IMG_0004.JPG", "IMG_0004.JPG"},
		{"../../IMG_0005.JPG", "IMG_0005.JPG"},
	} {
		f, err := c.create(tt.in)
		if err != nil {
			t.Fatalf("create(%q): %v", tt.in, err)
		}
		f.Close()
		if got := filepath.Base(f.Name()); got != tt.want || filepath.Dir(f.Name()) != dir {
			t.Errorf("create(%q) = %s, want %s in %s", tt.in, f.Name(), tt.want, dir)
		}
	}
	for _, name := range []string{"IMG_0001.JPG", "IMG_0002-1.JPG", "IMG_0002.CR2"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != "keep" {
			t.Errorf("%s was overwritten", name)
		}
	}
	if _, err := c.create(".."); err == nil {
		t.Error(`create("..") made a file`)
	}
}

func TestCapturesFinish(t *testing.T) {
	dir := t.TempDir()
	c := &Captures{Dir: dir}
	raw := camera.File{Name: "IMG_0007.CR2", Handle: 1}
	jpg := camera.File{Name: "IMG_0007.JPG", Handle: 2}
	w, _ := c.Sink(raw)
	w.Write([]byte("first try"))
	// The RAW file's download starts again: the first copy goes.
	w, err := c.Sink(raw)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("raw"))
	w, _ = c.Sink(jpg)
	w.Write([]byte("half a jp")) // never completed: not in Capture's result
	saved, err := c.Finish([]camera.File{raw})
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || saved[0].Path != filepath.Join(dir, "IMG_0007.CR2") {
		t.Fatalf("saved %+v", saved)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left, want only the RAW file: the restarted copy and the partial JPG must go", len(entries))
	}
	if b, _ := os.ReadFile(saved[0].Path); string(b) != "raw" {
		t.Errorf("RAW file holds %q, want the second download's bytes", b)
	}
}
