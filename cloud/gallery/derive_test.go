package gallery_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }

// Every stored photo gets its thumbnail and web-size copy once, in the
// background, and enters the index with its capture day; a RAW file's
// are made from its embedded preview; a RAW file without one and a
// broken JPEG are indexed for download only; a link planted in the tree
// is never followed.
func TestDeriveAtIngest(t *testing.T) {
	r := newRig(t, gallery.TimelapseConfig{Off: true}, "cam")
	r.run(t)
	late := time.Date(2026, 11, 26, 23, 30, 0, 0, paris) // 22:30 UTC: still the 26th in Paris
	r.svc.Stored(r.put(t, "cam", "2026/11/26/20261126233000.jpg", picture(t, 3000, 2000, 160), late))
	r.svc.Stored(r.put(t, "cam", "2026/11/26/20261126233000.cr2", []byte("II*\x00 a raw file"), late))
	r.svc.Stored(r.put(t, "cam", "2026/11/26/broken.jpg", []byte("\xff\xd8\xff\xe0 not much of a JPEG"), late))
	// A RAW file with its camera's preview.
	r.svc.Stored(r.put(t, "cam", "2026/11/26/20261126233500.cr2", gallery.CR2ForTest(picture(t, 1200, 800, 90), picture(t, 160, 120, 90)), late))
	// A portrait picture with no capture time: the name says when.
	r.svc.Stored(r.put(t, "cam", "2026/11/27/20261127081500.jpg", picture(t, 1000, 3000, 100), time.Time{}))
	// A link to another device's photo, planted in cam's tree.
	other := r.put(t, "other", "secret.jpg", picture(t, 100, 100, 50), late)
	if err := os.Symlink(other.Path, filepath.Join(r.root, "cam", "planted.jpg")); err != nil {
		t.Fatal(err)
	}
	r.svc.Stored(ingest.Stored{Device: "cam", Name: "planted.jpg", Path: filepath.Join(r.root, "cam", "planted.jpg")})
	r.drain(t)

	for _, c := range []struct {
		kind, name string
		want       size
	}{
		{"web", "2026/11/26/20261126233000.jpg", size{1920, 1280}},
		{"thumb", "2026/11/26/20261126233000.jpg", size{320, 213}},
		{"web", "2026/11/27/20261127081500.jpg", size{640, 1920}},
		{"thumb", "2026/11/27/20261127081500.jpg", size{107, 320}},
		{"web", "2026/11/26/20261126233500.cr2", size{1200, 800}},
		{"thumb", "2026/11/26/20261126233500.cr2", size{320, 213}},
	} {
		got := decoded(t, filepath.Join(r.root, ".derived", c.kind, "cam", filepath.FromSlash(c.name)))
		if got.X != c.want.w || got.Y != c.want.h {
			t.Errorf("%s of %s: %v, want %dx%d", c.kind, c.name, got, c.want.w, c.want.h)
		}
	}
	days, err := r.db.Days(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || days[0].Day != "2026-11-27" || days[0].Photos != 1 || days[1].Day != "2026-11-26" || days[1].Photos != 4 || days[1].Derived != 2 {
		t.Errorf("days: %+v", days)
	}
	ps, _ := r.db.DayPhotos(ctx, "cam", "2026-11-27")
	if len(ps) != 1 || !ps[0].Captured.Equal(time.Date(2026, 11, 27, 8, 15, 0, 0, paris)) {
		t.Errorf("the capture time from the name: %+v", ps)
	}
	if names, _ := r.db.IndexedNames(ctx, "cam"); names["planted.jpg"] {
		t.Error("a planted link was indexed")
	}
	for _, kind := range []string{"web", "thumb"} {
		if _, err := os.Lstat(filepath.Join(r.root, ".derived", kind, "cam", "planted.jpg")); err == nil {
			t.Errorf("a planted link got a %s copy", kind)
		}
		if _, err := os.Lstat(filepath.Join(r.root, ".derived", kind, "cam", "2026/11/26/broken.jpg")); err == nil {
			t.Errorf("a broken JPEG got a %s copy", kind)
		}
	}
}

type size struct{ w, h int }

// A restart loses no work: the photos stored while cloudd was down, or
// derived but not yet indexed when it stopped, are found by the catch-up
// pass; what is already derived is not derived again, and nothing under
// a dot directory or behind a link is taken for a photo.
func TestCatchUp(t *testing.T) {
	r := newRig(t, gallery.TimelapseConfig{Off: true}, "cam", "cam2")
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, paris)
	r.put(t, "cam", "2026/11/26/20261126120000.jpg", picture(t, 800, 600, 120), at)
	r.put(t, "cam2", "a/20261126130000.jpg", picture(t, 800, 600, 120), at)
	r.put(t, "cam", ".hidden/20261126120000.jpg", picture(t, 80, 60, 120), at)
	// Derived before a crash, not indexed.
	r.put(t, "cam", "2026/11/26/20261126121000.jpg", picture(t, 800, 600, 120), at)
	web := filepath.Join(r.root, ".derived", "web", "cam", "2026/11/26/20261126121000.jpg")
	thumb := filepath.Join(r.root, ".derived", "thumb", "cam", "2026/11/26/20261126121000.jpg")
	for _, p := range []string{web, thumb} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, picture(t, 32, 24, 10), 0o644)
	}
	os.Symlink("/etc/passwd", filepath.Join(r.root, "cam", "passwd.jpg"))
	if err := r.svc.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.svc.Pending(); n != 3 {
		t.Errorf("the catch-up queued %d photos, want 3", n)
	}
	r.run(t)
	r.drain(t)
	names, _ := r.db.IndexedNames(ctx, "cam")
	if n2, _ := r.db.IndexedNames(ctx, "cam2"); len(n2) != 1 {
		t.Errorf("cam2 indexed: %v", n2)
	}
	if len(names) != 2 || !names["2026/11/26/20261126120000.jpg"] || !names["2026/11/26/20261126121000.jpg"] {
		t.Errorf("indexed after the catch-up: %v", names)
	}
	if got := decoded(t, web); got.X != 32 {
		t.Errorf("a photo derived before the restart was derived again (%v)", got)
	}
}

// A derivation that fails for a reason that passes (here the derived
// copies' directory cannot be made) is tried again while cloudd runs.
func TestDeriveRetries(t *testing.T) {
	r := newRig(t, gallery.TimelapseConfig{Off: true}, "cam")
	r.svc = gallery.New(gallery.Config{DB: r.db, Root: r.root, Location: paris, Logger: slog.New(slog.DiscardHandler),
		RetryAfter: 20 * time.Millisecond, Timelapse: gallery.TimelapseConfig{Off: true}})
	blocker := filepath.Join(r.root, ".derived", "web")
	os.MkdirAll(filepath.Dir(blocker), 0o755)
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.run(t)
	r.svc.Stored(r.put(t, "cam", "20261126120000.jpg", picture(t, 400, 300, 100), time.Time{}))
	r.drain(t)
	if names, _ := r.db.IndexedNames(ctx, "cam"); len(names) != 0 {
		t.Fatalf("indexed without its copies: %v", names)
	}
	os.Remove(blocker)
	deadline := time.Now().Add(time.Minute)
	for {
		if p, err := r.db.LatestPhoto(ctx, "cam"); err == nil && p.Derived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the derivation was not tried again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
