// Package e2e tests the whole appliance: it builds real images, boots them
// under QEMU and checks them from outside, the way a person at a laptop
// would: gokrazy's status page, statusd, a camera on the VM's USB bus,
// uploads arriving on the host, and an over-the-air update to a second
// build.
package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/fat"
	"github.com/lapsebox/lapsebox/image/imagetest"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// bootTimeout bounds a boot under TCG on a loaded two-core machine; a
// healthy pc image answers in about ten seconds.
const bootTimeout = 3 * time.Minute

type built struct {
	path     string
	manifest *image.Manifest
}

// buildTime is img's build timestamp, as the device reports it.
func (img built) buildTime(t testing.TB) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, img.manifest.BuildTimestamp)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// needVM skips t under -short, and needs what building and booting a pc
// image and looking into its disk take. Tests of other boards and
// firmware need theirs on top.
func needVM(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	testtool.Programs(t, "qemu-system-x86_64", "mksquashfs", "mkfs.ext4", "debugfs", "e2fsck", "curl")
}

// buildImage builds the default image description for board, changed by
// edits.
func buildImage(t testing.TB, board, configDir string, ts time.Time, edits ...func(*image.Description)) built {
	t.Helper()
	return buildSigned(t, board, configDir, ts, nil, edits...)
}

// buildSigned is buildImage with the public release key baked in (nil:
// none).
func buildSigned(t testing.TB, board, configDir string, ts time.Time, key ed25519.PublicKey, edits ...func(*image.Description)) built {
	t.Helper()
	b, err := image.LookupBoard(board)
	if err != nil {
		t.Fatal(err)
	}
	d, err := image.LoadDescription("")
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range edits {
		edit(d)
	}
	out := filepath.Join(t.TempDir(), "lapsebox-"+board+".img")
	m, err := image.Build(context.Background(), image.Options{
		Board: b, Description: d, Output: out, ConfigDir: configDir, Timestamp: ts, ReleaseKey: key,
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("building %s image: %v", board, err)
	}
	return built{out, m}
}

func password(t testing.TB, m *image.Manifest) string {
	t.Helper()
	b, err := os.ReadFile(m.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// bootOptions vary how a test boots.
type bootOptions struct {
	prepare   func(disk string) // changes the VM's copy of the disk before boot
	uefi      bool
	extraArgs []string // more QEMU arguments (devices)
}

// boot copies the image (the guest writes to its disk) and starts a VM.
func boot(t testing.TB, img built, opts bootOptions) *qemu.VM {
	t.Helper()
	b, err := image.LookupBoard(img.manifest.Board)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vmDisk := filepath.Join(dir, "disk.img")
	if err := qemu.CopyDisk(img.path, vmDisk); err != nil {
		t.Fatal(err)
	}
	if opts.prepare != nil {
		opts.prepare(vmDisk)
	}
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: vmDisk, Board: b, StateDir: dir, UEFI: opts.uefi, ExtraArgs: opts.extraArgs,
		Forwards: []qemu.Forward{
			{Name: "gokrazy", GuestPort: img.manifest.HTTPPort},
			{Name: "statusd", GuestPort: 8080},
			{Name: "updated", GuestPort: 8081},
		},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	statusdPasswords.Store(vm, password(t, img.manifest))
	t.Cleanup(func() {
		cancel()
		vm.Stop()
		if t.Failed() {
			t.Logf("serial console:\n%s", tail(vm.SerialOutput(), 6000))
		}
	})
	return vm
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitBuild polls gokrazy until it reports build; it returns how long that took.
func waitBuild(t testing.TB, vm *qemu.VM, dev update.Device, build string) time.Duration {
	t.Helper()
	_, d := waitBuilds(t, vm, dev, build)
	return d
}

// waitBuilds is waitBuild for a device that may come up on any of
// builds; it returns the one it runs.
func waitBuilds(t testing.TB, vm *qemu.VM, dev update.Device, builds ...string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	// QEMU accepts forwarded connections before the guest listens and
	// holds them until its own retransmission: a poll started then
	// answers late or not at all. So a new poll starts every 100 ms while
	// earlier ones wait, and the first answer's time is the measurement,
	// to within 100 ms.
	type result struct {
		st  *update.DeviceStatus
		err error
		at  time.Time
	}
	results := make(chan result, 64)
	poll := func() {
		pollCtx, cancelPoll := context.WithTimeout(ctx, 2*time.Second)
		st, err := update.Status(pollCtx, dev)
		cancelPoll()
		results <- result{st, err, time.Now()}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	inFlight := 1
	go poll()
	var last error
	for {
		select {
		case r := <-results:
			inFlight--
			if r.err == nil && slices.Contains(builds, r.st.BuildTimestamp) {
				return r.st.BuildTimestamp, r.at.Sub(start)
			}
			if r.err == nil {
				r.err = fmt.Errorf("device runs build %s", r.st.BuildTimestamp)
			}
			last = r.err
		case <-tick.C:
			if inFlight < cap(results)/2 {
				inFlight++
				go poll()
			}
		case <-vm.Done():
			t.Fatalf("QEMU exited while waiting for build %s: %v", strings.Join(builds, " or "), vm.Err())
		case <-ctx.Done():
			t.Fatalf("device did not report build %s within %v: %v", strings.Join(builds, " or "), bootTimeout, last)
		}
	}
}

// checkGokrazy checks the status page's authentication and that every
// supervised program runs.
func checkGokrazy(t *testing.T, vm *qemu.VM, dev update.Device, services []string) {
	t.Helper()
	url := "http://" + vm.Addr("gokrazy") + "/"
	for _, tc := range []struct {
		name     string
		password string
		want     int
	}{
		{"no password", "", http.StatusUnauthorized},
		{"wrong password", "not-" + dev.Password, http.StatusUnauthorized},
		{"right password", dev.Password, http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", url, nil)
		if tc.password != "" {
			req.SetBasicAuth("gokrazy", tc.password)
		}
		// The answer is what is checked, not the link: the raspi3b's
		// emulated USB network has dropped a connection right after
		// the page first answered (an EOF). One more try.
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Logf("status page, %s: %v; trying again", tc.name, err)
			time.Sleep(time.Second)
			resp, err = http.DefaultClient.Do(req)
		}
		if err != nil {
			t.Fatalf("status page, %s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("status page, %s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}

	// Services start right after the status page comes up; give a crashing
	// one the time to show it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := update.Status(context.Background(), dev)
		if err != nil {
			t.Fatal(err)
		}
		var notRunning []string
		for _, want := range append([]string{"/gokrazy/dhcp", "/gokrazy/ntp", "/gokrazy/randomd"}, services...) {
			s := st.Service(want)
			switch {
			case s == nil:
				notRunning = append(notRunning, want+" (missing)")
			case s.Stopped || s.Pid == 0:
				notRunning = append(notRunning, fmt.Sprintf("%s (stopped %v, pid %d)", want, s.Stopped, s.Pid))
			}
		}
		if len(notRunning) == 0 && time.Since(st.Services[0].StartTime) > 0 {
			if st.PermDev == "" || st.PermTotal == 0 {
				t.Errorf("gokrazy reports no /perm: PermDev %q, PermTotal %d", st.PermDev, st.PermTotal)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("services not running: %s", strings.Join(notRunning, ", "))
		}
		time.Sleep(time.Second)
	}
}

// checkStatusd checks the appliance's own status API against the manifest.
func checkStatusd(t *testing.T, vm *qemu.VM, m *image.Manifest) {
	t.Helper()
	var snap map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := statusdGet(vm, "/api/status")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(body, &snap); err != nil {
					t.Fatalf("statusd /api/status: %v\n%s", err, body)
				}
				break
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("statusd /api/status: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	raw, _ := json.Marshal(snap)
	for _, want := range []string{`"` + m.Hostname + `"`, m.BuildTimestamp, "ext4", "/user/statusd"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("statusd /api/status lacks %s:\n%s", want, raw)
		}
	}
	if strings.Contains(string(raw), password(t, m)) {
		t.Error("statusd /api/status shows the HTTP password")
	}
	// Like gokrazy's page: nothing but /healthz without the password.
	for _, path := range []string{"/", "/api/status", "/metrics", "/latest.jpg"} {
		resp, err := http.Get("http://" + vm.Addr("statusd") + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("statusd %s without the password: HTTP %d, want 401", path, resp.StatusCode)
		}
	}
	resp, err := statusdGet(vm, "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), m.Hostname) {
		t.Errorf("statusd page: HTTP %d, hostname %q not shown", resp.StatusCode, m.Hostname)
	}
}

// diskWithConfig copies img for a VM (the guest writes to its disk) into
// a new state directory and puts the site configuration on its /perm.
func diskWithConfig(t testing.TB, img built, siteJSON string) (b *image.Board, state, vmDisk string) {
	t.Helper()
	b, err := image.LookupBoard(img.manifest.Board)
	if err != nil {
		t.Fatal(err)
	}
	state = t.TempDir()
	vmDisk = filepath.Join(state, "disk.img")
	if err := qemu.CopyDisk(img.path, vmDisk); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgFile, []byte(siteJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	off := permOffset(t, img.manifest)
	debugfs(t, vmDisk, off, true, "mkdir lapsebox")
	debugfs(t, vmDisk, off, true, "write "+cfgFile+" lapsebox/config.json")
	return b, state, vmDisk
}

func permOffset(t testing.TB, m *image.Manifest) int64 {
	parts, err := disk.Layout{SizeBytes: m.DiskSizeBytes, Hostname: m.Hostname, GOARCH: m.GOARCH}.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	return parts[3].Offset()
}

// debugfs runs an e2fsprogs debugfs request against /perm inside a disk image.
func debugfs(t testing.TB, diskPath string, offset int64, write bool, request string) string {
	t.Helper()
	args := []string{"-R", request}
	if write {
		args = append([]string{"-w"}, args...)
	}
	out, err := exec.Command("debugfs", append(args, diskPath+"?offset="+strconv.FormatInt(offset, 10))...).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %s: %v\n%s", request, err, out)
	}
	return string(out)
}

func readBootFile(t testing.TB, diskPath, name string) string {
	t.Helper()
	f, err := os.Open(diskPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	slot, _, err := disk.Slots(f)
	if err != nil {
		t.Fatal(err)
	}
	boot := io.NewSectionReader(f, disk.BootSlotStart(slot)*disk.SectorSize, disk.BootSectors*disk.SectorSize)
	off, n, err := fat.Find(boot, name)
	if err != nil {
		t.Fatalf("%s in the boot partition: %v", name, err)
	}
	buf := make([]byte, n)
	if _, err := boot.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}

// buildLapsebox compiles the host tool, so that the update is tested
// through the command a person runs.
func buildLapsebox(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lapsebox")
	root, err := image.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/lapsebox")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building lapsebox: %v\n%s", err, out)
	}
	return bin
}

func TestPCBootAndUpdate(t *testing.T) {
	needVM(t)
	configDir := t.TempDir()
	v1 := buildImage(t, "pc", configDir, time.Now())
	dev := update.Device{Password: password(t, v1.manifest)}

	// Data on /perm that two boots and an update must leave alone.
	marker := filepath.Join(t.TempDir(), "marker")
	want := "photo store placeholder " + v1.manifest.BuildTimestamp
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	var vmDisk string
	vm := boot(t, v1, bootOptions{prepare: func(d string) {
		vmDisk = d
		debugfs(t, d, permOffset(t, v1.manifest), true, "write "+marker+" e2e-marker")
	}})
	dev.BaseURL = "http://" + vm.Addr("gokrazy")
	took := waitBuild(t, vm, dev, v1.manifest.BuildTimestamp)
	t.Logf("pc: boot to status page %.1fs", took.Seconds())
	checkGokrazy(t, vm, dev, defaultServices)
	checkStatusd(t, vm, v1.manifest)

	// v2 is a signed release, pushed with lapsebox update -signed: a
	// manifest signed by a key the host does not trust sends nothing.
	lapsebox := buildLapsebox(t)
	keyDir := t.TempDir()
	for _, k := range []string{"release-key", "other-key"} {
		if out, err := exec.Command(lapsebox, "keygen", "-o", filepath.Join(keyDir, k)).CombinedOutput(); err != nil {
			t.Fatalf("lapsebox keygen: %v\n%s", err, out)
		}
	}
	pub, err := release.ReadPublicKey(filepath.Join(keyDir, "release-key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := buildSigned(t, "pc", configDir, time.Now().Add(time.Second), pub)
	if v2.manifest.BuildTimestamp == v1.manifest.BuildTimestamp {
		t.Fatal("two builds share a build timestamp")
	}
	signed := filepath.Join(keyDir, "v2.release")
	if out, err := exec.Command(lapsebox, "release", "-o", v2.path, "-key", filepath.Join(keyDir, "release-key"),
		"-version", "v2", "-save", signed).CombinedOutput(); err != nil {
		t.Fatalf("lapsebox release -save: %v\n%s", err, out)
	}
	out, err := exec.Command(lapsebox, "update", "-o", v2.path, "-device", dev.BaseURL, "-signed", signed,
		"-trust", filepath.Join(keyDir, "other-key.pub")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not trust") {
		t.Fatalf("lapsebox update -signed with a release signed by an untrusted key: %v\n%s", err, out)
	}
	if st, err := update.Status(context.Background(), dev); err != nil || st.BuildTimestamp != v1.manifest.BuildTimestamp {
		t.Fatalf("after a refused push the device runs %v (%v), want v1", st, err)
	}
	start := time.Now()
	cmd := exec.Command(lapsebox, "update", "-o", v2.path, "-device", dev.BaseURL, "-timeout", "5m", "-timings",
		"-status", "http://"+vm.Addr("statusd")+"/",
		"-signed", signed, "-trust", filepath.Join(keyDir, "release-key.pub"))
	out, err = cmd.CombinedOutput()
	t.Logf("lapsebox update:\n%s", out)
	if err != nil {
		t.Fatalf("lapsebox update: %v", err)
	}
	if !strings.Contains(string(out), "is release v2, signed by") {
		t.Errorf("lapsebox update -signed does not say which release it pushes")
	}
	if !strings.Contains(string(out), "features the device supports partuuid, updatehash") {
		t.Errorf("lapsebox update does not say which features the device has")
	}
	// v1 and v2 share their boot files: the push leaves the boot
	// partition alone but for gokrazy's switch of root= (below).
	if !strings.Contains(string(out), "the device's boot partition holds the image's boot files") || strings.Contains(string(out), "timing boot ") ||
		!strings.Contains(string(out), "timing root ") {
		t.Errorf("lapsebox update wrote the boot files the device has, or no root")
	}
	for _, line := range strings.Split(string(out), "\n") {
		if len(strings.Fields(line)) == 1 {
			t.Errorf("lapsebox update printed a step without a word about it: %q", line)
		}
	}
	t.Logf("pc: OTA update end to end %.1fs", time.Since(start).Seconds())
	st, err := update.Status(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if st.BuildTimestamp != v2.manifest.BuildTimestamp {
		t.Fatalf("after the update the device runs %s, want %s", st.BuildTimestamp, v2.manifest.BuildTimestamp)
	}
	checkGokrazy(t, vm, dev, defaultServices)
	checkStatusd(t, vm, v2.manifest)

	// v3 on trial (gokrazy's testboot), into root A: it runs once; a
	// reboot without a commit is back on v2, a commit keeps v3.
	v3 := buildImage(t, "pc", configDir, time.Now().Add(2*time.Second))
	trial := func() {
		t.Helper()
		f, err := os.Open(v3.path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img := update.Image{Root: io.NewSectionReader(f, v3.manifest.Root.Offset, v3.manifest.Root.Size),
			BuildTimestamp: v3.manifest.BuildTimestamp, Trial: true}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		if err := update.Push(ctx, dev, img, nil); err != nil {
			t.Fatalf("pushing v3 on trial: %v", err)
		}
		t.Logf("pc: v3 pushed and running on trial in %.1fs", time.Since(start).Seconds())
	}
	reboot := func(want built, why string) {
		t.Helper()
		if err := update.Reboot(context.Background(), dev); err != nil {
			t.Fatalf("reboot %s: %v", why, err)
		}
		waitNotBuild(t, dev, v3.manifest.BuildTimestamp) // down, whatever comes up
		waitBuild(t, vm, dev, want.manifest.BuildTimestamp)
	}
	trial()
	checkGokrazy(t, vm, dev, defaultServices)
	checkStatusd(t, vm, v3.manifest)
	reboot(v2, "without a commit")
	t.Logf("pc: after a reboot without a commit the device runs v2 again")
	trial()
	if err := update.Commit(context.Background(), dev); err != nil {
		t.Fatalf("committing v3: %v", err)
	}
	reboot(v3, "after the commit")
	checkGokrazy(t, vm, dev, defaultServices)
	pushKernel(t, vm, dev, lapsebox, configDir)
	vm.Stop()

	// v2 went to root B, v3 to root A, committed, v4 to root B.
	for _, f := range []string{"/cmdline.txt", "/loader/entries/gokrazy.conf"} {
		if got := readBootFile(t, vmDisk, f); !strings.Contains(got, "/PARTNROFF=2 ") || strings.Contains(got, "try_boot_inactive") {
			t.Errorf("after v4's push %s does not point at root B alone: %q", f, got)
		}
	}
	if got := debugfs(t, vmDisk, permOffset(t, v1.manifest), false, "cat /e2e-marker"); !strings.Contains(got, want) {
		t.Errorf("/perm/e2e-marker after the update: %q, want %q", got, want)
	}
	// gokrazy made the services' home directories on /perm while it ran.
	if got := debugfs(t, vmDisk, permOffset(t, v1.manifest), false, "ls -l /home"); !strings.Contains(got, "statusd") {
		t.Errorf("/perm/home has no statusd directory: the device did not use /perm:\n%s", got)
	}
}

// pushKernel pushes v4, an image with a new kernel (imagetest: one that
// differs as a new build does), to the pc dev runs in vm, with lapsebox
// update: the device's boot partition holds other boot files, so the push
// hands them, with the MBR's boot code that finds the new kernel, to
// updated, which writes them into the boot slot not in use and switches
// the tables to it; gokrazy writes nothing over the boot files in use.
// The device comes back on v4 through the BIOS, updated brings it to rest
// on slot 0, and it comes back on v4 through the BIOS from there; statusd
// reads v4's boot file system on its boot partition each time.
func pushKernel(t *testing.T, vm *qemu.VM, dev update.Device, lapsebox, configDir string) {
	t.Helper()
	kernel := imagetest.KernelDir(t, image.Boards["pc"].Kernel, 64<<10)
	v4 := buildImage(t, "pc", configDir, time.Now().Add(3*time.Second), func(d *image.Description) { d.KernelDir = kernel })
	statusURL := "http://" + vm.Addr("statusd") + "/"
	out, err := exec.Command(lapsebox, "update", "-o", v4.path, "-device", dev.BaseURL, "-timeout", "5m", "-timings",
		"-status", statusURL, "-updated", "http://"+vm.Addr("updated")).CombinedOutput()
	t.Logf("lapsebox update (a new kernel):\n%s", out)
	if err != nil {
		t.Fatalf("lapsebox update: %v", err)
	}
	if !strings.Contains(string(out), "the device's boot partition holds other boot files") || !strings.Contains(string(out), "timing boot ") ||
		!strings.Contains(string(out), "updated wrote the boot files into the other boot slot") || strings.Contains(string(out), "timing mbr ") {
		t.Errorf("lapsebox update did not hand v4's new boot files to updated")
	}
	waitBuild(t, vm, dev, v4.manifest.BuildTimestamp)
	waitSlot0(t, vm, dev.Password, v4)
	if err := update.RebootFirmware(context.Background(), dev); err != nil {
		t.Fatalf("reboot through the BIOS: %v", err)
	}
	waitNotBuild(t, dev, v4.manifest.BuildTimestamp)
	waitBuild(t, vm, dev, v4.manifest.BuildTimestamp)
	waitSlot0(t, vm, dev.Password, v4)
	checkGokrazy(t, vm, dev, defaultServices)
}

// waitSlot0 waits up to a minute for the device in vm to rest on boot
// slot 0 with img's boot files, as its statusd reads them (password:
// the device's). statusd starts after gokrazy's page answers, and
// updated brings the device to rest on slot 0 at its start.
func waitSlot0(t *testing.T, vm *qemu.VM, password string, img built) {
	t.Helper()
	var b *status.BootFiles
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		b, err = status.FetchBoot(ctx, "http://"+vm.Addr("statusd")+"/", password)
		cancel()
		if err == nil && b.SHA256 == img.manifest.Boot.SHA256 && b.Slot == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("build %s up: statusd's boot files: %v", img.manifest.BuildTimestamp, err)
	}
	t.Errorf("build %s up: statusd reads boot files %.12s in slot %d, want its own %.12s in slot 0",
		img.manifest.BuildTimestamp, b.SHA256, b.Slot, img.manifest.Boot.SHA256)
}

// waitNotBuild waits until the device no longer answers with build:
// it went down for a reboot (and may be up again with another).
func waitNotBuild(t *testing.T, dev update.Device, build string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := update.Status(ctx, dev)
		cancel()
		if err != nil || st.BuildTimestamp != build {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the device still runs %s 3 minutes after its reboot", build)
}

func TestVirtBoot(t *testing.T) {
	needVM(t)
	testtool.Program(t, "qemu-system-aarch64")
	bootDefault(t, "virt")
}

// bootDefault builds and boots the default image for board and checks
// gokrazy's page and statusd.
func bootDefault(t *testing.T, board string) (*qemu.VM, built) {
	t.Helper()
	img := buildImage(t, board, t.TempDir(), time.Now())
	vm := boot(t, img, bootOptions{})
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}
	took := waitBuild(t, vm, dev, img.manifest.BuildTimestamp)
	t.Logf("%s: boot to status page %.1fs", board, took.Seconds())
	checkGokrazy(t, vm, dev, defaultServices)
	checkStatusd(t, vm, img.manifest)
	return vm, img
}

// TestRPiBoot boots the Raspberry Pi image under QEMU's raspi3b machine
// (kernel, device tree and command line from the image's FAT, as the
// firmware would load them; the SD card, its partitions, the squashfs root
// and /perm as on the board) and reaches it over a USB network device. No
// update: the emulated USB network carries about 60 KB/s, and an update
// sends some 90 MiB (docs/image.md §2.4).
func TestRPiBoot(t *testing.T) {
	needVM(t)
	testtool.Programs(t, "qemu-system-aarch64", "mcopy")
	vm, img := bootDefault(t, "rpi")
	// The console is the mini UART (serial0, GPIO 14/15): userland's
	// output must reach it, not only the kernel's.
	serial := vm.SerialOutput()
	for _, want := range []string{"gokrazy build timestamp " + img.manifest.BuildTimestamp, "lapsebox " + img.manifest.Hostname + " on Raspberry Pi 3 Model B"} {
		if !strings.Contains(serial, want) {
			t.Errorf("the serial console lacks %q:\n%s", want, tail(serial, 3000))
		}
	}
}

// TestPCUEFIBoot boots the pc image through OVMF and Debian's systemd-boot,
// the path of PCs without a legacy BIOS.
func TestPCUEFIBoot(t *testing.T) {
	needVM(t)
	testtool.File(t, image.Boards["pc"].EFILoader)
	testtool.File(t, qemu.OVMFCode)
	img := buildImage(t, "pc", t.TempDir(), time.Now())
	vm := boot(t, img, bootOptions{uefi: true})
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}
	took := waitBuild(t, vm, dev, img.manifest.BuildTimestamp)
	t.Logf("pc (UEFI): boot to status page %.1fs", took.Seconds())
	if serial := vm.SerialOutput(); !strings.Contains(serial, "efi: EFI v") {
		t.Errorf("the kernel did not report UEFI firmware; serial log:\n%s", tail(serial, 3000))
	}
	checkGokrazy(t, vm, dev, defaultServices)
}

// defaultServices are the appliance's programs in the default image.
var defaultServices = []string{"/user/statusd", "/user/camerad", "/user/uploadd", "/user/modemd", "/user/watchdogd", "/user/updated"}
