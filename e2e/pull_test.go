package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// pullConfig is siteConfig with pulled updates at any hour, trials of
// at most 4 minutes, and a health model that takes a service missing for
// 90 s for dead (the default, 2 min, only makes the test longer; every
// service rewrites its status file well within 90 s).
func pullConfig(token string) string {
	return fmt.Sprintf(`{
  "site": {"name": "e2e", "time_zone": "UTC"},
  "camera": {"mode": "capture", "keep": "jpg", "min_size": 3000},
  "schedule": {"interval": "20s", "min_gap": "3s"},
  "targets": [{"name": "cloud", "kind": "cloud", "url": "http://%s", "secret": "token"}],
  "update": {"channel": "stable", "window_start": "00:00", "window_end": "00:00", "poll_every": "10m", "trial_time": "4m"},
  "hardware": {"health": {"stale_after": "90s"}},
  "secrets": {"token": %q}
}`, cloudGuestAddr, token)
}

// startPull starts what every pull test needs: a cloudd on the host, a
// releaser publishing to it, a configuration directory for the test's
// builds (one password and key for all), and a time to date them by.
func startPull(t *testing.T) (*servertest.Cloud, *releaser, string, time.Time) {
	t.Helper()
	cloud := servertest.Start(t, server.Config{}, server.Options{})
	return cloud, newReleaser(t, cloud), t.TempDir(), time.Now().UTC().Truncate(time.Second)
}

// releaser publishes releases with the real lapsebox command: a release
// key made by lapsebox keygen, cloudd's operator password in a file.
type releaser struct {
	lapsebox, key, pwFile, server string
	pub                           ed25519.PublicKey
}

func newReleaser(t testing.TB, cloud *servertest.Cloud) *releaser {
	t.Helper()
	dir := t.TempDir()
	r := &releaser{lapsebox: buildLapsebox(t), key: filepath.Join(dir, "release-key"),
		pwFile: filepath.Join(dir, "operator-password"), server: cloud.URL}
	if out, err := exec.Command(r.lapsebox, "keygen", "-o", r.key).CombinedOutput(); err != nil {
		t.Fatalf("lapsebox keygen: %v\n%s", err, out)
	}
	var err error
	if r.pub, err = release.ReadPublicKey(r.key + ".pub"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.pwFile, []byte(cloud.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// publish publishes img on the stable channel as version, and logs
// what lapsebox release printed.
func (r *releaser) publish(t testing.TB, img built, version string) {
	t.Helper()
	out, err := exec.Command(r.lapsebox, "release", "-o", img.path, "-server", r.server, "-key", r.key,
		"-password-file", r.pwFile, "-channel", "stable", "-version", version).CombinedOutput()
	if err != nil {
		t.Fatalf("lapsebox release %s: %v\n%s", version, err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// readUpdated reads updated's status through statusd.
func readUpdated(vm *qemu.VM) (*statusfile.Update, error) {
	files, err := statusFiles(vm)
	if err != nil {
		return nil, err
	}
	raw, ok := files["updated"]
	if !ok {
		return nil, fmt.Errorf("statusd shows no updated status yet")
	}
	var st statusfile.Update
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("updated status: %w", err)
	}
	return &st, nil
}

// waitUpdated polls updated's status until cond holds, through the
// reboots an update makes (statusd is away meanwhile), and logs each
// new state it sees.
func waitUpdated(t testing.TB, vm *qemu.VM, what string, timeout time.Duration, cond func(*statusfile.Update) bool) *statusfile.Update {
	t.Helper()
	return waitUpdatedEvery(t, vm, what, timeout, 2*time.Second, cond)
}

// waitUpdatedEvery is waitUpdated polling every interval.
func waitUpdatedEvery(t testing.TB, vm *qemu.VM, what string, timeout, every time.Duration, cond func(*statusfile.Update) bool) *statusfile.Update {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *statusfile.Update
	var lastErr error
	seen := ""
	for time.Now().Before(deadline) {
		st, err := readUpdated(vm)
		if err == nil {
			say := st.State
			if a := st.LastAttempt; a != nil {
				say += fmt.Sprintf(", last attempt %s: %s", a.Release.Version, a.Result)
				if a.Error != "" {
					say += " (" + a.Error + ")"
				}
			}
			if tr := st.Trial; tr != nil {
				say += ", trial waits for " + tr.Waiting
			}
			if say != seen {
				t.Logf("updated: running %s: %s", st.Running.Format(time.RFC3339), say)
				seen = say
			}
			if cond(st) {
				return st
			}
			last = st
		}
		if err != nil && (lastErr == nil || err.Error() != lastErr.Error()) {
			// A root on trial that nobody can read is a finding too.
			t.Logf("updated: status unreadable: %v", err)
		}
		lastErr = err
		select {
		case <-vm.Done():
			t.Fatalf("%s: QEMU exited: %v", what, vm.Err())
		case <-time.After(every):
		}
	}
	b, _ := json.Marshal(last)
	t.Fatalf("%s: not within %v; last status %s (%v)", what, timeout, b, lastErr)
	return nil
}

// TestPullUpdate is a device on a crane pulling its releases: the
// default image (v1), with a release key baked in and an update section
// in its site configuration, takes pictures of a simulated camera and
// sends them to a cloudd on the host. A release whose camerad cannot
// start (v2) is published with `lapsebox release`: the device pulls it,
// boots it on trial, finds camerad dead, returns to v1 by itself,
// tries once more, and then refuses v2 for good. A good release (v3)
// follows: it is pulled (a patch from v1's root travels), boots on
// trial, commits itself once healthy, and stays after a reboot. v1 is a
// published release: each later root travels as a patch from it.
func TestPullUpdate(t *testing.T) {
	needVM(t)
	ctx := context.Background()
	const token = "pull-token"
	cloud, rel, configDir, base := startPull(t)
	pub := rel.pub
	v1 := buildSigned(t, "pc", configDir, base.Add(-2*time.Hour), pub)
	cloud.AddDevice(t, v1.manifest.Hostname, token)
	bad := buildSigned(t, "pc", configDir, base.Add(-time.Hour), pub, func(d *image.Description) {
		for i, s := range d.Services {
			if strings.HasSuffix(s.Package, "/cmd/camerad") {
				d.Services[i].Flags = append(slices.Clone(s.Flags), "-no-such-flag")
			}
		}
	})
	v3 := buildSigned(t, "pc", configDir, base, pub)
	publish := func(img built, version string) { t.Helper(); rel.publish(t, img, version) }

	// v1 is a published release too, so that cloudd can patch its root
	// into the next ones. The broken release is there when the device
	// first looks.
	publish(v1, "v1")
	publish(bad, "v2-broken")
	camCtx, stopCam := context.WithCancel(ctx)
	defer stopCam()
	cam, _ := startCamera(camCtx, t, sim.Config{SerialNumber: "E2E600D0004", JPEGSize: 200_000, JPEGWidth: 640, JPEGHeight: 480})
	vm, _ := bootAppliance(ctx, t, v1, pullConfig(token), cloud.PublicAddr(), cam)
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, v1.manifest)}

	// The broken release: two trials, each rolled back, then refused.
	st := waitUpdated(t, vm, "v2 refused after two failed trials", 12*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return st.Running.Equal(v1.buildTime(t)) && a != nil && a.Release.Version == "v2-broken" &&
			a.Result == updater.ResultRolledBack && a.Failures == statusfile.MaxTrialFailures
	})
	if a := st.LastAttempt; !strings.Contains(a.Error, "camerad") || !strings.Contains(a.Refusal, "failed its trial 2 times") || !a.Trial {
		t.Errorf("the failed trials' record: %+v", a)
	}
	if !st.Committed.Equal(v1.buildTime(t)) {
		t.Errorf("committed build %s, want v1's", st.Committed.Format(time.RFC3339))
	}
	s, err := update.Status(ctx, dev)
	if err != nil || s.BuildTimestamp != v1.manifest.BuildTimestamp {
		t.Fatalf("gokrazy reports build %v (%v), want v1's", s, err)
	}

	// The good release: on trial, then committed. The device would find
	// it at its next look, a poll (10 min at least) later; a restart of
	// updated looks within a minute.
	publish(v3, "v3")
	restartService(t, dev, "/user/updated")
	st = waitUpdated(t, vm, "v3 committed", 8*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return st.Running.Equal(v3.buildTime(t)) && a != nil && a.Release.Version == "v3" && a.Result == updater.ResultInstalled
	})
	a := st.LastAttempt
	if !st.Committed.Equal(v3.buildTime(t)) || st.Trial != nil || !a.Trial || a.BootWritten {
		t.Errorf("after the commit: %+v, attempt %+v", st, a)
	}
	rootFile, err := os.Stat(v3.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("v1 → v3: root %d KiB, a patch of %d bytes, %d KiB of blocks fetched, %d KiB reused from the running root, %d KiB staged (patched or resumed); the whole image is %d KiB",
		a.RootBytes>>10, a.PatchBytes, a.FetchedBytes>>10, a.ReusedBytes>>10, a.ResumedBytes>>10, rootFile.Size()>>10)
	// v3 differs from v1 in its build's data only: the patch makes the
	// whole root, and no block travels.
	if a.PatchBytes <= 0 || a.PatchBytes > a.RootBytes/1000 || a.FetchedBytes != 0 || a.ResumedBytes != a.RootBytes {
		t.Errorf("patch %d bytes, %d of %d root bytes fetched as blocks, %d staged: want the root made by a patch under 0.1 %% of it",
			a.PatchBytes, a.FetchedBytes, a.RootBytes, a.ResumedBytes)
	}

	// Committed: a reboot stays on v3.
	if err := update.Reboot(ctx, dev); err != nil {
		t.Fatal(err)
	}
	waitNotBuild(t, dev, v3.manifest.BuildTimestamp) // down
	waitBuild(t, vm, dev, v3.manifest.BuildTimestamp)
}
