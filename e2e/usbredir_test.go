package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// usbredirSerial is the simulated camera's serial number.
const usbredirSerial = "E2E600D0042"

// buildUSBRedirImage builds a pc image with camerad as the camera tests
// configure it (testdata/camera.json), or, without that file, the default
// image (no camerad).
func buildUSBRedirImage(t testing.TB) (built, bool) {
	t.Helper()
	b, err := image.LookupBoard("pc")
	if err != nil {
		t.Fatal(err)
	}
	desc := "testdata/camera.json"
	if _, err := os.Stat(desc); err != nil {
		desc = ""
	}
	d, err := image.LoadDescription(desc)
	if err != nil {
		t.Fatal(err)
	}
	d.Hostname = "lapsebox-usbredir"
	camerad := slices.ContainsFunc(d.Services, func(s image.Service) bool {
		return s.Package == "github.com/lapsebox/lapsebox/cmd/camerad"
	})
	out := filepath.Join(t.TempDir(), "lapsebox-usbredir.img")
	man, err := image.Build(context.Background(), image.Options{
		Board: b, Description: d, Output: out, ConfigDir: t.TempDir(), Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("building the image: %v", err)
	}
	return built{out, man}, camerad
}

// TestUSBRedirCamera boots the pc image with the camera simulator on its
// EHCI bus through QEMU's usb-redir device, and checks from outside that
// the guest kernel enumerated a Canon EOS 600D, that camerad talks PTP to
// it through the kernel, libusb and gousb (the simulator counts the
// operations), and that an unplug and a replug are seen by both.
func TestUSBRedirCamera(t *testing.T) {
	needVM(t)
	img, camerad := buildUSBRedirImage(t)
	b, err := image.LookupBoard(img.manifest.Board)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	photos := t.TempDir()
	cam, err := sim.ServeRedir(ctx, sim.RedirConfig{
		Sim: sim.Config{
			SerialNumber: usbredirSerial,
			Files: []sim.File{
				{Path: "DCIM/100CANON/IMG_0001.JPG", Data: []byte(strings.Repeat("lapsebox", 5000))},
				{Path: "DCIM/100CANON/IMG_0002.JPG", Data: make([]byte, 512*7)}, // on a packet boundary
			},
		},
		PhotoDir: photos,
		Logf:     t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()

	state := t.TempDir()
	vmDisk := filepath.Join(state, "disk.img")
	if err := qemu.CopyDisk(img.path, vmDisk); err != nil {
		t.Fatal(err)
	}
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: vmDisk, Board: b, StateDir: state,
		Forwards:  []qemu.Forward{{Name: "gokrazy", GuestPort: img.manifest.HTTPPort}},
		ExtraArgs: append([]string{"-device", "usb-ehci,id=ehci"}, cam.Args()...),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("serial console:\n%s", tail(vm.SerialOutput(), 8000))
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := cam.WaitConnected(wctx); err != nil {
		t.Fatalf("QEMU did not connect to the camera: %v", err)
	}

	// The guest kernel enumerates the camera: idVendor, idProduct, and the
	// strings it read from the device.
	enumerated := regexp.MustCompile(`usb (\S+): New USB device found, idVendor=04a9, idProduct=3218`)
	var port string
	waitSerial(t, vm, "the kernel enumerates the camera", bootTimeout, func(log string) bool {
		m := enumerated.FindStringSubmatch(log)
		if m == nil {
			return false
		}
		port = m[1]
		return strings.Contains(log, "usb "+port+": Product: Canon Digital Camera") &&
			strings.Contains(log, "usb "+port+": Manufacturer: Canon Inc.") &&
			strings.Contains(log, "usb "+port+": SerialNumber: "+usbredirSerial)
	})
	t.Logf("enumerated as usb %s", port)

	if !camerad {
		t.Log("no cmd/camerad in this tree: PTP over usbredir not checked")
		return
	}
	// camerad finds the camera through libusb and talks PTP to it: what it
	// does next depends on its mode, so only the session is required.
	waitOps(t, cam, "camerad opens a session", 2*time.Minute, func(ops []ptp.OpCode) bool {
		i := slices.Index(ops, ptp.OpOpenSession)
		return slices.Contains(ops, ptp.OpGetDeviceInfo) && i >= 0 && len(ops) > i+1
	})
	sessions := count(cam.Sim.Ops(), ptp.OpOpenSession)

	// Unplug: the guest sees the device go; replug: a new device, and
	// camerad opens a new session.
	cam.Unplug()
	waitSerial(t, vm, "the kernel sees the camera unplugged", time.Minute, func(log string) bool {
		return strings.Contains(log, "usb "+port+": USB disconnect")
	})
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if err := cam.Replug(rctx); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, vm, "the kernel enumerates the camera again", time.Minute, func(log string) bool {
		return len(enumerated.FindAllString(log, -1)) >= 2
	})
	waitOps(t, cam, "camerad opens a new session", time.Minute, func(ops []ptp.OpCode) bool {
		return count(ops, ptp.OpOpenSession) > sessions
	})
	// Every picture camerad had the camera take was copied for comparison.
	if entries, err := os.ReadDir(photos); err != nil || len(entries) != cam.Sim.Shots() {
		t.Errorf("photo folder: %d files (%v) for %d pictures taken", len(entries), err, cam.Sim.Shots())
	}
	if v := cam.Sim.Violations(); len(v) > 0 {
		t.Errorf("PTP protocol violations seen by the camera: %q", v)
	}
	st, conns := cam.Stats()
	t.Logf("usbredir: %d connection(s), %+v; camera: %d pictures taken, operations %v",
		conns, st, cam.Sim.Shots(), cam.Sim.Ops())
}

// count counts the x in xs.
func count[T comparable](xs []T, x T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// waitSerial polls the guest's serial console until cond holds.
func waitSerial(t *testing.T, vm *qemu.VM, what string, timeout time.Duration, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(vm.SerialOutput()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		select {
		case <-vm.Done():
			t.Fatalf("QEMU exited while waiting: %s: %v", what, vm.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitOps polls the operations the simulated camera received.
func waitOps(t *testing.T, cam *sim.RedirCamera, what string, timeout time.Duration, cond func([]ptp.OpCode) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(cam.Sim.Ops()) {
		if time.Now().After(deadline) {
			st, conns := cam.Stats()
			t.Fatalf("%s: not within %v; operations %v; usbredir %d connection(s), %+v", what, timeout, cam.Sim.Ops(), conns, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
