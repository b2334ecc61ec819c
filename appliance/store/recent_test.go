package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Recent reads the newest photos across day, month and year directories,
// newest first, and Captures groups a RAW+JPG pair.
func TestRecent(t *testing.T) {
	s := openStore(t)
	if ps, err := s.Recent(5); err != nil || len(ps) != 0 {
		t.Fatalf("empty store: %v, %v", ps, err)
	}
	times := []time.Time{
		time.Date(2025, 12, 31, 23, 50, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC),
		time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
	}
	for i, ts := range times {
		files := []NewFile{bytesFile(".jpg", bytes.Repeat([]byte{1}, 100+i))}
		if i == len(times)-1 {
			files = append(files, bytesFile(".cr2", bytes.Repeat([]byte{2}, 5000)))
		}
		if _, err := s.Put(Capture{Time: ts, Camera: Camera{Model: "Canon EOS 600D"}, Files: files}); err != nil {
			t.Fatal(err)
		}
	}
	// A photo whose sidecar is gone (a deletion cut short) is skipped.
	os.Remove(filepath.Join(s.Dir(), "photos/2026/01/01/20260101001000.jpg.json"))

	ps, err := s.Recent(4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Path)
	}
	want := []string{
		"photos/2026/02/01/20260201000000.jpg", "photos/2026/02/01/20260201000000.cr2",
		"photos/2026/01/01/20260101000000.jpg", "photos/2025/12/31/20251231235000.jpg",
	}
	if len(got) != len(want) {
		t.Fatalf("Recent(4) = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Recent(4) = %v, want %v", got, want)
		}
	}
	if ps[0].Sidecar.Camera.Model != "Canon EOS 600D" || ps[1].Sidecar.Size != 5000 || !ps[0].Sidecar.CaptureTime.Equal(times[3]) {
		t.Errorf("sidecars %+v, %+v", ps[0].Sidecar, ps[1].Sidecar)
	}
	caps := Captures(ps)
	if len(caps) != 3 || len(caps[0]) != 2 || len(caps[1]) != 1 {
		t.Errorf("Captures grouped %v", caps)
	}
	if ps, _ := s.Recent(1); len(ps) != 1 || ps[0].Path != want[0] {
		t.Errorf("Recent(1) = %v", ps)
	}
}

// The last delivery per target survives the process that recorded it.
func TestDeliveries(t *testing.T) {
	s := openStore(t)
	if d, err := s.LastDelivery("cloud"); err != nil || !d.Time.IsZero() {
		t.Fatalf("no delivery yet: %+v, %v", d, err)
	}
	d := Delivery{Target: "cloud", Photo: "photos/2026/11/26/20261126120000.jpg", CaptureTime: t0, Time: t0.Add(time.Minute)}
	if err := s.RecordDelivery(d); err != nil {
		t.Fatal(err)
	}
	again, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.LastDelivery("cloud")
	if err != nil || got.Photo != d.Photo || !got.Time.Equal(d.Time) || !got.CaptureTime.Equal(t0) {
		t.Errorf("LastDelivery = %+v, %v; want %+v", got, err, d)
	}
	for _, bad := range []string{"../x", "", "Cloud"} {
		if err := s.RecordDelivery(Delivery{Target: bad}); err == nil {
			t.Errorf("RecordDelivery for target %q accepted", bad)
		}
		if _, err := s.LastDelivery(bad); err == nil {
			t.Errorf("LastDelivery for target %q accepted", bad)
		}
	}
	if errs := again.Verify(false); len(errs) > 0 {
		t.Errorf("Verify: %v", errs)
	}
}
