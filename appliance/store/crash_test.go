package store

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/crashtest"
)

// crashTargets says which targets the crash child queues each file for.
func crashTargets(ext string) []string {
	if ext == ".jpg" {
		return []string{"cloud", "livecam"}
	}
	return []string{"cloud"}
}

func TestMain(m *testing.M) {
	crashtest.Main(map[string]func(string) error{"store": crashChild})
	os.Exit(m.Run())
}

// crashChild stores captures as fast as it can until it is killed,
// logging each one Put reported stored and marking it.
func crashChild(dir string) error {
	s, err := Open(dir)
	if err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(dir, "..", "committed.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	for {
		// Few distinct seconds: names collide and take suffixes.
		c := Capture{Time: t0.Add(time.Duration(rnd.Intn(20)) * time.Second), Camera: Camera{Model: "sim"}}
		files := []string{".jpg"}
		if rnd.Intn(2) == 0 {
			files = append(files, ".cr2")
		}
		for _, ext := range files {
			size := 1000 + rnd.Intn(200000)
			seed := rnd.Int63()
			c.Files = append(c.Files, NewFile{Ext: ext, Targets: crashTargets(ext), Write: func(w io.Writer) error {
				_, err := io.CopyN(w, rand.New(rand.NewSource(seed)), int64(size))
				return err
			}})
		}
		photos, err := s.Put(c)
		if err != nil {
			return err
		}
		for _, p := range photos {
			fmt.Fprintln(log, p.Path)
		}
		log.Sync()
		crashtest.Mark()
	}
}

// TestCrashConsistency kills a process that stores captures with SIGKILL
// at random points, hundreds of times: while it opens the store (and
// cleans up after the last kill) or inside one of its first captures.
// After each restart every photo is complete with its sidecar and outbox
// entries, or absent; every capture Put reported stored is there; no
// temporary file shows as a photo.
func TestCrashConsistency(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 40
	}
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	rnd := rand.New(rand.NewSource(1))
	for i := 0; i < kills; i++ {
		c := crashtest.Start(t, "store", dir)
		c.KillAfter(int64(rnd.Intn(2)), time.Duration(rnd.Intn(20000))*time.Microsecond)
		if c.Stderr() != "" {
			t.Fatalf("kill %d: the child failed by itself: %s", i, c.Stderr())
		}
		if _, err := Open(dir); err != nil {
			t.Fatalf("kill %d: reopening: %v", i, err)
		}
		committed := readLines(t, filepath.Join(root, "committed.log"))
		if !checkConsistent(t, dir, crashTargets, committed) {
			t.Fatalf("inconsistent after kill %d", i)
		}
	}
	t.Logf("%d kills, %d photos stored", kills, countPhotos(t, dir))
}

func readLines(t *testing.T, p string) []string {
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	// The last line may be cut by the kill; only whole lines count.
	return lines
}

// checkConsistent verifies the store's invariants (Verify), that every
// photo has its outbox entries, and that every photo Put reported stored
// is there. It reports whether they hold.
func checkConsistent(t *testing.T, dir string, targets func(ext string) []string, committed []string) bool {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Errorf("opening: %v", err)
		return false
	}
	ok := true
	for _, err := range s.Verify(true) {
		t.Error(err)
		ok = false
	}
	photos := map[string]bool{}
	filepath.WalkDir(filepath.Join(dir, "photos"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".json") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		photos[rel] = true
		for _, tg := range targets(path.Ext(rel)) {
			if _, err := os.Stat(filepath.Join(dir, "outbox", tg, path.Base(rel)+".json")); err != nil {
				t.Errorf("photo %s has no outbox entry for %s", rel, tg)
				ok = false
			}
		}
		return nil
	})
	for _, c := range committed {
		if !photos[c] {
			t.Errorf("photo %s was reported stored but is gone", c)
			ok = false
		}
	}
	return ok
}
