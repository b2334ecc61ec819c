package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/proctest"
	"github.com/lapsebox/lapsebox/internal/rest"
)

// BenchmarkIdle runs the watchdogd binary on status files that camerad
// and uploadd would keep fresh (this test rewrites them), lets it settle,
// and measures over a minute its wake-ups (context switches of all its
// threads) and its resident memory; the reference is an idle Go program
// measured the same way in the same run. This machine has no GPIO chip:
// the site configuration has no hardware section, so the feeder (two
// wake-ups a period: the tick and the end of the pulse) is not counted.
//
//	go test -run '^$' -bench Idle -benchtime 1x ./cmd/watchdogd/
func BenchmarkIdle(b *testing.B) {
	if testing.Short() {
		b.Skip("a minute of measuring; skipped with -short")
	}
	dir := b.TempDir()
	bin := proctest.Build(b, dir, ".", "watchdogd")
	perm, run, proc := filepath.Join(dir, "perm"), proctest.RunDir(b), filepath.Join(dir, "proc")
	os.MkdirAll(filepath.Join(proc, "sys/kernel/random"), 0o755)
	os.WriteFile(filepath.Join(proc, "sys/kernel/random/boot_id"), []byte("bench\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "uptime"), []byte("100.0 50.0\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heartbeat := func() {
		statusfile.Write(filepath.Join(run, "camerad.json"), statusfile.Camera{Mode: "capture", State: "waiting", Updated: time.Now()})
		statusfile.Write(filepath.Join(run, "uploadd.json"), statusfile.Uploads{Updated: time.Now()})
	}
	heartbeat()
	go func() {
		for ctx.Err() == nil {
			time.Sleep(5 * time.Second)
			heartbeat()
		}
	}()
	cmd := exec.CommandContext(ctx, bin, "-perm", perm, "-status", run, "-socket", filepath.Join(dir, "w.sock"),
		"-sys", filepath.Join(dir, "sys"), "-proc", proc)
	serviceLog := proctest.Start(b, cmd, dir, "watchdogd")
	// The minute starts after the release of what the start used
	// (rest.AfterStart).
	n, ref := proctest.Idle(b, dir, cmd.Process.Pid, rest.StartRelease+10*time.Second, time.Minute)
	var st statusfile.Watchdog
	if _, err := statusfile.Read(filepath.Join(run, "watchdogd.json"), &st); err != nil {
		b.Fatalf("no watchdogd.json: %v\n%s", err, serviceLog())
	}
	b.Logf("watchdogd: %d context switches in a minute, idle Go program: %d; healthy %v (%s)", n, ref, st.Healthy, st.FeedingReason)
}
