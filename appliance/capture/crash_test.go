package capture

import (
	"context"
	"fmt"
	"log"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

const crashEnv = "LAPSEBOX_CAPTURE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// racingClock runs the schedule as fast as the camera allows: sleeping
// only moves the clock, so captures follow each other back to back.
type racingClock struct{ now time.Time }

func (c *racingClock) Now() time.Time { return c.now }
func (c *racingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}

// crashChild is camerad's capture loop on a simulated RAW+JPG camera,
// capturing until it is killed.
func crashChild(dir string) {
	st, err := store.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Each run starts where the previous stopped: a later slot, no burst.
	start := time.Date(2026, 11, 26, 0, 0, 30, 0, time.UTC).Add(time.Duration(time.Now().UnixNano()%1e6) * time.Minute)
	dev := &simDevice{dev: sim.New(sim.Config{Quality: sim.RAWAndJPEG, JPEGSize: 20000, RAWSize: 300000, JPEGWidth: 160, JPEGHeight: 120})}
	l := &Loop{
		Schedule: every(time.Minute), Store: st, Device: dev, Relay: &hw.Recorder{Device: "camera"},
		Keep: config.KeepBoth, MinSize: 3000,
		Targets: func(ext string, raw bool) []string {
			if raw {
				return []string{"cloud"}
			}
			return []string{"cloud", "web"}
		},
		Clock: &racingClock{now: start}, Log: log.New(discard{}, "", 0),
	}
	l.Run(context.Background())
}

// TestKilledCameradKeepsTheStoreConsistent kills the capture loop with
// SIGKILL at random points during hundreds of captures. After each
// restart every photo is complete with its sidecar and outbox entries, or
// absent, and no temporary file shows as a photo.
func TestKilledCameradKeepsTheStoreConsistent(t *testing.T) {
	kills := 120
	if testing.Short() {
		kills = 20
	}
	dir := t.TempDir()
	rnd := rand.New(rand.NewSource(1))
	prev := 0
	for i := 0; i < kills; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rnd.Intn(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Fatalf("kill %d: the child failed by itself: %s", i, stderr.String())
		}
		s, err := store.Open(dir)
		if err != nil {
			t.Fatalf("kill %d: reopening: %v", i, err)
		}
		for _, err := range s.Verify(true) {
			t.Errorf("after kill %d: %v", i, err)
		}
		n := 0
		filepath.WalkDir(filepath.Join(dir, "photos"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".json") {
				n++
				if strings.HasSuffix(p, ".jpg") {
					if _, err := os.Stat(filepath.Join(dir, "outbox", "web", filepath.Base(p)+".json")); err != nil {
						t.Errorf("after kill %d: %s has no live-cam outbox entry", i, p)
					}
				}
			}
			return nil
		})
		if n < prev {
			t.Fatalf("after kill %d: %d photos, fewer than the %d before", i, n, prev)
		}
		prev = n
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d kills, %d files stored", kills, prev)
	if prev < kills/2 {
		t.Errorf("only %d files in %d runs: the kills came before any capture", prev, kills)
	}
}
