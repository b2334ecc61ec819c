package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/proctest"
)

// BenchmarkIdle runs the statusd binary with a password, a site
// configuration and status files, checks that it serves, and measures
// over a minute without clients its wake-ups (context switches of all its
// threads) and its resident memory; the reference is an idle Go program
// measured the same way in the same run. statusd does nothing between
// requests: it collects when asked.
//
//	go test -run '^$' -bench Idle -benchtime 1x ./cmd/statusd/
func BenchmarkIdle(b *testing.B) {
	if testing.Short() {
		b.Skip("a minute of measuring; skipped with -short")
	}
	dir := b.TempDir()
	bin := proctest.Build(b, dir, ".", "statusd")
	perm, run, etc := filepath.Join(dir, "perm"), filepath.Join(dir, "run"), filepath.Join(dir, "etc")
	for _, d := range []string{filepath.Join(perm, "lapsebox"), run, etc} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(etc, "gokr-pw.txt"), []byte("bench-pw\n"), 0o600)
	for _, name := range []string{"camerad", "uploadd", "modemd", "watchdogd"} {
		data, err := os.ReadFile(filepath.Join("../../appliance/status/testdata/device", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(run, name+".json"), data, 0o644)
	}
	addr, cmd, serviceLog := startStatusd(b, bin, dir, perm, run, etc)
	// Served once, with the password: the page, then nothing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.SetBasicAuth("gokrazy", "bench-pw")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			b.Fatalf("statusd: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			b.Fatalf("statusd does not serve: %v\n%s", err, serviceLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	http.DefaultClient.CloseIdleConnections()
	// The minute starts after statusd gave the page's memory back, 30 s
	// after serving it (internal/rest): that is the page's cost, not
	// rest's, as in the appliance test.
	n, ref := proctest.Idle(b, dir, cmd.Process.Pid, 40*time.Second, time.Minute)
	b.Logf("statusd: %d context switches in a minute without clients, idle Go program: %d", n, ref)
}
