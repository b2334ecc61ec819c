package image

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/fat"
)

// cmdlinePadding follows the command line's newline: room for gokrazy to
// rewrite it in place. A switch of roots keeps its length; a trial boot
// (/update/testboot) puts " gokrazy.try_boot_inactive=1" before every
// newline, and the boot that follows turns it into
// " gokrazy.switch_on_boot=1" for good, so each trial uses up some 28
// bytes: nine fit, and updated tidies the flags away before each trial
// (bootconf). The newline is what testboot needs (gokrazy's tool writes
// none, and its testboot then does nothing); the BIOS loader reads one
// sector of cmdline.txt, which bounds the whole (maxCmdline), and leaves
// the arguments 255 bytes.
const cmdlinePadding = 256

// maxCmdline is what the BIOS loader reads of cmdline.txt: one sector.
const maxCmdline = 512

var rootArg = regexp.MustCompile(`root=/dev/(sda2|mmcblk0p2)\b`)

// kernelCmdline builds cmdline.txt from the kernel module's own line: root
// by partition UUID, the consoles, and rootwait instead of a fixed
// rootdelay (ten seconds saved on every boot).
func kernelCmdline(b *Board, d *Description, kernelLine string) (string, error) {
	line := strings.TrimSpace(kernelLine)
	if !rootArg.MatchString(line) {
		return "", fmt.Errorf("kernel cmdline.txt %q has no root=/dev/sda2 or root=/dev/mmcblk0p2 to point at the root partition", line)
	}
	line = rootArg.ReplaceAllString(line, "root=PARTUUID="+disk.PartUUID(d.Hostname, 1).String()+"/PARTNROFF=1")
	args := strings.Fields(line)
	for i, a := range args {
		if strings.HasPrefix(a, "rootdelay=") {
			args[i] = "rootwait"
		}
	}
	consoles := []string{"console=tty1"}
	serial := d.SerialConsole
	if serial == "" {
		serial = b.SerialConsole
	}
	if serial != "off" {
		consoles = append(consoles, "console="+serial)
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range slices.Concat(consoles, args, b.CmdlineArgs, d.KernelArgs) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	cmdline := strings.Join(out, " ") + "\n" + strings.Repeat(" ", cmdlinePadding)
	if len(cmdline) > maxCmdline {
		return "", fmt.Errorf("kernel command line %q is %d bytes with its padding for updates; the BIOS loader reads %d", strings.Join(out, " "), len(cmdline), maxCmdline)
	}
	return cmdline, nil
}

// bootEntry is systemd-boot's entry for cmdline. gokrazy rewrites it as
// it rewrites cmdline.txt, trial flags included: those go before every
// newline, so the lines that end in one are those a flag may follow
// (the options, and the title), and the kernel's path comes last, where
// the padding follows it and nothing is ever added to it.
func bootEntry(cmdline string) string {
	line, pad, _ := strings.Cut(cmdline, "\n")
	return "options " + line + "\ntitle gokrazy\nlinux /vmlinuz" + pad
}

// bootInputs are the module directories a boot file system is made from.
type bootInputs struct {
	kernelDir, firmwareDir, eepromDir string
	bootloader                        []byte // Minimal Linux Bootloader, for BIOS boards
	efiLoader                         []byte // systemd-boot, for UEFI
}

// bootFS is a built boot file system and the MBR boot code that finds its
// kernel.
type bootFS struct {
	image    []byte
	bootCode [disk.BootCodeSize]byte
	cmdline  string
}

// pseudoVersionTime is the commit time in a module directory's
// pseudo-version ("kernel.amd64@v0.0.0-20260705070735-de680abf072b").
var pseudoVersionTime = regexp.MustCompile(`-(\d{14})-[0-9a-f]{12}$`)

// modTime is the time stamped on the boot file system's files and the
// EEPROM's .sig: the newest commit time of the modules it is made of, so
// that two builds from the same kernel and firmware write the same boot
// file system (an update then leaves it alone, and a release that keeps
// it can run on trial). A directory without a pseudo-version (a
// Description's KernelDir) counts with the newest modification time of
// its files; one that cannot be read, with the build's time.
func (in bootInputs) modTime(build time.Time) time.Time {
	var t time.Time
	for _, dir := range []string{in.kernelDir, in.firmwareDir, in.eepromDir} {
		if dir == "" {
			continue
		}
		mt, ok := dirTime(dir)
		if !ok {
			return build
		}
		if mt.After(t) {
			t = mt
		}
	}
	if t.IsZero() {
		return build
	}
	return t
}

// dirTime is the commit time in dir's pseudo-version, else the newest
// modification time of the files directly in dir, symbolic links
// followed (a kernel built elsewhere is often linked in).
func dirTime(dir string) (time.Time, bool) {
	if m := pseudoVersionTime.FindStringSubmatch(dir); m != nil {
		t, err := time.Parse("20060102150405", m[1])
		return t, err == nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, false
	}
	var t time.Time
	for _, e := range entries {
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			return time.Time{}, false
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if mt := info.ModTime().UTC(); mt.After(t) {
			t = mt
		}
	}
	return t, !t.IsZero()
}

// makeBootFS writes the FAT16 boot file system of an image: the kernel and
// its device trees, the Pi firmware and EEPROM updates, cmdline.txt,
// config.txt and the systemd-boot entry, in the order gokrazy's tool uses.
func makeBootFS(b *Board, d *Description, in bootInputs, mtime time.Time) (*bootFS, error) {
	w := fat.NewWriter(fat.Options{Label: "GOKRAZY", VolumeID: disk.Signature(d.Hostname), ModTime: mtime})
	added := map[string]bool{}
	add := func(name string, data []byte) error {
		if added[name] {
			// The kernel's device-tree overlay wins over the firmware's copy.
			return nil
		}
		added[name] = true
		if err := w.AddFile(name, data); err != nil {
			return fmt.Errorf("boot file system: %w", err)
		}
		return nil
	}
	addGlob := func(dir, pattern, under string) error {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		sort.Strings(matches)
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				return err
			}
			if err := add(under+filepath.Base(m), data); err != nil {
				return err
			}
		}
		return nil
	}

	vmlinuz, err := os.ReadFile(filepath.Join(in.kernelDir, "vmlinuz"))
	if err != nil {
		return nil, fmt.Errorf("reading the kernel: %w", err)
	}
	if err := add("/vmlinuz", vmlinuz); err != nil {
		return nil, err
	}
	for _, g := range []struct{ pattern, under string }{{"*.dtb", "/"}, {"overlays/*.dtbo", "/overlays/"}, {"overlays/overlay_map.dtb", "/overlays/"}} {
		if err := addGlob(in.kernelDir, g.pattern, g.under); err != nil {
			return nil, err
		}
	}
	if in.firmwareDir != "" {
		for _, pattern := range []string{"*.bin", "*.dat", "*.elf", "*.upd", "*.sig"} {
			if err := addGlob(in.firmwareDir, pattern, "/"); err != nil {
				return nil, err
			}
		}
		if err := addGlob(in.firmwareDir, "overlays/*.dtbo", "/overlays/"); err != nil {
			return nil, err
		}
	}
	if in.eepromDir != "" {
		if err := addEEPROM(add, in.eepromDir, mtime); err != nil {
			return nil, err
		}
	}

	kernelLine, err := os.ReadFile(filepath.Join(in.kernelDir, "cmdline.txt"))
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's command line: %w", err)
	}
	cmdline, err := kernelCmdline(b, d, string(kernelLine))
	if err != nil {
		return nil, err
	}
	if err := add("/cmdline.txt", []byte(cmdline)); err != nil {
		return nil, err
	}
	config, err := os.ReadFile(filepath.Join(in.kernelDir, "config.txt"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if b.Firmware != "" && d.SerialConsole != "off" {
		// The Pi's mini UART is the serial console people debug with.
		config = bytes.ReplaceAll(config, []byte("enable_uart=0"), []byte("enable_uart=1"))
	}
	if err := add("/config.txt", config); err != nil {
		return nil, err
	}
	// gokrazy rewrites root= in this entry too when it switches roots, so it
	// exists on every board.
	if err := add("/loader/entries/gokrazy.conf", []byte(bootEntry(cmdline))); err != nil {
		return nil, err
	}
	if in.efiLoader != nil {
		if err := add("/EFI/BOOT/"+b.EFIName, in.efiLoader); err != nil {
			return nil, err
		}
	}

	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("writing boot file system: %w", err)
	}
	if buf.Len() > disk.BootSectors*disk.SectorSize {
		return nil, fmt.Errorf("boot file system is %d bytes, the boot partition holds %d", buf.Len(), disk.BootSectors*disk.SectorSize)
	}
	fs := &bootFS{image: buf.Bytes(), cmdline: cmdline}
	var vmlinuzLBA, cmdlineLBA uint32
	if in.bootloader != nil {
		// The BIOS loader reads raw sectors: both files must be contiguous,
		// which fat.Find checks the way the device will.
		r := bytes.NewReader(fs.image)
		for _, f := range []struct {
			name string
			lba  *uint32
		}{{"/vmlinuz", &vmlinuzLBA}, {"/cmdline.txt", &cmdlineLBA}} {
			off, _, err := fat.Find(r, f.name)
			if err != nil {
				return nil, fmt.Errorf("boot file system: %w", err)
			}
			*f.lba = uint32(disk.FirstPartitionSector + off/disk.SectorSize)
		}
	}
	if fs.bootCode, err = disk.BootCode(in.bootloader, vmlinuzLBA, cmdlineLBA, disk.Signature(d.Hostname)); err != nil {
		return nil, err
	}
	return fs, nil
}

// addEEPROM adds the newest Raspberry Pi 4/5 bootloader EEPROM image and
// VL805 USB firmware with their .sig files, and recovery.bin, which flashes
// them when they are newer than what the board runs.
func addEEPROM(add func(string, []byte) error, dir string, mtime time.Time) error {
	newest := func(pattern string) (string, error) {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil || len(m) == 0 {
			return "", fmt.Errorf("EEPROM module %s has no %s", dir, pattern)
		}
		sort.Strings(m) // the names sort by date or version
		return m[len(m)-1], nil
	}
	for _, f := range []struct{ pattern, name string }{{"pieeprom-*.bin", "pieeprom.upd"}, {"vl805-*.bin", "vl805.bin"}} {
		src, err := newest(f.pattern)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		sig := fmt.Sprintf("%x\nts: %d\n", sha256.Sum256(data), mtime.Unix())
		if err := add("/"+f.name, data); err != nil {
			return err
		}
		if err := add("/"+strings.TrimSuffix(strings.TrimSuffix(f.name, ".upd"), ".bin")+".sig", []byte(sig)); err != nil {
			return err
		}
	}
	recovery, err := os.ReadFile(filepath.Join(dir, "recovery.bin"))
	if err != nil {
		return fmt.Errorf("EEPROM module: %w", err)
	}
	return add("/recovery.bin", recovery)
}
