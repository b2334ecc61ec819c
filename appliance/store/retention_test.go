package store

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/tmpfs"
)

// fillStore stores n one-per-hour captures of size bytes; capture i gets a
// cloud outbox entry when queued(i). Modification times follow capture
// times.
func fillStore(t *testing.T, n, size int, queued func(i int) bool) (*Store, []string) {
	t.Helper()
	s := openStore(t)
	var paths []string
	for i := 0; i < n; i++ {
		var targets []string
		if queued(i) {
			targets = []string{"cloud"}
		}
		ts := t0.Add(time.Duration(i) * time.Hour)
		p, err := s.Put(Capture{Time: ts, Files: []NewFile{bytesFile(".jpg", bytes.Repeat([]byte{1}, size), targets...)}})
		if err != nil {
			t.Fatal(err)
		}
		full := filepath.Join(s.Dir(), p[0].Path)
		os.Chtimes(full, ts, ts)
		paths = append(paths, p[0].Path)
	}
	return s, paths
}

// diskUsage pretends the store's photos are all that is on a disk of
// total bytes.
func diskUsage(s *Store, total uint64) Usage {
	return func() (uint64, uint64, error) {
		var used uint64
		filepath.Walk(filepath.Join(s.Dir(), "photos"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				used += uint64(fi.Size())
			}
			return nil
		})
		return used, total, nil
	}
}

func exists(s *Store, rel string) bool {
	_, err := os.Stat(filepath.Join(s.Dir(), rel))
	return err == nil
}

var marks = Retention{HighWater: 0.8, LowWater: 0.6, Critical: 0.95}

func TestPruneByAgeKeepsQueued(t *testing.T) {
	s, paths := fillStore(t, 10, 1000, func(i int) bool { return i == 1 })
	r := marks
	r.MaxAge = 5 * time.Hour
	now := t0.Add(10 * time.Hour)
	rep, err := s.Prune(r, diskUsage(s, 1<<30), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Captures 0..4 are older than 5 h; capture 1 is still owed to cloud.
	if rep.DeletedForAge != 4 || exists(s, paths[0]) || !exists(s, paths[1]) || !exists(s, paths[5]) {
		t.Errorf("report %+v; photo 0 kept %v, queued photo 1 kept %v, photo 5 kept %v", rep, exists(s, paths[0]), exists(s, paths[1]), exists(s, paths[5]))
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), paths[0]+".json")); !os.IsNotExist(err) {
		t.Error("sidecar of a pruned photo is still there")
	}
}

func TestPruneBySpace(t *testing.T) {
	// 10 photos of ~1 KB on a "disk" of 10 KB: 100 % used.
	s, paths := fillStore(t, 10, 1000, func(i int) bool { return i < 2 })
	total := uint64(10*1000 + 10*400) // photos plus sidecars, roughly
	rep, err := s.Prune(marks, diskUsage(s, total), t0.Add(10*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.UsedFraction > marks.LowWater {
		t.Errorf("after pruning %.2f of the disk is used, want at most the low water mark %.2f (report %+v)", rep.UsedFraction, marks.LowWater, rep)
	}
	if !exists(s, paths[0]) || !exists(s, paths[1]) {
		t.Error("a photo still owed to a target was deleted below the critical level")
	}
	if exists(s, paths[2]) || !exists(s, paths[9]) || rep.DroppedQueued != 0 {
		t.Errorf("want the oldest unqueued photo gone and the newest kept; report %+v", rep)
	}
}

func TestPruneCriticalDropsQueuedOldestFirst(t *testing.T) {
	s, paths := fillStore(t, 10, 1000, func(int) bool { return true })
	total := uint64(10 * 1000)
	rep, err := s.Prune(marks, diskUsage(s, total), t0.Add(10*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DroppedQueued == 0 || len(rep.DroppedTargets) != 1 || rep.DroppedTargets[0] != "cloud" {
		t.Fatalf("report %+v: want queued photos dropped and cloud named", rep)
	}
	if exists(s, paths[0]) || !exists(s, paths[9]) {
		t.Error("want the oldest queued photo dropped first and the newest kept")
	}
	es, _ := s.Pending("cloud")
	if len(es) != 10-rep.DroppedQueued {
		t.Errorf("%d outbox entries left, want %d", len(es), 10-rep.DroppedQueued)
	}
	for _, e := range es {
		if !exists(s, e.Photo) {
			t.Errorf("outbox entry for deleted photo %s", e.Photo)
		}
	}
}

func TestRetentionValidate(t *testing.T) {
	for _, r := range []Retention{
		{HighWater: 0.6, LowWater: 0.8, Critical: 0.9},
		{HighWater: 0.8, LowWater: 0.6, Critical: 0.7},
		{HighWater: 0.8, LowWater: 0, Critical: 0.9},
		{HighWater: 0.8, LowWater: 0.6, Critical: 1.5},
		{HighWater: 0.8, LowWater: 0.6, Critical: 0.9, MaxAge: -1},
	} {
		if r.Validate() == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}

// Room for the next capture counts: a store below the high-water mark is
// pruned when the capture would cross it, and queued photos are dropped
// only as far as the critical mark, never further.
func TestPruneForTheNextCapture(t *testing.T) {
	const size = 1000
	for _, tc := range []struct {
		name                      string
		queued                    func(int) bool
		need                      uint64
		deleted, dropped, oldest  int // oldest: index of the oldest photo kept
		wantUsedAtMost, wantAbove float64
	}{
		// 10 photos on a disk of 16: 0.625 used, below the 0.8 mark.
		{"fits", func(int) bool { return false }, 2 * size, 0, 0, 0, 0.8, 0},
		// A capture of 4 would cross it: down to 0.6 with it counted.
		{"crosses high water", func(i int) bool { return i >= 5 }, 4 * size, 5, 0, 5, 0.6, 0},
		// Everything queued, a capture of 6 would cross critical (0.95):
		// queued photos go, oldest first, until it fits under critical,
		// and no further.
		{"critical", func(int) bool { return true }, 6 * size, 0, 1, 1, 0.95, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, paths := fillStore(t, 10, size, tc.queued)
			total := uint64(16 * size)
			usage := func() (uint64, uint64, error) {
				var used uint64
				ps, _ := s.listPhotos()
				for range ps {
					used += size // the photos only, as on a disk of whole photos
				}
				return used, total, nil
			}
			rep, err := s.Prune(marks, usage, t0.Add(10*time.Hour), tc.need)
			if err != nil {
				t.Fatal(err)
			}
			if rep.DeletedForSpace != tc.deleted || rep.DroppedQueued != tc.dropped {
				t.Errorf("report %+v: want %d deleted for space, %d queued dropped", rep, tc.deleted, tc.dropped)
			}
			if exists(s, paths[max(tc.oldest-1, 0)]) != (tc.oldest == 0) || !exists(s, paths[tc.oldest]) {
				t.Errorf("want photo %d the oldest kept", tc.oldest)
			}
			with := (float64(rep.Used) + float64(tc.need)) / float64(rep.Total)
			if with > tc.wantUsedAtMost || with < tc.wantAbove {
				t.Errorf("after pruning %.3f used with the capture, want %.3f to %.3f", with, tc.wantAbove, tc.wantUsedAtMost)
			}
			if tc.dropped > 0 && (len(rep.DroppedTargets) != 1 || rep.DroppedTargets[0] != "cloud") {
				t.Errorf("dropped targets %v, want cloud", rep.DroppedTargets)
			}
		})
	}
}

// On a real file system that fills up: usage is what statfs says, and a
// full disk is emptied of what retention may delete.
func TestPruneOnAFullFileSystem(t *testing.T) {
	dir := tmpfs.Mount(t, 1<<20)
	s, err := Open(filepath.Join(dir, "lapsebox"))
	if err != nil {
		t.Fatal(err)
	}
	usage := StatfsUsage(s.Dir())
	used, total, err := usage()
	if err != nil {
		t.Fatal(err)
	}
	if total != 1<<20 || used > 64<<10 {
		t.Fatalf("a fresh 1 MiB tmpfs: used %d of %d", used, total)
	}
	var paths []string
	var full error
	for i := 0; full == nil; i++ {
		targets := []string{"cloud"}
		if i%2 == 0 {
			targets = nil // sent already
		}
		var p []Photo
		p, full = s.Put(Capture{Time: t0.Add(time.Duration(i) * time.Minute), Files: []NewFile{bytesFile(".jpg", bytes.Repeat([]byte{7}, 100_000), targets...)}})
		if full == nil {
			paths = append(paths, p[0].Path)
		}
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", full)
	}
	if errs := s.Verify(true); len(errs) > 0 {
		t.Fatalf("after a capture that did not fit: %v", errs)
	}
	rep, err := s.Prune(marks, usage, t0.Add(time.Hour), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DeletedForSpace == 0 || rep.DroppedQueued != 0 || exists(s, paths[0]) || !exists(s, paths[1]) {
		t.Errorf("report %+v: want the sent photos deleted and the queued ones kept", rep)
	}
	if _, err := s.Put(Capture{Time: t0.Add(time.Hour), Files: []NewFile{bytesFile(".jpg", bytes.Repeat([]byte{7}, 100_000), "cloud")}}); err != nil {
		t.Errorf("a capture after pruning: %v", err)
	}
}

// putPair stores a RAW+JPG capture at ts, each file owed to the targets
// given, with its modification time at ts.
func putPair(t *testing.T, s *Store, ts time.Time, jpgTargets, rawTargets []string) []Photo {
	t.Helper()
	ps, err := s.Put(Capture{Time: ts, Files: []NewFile{
		bytesFile(".jpg", bytes.Repeat([]byte{1}, 1000), jpgTargets...),
		bytesFile(".cr2", bytes.Repeat([]byte{2}, 3000), rawTargets...),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		os.Chtimes(filepath.Join(s.Dir(), p.Path), ts, ts)
	}
	return ps
}

func verifyClean(t *testing.T, s *Store) {
	t.Helper()
	for _, err := range s.Verify(true) {
		t.Error(err)
	}
}

// TestPruneKeepsCapturesWhole: retention deletes a RAW+JPG capture only
// once no file of it is owed to a target, and then all of it; a store it
// pruned passes Verify.
func TestPruneKeepsCapturesWhole(t *testing.T) {
	s := openStore(t)
	sent := putPair(t, s, t0, nil, nil)
	half := putPair(t, s, t0.Add(time.Hour), nil, []string{"cloud"}) // the JPG went, the RAW is owed
	r := marks
	r.MaxAge = time.Hour
	rep, err := s.Prune(r, diskUsage(s, 1<<30), t0.Add(10*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DeletedForAge != 2 || exists(s, sent[0].Path) || exists(s, sent[1].Path) {
		t.Errorf("report %+v: want the capture no target needs deleted, both files", rep)
	}
	if !exists(s, half[0].Path) || !exists(s, half[1].Path) {
		t.Errorf("the JPG of a capture whose RAW is still owed was deleted")
	}
	verifyClean(t, s)
}

// TestPruneCutBetweenFiles: a power cut in the middle of deleting a
// capture leaves a store that Open finishes, not half a capture.
func TestPruneCutBetweenFiles(t *testing.T) {
	s := openStore(t)
	ps := putPair(t, s, t0, nil, nil)
	// What Prune does up to the cut: the intent, then the first file.
	if _, err := s.beginDelete([]string{ps[0].Path, ps[1].Path}); err != nil {
		t.Fatal(err)
	}
	if err := s.deletePhoto(ps[1].Path, nil); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if exists(s2, ps[0].Path) || exists(s2, ps[0].Path+".json") {
		t.Errorf("after the cut and Open, %s is still there without %s", ps[0].Path, ps[1].Path)
	}
	verifyClean(t, s2)
}

// Usage counts as df does: used, and a size of used plus available.
func TestStatfsUsageIsWhatDfSays(t *testing.T) {
	dir := tmpfs.Mount(t, 4<<20)
	if err := os.WriteFile(filepath.Join(dir, "x"), bytes.Repeat([]byte{1}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("df", "-B1", "--output=used,avail", dir).Output()
	if err != nil {
		t.Fatalf("df: %v", err)
	}
	f := strings.Fields(string(out)) // "Used Avail <used> <avail>"
	if len(f) != 4 {
		t.Fatalf("df said %q", out)
	}
	dfUsed, _ := strconv.ParseUint(f[2], 10, 64)
	dfAvail, _ := strconv.ParseUint(f[3], 10, 64)
	used, total, err := StatfsUsage(dir)()
	if err != nil {
		t.Fatal(err)
	}
	if used != dfUsed || total != dfUsed+dfAvail || used < 1<<20 {
		t.Errorf("StatfsUsage = %d used of %d; df says %d used, %d available", used, total, dfUsed, dfAvail)
	}
}
