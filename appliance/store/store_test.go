package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func bytesFile(ext string, data []byte, targets ...string) NewFile {
	return NewFile{Ext: ext, Targets: targets, Write: func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}}
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutStoresPhotoSidecarAndEntries(t *testing.T) {
	s := openStore(t)
	jpg, raw := bytes.Repeat([]byte("j"), 5000), bytes.Repeat([]byte("r"), 9000)
	photos, err := s.Put(Capture{
		Time: t0, Camera: Camera{Model: "Canon EOS 600D", Serial: "123"},
		Settings: map[string]string{"iso": "100"},
		Files:    []NewFile{bytesFile(".jpg", jpg, "cloud", "livecam"), bytesFile(".cr2", raw, "cloud")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if photos[0].Path != "photos/2026/11/26/20261126120000.jpg" || photos[1].Path != "photos/2026/11/26/20261126120000.cr2" {
		t.Errorf("paths %s, %s", photos[0].Path, photos[1].Path)
	}
	sum := sha256.Sum256(jpg)
	sc, err := s.ReadSidecar(photos[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if sc.SHA256 != hex.EncodeToString(sum[:]) || sc.Size != 5000 || sc.Camera.Serial != "123" || sc.Settings["iso"] != "100" || len(sc.Others) != 1 || sc.Others[0] != "20261126120000.cr2" {
		t.Errorf("sidecar %+v", sc)
	}
	f, err := s.OpenPhoto(photos[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, jpg) {
		t.Error("stored JPG differs")
	}
	cloud, _ := s.Pending("cloud")
	live, _ := s.Pending("livecam")
	if len(cloud) != 2 || len(live) != 1 || live[0].Photo != photos[0].Path || live[0].SHA256 != sc.SHA256 {
		t.Fatalf("outbox: cloud %+v, livecam %+v", cloud, live)
	}
	e := live[0]
	e.Attempts, e.LastError = 3, "HTTP 503"
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	if live, _ = s.Pending("livecam"); live[0].Attempts != 3 || live[0].LastError != "HTTP 503" {
		t.Errorf("updated entry reads back as %+v", live[0])
	}
	if o, ok, err := s.Owed("livecam", e.Photo); err != nil || !ok || o.Attempts != 3 {
		t.Errorf("Owed(livecam, %s) = %+v, %v, %v; want the updated entry", e.Photo, o, ok, err)
	}
	if _, ok, err := s.Owed("livecam", photos[1].Path); err != nil || ok {
		t.Errorf("Owed(livecam, %s) = %v, %v; want nothing owed", photos[1].Path, ok, err)
	}
	if err := s.Done(e); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Owed("livecam", e.Photo); err != nil || ok {
		t.Errorf("Owed after Done = %v, %v; want nothing owed", ok, err)
	}
	if live, _ = s.Pending("livecam"); len(live) != 0 {
		t.Errorf("done entry still pending: %+v", live)
	}
	if err := s.Update(e); err == nil {
		t.Error("Update of a finished entry succeeded")
	}
}

func TestPutNeverOverwrites(t *testing.T) {
	s := openStore(t)
	var paths []string
	for i := 0; i < 3; i++ {
		p, err := s.Put(Capture{Time: t0, Files: []NewFile{bytesFile(".jpg", []byte{byte(i)}, "cloud")}})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p[0].Path)
	}
	want := []string{"photos/2026/11/26/20261126120000.jpg", "photos/2026/11/26/20261126120000-1.jpg", "photos/2026/11/26/20261126120000-2.jpg"}
	for i := range want {
		if paths[i] != want[i] {
			t.Errorf("capture %d stored as %s, want %s", i, paths[i], want[i])
		}
	}
}

func TestPutRejects(t *testing.T) {
	s := openStore(t)
	for _, tc := range []struct {
		name string
		c    Capture
		want string
	}{
		{"unset clock", Capture{Time: time.Unix(0, 0), Files: []NewFile{bytesFile(".jpg", []byte("x"))}}, "clock is not set"},
		{"no files", Capture{Time: t0}, "without files"},
		{"bad extension", Capture{Time: t0, Files: []NewFile{bytesFile("jpg", []byte("x"))}}, `extension "jpg"`},
		{"same extension twice", Capture{Time: t0, Files: []NewFile{bytesFile(".jpg", nil), bytesFile(".jpg", nil)}}, `extension ".jpg"`},
		{"bad target", Capture{Time: t0, Files: []NewFile{bytesFile(".jpg", nil, "../x")}}, `target name "../x"`},
	} {
		if _, err := s.Put(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Put = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
	assertNoVisibleTemp(t, s.Dir())
}

func TestPutFailingWriteLeavesNothing(t *testing.T) {
	s := openStore(t)
	_, err := s.Put(Capture{Time: t0, Files: []NewFile{
		bytesFile(".jpg", []byte("fine"), "cloud"),
		{Ext: ".cr2", Targets: []string{"cloud"}, Write: func(w io.Writer) error {
			w.Write([]byte("half"))
			return syscall.ENOSPC
		}},
	}})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put = %v, want ENOSPC", err)
	}
	if n := countPhotos(t, s.Dir()); n != 0 {
		t.Errorf("%d photos visible after a failed capture", n)
	}
	if es, _ := s.Pending("cloud"); len(es) != 0 {
		t.Errorf("outbox entries after a failed capture: %+v", es)
	}
	assertNoVisibleTemp(t, s.Dir())
}

// TestDiskFull fills a real, small tmpfs: the capture fails with ENOSPC
// and leaves nothing half-written.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		testtool.Missing(t, fmt.Sprintf("mounting a small tmpfs (%v)", err), "run the tests as root")
	}
	defer syscall.Unmount(dir, 0)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var failed error
	stored := 0
	for i := 0; i < 50 && failed == nil; i++ {
		_, failed = s.Put(Capture{Time: t0.Add(time.Duration(i) * time.Minute), Files: []NewFile{bytesFile(".jpg", bytes.Repeat([]byte{1}, 40000), "cloud")}})
		if failed == nil {
			stored++
		}
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("filling 256 KiB with 40 KB photos: %v, want ENOSPC", failed)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("reopening a full store: %v", err)
	}
	if n := countPhotos(t, dir); n != stored {
		t.Errorf("%d photos on the full disk, want the %d stored before it filled", n, stored)
	}
	if es, _ := s2.Pending("cloud"); len(es) != stored {
		t.Errorf("%d outbox entries, want %d", len(es), stored)
	}
	checkConsistent(t, dir, func(string) []string { return []string{"cloud"} }, nil)
}

func TestRequirePersistent(t *testing.T) {
	mi := filepath.Join(t.TempDir(), "mountinfo")
	table := "15 1 179:2 / / ro,relatime - squashfs /dev/root ro\n" +
		"16 15 0:5 / /tmp rw - tmpfs tmpfs rw\n" +
		"23 15 179:4 / /perm rw,relatime - ext4 /dev/mmcblk0p4 rw\n" +
		"24 15 179:5 / /broken ro,relatime - ext4 /dev/mmcblk0p5 ro,errors=remount-ro\n"
	os.WriteFile(mi, []byte(table), 0o644)
	for _, tc := range []struct {
		dir, want string
	}{
		{"/perm/lapsebox", ""},
		{"/perm", ""},
		{"/permanent/lapsebox", "not on a mounted file system of its own"},
		{"/var/lapsebox", "not on a mounted file system of its own"},
		{"/tmp/lapsebox", "on tmpfs /tmp"},
		{"/broken/lapsebox", "read-only"},
	} {
		err := RequirePersistent(tc.dir, mi)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("RequirePersistent(%s) = %v, want %q", tc.dir, err, tc.want)
		}
	}
	if err := RequirePersistent("/perm", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing mount table was accepted")
	}
}

func countPhotos(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dir, "photos"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".json") {
			n++
		}
		return nil
	})
	return n
}

func assertNoVisibleTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(filepath.Join(dir, "photos"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file visible among photos: %s", p)
		}
		return nil
	})
}

func TestTxStreamsAndAborts(t *testing.T) {
	s := openStore(t)
	tx, err := s.Begin(t0, Camera{Model: "sim"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tx.Create(".jpg", []string{"cloud"})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "part one ")
	if _, err := tx.Commit(); err == nil {
		t.Error("Commit with an open file succeeded")
	}
	io.WriteString(w, "part two")
	w.Close()
	tx.Abort()
	if n := countPhotos(t, s.Dir()); n != 0 {
		t.Errorf("%d photos after Abort", n)
	}
	if des, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(des) != 0 {
		t.Errorf("Abort left %d entries in tmp/", len(des))
	}

	tx, _ = s.Begin(t0, Camera{Model: "sim"}, nil)
	w, _ = tx.Create(".jpg", []string{"cloud"})
	io.WriteString(w, "streamed")
	w.Close()
	tx.SetSettings(map[string]string{"shutter": "1/250"})
	photos, err := tx.Commit()
	if err != nil {
		t.Fatal(err)
	}
	tx.Abort() // after Commit: nothing
	sc, _ := s.ReadSidecar(photos[0].Path)
	if sc.Size != 8 || sc.Settings["shutter"] != "1/250" {
		t.Errorf("sidecar %+v", sc)
	}
	if _, err := tx.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	s := openStore(t)
	p, err := s.Put(Capture{Time: t0, Files: []NewFile{bytesFile(".jpg", []byte("original bytes"), "cloud"), bytesFile(".cr2", []byte("raw"), "cloud")}})
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Verify(true); len(errs) != 0 {
		t.Fatalf("a fresh store: %v", errs)
	}
	jpg := filepath.Join(s.Dir(), p[0].Path)
	os.WriteFile(jpg, []byte("flipped bytes!"), 0o644) // same size, other content
	os.Remove(filepath.Join(s.Dir(), p[1].Path))
	os.WriteFile(filepath.Join(s.Dir(), "photos/2026/11/26/.tmp-x"), nil, 0o644)
	var got []string
	for _, err := range s.Verify(true) {
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"has sha256", "stored without 20261126120000.cr2", "sidecar photos/2026/11/26/20261126120000.cr2.json without its photo", "outbox entry cloud/20261126120000.cr2 for a photo that is not stored", "temporary file"} {
		if !strings.Contains(all, want) {
			t.Errorf("Verify did not report %q:\n%s", want, all)
		}
	}
	if errs := s.Verify(false); len(errs) != len(got)-1 {
		t.Errorf("without hashing: %d problems, want all but the content change (%d)", len(errs), len(got)-1)
	}
}
