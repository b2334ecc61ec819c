package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// newDevice matches the guest kernel's line for a device it enumerated,
// with its port and device number.
var newDevice = regexp.MustCompile(`usb (\S+): new high-speed USB device number (\d+)`)

// deviceNumbers returns the device numbers the guest's kernel gave, in
// order.
func deviceNumbers(serial string) []string {
	var nums []string
	for _, m := range newDevice.FindAllStringSubmatch(serial, -1) {
		nums = append(nums, m[2])
	}
	return nums
}

// TestCameraReenumeratedAfterPowerCycle is the camera behind its relay,
// as on site: a power cycle takes it off the USB bus, and when the power
// comes back the guest's kernel enumerates it anew, with another device
// number. The camera cannot focus until a power cycle cures it; camerad
// climbs its recovery ladder to the power cycle (recorded by watchdogd:
// the VM has no relay), and the test, playing the relay's load, unplugs
// the camera from the VM's bus (usb-redir) while camerad waits for it to
// boot, and plugs it in again. camerad must find the camera at its new
// address by its serial number and take pictures again: twice, so that
// the second ladder also resets the port of a re-enumerated camera.
func TestCameraReenumeratedAfterPowerCycle(t *testing.T) {
	needVM(t)
	const token = "e2e-device-token-relay-0123456"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cloud := startCloud(t, token, nil)
	cam, _ := startCamera(ctx, t, sim.Config{SerialNumber: "E2E600D0003", JPEGSize: 200_000, JPEGWidth: 640, JPEGHeight: 480})
	img := buildImage(t, "pc", t.TempDir(), time.Now())
	vm, _ := bootAppliance(ctx, t, img, fastConfig(token, 10*time.Second), cloud.Addr(), cam)
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}
	defer func() {
		if t.Failed() {
			t.Logf("camerad's log:\n%s", serviceLog(dev, "/user/camerad"))
		}
	}()

	st := waitAppliance(t, vm, "a picture", 3*time.Minute, func(st *applianceStatus) bool { return st.camerad.Captures >= 1 })
	nums := deviceNumbers(vm.SerialOutput())
	if len(nums) != 1 {
		t.Fatalf("the kernel enumerated %d devices before the power cycle, want the camera: %v", len(nums), nums)
	}
	t.Logf("camera enumerated as device number %s", nums[0])

	for round := 1; round <= 2; round++ {
		cam.Sim.SetFocus(false)
		cycles := count(actions(st), "power cycle")
		// Polled often: camerad waits the power's off time and the
		// camera's boot (15 s) after asking for the power cycle.
		deadline := time.Now().Add(4 * time.Minute)
		for {
			now, err := readAppliance(vm)
			if err == nil {
				st = now
				if count(actions(st), "power cycle") > cycles {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no power cycle within 4m; camerad %+v (%v)", round, st.camerad, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The relay cuts the power: the camera leaves the bus. camerad
		// closed its session before asking for the power cycle, and
		// must not have opened another since.
		cam.Unplug()
		ops := cam.Sim.Ops()
		if lastIndex(ops, ptp.OpOpenSession) > lastIndex(ops, ptp.OpCloseSession) {
			t.Fatalf("round %d: the camera was not closed when its power was cut: operations %v", round, ops)
		}
		waitSerial(t, vm, "the kernel sees the camera leave", time.Minute, func(log string) bool {
			return strings.Count(log, "USB disconnect") >= round
		})
		// The power is back: the camera boots, cured, and is enumerated
		// anew.
		cam.Sim.SetFocus(true)
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		err := cam.Replug(rctx)
		rcancel()
		if err != nil {
			t.Fatal(err)
		}
		waitSerial(t, vm, "the kernel enumerates the camera again", time.Minute, func(log string) bool {
			return len(deviceNumbers(log)) > round
		})
		nums = deviceNumbers(vm.SerialOutput())
		if nums[round] == nums[round-1] {
			t.Fatalf("round %d: the camera came back with the same device number %s", round, nums[round])
		}
		before := st.camerad.Captures
		st = waitAppliance(t, vm, "pictures after the power cycle", 2*time.Minute, func(st *applianceStatus) bool {
			return st.camerad.Captures >= before+2
		})
		t.Logf("round %d: device number %s after the power cycle; ladder %v; %d pictures since", round, nums[round], actions(st), st.camerad.Captures-before)
		if r := st.camerad.Recovery; r.Alert || r.ConsecutiveFailures != 0 {
			t.Errorf("round %d: after pictures again the ladder says %+v", round, r)
		}
		if c := st.camerad.Camera; c == nil || !c.Connected || c.Serial != "E2E600D0003" {
			t.Errorf("round %d: camera %+v", round, c)
		}
	}
	if v := cam.Sim.Violations(); len(v) > 0 {
		t.Errorf("PTP protocol violations seen by the camera: %q", v)
	}
}

// lastIndex returns the index of the last x in xs, -1 if none.
func lastIndex[T comparable](xs []T, x T) int {
	for i := len(xs) - 1; i >= 0; i-- {
		if xs[i] == x {
			return i
		}
	}
	return -1
}
