package updater_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/image/fat"
	"github.com/lapsebox/lapsebox/image/release"
)

// A release whose camerad never starts is rolled back as soon as that
// shows, tried once more, rolled back again and then refused for good.
func TestTrialRollsBackThenRefuses(t *testing.T) {
	f := start(t, "02:00")
	root2 := changed(f.root1, 2, 1)
	f.publish(t, f.priv, release.Manifest{Build: build2}, root2, f.boot1)
	home := f.gokrazy.Build()
	for n := 1; n <= 2; n++ {
		back := f.service() // on the committed root
		back.Look(context.Background())
		a := f.status(t).LastAttempt
		if a == nil || a.Result != updater.ResultTrying || a.Failures != n-1 {
			t.Fatalf("look %d: attempt %+v, want trying after %d failures", n, a, n-1)
		}
		if f.gokrazy.Build() != string(root2) {
			t.Fatalf("look %d: the release does not run on trial", n)
		}
		trial := f.onTrial(build2)
		os.Remove(filepath.Join(f.svc.RunDir, "camerad.json"))
		f.writeStatus(t, "uploadd", &statusfile.Uploads{})
		if trial.CheckTrial(context.Background()) {
			t.Fatalf("trial %d decided at once", n)
		}
		f.now = f.now.Add(3 * time.Minute)
		f.writeStatus(t, "uploadd", &statusfile.Uploads{})
		if !trial.CheckTrial(context.Background()) {
			t.Fatalf("trial %d: camerad missing for 3 minutes, still on trial: %+v", n, f.status(t).Trial)
		}
		st := f.status(t)
		a = st.LastAttempt
		if a.Result != updater.ResultRolledBack || a.Failures != n || !strings.Contains(a.Error, "camerad: no status file") || st.State != "rebooting" {
			t.Errorf("trial %d: %+v, attempt %+v", n, st, a)
		}
		if !strings.HasSuffix(f.gokrazy.Calls(), "POST /reboot") || f.gokrazy.Build() != home {
			t.Fatalf("trial %d: the device did not return to its committed root (calls %s)", n, f.gokrazy.Calls())
		}
		if (a.Refusal != "") != (n == 2) {
			t.Errorf("trial %d: refusal %q", n, a.Refusal)
		}
		f.now = f.now.Add(time.Minute)
	}
	// Back on the committed root: it reports the rollback and never
	// tries the release again.
	calls := f.gokrazy.Calls()
	again := f.service()
	again.Look(context.Background())
	st := f.status(t)
	if !strings.Contains(st.Deferred, "refused earlier: failed its trial 2 times") || st.LastAttempt.Result != updater.ResultRolledBack ||
		!st.Committed.Equal(build1) {
		t.Errorf("after two failed trials: %+v, attempt %+v", st, st.LastAttempt)
	}
	if f.gokrazy.Calls() != calls {
		t.Errorf("the refused release was written again: %s", strings.TrimPrefix(f.gokrazy.Calls(), calls))
	}
}

// A trial that ends without updated's verdict (a power cut, a crash, a
// watchdog reset) counts as a failure, found by the committed root.
func TestTrialWithoutVerdict(t *testing.T) {
	f := start(t, "02:00")
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 2, 1), f.boot1)
	f.svc.Look(context.Background())
	f.gokrazy.RebootNow() // the power goes during the trial
	back := f.service()
	back.CheckTrial(context.Background()) // starts, no trial to judge
	a := f.status(t).LastAttempt
	if a == nil || a.Result != updater.ResultRolledBack || a.Failures != 1 || !strings.Contains(a.Error, "without a verdict") {
		t.Fatalf("attempt %+v", a)
	}
	// The next look tries it again.
	back.Look(context.Background())
	if a := f.status(t).LastAttempt; a.Result != updater.ResultTrying || a.Failures != 1 {
		t.Errorf("not tried again after one failure: %+v", a)
	}
}

// A trial that ends without a verdict after the release was found
// healthy (a power cut, most likely) is counted apart from failures: a
// site whose power fails twice during trials still takes a good
// release, and the third such ending refuses it all the same.
func TestTrialInterruptedAfterHealthy(t *testing.T) {
	f := start(t, "02:00")
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 2, 1), f.boot1)
	for n := 1; n <= statusfile.MaxTrialInterruptions; n++ {
		back := f.service() // on the committed root
		back.Look(context.Background())
		if a := f.status(t).LastAttempt; a == nil || a.Result != updater.ResultTrying || a.Interrupted != n-1 || a.TrialHealthy {
			t.Fatalf("look %d: attempt %+v, want trying after %d interruptions", n, a, n-1)
		}
		trial := f.onTrial(build2)
		f.healthy(t, 0)
		if trial.CheckTrial(context.Background()) {
			t.Fatalf("trial %d decided at once", n)
		}
		if a := f.status(t).LastAttempt; !a.TrialHealthy {
			t.Fatalf("trial %d: healthy at the first check, not recorded: %+v", n, a)
		}
		f.gokrazy.RebootNow() // the power goes during the trial
		f.service().CheckTrial(context.Background())
		a := f.status(t).LastAttempt
		if a.Result != updater.ResultRolledBack || a.Failures != 0 || a.Interrupted != n || !strings.Contains(a.Error, "after the release was found healthy") {
			t.Fatalf("trial %d: attempt %+v; want an interruption, no failure", n, a)
		}
		if (a.Refusal != "") != (n == statusfile.MaxTrialInterruptions) {
			t.Errorf("trial %d: refusal %q", n, a.Refusal)
		}
		f.now = f.now.Add(time.Minute)
	}
	f.service().Look(context.Background())
	if st := f.status(t); !strings.Contains(st.Deferred, "refused earlier: 3 trials ended without a verdict") {
		t.Errorf("after %d interrupted trials: %+v", statusfile.MaxTrialInterruptions, st)
	}
}

// A power cut while gokrazy writes the root, before the trial boot is
// set up, is no failed trial: the committed root reports the install as
// stopped, and the next look installs the release as if for the first
// time.
func TestInstallCutBeforeTrial(t *testing.T) {
	f := start(t, "02:00")
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 2, 1), f.boot1)
	writing, stop := make(chan struct{}), make(chan struct{})
	target, _ := url.Parse(f.svc.Gokrazy.BaseURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	cutting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/update/root" {
			close(writing)
			<-stop
			http.Error(w, "gone", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer cutting.Close()
	f.svc.Gokrazy.BaseURL = cutting.URL
	looked := make(chan struct{})
	go func() { defer close(looked); f.svc.Look(context.Background()) }()
	// The power goes while gokrazy writes the root: this updated never
	// learns how the write ended (it is released once the test is done).
	<-writing
	defer func() { close(stop); <-looked }()

	back := f.service()
	back.CheckTrial(context.Background())
	a := f.status(t).LastAttempt
	if a == nil || a.Result != updater.ResultFailed || a.Failures != 0 || a.Trial || !strings.Contains(a.Error, "before the trial boot was set up") {
		t.Fatalf("after a cut in the root write: attempt %+v", a)
	}
	back.Look(context.Background())
	if a := f.status(t).LastAttempt; a.Result != updater.ResultTrying || a.Failures != 0 || !a.Trial {
		t.Errorf("the next look: %+v; want the release on trial, no failure counted", a)
	}
}

// A trial waits for a picture and for watchdogd, and gives up at its
// deadline saying what it waited for.
func TestTrialDeadline(t *testing.T) {
	f := start(t, "02:00")
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 2, 1), f.boot1)
	f.svc.Look(context.Background())
	trial := f.onTrial(build2)
	step := func(d time.Duration) bool {
		f.now = f.now.Add(d)
		f.healthy(t, 0) // camerad runs, takes nothing
		f.writeStatus(t, "watchdogd", &statusfile.Watchdog{Healthy: false,
			Checks: []statusfile.HealthCheck{{Rule: "camera slots", Reason: "2 slots missed"}}})
		return trial.CheckTrial(context.Background())
	}
	step(0)
	if step(3 * time.Minute) {
		t.Fatal("decided without a picture")
	}
	w := f.status(t).Trial
	if w == nil || !strings.Contains(w.Waiting, "camerad to take a picture") || !strings.Contains(w.Waiting, "watchdogd: camera slots: 2 slots missed") {
		t.Errorf("trial %+v", w)
	}
	for i := 0; i < 20 && !step(time.Minute); i++ {
	}
	a := f.status(t).LastAttempt
	if a.Result != updater.ResultRolledBack || !strings.Contains(a.Error, "not healthy after 20m0s on trial: waiting for ") || !strings.Contains(a.Error, "camerad to take a picture") {
		t.Errorf("at the deadline: %+v", a)
	}
}

// A device that made trials and a switch to root B still sees that a
// release keeps its boot file system (the command lines differ only by
// gokrazy's rewrites): the release runs on trial, the boot files are
// tidied in place and the boot file system is not written.
func TestTrialAfterSwitches(t *testing.T) {
	f := start(t, "02:00")
	used := usedBootFS(t, "2", 0, strings.Repeat(" gokrazy.switch_on_boot=1   ", 11))
	if err := os.WriteFile(f.svc.Disk.Boot, used, 0o600); err != nil {
		t.Fatal(err)
	}
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 2, 1), f.boot1)
	f.svc.Look(context.Background())
	if a := f.status(t).LastAttempt; a == nil || a.Result != updater.ResultTrying || a.BootWritten {
		t.Fatalf("attempt %+v", a)
	}
	if calls := f.gokrazy.Calls(); strings.Contains(calls, "/update/boot") {
		t.Errorf("the boot file system was written: %s", calls)
	}
	dev, _ := os.ReadFile(f.svc.Disk.Boot)
	off, n, err := fat.Find(bytes.NewReader(dev), "/cmdline.txt")
	if err != nil {
		t.Fatal(err)
	}
	cmdline := string(dev[off : off+n])
	if strings.Contains(cmdline, "switch_on_boot") || !strings.Contains(cmdline, "PARTNROFF=2 init") || !strings.HasSuffix(cmdline, strings.Repeat(" ", 320)) {
		t.Errorf("cmdline.txt after the tidy: %q", cmdline)
	}
}

// The running build names the boot file system it was built with: a
// release with the same one runs on trial although the partition's bytes
// changed (a kexec reboot mounts it, and the vfat driver marks it dirty),
// and one with another is written.
func TestBootNamedByTheBuild(t *testing.T) {
	for _, same := range []bool{true, false} {
		f := start(t, "02:00")
		sum := sha256.Sum256(f.boot1)
		dirty := bytes.Clone(f.boot1)
		dirty[37] |= 1 // FAT16 boot sector state: dirty
		if err := os.WriteFile(f.svc.Disk.Boot, dirty, 0o600); err != nil {
			t.Fatal(err)
		}
		f.svc.Build.BootSHA256 = hex.EncodeToString(sum[:])
		boot := f.boot1
		if !same {
			boot = bootFS(t, "1", 9)
		}
		f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 2, 1), boot)
		f.svc.Look(context.Background())
		a := f.status(t).LastAttempt
		if a == nil || a.Trial != same || a.BootWritten == same {
			t.Errorf("same boot file system %v: attempt %+v", same, a)
		}
	}
}
