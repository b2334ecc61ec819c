package capture

import (
	"context"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/crashtest"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

func TestMain(m *testing.M) {
	crashtest.Main(map[string]func(string) error{"camerad": crashChild})
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
// capturing until it is killed, with a mark for every capture it logs.
func crashChild(dir string) error {
	st, err := store.Open(dir)
	if err != nil {
		return err
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
		Clock: &racingClock{now: start}, Log: log.New(crashtest.MarkWriter("captured "), "", 0),
	}
	return l.Run(context.Background())
}

// TestKilledCameradKeepsTheStoreConsistent kills the capture loop with
// SIGKILL at random points inside its second or third capture, hundreds
// of times. After each restart every photo is complete with its sidecar
// and outbox entries, or absent, and no temporary file shows as a photo.
func TestKilledCameradKeepsTheStoreConsistent(t *testing.T) {
	kills := 120
	if testing.Short() {
		kills = 20
	}
	dir := t.TempDir()
	rnd := rand.New(rand.NewSource(1))
	prev := 0
	for i := 0; i < kills; i++ {
		c := crashtest.Start(t, "camerad", dir)
		c.KillAfter(int64(1+rnd.Intn(2)), time.Duration(rnd.Intn(30000))*time.Microsecond)
		if c.Stderr() != "" {
			t.Fatalf("kill %d: the child failed by itself: %s", i, c.Stderr())
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
