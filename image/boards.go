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
	// CmdlineArgs are written into every image's cmdline.txt for this
	// board, after the kernel module's own.
	CmdlineArgs []string
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
	Disk    string   // how the disk is attached: "virtio", "scsi" or "sd"
	Console string   // the guest's serial console device
	CPUs    int      // 0 = 2; some machines have a fixed number
	// SerialPort is the machine's serial port (counting from 0) that
	// carries the kernel's console; the ports before it get nothing.
	SerialPort int
	// NIC is the network device, given netdev=net0 ("" = virtio-net-pci).
	NIC string
	// DirectKernel boots vmlinuz and cmdline.txt read from the image's
	// boot FAT, QEMU playing the boot loader (used where the board's
	// firmware cannot be emulated).
	DirectKernel bool
	// DTB is the device tree, read from the boot FAT, that a direct
	// kernel boot passes to the kernel ("" = QEMU's own).
	DTB string
	// Serial0 is what the Raspberry Pi firmware writes in place of
	// console=serial0 in cmdline.txt on this machine; the kernel knows
	// no device of that name.
	Serial0 string
	// KernelArgs are added to cmdline.txt when QEMU boots the image, never
	// written into it: they work around what the emulated machine gets
	// wrong.
	KernelArgs []string
}

// Boards lists every supported board by name.
var Boards = map[string]*Board{
	"pc": {
		Name:          "pc",
		Title:         "x86-64 PC or VM (legacy BIOS and UEFI)",
		GOARCH:        "amd64",
		Kernel:        "github.com/gokrazy/kernel.amd64",
		SerialConsole: "ttyS0,115200",
		// New boot files run on trial by kexec (appliance/updater), and
		// the kernel stops the watchdog at every reboot, kexec's too:
		// a new kernel that hangs before gokrazy's init pets it again
		// would hang for good. Kept running, it resets the machine into
		// the firmware, which boots the committed slot (docs/image.md
		// §6.3).
		CmdlineArgs: []string{"watchdog.stop_on_reboot=0"},
		BIOSLoader:  true,
		EFILoader:   "/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
		EFIName:     "BOOTX64.EFI",
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
		// A Raspberry Pi 3 Model B: QEMU cannot run the VideoCore
		// firmware, so it loads the kernel and device tree from the FAT
		// as the firmware would.
		QEMU: QEMUMachine{
			Binary: "qemu-system-aarch64",
			Args:   []string{"-machine", "raspi3b", "-accel", "tcg"},
			Disk:   "sd",
			CPUs:   4, // raspi3b has exactly four
			// Port 0 is the PL011, which the Pi 3 gives to Bluetooth
			// (the device tree's serial1); port 1 is the mini UART on
			// GPIO 14/15, serial0, the console people wire up.
			SerialPort: 1,
			// QEMU's usb-net offers RNDIS first and CDC Ethernet second;
			// the Pi kernel has no RNDIS host driver, so Linux picks the
			// CDC configuration and cdc_ether drives it. A globally
			// administered MAC makes usbnet name it eth0, the interface
			// the image's DHCP client configures, rather than usb0.
			NIC:          "usb-net,mac=40:54:00:12:34:56",
			DirectKernel: true,
			DTB:          "bcm2710-rpi-3-b.dtb",
			Serial0:      "ttyS0",
			// QEMU's BCM2835 power manager resets the machine the moment
			// the watchdog is armed instead of counting down, and
			// gokrazy's init arms it as it starts: keep the driver from
			// loading under QEMU (a real Pi keeps its watchdog).
			KernelArgs: []string{"initcall_blacklist=bcm2835_wdt_driver_init"},
		},
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
