package image

import (
	"fmt"
	"sort"
	"strings"
)

// Board is a kind of machine an image can be built for.
type Board struct {
	// Name is what `make image BOARD=…` and `lapsebox build -board` take.
	Name string
	// Title describes the board for people.
	Title string
	// GOARCH is the architecture every binary is built for.
	GOARCH string
	// Kernel is the Go module holding vmlinuz, device trees, modules and
	// the kernel's cmdline.txt and config.txt.
	Kernel string
	// Firmware and EEPROM are the Raspberry Pi boot firmware modules.
	Firmware, EEPROM string
	// SerialConsole is the default kernel serial console.
	SerialConsole string
	// BIOSLoader puts the Minimal Linux Bootloader into the MBR so that a
	// PC's legacy BIOS boots vmlinuz straight from the FAT.
	BIOSLoader bool
	// EFILoader names systemd-boot, as Debian's systemd-boot-efi package
	// installs it, to put at /EFI/BOOT/<EFIName> for UEFI firmware.
	EFILoader, EFIName string
	// QEMU is how `lapsebox vm` runs the board.
	QEMU QEMUMachine
}

// QEMUMachine is the emulated machine for a board.
type QEMUMachine struct {
	Binary  string   // qemu-system-x86_64
	Args    []string // machine, CPU, firmware
	Disk    string   // how the disk is attached: "virtio" or "scsi"
	Console string   // the guest's serial console device
	// DirectKernel boots vmlinuz and cmdline.txt read from the image's
	// boot FAT, QEMU playing the boot loader (used where the board's
	// firmware cannot be emulated).
	DirectKernel bool
}

// Boards lists every supported board by name.
var Boards = map[string]*Board{
	"pc": {
		Name:          "pc",
		Title:         "x86-64 PC or VM (legacy BIOS and UEFI)",
		GOARCH:        "amd64",
		Kernel:        "github.com/gokrazy/kernel.amd64",
		SerialConsole: "ttyS0,115200",
		BIOSLoader:    true,
		EFILoader:     "/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
		EFIName:       "BOOTX64.EFI",
		QEMU: QEMUMachine{
			Binary: "qemu-system-x86_64",
			Args:   []string{"-machine", "pc", "-accel", "tcg", "-cpu", "max"},
			Disk:   "virtio",
		},
	},
	"rpi": {
		Name:          "rpi",
		Title:         "Raspberry Pi 3, 4, 5 and Zero 2 W",
		GOARCH:        "arm64",
		Kernel:        "github.com/gokrazy/kernel.rpi",
		Firmware:      "github.com/gokrazy/firmware",
		EEPROM:        "github.com/gokrazy/rpi-eeprom",
		SerialConsole: "serial0,115200",
	},
	"virt": {
		Name:          "virt",
		Title:         "arm64 generic (QEMU virt, UEFI arm64 machines)",
		GOARCH:        "arm64",
		Kernel:        "github.com/gokrazy/kernel.arm64",
		SerialConsole: "ttyAMA0,115200",
		EFILoader:     "/usr/lib/systemd/boot/efi/systemd-bootaa64.efi",
		EFIName:       "BOOTAA64.EFI",
		QEMU: QEMUMachine{
			Binary:       "qemu-system-aarch64",
			Args:         []string{"-machine", "virt", "-accel", "tcg", "-cpu", "max"},
			Disk:         "virtio",
			DirectKernel: true,
		},
	},
}

// LookupBoard returns the board called name.
func LookupBoard(name string) (*Board, error) {
	if b, ok := Boards[name]; ok {
		return b, nil
	}
	names := make([]string, 0, len(Boards))
	for n := range Boards {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown board %q: want one of %s", name, strings.Join(names, ", "))
}
