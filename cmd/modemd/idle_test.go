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
	"github.com/lapsebox/lapsebox/modem/sim"
)

// BenchmarkIdle runs the modemd binary against a simulated, registered
// EC25 on a pseudo-terminal, lets it settle, and measures over a minute
// its wake-ups (context switches of all its threads) and its resident
// memory; the reference is an idle Go program measured the same way in
// the same run (the Go runtime's own floor).
//
//	go test -run '^$' -bench Idle -benchtime 1x ./cmd/modemd/
func BenchmarkIdle(b *testing.B) {
	if testing.Short() {
		b.Skip("a minute of measuring; skipped with -short")
	}
	dir := b.TempDir()
	modemd := proctest.Build(b, dir, ".", "modemd")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, p := sim.StartPTY(b, sim.Config{RegisterAfter: 100 * time.Millisecond})

	perm, run := filepath.Join(dir, "perm"), proctest.RunDir(b)
	os.MkdirAll(filepath.Join(perm, "lapsebox"), 0o755)
	os.WriteFile(filepath.Join(perm, "lapsebox", "config.json"), []byte(`{"site": {"name": "bench", "time_zone": "UTC"},
		"modem": {"port": "`+p.Path()+`", "data": "none"}}`), 0o644)
	mountinfo := filepath.Join(dir, "mountinfo")
	os.WriteFile(mountinfo, []byte("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:4 / "+perm+" rw - ext4 /dev/sda4 rw\n"), 0o644)
	cmd := exec.CommandContext(ctx, modemd, "-perm", perm, "-run", run, "-requests", filepath.Join(dir, "requests"),
		"-sysfs", filepath.Join(dir, "sys"), "-mountinfo", mountinfo)
	serviceLog := proctest.Start(b, cmd, dir, "modemd")
	deadline := time.Now().Add(time.Minute)
	for {
		var st statusfile.Modem
		if _, err := statusfile.Read(filepath.Join(run, "modemd.json"), &st); err == nil && st.Link.Connected {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("modemd did not register:\n%s", serviceLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Settle: the first poll and status writes, and the release of what
	// the start used (rest.AfterStart).
	n, ref := proctest.Idle(b, dir, cmd.Process.Pid, rest.StartRelease+10*time.Second, time.Minute)
	b.Logf("modemd: %d context switches in a minute, idle Go program: %d; commands the modem saw: %d",
		n, ref, len(s.Commands()))
}
