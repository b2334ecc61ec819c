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
	os.WriteFile(filepath.Join(run, "camerad.json"), []byte(`{
  "mode": "capture", "state": "waiting",
  "camera": {"model": "Canon EOS 600D", "serial": "0123", "battery": "75%", "connected": true},
  "lastCapture": {"slot": "2026-11-26T12:00:00Z", "files": ["`+photo+`"], "bytes": 123456, "total": 2.5},
  "nextSlot": "2026-11-26T12:10:00Z", "captures": 7, "missedSlots": 1,
  "recovery": {"ConsecutiveFailures": 0, "LastAction": "retry", "Alert": false},
  "autonomyDays": 412.3
}`), 0o644)
	c := NewCollector(Config{ProcDir: t.TempDir(), PermDir: perm, RunDir: run, GokrazySocket: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second})
	h := NewHandler(c, 0)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	for _, want := range []string{"Canon EOS 600D", "75%", "7 taken, 1 slots missed", "412 days", `src="/latest.jpg"`, "2026-11-26 12:10:00"} {
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

	os.WriteFile(filepath.Join(run, "camerad.json"), []byte(`{"lastCapture": {"files": ["../../etc/passwd.jpg"]}}`), 0o644)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/latest.jpg", nil))
	if rec.Code != 404 {
		t.Errorf("a path outside the store: HTTP %d, want 404", rec.Code)
	}
}

func TestUploadsSection(t *testing.T) {
	run := t.TempDir()
	os.WriteFile(filepath.Join(run, "uploadd.json"), []byte(`{"targets": [
  {"name": "archive", "kind": "cloud", "state": "sending", "pending": 12, "pendingBytes": 73400320,
   "oldestPending": "2026-11-26T08:00:00Z", "parked": 1, "parkedReasons": ["HTTP 403: forbidden"],
   "sent": 40, "lastSuccess": "2026-11-26T11:59:00Z", "rateBytesPerSecond": 125000, "drainSeconds": 587}]}`), 0o644)
	c := NewCollector(Config{ProcDir: t.TempDir(), PermDir: t.TempDir(), RunDir: run, GokrazySocket: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second})
	rec := httptest.NewRecorder()
	NewHandler(c, 0).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	for _, want := range []string{"Uploads", "archive", "12 (", "1 parked", "HTTP 403: forbidden", "40 since start", "/s"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
