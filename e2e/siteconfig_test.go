package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
)

// siteToken is the secret of the test site, which must never show in a
// pull without -secrets.
const siteToken = "e2e-site-token-9f8e7d6c5b4a"

// e2eSite is a site configuration with one target (never sent to: nothing
// is captured without a camera) and camerad in the given mode.
func e2eSite(target, mode string) string {
	return fmt.Sprintf(`{
  "site": {"name": "e2e site", "time_zone": "UTC"},
  "camera": {"mode": %q},
  "schedule": {"interval": "1h"},
  "targets": [
    {"name": %q, "kind": "cloud", "url": "http://10.0.2.100:8081", "secret": "token"}
  ],
  "secrets": {"token": %q}
}
`, mode, target, siteToken)
}

// lapsebox runs the host tool and returns its output; it fails the test
// if the exit status is not wantOK's.
func lapsebox(t *testing.T, bin string, wantOK bool, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("lapsebox %s: %v (want success %v)\n%s", strings.Join(args, " "), err, wantOK, out)
	}
	return string(out)
}

// siteInUse is what camerad.json and uploadd.json say of the configuration.
type siteInUse struct {
	mode    string
	targets []string
}

func readSiteInUse(vm *qemu.VM) (siteInUse, error) {
	files, err := statusFiles(vm)
	if err != nil {
		return siteInUse{}, err
	}
	var cam struct {
		Mode string `json:"mode"`
	}
	var up struct {
		Targets []struct {
			Name string `json:"name"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(files["camerad"], &cam); err != nil {
		return siteInUse{}, fmt.Errorf("camerad status: %w", err)
	}
	if err := json.Unmarshal(files["uploadd"], &up); err != nil {
		return siteInUse{}, fmt.Errorf("uploadd status: %w", err)
	}
	s := siteInUse{mode: cam.Mode}
	for _, tg := range up.Targets {
		s.targets = append(s.targets, tg.Name)
	}
	return s, nil
}

// waitSite waits until camerad runs in mode and uploadd has exactly target.
func waitSite(t *testing.T, vm *qemu.VM, dev update.Device, mode, target string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	var last siteInUse
	var lastErr error
	defer func() {
		if t.Failed() {
			files, err := statusFiles(vm)
			t.Logf("status files: camerad %s, uploadd %s, %v", files["camerad"], files["uploadd"], err)
			for _, svc := range []string{"camerad", "uploadd"} {
				t.Logf("%s's log:\n%s", svc, serviceLog(dev, "/user/"+svc))
			}
		}
	}()
	for time.Now().Before(deadline) {
		s, err := readSiteInUse(vm)
		if err == nil && s.mode == mode && len(s.targets) == 1 && s.targets[0] == target {
			return time.Since(start)
		}
		last, lastErr = s, err
		time.Sleep(time.Second)
	}
	t.Fatalf("camerad in mode %q with target %q: not within 3 minutes; last seen %+v, %v", mode, target, last, lastErr)
	return 0
}

// TestSiteConfiguration is a card that deploys itself, then a change
// pushed over the network: lapsebox build -site puts the site
// configuration on /perm, the booted appliance uses it (camerad's mode,
// uploadd's target), lapsebox config pull gives it back redacted, and a
// pulled, edited file pushed with lapsebox config push is applied by
// camerad and uploadd with the device's secret kept.
func TestSiteConfiguration(t *testing.T) {
	needVM(t)
	bin := buildLapsebox(t)
	work := t.TempDir()
	configDir := filepath.Join(work, "config")
	site := filepath.Join(work, "site.json")
	if err := os.WriteFile(site, []byte(e2eSite("first-target", "capture")), 0o600); err != nil {
		t.Fatal(err)
	}

	// A file the device would refuse never makes an image.
	bad := filepath.Join(work, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(e2eSite("first-target", "capture"), `"interval": "1h"`, `"Interval": "1h"`, 1)), 0o600)
	imgPath := filepath.Join(work, "lapsebox-pc.img")
	out := lapsebox(t, bin, false, "build", "-board", "pc", "-o", imgPath, "-config-dir", configDir, "-site", bad)
	if !strings.Contains(out, bad+`: line 4: "Interval": use "interval"`) {
		t.Errorf("build -site with an old spelling:\n%s", out)
	}

	lapsebox(t, bin, true, "build", "-board", "pc", "-o", imgPath, "-config-dir", configDir, "-site", site)
	m, err := image.ReadManifest(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	off := permOffset(t, m)
	if got := debugfs(t, imgPath, off, false, "cat /lapsebox/config.json"); !strings.Contains(got, e2eSite("first-target", "capture")) {
		t.Fatalf("the image's /perm/lapsebox/config.json:\n%s", got)
	}
	if st := debugfs(t, imgPath, off, false, "stat /lapsebox/config.json"); !strings.Contains(st, "Mode:  0600") || !strings.Contains(st, "User:     0   Group:     0") {
		t.Errorf("the image's config.json is not root's with mode 0600:\n%s", st)
	}

	img := built{imgPath, m}
	var vmDisk string
	// A USB host controller and no camera: camerad starts libusb, reads
	// the configuration and waits for a camera.
	vm := boot(t, img, bootOptions{prepare: func(d string) { vmDisk = d }, extraArgs: []string{"-device", "usb-ehci,id=ehci"}})
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, m)}
	waitBuild(t, vm, dev, m.BuildTimestamp)
	waitSite(t, vm, dev, "capture", "first-target")

	device := vm.Addr("statusd")
	pwFile := m.PasswordFile
	pulled := lapsebox(t, bin, true, "config", "pull", "-device", device, "-password-file", pwFile)
	if strings.Contains(pulled, siteToken) || !strings.Contains(pulled, `"token": "[redacted]"`) || !strings.Contains(pulled, "first-target") {
		t.Fatalf("config pull:\n%s", pulled)
	}
	if out := lapsebox(t, bin, false, "config", "pull", "-device", device, "-password-file", site); !strings.Contains(out, "refused the password") {
		t.Errorf("config pull with a wrong password:\n%s", out)
	}

	// The pulled file, edited: another target, download mode. Its
	// "[redacted]" secret keeps the device's value.
	edited := filepath.Join(work, "edited.json")
	pulledFile := filepath.Join(work, "pulled.json")
	lapsebox(t, bin, true, "config", "pull", "-device", device, "-password-file", pwFile, "-o", pulledFile)
	b, err := os.ReadFile(pulledFile)
	if err != nil {
		t.Fatal(err)
	}
	b2 := strings.NewReplacer(`"first-target"`, `"second-target"`, `"mode": "capture"`, `"mode": "download"`).Replace(string(b))
	if b2 == string(b) {
		t.Fatalf("could not edit the pulled file:\n%s", b)
	}
	os.WriteFile(edited, []byte(b2), 0o600)

	// An invalid push is refused with its line and field and changes
	// nothing.
	os.WriteFile(bad, []byte(strings.Replace(b2, `"time_zone": "UTC"`, `"time_zone": "Mars/Olympus"`, 1)), 0o600)
	out = lapsebox(t, bin, false, "config", "push", "-device", device, "-config-dir", configDir, bad)
	if !strings.Contains(out, bad+`: line 2: site.time_zone: "Mars/Olympus" is not a known time zone`) {
		t.Errorf("config push of an invalid file:\n%s", out)
	}

	// -config-dir finds the password lapsebox build made for the hostname.
	out = lapsebox(t, bin, true, "config", "push", "-device", device, "-config-dir", configDir, edited)
	if !strings.Contains(out, "saved on the device") || !strings.Contains(out, "kept as config.json.prev") {
		t.Errorf("config push:\n%s", out)
	}
	took := waitSite(t, vm, dev, "download", "second-target")
	t.Logf("push to camerad and uploadd running with the new configuration: %.1fs", took.Seconds())

	pulled = lapsebox(t, bin, true, "config", "pull", "-device", device, "-password-file", pwFile)
	if strings.Contains(pulled, siteToken) || !strings.Contains(pulled, "second-target") || !strings.Contains(pulled, `"[redacted]"`) {
		t.Errorf("config pull after the push:\n%s", pulled)
	}
	full := lapsebox(t, bin, true, "config", "pull", "-device", device, "-password-file", pwFile, "-secrets")
	if !strings.Contains(full, siteToken) || !strings.Contains(full, "second-target") {
		t.Errorf("config pull -secrets after pushing a redacted file: the device's secret was not kept:\n%s", full)
	}
	vm.Stop()

	// On the disk: the new file and the one it replaced, both with the
	// device's secret and mode 0600.
	perm := extractPerm(t, vmDisk, m)
	if out, err := exec.Command("e2fsck", "-fy", "-E", "journal_only", perm).CombinedOutput(); exitCode(err) > 1 {
		t.Fatalf("e2fsck (journal replay) of /perm: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"config.json": "second-target", "config.json.prev": "first-target"} {
		if got := debugfs(t, perm, 0, false, "cat /lapsebox/"+name); !strings.Contains(got, want) || !strings.Contains(got, siteToken) {
			t.Errorf("/perm/lapsebox/%s after the push:\n%s", name, got)
		}
		if st := debugfs(t, perm, 0, false, "stat /lapsebox/"+name); !strings.Contains(st, "Mode:  0600") {
			t.Errorf("/perm/lapsebox/%s is not mode 0600:\n%s", name, st)
		}
	}
}

// serviceLog returns the end of a service's stderr as gokrazy keeps it.
// gokrazy streams the log and then waits for more: what arrives within a
// few seconds is the log so far.
func serviceLog(dev update.Device, path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", dev.BaseURL+"/log?stream=stderr&path="+url.QueryEscape(path), nil)
	if err != nil {
		return err.Error()
	}
	req.SetBasicAuth("gokrazy", dev.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20)) // ends with the deadline
	return tail(string(b), 4000)
}
