package main

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/proctest"
)

// TestCollectsAtStart checks that statusd has run a garbage collection by
// the time it serves. The runtime collects every 2 minutes only once a
// first collection has run, and the first waits for the heap to reach
// 4 MiB: statusd, which allocates only when asked, grew by its light
// load's allocations (0.07 MiB a minute under a health probe) for most of
// an hour of a soak before that. GODEBUG=gctrace=1 makes the runtime log
// each collection ("gc 1 @0.012s …") as it ends.
func TestCollectsAtStart(t *testing.T) {
	dir := t.TempDir()
	bin := proctest.Build(t, dir, ".", "statusd")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-listen", addr, "-perm", filepath.Join(dir, "perm"),
		"-run", filepath.Join(dir, "run"), "-etc", filepath.Join(dir, "etc"),
		"-gokrazy_socket", filepath.Join(dir, "none.sock"), "-gokrazy_password_files", "")
	cmd.Env = append(cmd.Environ(), "GODEBUG=gctrace=1")
	serviceLog := proctest.Start(t, cmd, dir, "statusd")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statusd does not serve: %v\n%s", err, serviceLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if log := serviceLog(); !strings.Contains(log, "gc 1 @") {
		t.Errorf("statusd serves without having collected once: the runtime's periodic collection is not armed\n%s", log)
	}
}
