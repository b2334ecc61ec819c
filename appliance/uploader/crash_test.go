package uploader

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
)

const crashEnv = "LAPSEBOX_UPLOADER_CRASH_CHILD" // store dir|cloud URL

func TestMain(m *testing.M) {
	if v := os.Getenv(crashEnv); v != "" {
		dir, url, _ := strings.Cut(v, "|")
		crashChild(dir, url)
		return
	}
	os.Exit(m.Run())
}

// crashChild drains the outbox until it is killed.
func crashChild(dir, url string) {
	st, err := store.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	t := &testing.T{}
	// A slow link, so that kills land in the middle of uploads.
	u := &Uploader{Store: st, Targets: []*Target{cloudTarget(t, url, config.Target{})}, Link: &Link{Rate: 256 << 10},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Poll: 20 * time.Millisecond}
	u.Run(context.Background())
}

// TestKilledUploaderLosesAndDuplicatesNothing kills uploadd's logic with
// SIGKILL at random points while it uploads, many times, then lets it
// finish: every photo is on the server exactly once, byte-identical, and
// the outbox is empty.
func TestKilledUploaderLosesAndDuplicatesNothing(t *testing.T) {
	c := startCloud(t)
	dir := t.TempDir()
	st, _ := store.Open(dir)
	want := fill(t, st, 15, 300<<10, "cloud")
	rnd := rand.New(rand.NewSource(1))
	kills := 25
	if testing.Short() {
		kills = 5
	}
	for i := 0; i < kills; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir+"|"+c.URL())
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rnd.Intn(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if strings.Contains(stderr.String(), "store:") {
			t.Fatalf("kill %d: child failed: %s", i, stderr.String())
		}
	}
	if n := pending(t, st, "cloud"); n == 0 || n == len(want) {
		t.Fatalf("%d of %d entries pending after the kills: want the kills to land mid-way", n, len(want))
	}
	st2, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	u := &Uploader{Store: st2, Targets: []*Target{cloudTarget(t, c.URL(), config.Target{})},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Poll: 20 * time.Millisecond}
	runUntil(t, u, 60*time.Second, func() bool { return pending(t, st2, "cloud") == 0 })
	got := c.Received(device)
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: cloud has sha256 %q, want %s", name, got[name], sum)
		}
	}
	if len(got) != len(want) {
		t.Errorf("cloud holds %d files, want exactly the %d photos: %v", len(got), len(want), got)
	}
}
