package store

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestAttachKeepsCaptureInProgress is uploadd starting (or restarting)
// while camerad writes a capture: the store attached to must not take the
// capture in progress for a crash's leftover. (uploadd used Open, whose
// recovery emptied tmp/ under camerad: the capture was lost.)
func TestAttachKeepsCaptureInProgress(t *testing.T) {
	camerad := openStore(t)
	tx, err := camerad.Begin(t0, Camera{Model: "sim"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	w, err := tx.Create(".cr2", []string{"cloud"})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "raw bytes from the camera")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	uploadd, err := Attach(camerad.Dir())
	if err != nil {
		t.Fatal(err)
	}

	photos, err := tx.Commit()
	if err != nil {
		t.Fatalf("camerad's capture, committed after uploadd attached to the store: %v", err)
	}
	es, err := uploadd.Pending("cloud")
	if err != nil || len(es) != 1 || es[0].Photo != photos[0].Path {
		t.Errorf("uploadd's outbox: %+v, %v; want the capture's entry", es, err)
	}
	if errs := camerad.Verify(true); len(errs) != 0 {
		t.Errorf("store after the commit: %v", errs)
	}
}

// TestAttachLeavesCommittedAndDeletions: a committed transaction and a
// deletion under way are the owner's to finish (it may be finishing them
// right now); Attach touches neither, and the owner's Open finishes both.
func TestAttachLeavesCommittedAndDeletions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Put(Capture{Time: t0, Files: []NewFile{bytesFile(".jpg", []byte("jpg"), "cloud"), bytesFile(".cr2", []byte("raw"), "cloud")}})
	if err != nil {
		t.Fatal(err)
	}
	// A deletion of the capture that a crash interrupted after its
	// intent, and a committed capture not yet in place.
	if _, err := s.beginDelete([]string{p[0].Path, p[1].Path}); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join(dir, "commit", "1-1-x")
	os.Mkdir(committed, 0o755)
	os.WriteFile(filepath.Join(committed, "moves.json"), []byte("[]"), 0o644)

	if _, err := Attach(dir); err != nil {
		t.Fatal(err)
	}
	if n := countPhotos(t, dir); n != 2 {
		t.Errorf("Attach changed the photos: %d, want 2", n)
	}
	for _, sub := range []string{"commit", "delete"} {
		if des, _ := os.ReadDir(filepath.Join(dir, sub)); len(des) != 1 {
			t.Errorf("after Attach, %s/ holds %d entries, want the owner's 1", sub, len(des))
		}
	}

	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if n := countPhotos(t, dir); n != 0 {
		t.Errorf("the owner's Open left %d photos of the deleted capture", n)
	}
	if errs := s.Verify(false); len(errs) != 0 {
		t.Errorf("after the owner's Open: %v", errs)
	}
}

// TestOutboxTempsAreAttachs: the temporary file of an outbox entry being
// rewritten is uploadd's; camerad's Open (at a new configuration, say)
// leaves it, and uploadd's Attach removes the one a crash left.
func TestOutboxTempsAreAttachs(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "outbox", "cloud", ".tmp-20261126120000.cr2.json-123")
	os.MkdirAll(filepath.Dir(tmp), 0o755)
	if err := os.WriteFile(tmp, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("the owner's Open removed uploadd's temporary entry: %v", err)
	}
	if _, err := Attach(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("Attach left a crash's temporary entry: %v", err)
	}
}
