package status

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

func TestCameraSectionAndLatestPicture(t *testing.T) {
	perm, run := t.TempDir(), t.TempDir()
	photo := "photos/2026/11/26/20261126120000.jpg"
	img := image.NewRGBA(image.Rect(0, 0, 1600, 1000))
	for x := 0; x < 1600; x++ {
		img.Set(x, 500, color.RGBA{255, 0, 0, 255})
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, nil)
	os.MkdirAll(filepath.Join(perm, "lapsebox", filepath.Dir(photo)), 0o755)
	os.WriteFile(filepath.Join(perm, "lapsebox", photo), buf.Bytes(), 0o644)
	days := 9.87
	writeStatus(t, run, "camerad", statusfile.Camera{
		Mode: "capture", State: "waiting",
		Camera:      &statusfile.CameraInfo{Model: "Canon EOS 600D", Serial: "0123", Battery: "75%", Connected: true},
		LastCapture: &statusfile.Capture{Slot: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Files: []string{photo}, Bytes: 123456, Total: statusfile.Duration(2500 * time.Millisecond)},
		NextSlot:    time.Date(2026, 11, 26, 12, 10, 0, 0, time.UTC), Captures: 7, MissedSlots: 1,
		Recovery: statusfile.Recovery{ConsecutiveFailures: 2, LastAction: "cancel"},
		Autonomy: &statusfile.Autonomy{Days: &days, PicturesPerDay: 288, BytesPerPicture: 312_300,
			SizeSource: "median of the last 20 pictures", UsableBytes: 847 << 20, HighWater: 0.85},
		Retention: &statusfile.Retention{Passes: 3, DeletedForSpace: 12, FreedBytes: 3 << 20},
		Prune: &statusfile.Prune{Time: time.Date(2026, 11, 26, 11, 50, 0, 0, time.UTC), Reason: "high-water mark before a capture",
			DeletedForSpace: 4, UsedFraction: 0.749},
	})
	c := NewCollector(Config{ProcDir: t.TempDir(), PermDir: perm, RunDir: run, GokrazySocket: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second})
	h := pages(c, 0)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	for _, want := range []string{"Canon EOS 600D", "75%", "7 taken, 1 slots missed", "2 in a row, last action: cancel", "durable after 2.5 s", `src="/latest.jpg"`, "2026-11-26 12:10:00",
		"≈ 9.9 days of pictures fit on /perm before retention deletes any: 288 pictures a day of 305.0 KiB (median of the last 20 pictures) in 847.0 MiB free below the 85 % mark",
		"12 sent pictures deleted for space, 0 for age (3.0 MiB freed)", "2026-11-26 11:50:00 UTC (high-water mark before a capture): 4 deleted for space", "75% of /perm in use"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/latest.jpg", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("/latest.jpg: HTTP %d %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	thumb, err := jpeg.Decode(io.Reader(rec.Body))
	if err != nil {
		t.Fatal(err)
	}
	if b := thumb.Bounds(); b.Dx() != thumbnailWidth || b.Dy() != 400 {
		t.Errorf("thumbnail %v, want 640×400", b)
	}

	if strings.Contains(page, "Storage full") || strings.Contains(page, "deleted before they were sent") {
		t.Error("page reports trouble with the storage where there is none")
	}

	os.WriteFile(filepath.Join(run, "camerad.json"), []byte(`{"lastCapture": {"files": ["../../etc/passwd.jpg"]}}`), 0o644)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/latest.jpg", nil))
	if rec.Code != 404 {
		t.Errorf("a path outside the store: HTTP %d, want 404", rec.Code)
	}
}

// A full disk and dropped photos are said loudly, as the store's trouble;
// a capture restored from the store after a restart has no timings.
func TestStorageTrouble(t *testing.T) {
	run := t.TempDir()
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	minutes := 20.0 / 86400 // four pictures every 5 s
	writeStatus(t, run, "camerad", statusfile.Camera{
		Mode: "capture", State: "storage full",
		LastCapture: &statusfile.Capture{Slot: at, Files: []string{"photos/2026/11/26/20261126120000.jpg"}, Bytes: 2 << 20},
		Store: &statusfile.Store{UsedBytes: 100 << 20, TotalBytes: 100 << 20, Full: true, FullSince: at,
			LastError: "storage full: 0 B free on /perm, a picture needs about 2.1 MB"},
		Retention: &statusfile.Retention{DroppedQueued: 7, LastDropped: at},
		Prune:     &statusfile.Prune{Time: at, Reason: "disk full", DroppedQueued: 2, DroppedTargets: []string{"cloud", "dav"}, UsedFraction: 0.94},
		Autonomy: &statusfile.Autonomy{Days: &minutes, PicturesPerDay: 17280, BytesPerPicture: 3 << 20, SizeSource: "median of the last 20 pictures",
			UsableBytes: 12 << 20, HighWater: 0.85},
	})
	c := NewCollector(Config{ProcDir: t.TempDir(), PermDir: t.TempDir(), RunDir: run, GokrazySocket: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second})
	rec := httptest.NewRecorder()
	pages(c, 0).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	for _, want := range []string{"Storage full</strong> since 2026-11-26 12:00:00 UTC", "not the camera's fault", "a picture needs about 2.1 MB",
		"7 pictures were deleted before they were sent</strong> (owed to cloud, dav)",
		"2026-11-26 12:00:00 UTC, 2.0 MiB</dd>", "≈ 20s of pictures fit on /perm before retention deletes any: 17280 pictures a day"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "durable after") {
		t.Error("a capture read back from the store shows timings it does not have")
	}
}

func TestUploadsSection(t *testing.T) {
	run := t.TempDir()
	writeStatus(t, run, "uploadd", statusfile.Uploads{Targets: []statusfile.Target{{
		Name: "archive", Kind: "cloud", State: "sending", Pending: 12, PendingBytes: 73400320,
		OldestPending: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC), Parked: 1, ParkedReasons: []string{"HTTP 403: forbidden"},
		Sent: 40, LastSuccess: time.Date(2026, 11, 26, 11, 59, 0, 0, time.UTC), RateBytesPerSecond: 125000, DrainSeconds: 587,
	}}})
	c := NewCollector(Config{ProcDir: t.TempDir(), PermDir: t.TempDir(), RunDir: run, GokrazySocket: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second})
	rec := httptest.NewRecorder()
	pages(c, 0).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	for _, want := range []string{"Uploads", "archive", "12 (70.0 MiB)", "1 parked", "HTTP 403: forbidden", "40 since start", "122.1 KiB/s", "9m 47s"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// writeStatus writes a service's status file the way the services do.
func writeStatus(t *testing.T, dir, service string, v any) {
	t.Helper()
	if err := statusfile.Write(filepath.Join(dir, service+".json"), v); err != nil {
		t.Fatal(err)
	}
}
