package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
)

// bigFile is the file the camera test unplugs the camera in the middle of.
const bigFile = "big/MVI_0001.MOV"

// cameraFiles are the camera's files: an empty one, sizes on 512-byte
// packet boundaries (where a device owes a zero-length packet), 51188
// bytes (data container of exactly 51200), nested folders and 100 MB: at
// camerad's pace its progress shows (once a second) before it is done.
var cameraFiles = map[string]int{
	"empty.txt":                      0,
	"DCIM/100TEST/IMG_0001.JPG":      512,
	"DCIM/100TEST/IMG_0002.JPG":      4096,
	"DCIM/100TEST/IMG_0003.JPG":      51188,
	"DCIM/100TEST/IMG_0004.JPG":      65536,
	"DCIM/100TEST/IMG_0005.JPG":      1_234_567,
	"DCIM/101TEST/deep/er/note.txt":  6,
	"DCIM/101TEST/deep/er/IMG_9.CR2": 3 << 20,
	bigFile:                          100_000_000,
}

// makeCameraDir writes files with random content under a new directory
// and returns it with each file's sha256.
func makeCameraDir(t testing.TB, files map[string]int) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	sums := map[string]string{}
	for name, size := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		sums[name] = hex.EncodeToString(sum[:])
	}
	return dir, sums
}

func buildCameraImage(t testing.TB) built {
	t.Helper()
	b, err := image.LookupBoard("pc")
	if err != nil {
		t.Fatal(err)
	}
	d, err := image.LoadDescription("testdata/camera.json")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "lapsebox-cam.img")
	m, err := image.Build(context.Background(), image.Options{
		Board: b, Description: d, Output: out, ConfigDir: t.TempDir(), Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("building the camera image: %v", err)
	}
	return built{out, m}
}

// bootCamera boots img with an EHCI bus (high speed, 512-byte packets),
// then plugs in QEMU's usb-mtp device serving dir, with id "cam": camerad
// starts downloading while the test watches.
func bootCamera(t testing.TB, img built, dir string) (*qemu.VM, string) {
	t.Helper()
	return bootCameraOn(t, img, dir, "ehci")
}

// controllers are the QEMU devices of the USB host controllers a camera
// is tried on, by the name of their bus.
var controllers = map[string]string{"ehci": "usb-ehci", "xhci": "qemu-xhci"}

// bootCameraOn is bootCamera on the host controller hc (see controllers).
func bootCameraOn(t testing.TB, img built, dir, hc string) (*qemu.VM, string) {
	t.Helper()
	b, err := image.LookupBoard(img.manifest.Board)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	vmDisk := filepath.Join(state, "disk.img")
	if err := qemu.CopyDisk(img.path, vmDisk); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: vmDisk, Board: b, StateDir: state,
		Forwards: []qemu.Forward{
			{Name: "gokrazy", GuestPort: img.manifest.HTTPPort},
			{Name: "statusd", GuestPort: 8080},
			{Name: "fileserver", GuestPort: 8081},
		},
		ExtraArgs: []string{"-device", controllers[hc] + ",id=" + hc},
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
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}
	took := waitBuild(t, vm, dev, img.manifest.BuildTimestamp)
	t.Logf("camera image: boot to status page %.1fs", took.Seconds())
	waitCamerad(t, vm, "waiting for a camera", time.Minute, func(st *statusfile.Camera) bool {
		return st.State == "waiting for camera"
	})
	if out, err := vm.Monitor("device_add " + mtpDeviceOn(dir, hc)); err != nil || out != "" {
		t.Fatalf("device_add: %q, %v", out, err)
	}
	return vm, vmDisk
}

func mtpDevice(dir string) string { return mtpDeviceOn(dir, "ehci") }

func mtpDeviceOn(dir, hc string) string {
	return "usb-mtp,id=cam,bus=" + hc + ".0,rootdir=" + dir + ",readonly=on,desc=e2ecam"
}

// statusFiles returns the status files statusd shows, by service name;
// a file statusd could not read is an error naming it.
func statusFiles(vm *qemu.VM) (map[string]json.RawMessage, error) {
	resp, err := statusdGet(vm, "/api/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var snap status.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return nil, fmt.Errorf("statusd /api/status: %w", err)
	}
	files := map[string]json.RawMessage{}
	for _, f := range snap.Files {
		if f.Error != "" {
			return nil, fmt.Errorf("%s status file: %s", f.Name, f.Error)
		}
		files[f.Name] = f.Status
	}
	return files, nil
}

// readCamerad reads camerad's status through statusd's API.
func readCamerad(vm *qemu.VM) (*statusfile.Camera, error) {
	files, err := statusFiles(vm)
	if err != nil {
		return nil, err
	}
	raw, ok := files["camerad"]
	if !ok {
		return nil, fmt.Errorf("statusd shows no camerad status yet")
	}
	var st statusfile.Camera
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("camerad status: %w", err)
	}
	st.DownloadStatus() // download-mode tests read its fields unchecked
	return &st, nil
}

// waitCamerad polls camerad's status until cond holds.
func waitCamerad(t testing.TB, vm *qemu.VM, what string, timeout time.Duration, cond func(*statusfile.Camera) bool) *statusfile.Camera {
	t.Helper()
	return waitCameradEvery(t, vm, what, 150*time.Millisecond, timeout, cond)
}

// waitCameradEvery is waitCamerad reading the status every period. Each
// read costs the guest tens of milliseconds under TCG (statusd collects a
// snapshot, gokrazy's status included), so a benchmark that counts the
// guest's CPU reads seldom.
func waitCameradEvery(t testing.TB, vm *qemu.VM, what string, every, timeout time.Duration, cond func(*statusfile.Camera) bool) *statusfile.Camera {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *statusfile.Camera
	var lastErr error
	for {
		st, err := readCamerad(vm)
		if err == nil && cond(st) {
			return st
		}
		if err == nil {
			last = st
		}
		lastErr = err
		if time.Now().After(deadline) {
			b, _ := json.Marshal(last)
			t.Fatalf("camerad: %s not within %v: last status %s, last error %v", what, timeout, b, lastErr)
		}
		select {
		case <-vm.Done():
			t.Fatalf("QEMU exited while waiting for camerad: %s: %v", what, vm.Err())
		case <-time.After(every):
		}
	}
}

// TestCameraDownload boots the appliance with QEMU's MTP device as its
// camera, unplugs and replugs the camera in the middle of the 100 MB file,
// and checks that camerad resumed and that every file on /perm matches.
func TestCameraDownload(t *testing.T) {
	needVM(t)
	dir, sums := makeCameraDir(t, cameraFiles)
	img := buildCameraImage(t)
	vm, vmDisk := bootCamera(t, img, dir)

	size := int64(cameraFiles[bigFile])
	st := waitCamerad(t, vm, "downloading "+bigFile, 3*time.Minute, func(st *statusfile.Camera) bool {
		return st.Current != nil && st.Current.Path == bigFile && st.Current.Done >= 1<<20
	})
	if st.Current.Done > size*3/4 {
		t.Logf("unplugging late: %d of %d bytes already", st.Current.Done, size)
	}
	if out, err := vm.Monitor("device_del cam"); err != nil || out != "" {
		t.Fatalf("device_del cam: %q, %v", out, err)
	}
	t.Logf("unplugged the camera at %d of %d bytes of %s", st.Current.Done, size, bigFile)
	waitCamerad(t, vm, "noticing the unplug", time.Minute, func(st *statusfile.Camera) bool {
		return st.State == "waiting for camera"
	})
	if out, err := vm.Monitor("device_add " + mtpDevice(dir)); err != nil || out != "" {
		t.Fatalf("device_add: %q, %v", out, err)
	}
	start := time.Now()
	st = waitCamerad(t, vm, "fetching every file", 3*time.Minute, func(st *statusfile.Camera) bool {
		return st.LastPass != nil && st.Reconnects > 0 && st.LastPass.Objects == len(cameraFiles) && st.LastPass.Failed == 0
	})
	t.Logf("after the replug: all files in %.1fs; status: %d files, %d bytes, %d resumed, %d reconnects, %.2f s CPU, last error %q",
		time.Since(start).Seconds(), st.FilesFetched, st.BytesFetched, st.Resumed, st.Reconnects, st.CPUSeconds, st.LastError)
	if st.FilesFetched != len(cameraFiles) {
		t.Errorf("camerad fetched %d files, the camera has %d", st.FilesFetched, len(cameraFiles))
	}
	if st.Resumed < 1 {
		t.Errorf("camerad resumed no download after the unplug")
	}
	if !strings.Contains(st.LastError, "no device") {
		t.Errorf("camerad's last error %q does not say the device went away", st.LastError)
	}
	vm.Stop()

	got := filepath.Join(t.TempDir(), "perm")
	if err := os.Mkdir(got, 0o755); err != nil {
		t.Fatal(err)
	}
	// QEMU quit under the running guest: what camerad synced is in the
	// journal, which debugfs does not read. e2fsck replays it, but only in
	// a file of its own (it reopens the device without ?offset=).
	perm := extractPerm(t, vmDisk, img.manifest)
	out, err := exec.Command("e2fsck", "-fy", "-E", "journal_only", perm).CombinedOutput()
	if code := exitCode(err); code > 1 {
		t.Fatalf("e2fsck (journal replay) of /perm: %v\n%s", err, out)
	}
	debugfs(t, perm, 0, false, "rdump /lapsebox/download "+got)
	// QEMU's only store is 0x00010001.
	stored := filepath.Join(got, "download", "00010001")
	seen := map[string]bool{}
	err = filepath.WalkDir(stored, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(stored, p)
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		want, ok := sums[rel]
		if !ok {
			t.Errorf("/perm has %s, which the camera does not (a leftover partial download?)", rel)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s: sha256 differs from the camera's (%d bytes, want %d)", rel, len(b), cameraFiles[rel])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range sums {
		if !seen[name] {
			t.Errorf("%s is missing on /perm", name)
		}
	}
}

// BenchmarkCameraDownload measures camerad downloading a 100 MB file from
// QEMU's MTP device under TCG, on EHCI and on xHCI (high speed), against
// the same file fetched by curl from the VM over its user-mode network.
// CPU per MB is given twice: the process's (camerad's, the file server's)
// and the whole guest's. The process's is not a fair comparison: the
// network's kernel work runs in softirqs charged to no process, and the
// file server sends from the page cache (sendfile) while camerad must
// write every byte into it; the guest's counts both sides alike.
func BenchmarkCameraDownload(b *testing.B) {
	const size = 100_000_000
	dir, _ := makeCameraDir(b, map[string]int{"MVI.MOV": size})
	img := buildCameraImage(b)
	for _, hc := range []string{"ehci", "xhci"} {
		b.Run(hc, func(b *testing.B) {
			var usbSec, usbCPU, usbGuest, netSec, netCPU, netGuest float64
			for i := 0; i < b.N; i++ {
				vm, _ := bootCameraOn(b, img, dir, hc)
				g0 := fileserverCPU(b, vm, "guestcpu")
				// The throughput is camerad's own figure, so reading its
				// status seldom costs it nothing, and the network's
				// window below has no reads either.
				st := waitCameradEvery(b, vm, "fetching the file", 2*time.Second, 5*time.Minute, func(st *statusfile.Camera) bool {
					return st.LastPass != nil && st.LastPass.Objects == 1 && st.FilesFetched == 1
				})
				usbGuest += fileserverCPU(b, vm, "guestcpu") - g0
				if st.LastPass.Failed != 0 || st.LastPass.Bytes != size {
					b.Fatalf("camerad pass: %+v, last error %q", *st.LastPass, st.LastError)
				}
				usbSec += st.LastPass.Seconds
				usbCPU += st.LastPass.CPUSeconds

				cpu0, g0 := fileserverCPU(b, vm, "cpu"), fileserverCPU(b, vm, "guestcpu")
				start := time.Now()
				out, err := exec.Command("curl", "-sS", "--fail", "-o", os.DevNull, "-w", "%{size_download}",
					"http://"+vm.Addr("fileserver")+"/files/00010001/MVI.MOV").CombinedOutput()
				if err != nil {
					b.Fatalf("curl: %v\n%s", err, out)
				}
				netSec += time.Since(start).Seconds()
				netGuest += fileserverCPU(b, vm, "guestcpu") - g0
				netCPU += fileserverCPU(b, vm, "cpu") - cpu0
				if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != size {
					b.Fatalf("curl fetched %s bytes, want %d", out, size)
				}
				vm.Stop()
			}
			mb := float64(size) / 1e6 * float64(b.N)
			b.ReportMetric(mb/usbSec, "MB/s-usb")
			b.ReportMetric(mb/netSec, "MB/s-net")
			b.ReportMetric(usbCPU/mb*1000, "cpu-ms/MB-usb")
			b.ReportMetric(netCPU/mb*1000, "cpu-ms/MB-net")
			b.ReportMetric(usbGuest/mb*1000, "guest-ms/MB-usb")
			b.ReportMetric(netGuest/mb*1000, "guest-ms/MB-net")
			b.ReportMetric(netSec/usbSec, "usb/net-throughput")
			b.ReportMetric(usbGuest/netGuest, "usb/net-guest-cpu")
		})
	}
}

// extractPerm copies the /perm partition of a disk image to a sparse file.
func extractPerm(t testing.TB, diskPath string, m *image.Manifest) string {
	t.Helper()
	parts, err := disk.Layout{SizeBytes: m.DiskSizeBytes, Hostname: m.Hostname, GOARCH: m.GOARCH}.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	p := parts[3]
	out := filepath.Join(t.TempDir(), "perm.ext4")
	cmd := exec.Command("dd", "if="+diskPath, "of="+out, "bs=1M", "iflag=skip_bytes,count_bytes", "conv=sparse",
		"skip="+strconv.FormatInt(p.Offset(), 10), "count="+strconv.FormatInt(p.Bytes(), 10))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("extracting /perm: %v\n%s", err, b)
	}
	return out
}

// exitCode returns a command's exit status (0 for none, -1 if it did not run).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// fileserverCPU returns the file server's CPU seconds (what "cpu") or the
// whole guest's ("guestcpu").
func fileserverCPU(b testing.TB, vm *qemu.VM, what string) float64 {
	resp, err := http.Get("http://" + vm.Addr("fileserver") + "/" + what)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, err := strconv.ParseFloat(strings.TrimSpace(string(body)), 64)
	if err != nil {
		b.Fatalf("fileserver /%s: %q: %v", what, body, err)
	}
	return v
}
