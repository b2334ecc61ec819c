package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/imagetest"
)

// TestPullHangingKernel pulls a release whose kernel never comes up: its
// decompressor stops and the machine halts, printing nothing, as a
// kernel built wrong may. On the pc board the new kernel runs on trial
// by kexec; the kernel stops the SoC's watchdog at a reboot, kexec's
// too, unless told not to (watchdog.stop_on_reboot=0, on the pc board's
// command line): then the watchdog gokrazy's init armed (QEMU's
// i6300esb, 30 s) resets the halted machine, the BIOS boots the slot
// the tables still name, and the trial counts as failed. The second
// refuses the release, and the device stays on v1, at rest on slot 0.
func TestPullHangingKernel(t *testing.T) {
	needVM(t)
	ctx := context.Background()
	const token = "hang-token"
	cloud, rel, configDir, base := startPull(t)
	v1 := buildSigned(t, "pc", configDir, base.Add(-time.Hour), rel.pub)
	kernel := imagetest.HangingKernelDir(t, image.Boards["pc"].Kernel)
	v2 := buildSigned(t, "pc", configDir, base, rel.pub, func(d *image.Description) { d.KernelDir = kernel })
	cloud.AddDevice(t, v1.manifest.Hostname, token)
	rel.publish(t, v2, "v2")

	// No camera: nothing holds the install up.
	rig := newCutRig(t, v1, pullConfig(token), cloud.PublicAddr(), nil)
	rig.qemuArgs = append(rig.qemuArgs, "-device", "i6300esb", "-action", "watchdog=reset")
	vm, _ := rig.boot(ctx, v1)
	st := waitUpdated(t, vm, "v2 refused", 15*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return a != nil && a.Release.Version == "v2" && a.Refusal != ""
	})
	a := st.LastAttempt
	if !st.Running.Equal(v1.buildTime(t)) || a.Result != updater.ResultRolledBack || a.Failures != statusfile.MaxTrialFailures || !a.Trial || !a.BootWritten {
		t.Errorf("running %s, attempt %+v; want v1 running, v2 rolled back after %d failed trials of its boot files",
			st.Running.Format(time.RFC3339), a, statusfile.MaxTrialFailures)
	}
	console := vm.SerialOutput()
	if strings.Contains(console, "kexec reboot failed") {
		t.Errorf("gokrazy could not start the new kernel by kexec: the watchdog was never put to the test")
	}
	if n := strings.Count(console, "found hardware watchdog"); n < 1+statusfile.MaxTrialFailures {
		t.Errorf("gokrazy's init found the watchdog %d times; want one boot of v1 after each trial as well as the first", n)
	}

	// At rest on slot 0 with v1's boot files, the watchdog's argument
	// among them, naming root A, as built.
	checkAtRest(t, vm, rig.disk, "watchdog.stop_on_reboot=0", 1, v1)
}
