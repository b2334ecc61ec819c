package gallery_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"image"
	"image/jpeg"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

var ctx = context.Background()

// paris is where the tests' days begin.
var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return l
}()

// rig is a gallery on a fresh state and photo tree.
type rig struct {
	root string
	db   *state.DB
	svc  *gallery.Service
	now  time.Time
}

func newRig(t testing.TB, tl gallery.TimelapseConfig, devices ...string) *rig {
	t.Helper()
	r := &rig{root: t.TempDir(), db: statetest.Open(t, statetest.SQLite(t)), now: time.Date(2026, 11, 27, 9, 0, 0, 0, paris)}
	for _, d := range devices {
		if err := r.db.AddDevice(ctx, state.Device{Name: d, TokenSHA256: sha256.Sum256([]byte(d)), Created: r.now}); err != nil {
			t.Fatal(err)
		}
	}
	r.svc = gallery.New(gallery.Config{DB: r.db, Root: r.root, Location: paris, Now: func() time.Time { return r.now },
		Logger: slog.New(slog.DiscardHandler), Timelapse: tl})
	return r
}

// run runs the service's background work until the test ends.
func (r *rig) run(t *testing.T) {
	t.Helper()
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.svc.Run(c); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// drain waits for the derivations queued so far.
func (r *rig) drain(t *testing.T) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := r.svc.Drain(c); err != nil {
		t.Fatalf("the derivations did not end: %v", err)
	}
}

// put writes a photo into the tree as ingest stores it and returns its
// Stored.
func (r *rig) put(t *testing.T, device, name string, data []byte, captured time.Time) ingest.Stored {
	t.Helper()
	p := filepath.Join(r.root, device, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return ingest.Stored{Device: device, Name: name, Path: p, Size: int64(len(data)), CaptureTime: captured}
}

// picture is a JPEG of w×h pixels: a sky over ground whose brightness is
// level, with some texture so that it compresses like a photo.
func picture(t testing.TB, w, h int, level uint8) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := range h {
		for x := range w {
			v := int(level) + (x*7+y*13)%23 - 11
			if y > h*3/5 {
				v -= 40
			}
			img.Y[img.YOffset(x, y)] = uint8(max(0, min(255, v)))
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 150, 110
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// decoded returns the size of the JPEG at path.
func decoded(t *testing.T, path string) image.Point {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := jpeg.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return image.Pt(c.Width, c.Height)
}
