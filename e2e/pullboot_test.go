package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/imagetest"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/internal/testtool"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// TestPullBootFilesPowerCut pulls a release with new boot files (a new
// kernel, imagetest's, and another command line) and cuts the power
// while the device writes them, and again while the new kernel runs on
// trial, behind a write cache that keeps or loses each unflushed page.
// The boot files in use are never written, and the tables name them
// until the trial passes: after each cut the BIOS boots the release the
// device ran. The trial cut counts as one failed or interrupted trial;
// the next passes, and the device commits the new boot slot and comes to
// rest on slot 0 again. A root-only release that follows runs on trial and is
// committed (gokrazy's trial flag reaches the boot files the BIOS reads),
// and a cold boot comes back on it.
func TestPullBootFilesPowerCut(t *testing.T) {
	needVM(t)
	ctx := context.Background()
	const token = "pullboot-token"
	const arg = "lapsebox.e2e=kernel2"
	cloud, rel, configDir, base := startPull(t)
	v1 := buildSigned(t, "pc", configDir, base.Add(-2*time.Hour), rel.pub)
	kernel := imagetest.KernelDir(t, image.Boards["pc"].Kernel, 64<<10)
	newBoot := func(d *image.Description) { d.KernelArgs, d.KernelDir = append(d.KernelArgs, arg), kernel }
	v2 := buildSigned(t, "pc", configDir, base.Add(-time.Hour), rel.pub, newBoot)
	v3 := buildSigned(t, "pc", configDir, base, rel.pub, newBoot)
	if v2.manifest.Boot.SHA256 == v1.manifest.Boot.SHA256 || v3.manifest.Boot.SHA256 != v2.manifest.Boot.SHA256 {
		t.Fatal("v2 must change v1's boot files, v3 keep v2's")
	}
	cloud.AddDevice(t, v1.manifest.Hostname, token)
	rel.publish(t, v2, "v2")

	camCtx, stopCam := context.WithCancel(ctx)
	defer stopCam()
	cam, _ := startCamera(camCtx, t, sim.Config{SerialNumber: "E2E600D0006", JPEGSize: 200_000, JPEGWidth: 640, JPEGHeight: 480})
	rig := newCutRig(t, v1, pullConfig(token), cloud.PublicAddr(), cam)
	boot := func(wants ...built) (*qemu.VM, built) { t.Helper(); return rig.boot(ctx, wants...) }
	rng := rig.rng

	// 1. The cut, while the boot files are written into the other slot.
	vm, _ := boot(v1)
	rig.cutWritingBootFiles(vm)

	// 2. Back on v1. The cut install was no trial; it is tried again:
	// the new kernel, started by kexec from the other slot, runs v2 on
	// trial. The second cut.
	vm, _ = boot(v1)
	st := waitUpdated(t, vm, "the cut install's record", 2*time.Minute, func(st *statusfile.Update) bool { return st.LastAttempt != nil })
	if a := st.LastAttempt; a.Failures+a.Interrupted != 0 || a.Result == updater.ResultFailed && !strings.Contains(a.Error, "boot files") {
		t.Errorf("after the cut while the boot files were written, the attempt %+v; want no trial counted, the error naming the boot files", a)
	}
	waitUpdated(t, vm, "v2 on trial", 10*time.Minute, func(st *statusfile.Update) bool {
		return st.Running.Equal(v2.buildTime(t)) && st.Trial != nil
	})
	if !strings.Contains(vm.SerialOutput(), arg) {
		t.Errorf("v2 runs on trial, but no kernel command line had %s: the old kernel started it", arg)
	}
	time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Second))))
	rig.cut(vm, "during the trial")

	// 3. The BIOS boots v1, from the boot slot the tables still name;
	// the trial failed once; the next one passes and commits.
	vm, _ = boot(v1)
	st = waitUpdated(t, vm, "v2 installed", 12*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return st.Running.Equal(v2.buildTime(t)) && a != nil && a.Release.Version == "v2" && a.Result == updater.ResultInstalled
	})
	// The cut trial is a failure if it came before updated on trial had
	// found v2 healthy, an interruption after.
	if a := st.LastAttempt; !a.BootWritten || !a.Trial || a.Failures+a.Interrupted != 1 || !st.Committed.Equal(v2.buildTime(t)) {
		t.Errorf("after the install: committed %s, attempt %+v; want v2 committed after a second trial, its boot files written",
			st.Committed.Format(time.RFC3339), a)
	} else {
		t.Logf("the cut trial counted as %d failed, %d interrupted", a.Failures, a.Interrupted)
	}

	// 4. A release that changes only the root: on trial, then committed.
	// gokrazy puts the trial flag on partition 1 as the kernel knows it,
	// which updated moved back to slot 0.
	rel.publish(t, v3, "v3")
	restartService(t, rig.dev, "/user/updated")
	st = waitUpdated(t, vm, "v3 committed after its trial", 10*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return st.Running.Equal(v3.buildTime(t)) && a != nil && a.Release.Version == "v3" && a.Result == updater.ResultInstalled
	})
	if a := st.LastAttempt; !a.Trial || a.BootWritten || a.Failures != 0 {
		t.Errorf("v3's attempt %+v; want a trial, passed, boot files untouched", a)
	}
	checkAtRest(t, vm, rig.disk, arg, 1, v3)

	// 5. Cold: the BIOS boots v3 from slot 0.
	boot(v3)
}

// TestPullBootFilesForGood pulls a release with new boot files on the
// virt board (arm64), where gokrazy's reboot does not kexec, as on the
// Pi: no kernel can be started on trial, so the boot files are written
// for good, into the slot not in use, and the tables switched to them
// only once they are flushed. A power cut while they are written leaves
// the device on v1, booted from the slot the tables still name; the
// install is tried again, the device reboots through the firmware
// (image/qemu reads the kernel from the slot MBR entry 1 names, as the
// Pi's firmware does) into v2's kernel and root, and comes to rest on
// slot 0. Then v3 brings a new kernel: its boot file system travels as a
// patch of the one the device rests on, and the device boots it.
func TestPullBootFilesForGood(t *testing.T) {
	needVM(t)
	testtool.Program(t, "qemu-system-aarch64")
	ctx := context.Background()
	const token = "forgood-token"
	const arg = "lapsebox.e2e=kernel2"
	cloud, rel, configDir, base := startPull(t)
	v1 := buildSigned(t, "virt", configDir, base.Add(-2*time.Hour), rel.pub)
	v2 := buildSigned(t, "virt", configDir, base.Add(-time.Hour), rel.pub, func(d *image.Description) { d.KernelArgs = append(d.KernelArgs, arg) })
	if v2.manifest.Boot.SHA256 == v1.manifest.Boot.SHA256 {
		t.Fatal("v2 must change v1's boot files")
	}
	// v3's kernel differs from v2's as a new build does (imagetest):
	// 256 KiB of blocks more than a device asks a patch for.
	const grow = 256 << 10
	kernel := imagetest.KernelDir(t, image.Boards["virt"].Kernel, grow)
	v3 := buildSigned(t, "virt", configDir, base, rel.pub, func(d *image.Description) {
		d.KernelArgs, d.KernelDir = append(d.KernelArgs, arg), kernel
	})
	cloud.AddDevice(t, v1.manifest.Hostname, token)
	rel.publish(t, v2, "v2")

	// No camera: nothing holds the install up.
	rig := newCutRig(t, v1, pullConfig(token), cloud.PublicAddr(), nil)
	vm, _ := rig.boot(ctx, v1)
	rig.cutWritingBootFiles(vm)
	if line := readBootFile(t, rig.disk, "/cmdline.txt"); strings.Contains(line, arg) {
		t.Errorf("after the cut, the slot the tables name has v2's command line %q", strings.TrimSpace(line))
	}

	// Back on v1 (rig.boot fails on any other build); the install is
	// tried again, and the device reboots into v2 by itself.
	vm, _ = rig.boot(ctx, v1)
	st := waitUpdated(t, vm, "v2 installed", 12*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return st.Running.Equal(v2.buildTime(t)) && a != nil && a.Release.Version == "v2" && a.Result == updater.ResultInstalled
	})
	if a := st.LastAttempt; !a.BootWritten || a.Trial || !st.Committed.Equal(v2.buildTime(t)) {
		t.Errorf("after the install: committed %s, attempt %+v; want v2 committed, its boot files written for good, no trial",
			st.Committed.Format(time.RFC3339), a)
	}
	if !strings.Contains(vm.SerialOutput(), arg) {
		t.Errorf("v2 runs, but no kernel command line had %s: v1's kernel started it", arg)
	}
	// At rest on slot 0: updated copies slot 1 there at its start, before
	// it records the install.
	checkAtRest(t, vm, rig.disk, arg, 2, v2)

	// Cold: the firmware boots v2 from slot 0, and updated's first look
	// finds v3.
	rel.publish(t, v3, "v3")
	vm, _ = rig.boot(ctx, v2)
	st = waitUpdated(t, vm, "v3 installed", 12*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return st.Running.Equal(v3.buildTime(t)) && a != nil && a.Release.Version == "v3" && a.Result == updater.ResultInstalled
	})
	a := st.LastAttempt
	t.Logf("v3's new kernel: %d bytes of patches, %d bytes of blocks, %d reused", a.PatchBytes, a.FetchedBytes, a.ReusedBytes)
	if !a.BootWritten || a.PatchBytes == 0 || a.PatchBytes+a.FetchedBytes > grow/4 {
		t.Errorf("v3 installed with %d bytes of patches and %d of blocks, boot written %v; want its boot files by a patch, under %d bytes in all",
			a.PatchBytes, a.FetchedBytes, a.BootWritten, grow/4)
	}
	checkAtRest(t, vm, rig.disk, arg, 1, v3)
	rig.boot(ctx, v3)
}

// checkAtRest stops vm and checks that its disk is at rest: both tables
// name boot slot 0, whose command line has arg, no trial flag, and the
// root nroff partitions after the boot partition (1: root A, 2: root B);
// and that slot 0 read as built (bootconf.AsBuiltView, what a patch of
// the boot file system applies to) is img's boot file system.
func checkAtRest(t *testing.T, vm *qemu.VM, diskPath, arg string, nroff int, img built) {
	t.Helper()
	if err := vm.Stop(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(diskPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if mbr, gpt, err := disk.Slots(f); err != nil || mbr != 0 || gpt != 0 {
		t.Errorf("at rest the tables name boot slots %d (MBR) and %d (GPT), %v; want 0", mbr, gpt, err)
	}
	line := readBootFile(t, diskPath, "/cmdline.txt")
	if !strings.Contains(line, arg) || !strings.Contains(line, fmt.Sprintf("/PARTNROFF=%d ", nroff)) || strings.Contains(line, "try_boot") {
		t.Errorf("slot 0's cmdline.txt %q: want the new boot files (%s) naming root partition %d after the boot partition, no trial flag",
			strings.TrimSpace(line), arg, nroff)
	}
	slot0 := io.NewSectionReader(f, disk.BootSlotStart(0)*disk.SectorSize, disk.BootSectors*disk.SectorSize)
	got, _, err := bootconf.SumAsBuilt(slot0)
	if err != nil {
		t.Fatal(err)
	}
	if want := img.manifest.Boot.SHA256; got != want {
		t.Errorf("slot 0 read as built has sha256 %.12s, want the release's boot file system %.12s: a patch of it would not apply", got, want)
		logBootDiff(t, img, slot0)
	}
}

// cutWritingBootFiles cuts the power while updated writes a release's
// boot files into the slot the tables do not name: inside the write that
// leaves 2 MiB of that slot in the disk's cache unflushed (the boot files
// are 16 MiB and more). Nothing else writes there: a device at rest uses
// slot 0 alone. Watching the status and the cache from here instead may
// miss a write flushed within milliseconds, and then cut a trial.
func (r *cutRig) cutWritingBootFiles(vm *qemu.VM) {
	t := r.t
	t.Helper()
	f, err := os.Open(r.disk)
	if err != nil {
		t.Fatal(err)
	}
	mbr, gpt, err := disk.Slots(f)
	f.Close()
	if err != nil || mbr != gpt {
		t.Fatalf("before the install the tables name boot slots %d (MBR) and %d (GPT), %v", mbr, gpt, err)
	}
	const bootSlot = disk.BootSectors * disk.SectorSize
	fired := vm.Cache.CutWhen(disk.BootSlotStart(1-mbr)*disk.SectorSize, bootSlot, 512)
	var res qemu.CutResult
	select {
	case res = <-fired:
	case <-vm.Done():
		t.Fatalf("QEMU exited before updated wrote the boot files: %v", vm.Err())
	case <-time.After(8 * time.Minute):
		st, err := readUpdated(vm)
		b, _ := json.Marshal(st)
		t.Fatalf("updated wrote no 2 MiB of boot files into slot %d within 8 minutes; status %s (%v)", 1-mbr, b, err)
	}
	if err := vm.Stop(); res.Err == nil {
		res.Err = err
	}
	if res.Err != nil {
		t.Fatalf("cut while the boot files were written: %v", res.Err)
	}
	t.Logf("power cut while the boot files were written into slot %d: %d unflushed pages lost, %d kept", 1-mbr, res.Lost, res.Kept)
}

// logBootDiff logs where the boot slot slot0, read as built, differs
// from img's boot file system.
func logBootDiff(t *testing.T, img built, slot0 io.ReaderAt) {
	f, err := os.Open(img.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, img.manifest.Boot.Size)
	got := make([]byte, len(want))
	view, err := bootconf.AsBuiltView(slot0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(want, img.manifest.Boot.Offset); err != nil {
		t.Fatal(err)
	}
	if view.Size() != int64(len(want)) {
		t.Logf("slot 0's file system is %d bytes, the release's %d", view.Size(), len(want))
	}
	if _, err := view.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	// Runs of differing bytes, each with the built bytes around it.
	n, runs := 0, 0
	for i := 0; i < len(want); i++ {
		if got[i] == want[i] {
			continue
		}
		j := i
		for j < len(want) && got[j] != want[j] {
			j++
		}
		if runs < 10 {
			t.Logf("bytes %d to %d differ: built %q, slot 0 %q", i, j, want[i:min(j, i+48)], got[i:min(j, i+48)])
		}
		n, runs, i = n+j-i, runs+1, j
	}
	t.Logf("%d bytes differ in %d runs", n, runs)
}
