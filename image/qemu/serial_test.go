package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// A VM whose state directory Stop removes still shows its serial console
// afterwards: a failed test prints it from its cleanup, after stopping.
func TestSerialOutputAfterStop(t *testing.T) {
	testtool.Program(t, image.Boards["pc"].QEMU.Binary)
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	vm, err := Start(t.Context(), Config{Image: disk, Board: image.Boards["pc"], MemoryMB: 64})
	if err != nil {
		t.Fatal(err)
	}
	// An empty disk boots nothing: write the console's line for it.
	f, err := os.OpenFile(vm.SerialLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644) // QEMU appends too
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("Booting from Hard Disk...\n")
	f.Close()
	vm.Stop()
	if _, err := os.Stat(vm.stateDir); !os.IsNotExist(err) {
		t.Errorf("the state directory is still there after Stop: %v", err)
	}
	if out := vm.SerialOutput(); !strings.Contains(out, "Booting from Hard Disk...") {
		t.Errorf("serial output after Stop: %q", out)
	}
}
