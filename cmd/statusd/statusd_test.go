package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/proctest"
	"github.com/lapsebox/lapsebox/internal/rest"
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
	addr, _, serviceLog := startStatusd(t, bin, dir, filepath.Join(dir, "perm"), filepath.Join(dir, "run"), filepath.Join(dir, "etc"),
		"GODEBUG=gctrace=1")
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

// startStatusd starts the statusd binary bin on a free loopback port with
// the given directories and extra environment, until the test ends; it
// returns the address, the command and its log so far.
func startStatusd(tb testing.TB, bin, dir, perm, run, etc string, env ...string) (addr string, cmd *exec.Cmd, log func() string) {
	tb.Helper()
	// A free port: statusd takes it a moment later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	cmd = exec.CommandContext(ctx, bin, "-listen", addr, "-perm", perm, "-run", run, "-etc", etc,
		"-gokrazy_socket", filepath.Join(dir, "none.sock"), "-gokrazy_password_files", "")
	cmd.Env = append(cmd.Environ(), env...)
	return addr, cmd, proctest.Start(tb, cmd, dir, "statusd")
}

// TestBusy checks that a request served counts as work: the daemon's
// memory goes back once requests stop.
func TestBusy(t *testing.T) {
	released := make(chan struct{})
	idle := &rest.Timer{After: time.Millisecond, MinAlloc: 1, Release: func() { close(released) }}
	h := busy(idle, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	// The release needs work since the first Busy: a large object is
	// counted at once.
	sink = make([]byte, 64<<10)
	if rec.Body.String() != "ok" {
		t.Fatalf("body %q", rec.Body.String())
	}
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("a request served did not arm the release")
	}
}

var sink []byte
