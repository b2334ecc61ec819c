// Package imagetest helps tests build images that differ from the
// default ones as a user's would.
package imagetest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// KernelDir returns a directory for image.Description.KernelDir: the
// kernel module named (a board's Kernel, at the version the working
// directory's go.mod requires), its files linked to the module's, but
// with a vmlinuz grown by grow bytes copied from within it. That changes
// the kernel as a new build of it does: mostly the same bytes, some at
// other offsets, and the files after it moved in the boot file system.
// It boots as the module's kernel does: the loaders load the whole file,
// and the kernel ignores what lies past its image.
func KernelDir(t testing.TB, module string, grow int) string {
	t.Helper()
	return kernelDir(t, module, func(vmlinuz []byte) []byte {
		if grow > len(vmlinuz)/2 {
			t.Fatalf("KernelDir: cannot grow a %d-byte kernel by %d bytes of itself", len(vmlinuz), grow)
		}
		mid := len(vmlinuz) / 2
		return append(vmlinuz, vmlinuz[mid:mid+grow]...)
	})
}

// HangingKernelDir is KernelDir with a kernel that every loader takes
// (its header is intact) and that never comes up: 64 KiB in the middle
// of its compressed image are zeroed, so that its decompressor stops,
// and the machine halts, before the kernel prints a line. Only a
// watchdog brings such a machine back.
func HangingKernelDir(t testing.TB, module string) string {
	t.Helper()
	return kernelDir(t, module, func(vmlinuz []byte) []byte {
		mid := len(vmlinuz) / 2
		clear(vmlinuz[mid : mid+64<<10])
		return vmlinuz
	})
}

func kernelDir(t testing.TB, module string, edit func(vmlinuz []byte) []byte) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", module).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", module, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: no directory in %q (%v)", module, out, err)
	}
	entries, err := os.ReadDir(mod.Dir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, e := range entries {
		if e.Name() == "vmlinuz" {
			continue
		}
		if err := os.Symlink(filepath.Join(mod.Dir, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	vmlinuz, err := os.ReadFile(filepath.Join(mod.Dir, "vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}
	vmlinuz = edit(vmlinuz)
	if err := os.WriteFile(filepath.Join(dir, "vmlinuz"), vmlinuz, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
