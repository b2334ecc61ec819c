package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/configapi"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// cloudGuestAddr is where the guest reaches cloudd on the host's loopback.
const cloudGuestAddr = "10.0.2.100:8081"

// siteConfig is the test site: a picture every 20 s, sent to cloudd.
func siteConfig(token string) string {
	return fmt.Sprintf(`{
  "site": {"name": "e2e", "time_zone": "UTC"},
  "camera": {"mode": "capture", "keep": "jpg", "min_size": 3000},
  "schedule": {"interval": "20s", "min_gap": "3s"},
  "targets": [{"name": "cloud", "kind": "cloud", "url": "http://%s", "secret": "token"}],
  "secrets": {"token": %q}
}`, cloudGuestAddr, token)
}

// applianceStatus is camerad's and uploadd's status, as statusd shows them.
type applianceStatus struct {
	camerad statusfile.Camera
	uploadd statusfile.Uploads
}

func readAppliance(vm *qemu.VM) (*applianceStatus, error) {
	files, err := statusFiles(vm)
	if err != nil {
		return nil, err
	}
	var st applianceStatus
	if raw, ok := files["camerad"]; ok {
		if err := json.Unmarshal(raw, &st.camerad); err != nil {
			return nil, fmt.Errorf("camerad status: %w", err)
		}
	}
	if raw, ok := files["uploadd"]; ok {
		if err := json.Unmarshal(raw, &st.uploadd); err != nil {
			return nil, fmt.Errorf("uploadd status: %w", err)
		}
	}
	return &st, nil
}

func waitAppliance(t *testing.T, vm *qemu.VM, what string, timeout time.Duration, cond func(*applianceStatus) bool) *applianceStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *applianceStatus
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := readAppliance(vm)
		if err == nil && cond(st) {
			return st
		}
		if err == nil {
			last = st
		}
		lastErr = err
		time.Sleep(time.Second)
	}
	if last != nil {
		t.Fatalf("%s: not within %v; camerad %+v, uploadd %+v", what, timeout, last.camerad, last.uploadd)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, lastErr)
	return nil
}

// sums maps the sha256 of every file under dir to its path.
func sums(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".json") {
			return nil
		}
		b, _ := os.ReadFile(p)
		s := sha256.Sum256(b)
		m[hex.EncodeToString(s[:])] = p
		return nil
	})
	return m
}

// startCloud starts cloudd's ingest for the device "lapsebox" with token,
// to be reached by the guest through a GuestForward; wrap, if not nil,
// wraps its handler.
func startCloud(t testing.TB, token string, wrap func(http.Handler) http.Handler) *ingesttest.Cloud {
	t.Helper()
	return ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{"lapsebox": token}, Wrap: wrap})
}

// startCamera serves a simulated camera to a VM's USB bus until the test
// ends; a copy of every picture it takes goes to the returned directory.
func startCamera(ctx context.Context, t testing.TB, cfg sim.Config) (*sim.RedirCamera, string) {
	t.Helper()
	photos := t.TempDir()
	cam, err := sim.ServeRedir(ctx, sim.RedirConfig{Sim: cfg, PhotoDir: photos})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	return cam, photos
}

// bootAppliance boots a copy of img with siteConfig on /perm, cam on its
// USB bus and cloudAddr (cloudd on the host's loopback) reachable at
// cloudGuestAddr, and waits for gokrazy to report img's build. It returns
// the VM and its disk; the VM stops when the test ends, showing its
// serial console if the test failed.
func bootAppliance(ctx context.Context, t testing.TB, img built, siteConfig, cloudAddr string, cam *sim.RedirCamera) (*qemu.VM, string) {
	t.Helper()
	b, state, vmDisk := diskWithConfig(t, img, siteConfig)
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: vmDisk, Board: b, StateDir: state,
		Forwards:  []qemu.Forward{{Name: "gokrazy", GuestPort: img.manifest.HTTPPort}, {Name: "statusd", GuestPort: 8080}},
		ToHost:    []qemu.GuestForward{{GuestAddr: cloudGuestAddr, HostAddr: cloudAddr}},
		ExtraArgs: append([]string{"-device", "usb-ehci,id=ehci"}, cam.Args()...),
	})
	if err != nil {
		t.Fatal(err)
	}
	statusdPasswords.Store(vm, password(t, img.manifest))
	t.Cleanup(func() {
		vm.Stop()
		if t.Failed() {
			t.Logf("serial console:\n%s", tail(vm.SerialOutput(), 8000))
		}
	})
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}
	waitBuild(t, vm, dev, img.manifest.BuildTimestamp)
	return vm, vmDisk
}

// TestApplianceCapturesAndUploads is the appliance at work: the default
// image, a simulated Canon EOS 600D on its USB bus through usb-redir, a
// site configuration on /perm taking a picture every 20 seconds and
// sending it to cloudd on the host. The photos on /perm and on cloudd are
// those the camera took (sha256); a hang forced into the camera makes
// camerad climb its recovery ladder and take pictures again.
func TestApplianceCapturesAndUploads(t *testing.T) {
	needVM(t)
	const token = "e2e-device-token-0123456789"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cloud := startCloud(t, token, nil)
	cam, photos := startCamera(ctx, t, sim.Config{SerialNumber: "E2E600D0001", JPEGSize: 400_000, JPEGWidth: 1280, JPEGHeight: 853})
	img := buildImage(t, "pc", t.TempDir(), time.Now())
	vm, vmDisk := bootAppliance(ctx, t, img, siteConfig(token), cloud.Addr(), cam)

	st := waitAppliance(t, vm, "three pictures taken", 3*time.Minute, func(st *applianceStatus) bool { return st.camerad.Captures >= 3 })
	lc := st.camerad.LastCapture
	t.Logf("capture: slot to durable on /perm %.2fs (release %.2fs, transfer %.2fs, write %.2fs); camerad peak RSS %.1f MB",
		lc.Total.Seconds(), lc.Release.Seconds(), lc.Transfer.Seconds(), lc.Write.Seconds(), float64(st.camerad.MaxRSSBytes)/(1<<20))

	// The camera hangs: every download stalls for a while.
	before := st.camerad.Captures
	cam.Sim.Inject(sim.Fault{Kind: sim.Stall, Op: ptp.OpGetPartialObject, Times: 6})
	st = waitAppliance(t, vm, "recovering from a hang", 4*time.Minute, func(st *applianceStatus) bool {
		return len(st.camerad.RecoveryActions) > 0 && st.camerad.Captures >= before+2
	})
	t.Logf("after the hang: %d captures, %d missed slots, recovery %+v", st.camerad.Captures, st.camerad.MissedSlots, st.camerad.RecoveryActions)

	st = waitAppliance(t, vm, "uploads drained", 3*time.Minute, func(st *applianceStatus) bool {
		return len(st.uploadd.Targets) == 1 && st.uploadd.Targets[0].Pending == 0 && st.uploadd.Targets[0].Sent >= st.camerad.Captures
	})
	captures := st.camerad.Captures

	// At rest: a schedule whose window opens in an hour or more, pushed
	// as a user would, leaves the camera open (kept awake) and nothing to
	// upload. The hour is the VM's (its status file's time): its clock
	// need not be the host's.
	h := (st.camerad.Updated.UTC().Hour() + 2) % 24
	window := fmt.Sprintf(`"min_gap": "3s", "windows": [{"start": "%02d:00", "end": "%02d:00"}]`, h, h+1)
	cfg := configapi.Device{BaseURL: "http://" + vm.Addr("statusd"), Password: password(t, img.manifest)}
	if _, err := cfg.Push(ctx, "site.json", []byte(strings.Replace(siteConfig(token), `"min_gap": "3s"`, window, 1))); err != nil {
		t.Fatalf("pushing a later window: %v", err)
	}
	st = waitAppliance(t, vm, "the later window in use", time.Minute, func(st *applianceStatus) bool {
		return time.Until(st.camerad.NextSlot) > 30*time.Minute && st.camerad.State != "capturing"
	})
	if st.camerad.Captures > captures {
		// A capture the old schedule began: its upload must be done too.
		waitAppliance(t, vm, "the last upload", time.Minute, func(st *applianceStatus) bool {
			return len(st.uploadd.Targets) == 1 && st.uploadd.Targets[0].Pending == 0
		})
		captures = st.camerad.Captures
	}
	// The rest begins once the work's memory is given back: the runtime's
	// for the capture, statusd's and uploadd's 30 s after their last
	// request or photo (internal/rest). Those releases are the end of the
	// work, not a cost of rest.
	time.Sleep(45 * time.Second)
	reportIdleUsage(t, vm, time.Minute)
	vm.Stop()

	camera := sums(t, photos)
	received := sums(t, filepath.Join(cloud.Root, "lapsebox"))
	perm := extractPerm(t, vmDisk, img.manifest)
	if out, err := exec.Command("e2fsck", "-fy", "-E", "journal_only", perm).CombinedOutput(); exitCode(err) > 1 {
		t.Fatalf("e2fsck (journal replay) of /perm: %v\n%s", err, out)
	}
	got := t.TempDir()
	debugfs(t, perm, 0, false, "rdump /lapsebox/photos "+got)
	stored := sums(t, got)

	if len(stored) < captures {
		t.Errorf("/perm holds %d photos, camerad reported %d captures", len(stored), captures)
	}
	for sum, p := range stored {
		if _, ok := camera[sum]; !ok {
			t.Errorf("/perm has %s, which the camera did not produce", p)
		}
		if _, ok := received[sum]; !ok {
			t.Errorf("%s never reached cloudd", p)
		}
	}
	if len(received) != len(stored) {
		t.Errorf("cloudd holds %d files, /perm %d photos: want each exactly once", len(received), len(stored))
	}
	t.Logf("%d pictures taken, on /perm and on cloudd, byte-identical to the camera's", len(stored))
}
