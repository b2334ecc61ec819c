package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/imagetest"
	"github.com/lapsebox/lapsebox/image/qemu"
)

// TestPushBootFilesPowerCut pushes an image with a new kernel to a PC
// with lapsebox update, as from a laptop on the site's network, and
// cuts the power while the device's updated writes the new boot files
// into the boot slot not in use (its disk behind a write cache that
// loses or keeps each unflushed page). The BIOS then boots the old
// kernel and root from the slot the tables still name. The push again,
// uninterrupted, brings the new kernel and root up through the BIOS;
// the device comes to rest on slot 0, and a cold start boots the new
// build from there. The device has no update section: pushes need
// none.
func TestPushBootFilesPowerCut(t *testing.T) {
	needVM(t)
	ctx := context.Background()
	const arg = "lapsebox.e2e=pushed"
	configDir := t.TempDir()
	base := time.Now().UTC().Truncate(time.Second)
	v1 := buildImage(t, "pc", configDir, base.Add(-time.Hour))
	kernel := imagetest.KernelDir(t, image.Boards["pc"].Kernel, 64<<10)
	v2 := buildImage(t, "pc", configDir, base, func(d *image.Description) { d.KernelArgs, d.KernelDir = append(d.KernelArgs, arg), kernel })
	if v2.manifest.Boot.SHA256 == v1.manifest.Boot.SHA256 {
		t.Fatal("v2 must change v1's boot files")
	}
	lapsebox := buildLapsebox(t)
	rig := newCutRig(t, v1, `{"site": {"name": "e2e", "time_zone": "UTC"}}`, "", nil)
	push := func(vm *qemu.VM) ([]byte, error) {
		return exec.Command(lapsebox, "update", "-o", v2.path, "-device", rig.dev.BaseURL, "-timeout", "5m",
			"-status", "http://"+vm.Addr("statusd")+"/", "-updated", "http://"+vm.Addr("updated")).CombinedOutput()
	}

	// 1. The cut, while updated writes the boot files.
	vm, _ := rig.boot(ctx, v1)
	type result struct {
		out []byte
		err error
	}
	pushed := make(chan result, 1)
	go func() { out, err := push(vm); pushed <- result{out, err} }()
	rig.cutWritingBootFiles(vm)
	if r := <-pushed; r.err == nil {
		t.Errorf("the push reported success though the power was cut while the boot files were written:\n%s", r.out)
	} else {
		t.Logf("the cut push: %v\n%s", r.err, r.out)
	}

	// 2. The old kernel and root come back, from slot 0.
	vm, _ = rig.boot(ctx, v1)
	if strings.Contains(vm.SerialOutput(), arg) {
		t.Errorf("a kernel command line with %s started after the cut: the new boot files were in use", arg)
	}

	// 3. The push again: the new kernel and root, through the BIOS.
	out, err := push(vm)
	t.Logf("the push again:\n%s", out)
	if err != nil {
		t.Fatalf("lapsebox update after the cut: %v", err)
	}
	if !strings.Contains(string(out), "updated wrote the boot files into the other boot slot") {
		t.Error("the push did not hand the boot files to updated")
	}
	if !strings.Contains(vm.SerialOutput(), arg) {
		t.Errorf("v2 runs, but no kernel command line had %s: the old kernel started it", arg)
	}
	// updated brings the device to rest on slot 0 at its start; v1 ran
	// root A, so v2 is in root B.
	waitSlot0(t, vm, rig.dev.Password, v2)
	checkAtRest(t, vm, rig.disk, arg, 2, v2)

	// 4. Cold: the BIOS boots v2 from slot 0.
	vm, _ = rig.boot(ctx, v2)
	if !strings.Contains(vm.SerialOutput(), arg) {
		t.Errorf("v2 runs after a cold start, but no kernel command line had %s", arg)
	}
}
