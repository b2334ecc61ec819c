package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/fat"
	"github.com/lapsebox/lapsebox/image/imagetest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds an image; skipped with -short")
	}
	testtool.Programs(t, tools...)
}

func testBuild(t *testing.T, board string, d *Description, permFiles map[string][]byte) (string, *Manifest) {
	t.Helper()
	if d == nil {
		var err error
		if d, err = LoadDescription(""); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), board+".img")
	m, err := Build(context.Background(), Options{
		Board: Boards[board], Description: d, Output: out, ConfigDir: t.TempDir(),
		Timestamp: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		PermFiles: permFiles,
	})
	if err != nil {
		t.Fatalf("Build(%s): %v", board, err)
	}
	return out, m
}

func extract(t *testing.T, img string, r Region) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := VerifyRegion(io.NewSectionReader(f, r.Offset, r.Size), r); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "region")
	b := make([]byte, r.Size)
	if _, err := f.ReadAt(b, r.Offset); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testtool.Program(t, name), args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestBuildPC(t *testing.T) {
	needTools(t, "unsquashfs", "fsck.vfat", "sgdisk", "mtype")
	site := []byte(`{"site": {"name": "built in", "time_zone": "UTC"}}`)
	img, m := testBuild(t, "pc", nil, map[string][]byte{"lapsebox/config.json": site})

	if out := run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v: %s", out)
	}
	// The site configuration given to the build is on /perm, root's, 0600.
	parts, err := disk.Layout{SizeBytes: m.DiskSizeBytes, Hostname: m.Hostname, GOARCH: m.GOARCH}.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	if got := debugfsRequest(t, img, parts[3].Offset(), false, "cat /lapsebox/config.json"); !strings.Contains(got, string(site)) {
		t.Errorf("/perm/lapsebox/config.json = %q, want %q", got, site)
	}
	if st := debugfsRequest(t, img, parts[3].Offset(), false, "stat /lapsebox/config.json"); !strings.Contains(st, "Mode:  0600") || !strings.Contains(st, "User:     0   Group:     0") {
		t.Errorf("/perm/lapsebox/config.json:\n%s", st)
	}
	fsck(t, img, parts[3].Offset())

	root := extract(t, img, m.Root)
	listing := run(t, "unsquashfs", "-l", "-d", "", root)
	for _, want := range []string{"/gokrazy/init", "/gokrazy/dhcp", "/gokrazy/ntp", "/gokrazy/randomd", "/user/statusd",
		"/etc/hostname", "/etc/ssl/ca-bundle.pem", "/etc/gokr-pw.txt", "/etc/http-port.txt", "/lib/modules/", "/perm", "/var"} {
		if !strings.Contains(listing, want) {
			t.Errorf("root file system lacks %s:\n%s", want, listing)
		}
	}
	unpacked := filepath.Join(t.TempDir(), "root")
	run(t, "unsquashfs", "-d", unpacked, root, "/etc")
	if b, _ := os.ReadFile(filepath.Join(unpacked, "etc/hostname")); string(b) != "lapsebox" {
		t.Errorf("/etc/hostname = %q", b)
	}
	pw, _ := os.ReadFile(m.PasswordFile)
	if b, _ := os.ReadFile(filepath.Join(unpacked, "etc/gokr-pw.txt")); string(b) != strings.TrimSpace(string(pw)) || len(b) < 16 {
		t.Errorf("/etc/gokr-pw.txt = %q, want the %d-byte password from %s", b, len(pw), m.PasswordFile)
	}
	if b, _ := os.ReadFile(filepath.Join(unpacked, "etc/ssl/ca-bundle.pem")); !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
		t.Error("/etc/ssl/ca-bundle.pem holds no certificates")
	}

	boot := extract(t, img, m.Boot)
	if out := run(t, "fsck.vfat", "-n", boot); strings.Contains(out, "differ") || strings.Contains(out, "wrong") {
		t.Errorf("fsck.vfat -n: %s", out)
	}
	cmdline := run(t, "mtype", "-i", boot, "::/cmdline.txt")
	if !strings.Contains(cmdline, "root=PARTUUID="+disk.PartUUID("lapsebox", 1).String()+"/PARTNROFF=1") || !strings.HasSuffix(cmdline, "\n"+strings.Repeat(" ", cmdlinePadding)) {
		t.Errorf("cmdline.txt = %q", cmdline)
	}
	line, _, _ := strings.Cut(cmdline, "\n")
	if conf := run(t, "mtype", "-i", boot, "::/loader/entries/gokrazy.conf"); !strings.HasPrefix(conf, "options "+line+"\ntitle gokrazy\nlinux /vmlinuz ") {
		t.Errorf("gokrazy.conf = %q", conf)
	}
	if _, err := os.Stat(Boards["pc"].EFILoader); err == nil {
		run(t, "mtype", "-i", boot, "::/EFI/BOOT/BOOTX64.EFI")
	}

	// The BIOS loader reads vmlinuz and cmdline.txt by LBA from the MBR.
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 512)
	f.ReadAt(mbr, 0)
	kdir, err := goTool{moduleRoot: "."}.moduleDir(context.Background(), Boards["pc"].Kernel)
	if err != nil {
		t.Fatal(err)
	}
	vmlinuz, _ := os.ReadFile(filepath.Join(kdir, "vmlinuz"))
	for _, tc := range []struct {
		name string
		at   int
		want []byte
	}{{"vmlinuz", 432, vmlinuz[:512]}, {"cmdline.txt", 436, []byte(cmdline)[:64]}} {
		lba := int64(mbr[tc.at]) | int64(mbr[tc.at+1])<<8 | int64(mbr[tc.at+2])<<16 | int64(mbr[tc.at+3])<<24
		got := make([]byte, len(tc.want))
		f.ReadAt(got, lba*disk.SectorSize)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("MBR points at LBA %d for %s, which does not hold it", lba, tc.name)
		}
	}
}

func TestBuildRPi(t *testing.T) {
	needTools(t, "fsck.vfat", "mtype", "mdir")
	img, m := testBuild(t, "rpi", nil, nil)
	boot := extract(t, img, m.Boot)
	if out := run(t, "fsck.vfat", "-n", boot); strings.Contains(out, "differ") || strings.Contains(out, "wrong") {
		t.Errorf("fsck.vfat -n: %s", out)
	}
	listing := run(t, "mdir", "-i", boot, "-b", "-/", "::/")
	for _, want := range []string{"::/bootcode.bin", "::/start4.elf", "::/fixup4.dat", "::/start.elf",
		"::/bcm2710-rpi-3-b-plus.dtb", "::/bcm2711-rpi-4-b.dtb", "::/bcm2712-rpi-5-b.dtb", "::/bcm2710-rpi-zero-2-w.dtb",
		"::/overlays/", ".dtbo", "::/pieeprom.upd", "::/pieeprom.sig", "::/vl805.bin", "::/vl805.sig", "::/recovery.bin",
		"::/vmlinuz", "::/cmdline.txt", "::/config.txt"} {
		if !strings.Contains(listing, want) {
			t.Errorf("Pi boot partition lacks %s", want)
		}
	}
	config := run(t, "mtype", "-i", boot, "::/config.txt")
	for _, want := range []string{"enable_uart=1", "arm_control=0x200", "kernel=vmlinuz"} {
		if !strings.Contains(config, want) {
			t.Errorf("config.txt lacks %s:\n%s", want, config)
		}
	}
	cmdline := run(t, "mtype", "-i", boot, "::/cmdline.txt")
	if !strings.Contains(cmdline, "root=PARTUUID="+disk.PartUUID("lapsebox", 1).String()+"/PARTNROFF=1") || !strings.Contains(cmdline, "console=serial0,115200") {
		t.Errorf("cmdline.txt = %q", cmdline)
	}
	// On a real Pi the watchdog stays armed: QEMU's workarounds are for
	// the emulated machine only.
	for _, a := range Boards["rpi"].QEMU.KernelArgs {
		if strings.Contains(cmdline, a) {
			t.Errorf("cmdline.txt carries the QEMU workaround %s: %q", a, cmdline)
		}
	}
	// A long name deep in overlays/ reads back byte for byte.
	kdir, err := goTool{moduleRoot: "."}.moduleDir(context.Background(), Boards["rpi"].Kernel)
	if err != nil {
		t.Fatal(err)
	}
	overlays, _ := filepath.Glob(filepath.Join(kdir, "overlays", "*.dtbo"))
	if len(overlays) < 100 {
		t.Fatalf("kernel.rpi has %d overlays, want hundreds", len(overlays))
	}
	pick := overlays[len(overlays)/2]
	want, _ := os.ReadFile(pick)
	if got := run(t, "mtype", "-i", boot, "::/overlays/"+filepath.Base(pick)); got != string(want) {
		t.Errorf("overlays/%s differs from the kernel module's", filepath.Base(pick))
	}
	// The device rewrites cmdline.txt in place through gokrazy's reader.
	b, _ := os.ReadFile(boot)
	if _, _, err := fat.Find(bytes.NewReader(b), "/cmdline.txt"); err != nil {
		t.Error(err)
	}
	// The Pi firmware finds the FAT through MBR entry 1.
	f, _ := os.Open(img)
	defer f.Close()
	mbr := make([]byte, 512)
	f.ReadAt(mbr, 0)
	if mbr[446+4] != 0x0C || mbr[446+8] != 0x00 || mbr[446+9] != 0x20 {
		t.Errorf("MBR entry 1 is not the FAT at sector 8192: % x", mbr[446:462])
	}
}

func TestBuildFailuresLeaveNothing(t *testing.T) {
	needTools(t)
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// A service that does not compile, inside the module like a real one.
	broken, err := os.MkdirTemp(filepath.Join(root, "build", "_gen"), "broken-")
	if err != nil {
		os.MkdirAll(filepath.Join(root, "build", "_gen"), 0o755)
		if broken, err = os.MkdirTemp(filepath.Join(root, "build", "_gen"), "broken-"); err != nil {
			t.Fatal(err)
		}
	}
	defer os.RemoveAll(broken)
	os.WriteFile(filepath.Join(broken, "main.go"), []byte("package main\n\nfunc main() { undefinedCall() }\n"), 0o644)
	rel, _ := filepath.Rel(root, broken)
	brokenPkg := "./" + filepath.ToSlash(rel)

	badKernel := *Boards["pc"]
	badKernel.Kernel = "github.com/gokrazy/kernel.nonexistent"

	for _, tc := range []struct {
		name     string
		board    *Board
		services []Service
		want     string
	}{
		{"service does not compile", Boards["pc"], []Service{{Package: brokenPkg}}, "undefinedCall"},
		{"service does not exist", Boards["pc"], []Service{{Package: "github.com/lapsebox/lapsebox/cmd/nosuchd"}}, "github.com/lapsebox/lapsebox/cmd/nosuchd"},
		{"not a main package", Boards["pc"], []Service{{Package: "github.com/lapsebox/lapsebox/internal/strictjson"}}, "is it a main package"},
		{"kernel module missing", &badKernel, nil, "github.com/gokrazy/kernel.nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := LoadDescription("")
			d.Services = append(d.Services, tc.services...)
			dir := t.TempDir()
			out := filepath.Join(dir, "out.img")
			_, err := Build(context.Background(), Options{Board: tc.board, Description: d, Output: out, ConfigDir: t.TempDir(), ModuleRoot: root})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, want an error mentioning %q", err, tc.want)
			}
			var be *BuildError
			if len(tc.services) > 0 && (!errors.As(err, &be) || !strings.Contains(strings.Join(be.Packages, " "), strings.TrimPrefix(tc.services[0].Package, "./"))) {
				t.Errorf("error %v does not name the package %s", err, tc.services[0].Package)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("failed build left %v in the output directory", entries)
			}
		})
	}
}

// Two builds from the same kernel and firmware write the same boot file
// system and MBR boot code, whatever their build times: a release that
// changes only services keeps the device's boot files (and can run on
// trial, which a new boot file system cannot).
func TestBootFSReproducible(t *testing.T) {
	needTools(t)
	d, err := LoadDescription("")
	if err != nil {
		t.Fatal(err)
	}
	var ms []*Manifest
	for _, ts := range []time.Time{time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)} {
		m, err := Build(context.Background(), Options{Board: Boards["pc"], Description: d, Output: filepath.Join(t.TempDir(), "pc.img"),
			ConfigDir: t.TempDir(), Timestamp: ts})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if ms[0].Boot.SHA256 != ms[1].Boot.SHA256 || ms[0].BootCode.SHA256 != ms[1].BootCode.SHA256 {
		t.Errorf("boot file systems %s and %s, boot code %s and %s: they differ by the build time alone",
			ms[0].Boot.SHA256, ms[1].Boot.SHA256, ms[0].BootCode.SHA256, ms[1].BootCode.SHA256)
	}
	if ms[0].Root.SHA256 == ms[1].Root.SHA256 {
		t.Error("the roots are equal: the build time is not in them")
	}
}

func TestBootFSModTime(t *testing.T) {
	build := time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)
	// A kernel directory of one's own (Description.KernelDir).
	own := t.TempDir()
	for name, mt := range map[string]time.Time{
		"vmlinuz":     time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		"cmdline.txt": time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC),
	} {
		p := filepath.Join(own, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	// A directory newer than its files does not count; a linked file
	// counts with its target's time.
	if err := os.Mkdir(filepath.Join(own, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(t.TempDir(), "bcm2710-rpi-3-b.dtb")
	if err := os.WriteFile(linked, []byte("dtb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(linked, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(linked, filepath.Join(own, "bcm2710-rpi-3-b.dtb")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in   bootInputs
		want time.Time
	}{
		{bootInputs{kernelDir: "/m/github.com/gokrazy/kernel.amd64@v0.0.0-20260705070735-de680abf072b"}, time.Date(2026, 7, 5, 7, 7, 35, 0, time.UTC)},
		{bootInputs{kernelDir: "/m/kernel.rpi@v0.0.0-20251127164438-9778ec0261de", firmwareDir: "/m/firmware@v0.0.0-20260522070551-527ce0ed43cf",
			eepromDir: "/m/rpi-eeprom@v0.0.0-20260518070910-95f7328a8228"}, time.Date(2026, 5, 22, 7, 5, 51, 0, time.UTC)},
		{bootInputs{kernelDir: own}, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}, // its newest file, the linked one
		{bootInputs{kernelDir: filepath.Join(own, "gone")}, build},                 // no version, no files
	} {
		if got := tt.in.modTime(build); !got.Equal(tt.want) {
			t.Errorf("%+v: %v, want %v", tt.in, got, tt.want)
		}
	}
}

// A Description's KernelDir takes the place of the board's kernel
// module, and two builds from it at different times write the same boot
// file system.
func TestBuildKernelDir(t *testing.T) {
	needTools(t, "mtype")
	d, err := LoadDescription("")
	if err != nil {
		t.Fatal(err)
	}
	d.KernelDir = imagetest.KernelDir(t, Boards["pc"].Kernel, 64<<10)
	want, err := os.ReadFile(filepath.Join(d.KernelDir, "vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}
	img, m := testBuild(t, "pc", d, nil)
	if got := run(t, "mtype", "-i", extract(t, img, m.Boot), "::/vmlinuz"); got != string(want) {
		t.Errorf("the boot file system's vmlinuz (%d bytes) is not KernelDir's (%d bytes)", len(got), len(want))
	}
	again, err := Build(context.Background(), Options{Board: Boards["pc"], Description: d, Output: filepath.Join(t.TempDir(), "pc.img"),
		ConfigDir: t.TempDir(), Timestamp: time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if again.Boot.SHA256 != m.Boot.SHA256 {
		t.Errorf("two builds from one KernelDir: boot file systems %.12s and %.12s", m.Boot.SHA256, again.Boot.SHA256)
	}
}
