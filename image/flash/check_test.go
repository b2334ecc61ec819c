package flash

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeSys builds a sysfs tree under t.TempDir() that looks like a laptop:
//
//	sda     8:0   SATA disk, not removable: sda1 (8:1), sda2 (8:2)
//	sdb     8:16  USB card reader, removable, 32 GiB: sdb1 (8:17), sdb2 (8:18)
//	sdc     8:32  USB disk, not removable: sdc1 (8:33) held by dm-0 (253:0)
//	sdd     8:48  USB reader without a card (size 0)
//	sde     8:64  USB reader with a locked card (ro=1)
//	mmcblk0 179:0 built-in SD slot, removable=0: mmcblk0p1 (179:1)
type fakeSys struct {
	t    *testing.T
	root string
}

func newFakeSys(t *testing.T) *fakeSys {
	fs := &fakeSys{t: t, root: t.TempDir()}
	fs.disk("pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0", "sda", "8:0", 500<<30, "0", "0", "ATA", "Samsung SSD", "sda1:8:1", "sda2:8:2")
	fs.disk("pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host1/target1:0:0/1:0:0:0", "sdb", "8:16", 32<<30, "1", "0", "Generic", "STORAGE DEVICE", "sdb1:8:17", "sdb2:8:18")
	fs.disk("pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host2/target2:0:0/2:0:0:0", "sdc", "8:32", 1<<40, "0", "0", "WD", "Elements", "sdc1:8:33")
	fs.disk("pci0000:00/0000:00:14.0/usb2/2-3/2-3:1.0/host3/target3:0:0/3:0:0:0", "sdd", "8:48", 0, "1", "0", "Generic", "SD Reader")
	fs.disk("pci0000:00/0000:00:14.0/usb2/2-4/2-4:1.0/host4/target4:0:0/4:0:0:0", "sde", "8:64", 16<<30, "1", "1", "Generic", "SD Reader")
	fs.disk("platform/soc/mmc0/mmc_host/mmc0/mmc0:aaaa", "mmcblk0", "179:0", 64<<30, "0", "0", "", "", "mmcblk0p1:179:1")
	fs.write("devices/platform/soc/mmc0/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0/device/name", "SC64G")
	// dm-0 stacked on sdc1.
	dm := "devices/virtual/block/dm-0"
	fs.write(dm+"/dev", "253:0")
	fs.write(dm+"/size", "100")
	fs.link("dev/block/253:0", dm)
	fs.link("class/block/dm-0", dm)
	sdc1 := "devices/pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host2/target2:0:0/2:0:0:0/block/sdc/sdc1"
	fs.link(sdc1+"/holders/dm-0", dm)
	fs.link(dm+"/slaves/sdc1", sdc1)
	return fs
}

func (fs *fakeSys) write(rel, content string) {
	fs.t.Helper()
	p := filepath.Join(fs.root, "sys", rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		fs.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		fs.t.Fatal(err)
	}
}

// link makes sys/rel a relative symlink to sys/target, as sysfs does.
func (fs *fakeSys) link(rel, target string) {
	fs.t.Helper()
	p := filepath.Join(fs.root, "sys", rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		fs.t.Fatal(err)
	}
	r, err := filepath.Rel(filepath.Dir(p), filepath.Join(fs.root, "sys", target))
	if err != nil {
		fs.t.Fatal(err)
	}
	if err := os.Symlink(r, p); err != nil {
		fs.t.Fatal(err)
	}
}

// disk adds a disk and its partitions ("name:maj:min").
func (fs *fakeSys) disk(parent, name, dev string, size int64, removable, ro, vendor, model string, parts ...string) {
	dir := "devices/" + parent + "/block/" + name
	fs.write(dir+"/dev", dev)
	fs.write(dir+"/size", strconv.FormatInt(size/512, 10))
	fs.write(dir+"/removable", removable)
	fs.write(dir+"/ro", ro)
	fs.write(dir+"/queue/logical_block_size", "512")
	if vendor != "" {
		fs.write(dir+"/device/vendor", vendor)
		fs.write(dir+"/device/model", model)
	}
	if err := os.MkdirAll(filepath.Join(fs.root, "sys", dir, "holders"), 0o755); err != nil {
		fs.t.Fatal(err)
	}
	fs.link("dev/block/"+dev, dir)
	fs.link("class/block/"+name, dir)
	for _, p := range parts {
		pname, pdev, _ := strings.Cut(p, ":")
		pdir := dir + "/" + pname
		fs.write(pdir+"/dev", pdev)
		fs.write(pdir+"/partition", "1")
		fs.write(pdir+"/size", "2048")
		if err := os.MkdirAll(filepath.Join(fs.root, "sys", pdir, "holders"), 0o755); err != nil {
			fs.t.Fatal(err)
		}
		fs.link("dev/block/"+pdev, pdir)
		fs.link("class/block/"+pname, pdir)
	}
}

// system returns a System reading the fake tree, with the given mountinfo
// and swaps contents.
func (fs *fakeSys) system(mountinfo, swaps string) *System {
	fs.t.Helper()
	mi := filepath.Join(fs.root, "mountinfo")
	sw := filepath.Join(fs.root, "swaps")
	if err := os.WriteFile(mi, []byte(mountinfo), 0o644); err != nil {
		fs.t.Fatal(err)
	}
	if err := os.WriteFile(sw, []byte("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"+swaps), 0o644); err != nil {
		fs.t.Fatal(err)
	}
	return &System{Sys: filepath.Join(fs.root, "sys"), Mountinfo: mi, Swaps: sw}
}

const (
	rootOnSda2 = "22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n" +
		"23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n" +
		"24 22 0:22 / /run rw,nosuid shared:2 - tmpfs tmpfs rw,size=1616k\n"
	cardMounted      = "90 24 8:17 / /run/media/me/GOKRAZY rw,nosuid shared:50 - vfat /dev/sdb1 rw\n"
	cardMountedSpace = "91 24 8:18 / /media/my\\040card rw shared:51 - ext4 /dev/sdb2 rw\n"
	btrfsBySource    = "92 24 0:45 / /mnt/b rw shared:52 - btrfs /dev/sdb2 rw\n"
	dmMounted        = "93 24 253:0 / /mnt/secret rw shared:53 - ext4 /dev/mapper/secret rw\n"
)

func TestCheckBlock(t *testing.T) {
	fs := newFakeSys(t)
	for _, tc := range []struct {
		name      string
		dev       string // major:minor
		mountinfo string
		swaps     string
		force     bool
		imageSize int64
		wantErr   []string // substrings; nil = success
	}{
		{name: "removable card", dev: "8:16", mountinfo: rootOnSda2},
		{name: "card fits the image", dev: "8:16", mountinfo: rootOnSda2, imageSize: 2 << 30},
		{name: "card smaller than image", dev: "8:16", mountinfo: rootOnSda2, imageSize: 33 << 30,
			wantErr: []string{"smaller than the image", "34359738368 < 35433480192"}},
		{name: "partition given", dev: "8:17", mountinfo: rootOnSda2,
			wantErr: []string{"is partition sdb1 of disk sdb", "/dev/sdb"}},
		{name: "partition mounted by dev number", dev: "8:16", mountinfo: rootOnSda2 + cardMounted,
			wantErr: []string{"in use", "sdb1 is mounted on /run/media/me/GOKRAZY", "unmount"}},
		{name: "escaped mount point", dev: "8:16", mountinfo: rootOnSda2 + cardMountedSpace,
			wantErr: []string{"sdb2 is mounted on /media/my card"}},
		{name: "btrfs mounted, matched by source", dev: "8:16", mountinfo: rootOnSda2 + btrfsBySource,
			wantErr: []string{"sdb2 is mounted on /mnt/b"}},
		{name: "partition is swap", dev: "8:16", mountinfo: rootOnSda2, swaps: "/dev/sdb2 partition 1000 0 -2\n",
			wantErr: []string{"sdb2 is active swap"}},
		{name: "force does not allow mounted", dev: "8:16", mountinfo: rootOnSda2 + cardMounted, force: true,
			wantErr: []string{"in use"}},
		{name: "root disk", dev: "8:0", mountinfo: rootOnSda2,
			wantErr: []string{"sda", "root file system", "no override"}},
		{name: "root disk with force", dev: "8:0", mountinfo: rootOnSda2, force: true,
			wantErr: []string{"root file system", "no override"}},
		{name: "root on dm over sdc1", dev: "8:32", force: true,
			mountinfo: "22 1 253:0 / / rw - ext4 /dev/mapper/root rw\n",
			wantErr:   []string{"sdc", "root file system"}},
		{name: "root on btrfs, dev number anonymous", dev: "8:16",
			mountinfo: "22 1 0:31 /@ / rw - btrfs /dev/sdb2 rw\n",
			wantErr:   []string{"root file system"}},
		{name: "held by device-mapper", dev: "8:32", mountinfo: rootOnSda2, force: true,
			wantErr: []string{"sdc1 is held by dm-0"}},
		{name: "dm on top is mounted", dev: "8:32", mountinfo: rootOnSda2 + dmMounted, force: true,
			wantErr: []string{"dm-0 is mounted on /mnt/secret"}},
		{name: "not removable", dev: "179:0", mountinfo: rootOnSda2,
			wantErr: []string{"mmcblk0", "SC64G", "not a removable disk", "use Force"}},
		{name: "not removable, forced", dev: "179:0", mountinfo: rootOnSda2, force: true},
		{name: "no medium", dev: "8:48", mountinfo: rootOnSda2,
			wantErr: []string{"size 0", "no medium"}},
		{name: "write protected", dev: "8:64", mountinfo: rootOnSda2,
			wantErr: []string{"read-only", "lock switch"}},
		{name: "unknown device", dev: "8:80", mountinfo: rootOnSda2,
			wantErr: []string{"8:80", "not found in sysfs"}},
		{name: "root in a container (overlay)", dev: "8:16",
			mountinfo: "500 400 0:60 / / rw - overlay overlay rw,lowerdir=/a\n"},
		{name: "malformed mountinfo", dev: "8:16", mountinfo: "garbage\n",
			wantErr: []string{"mountinfo: line 1: \"garbage\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := fs.system(tc.mountinfo, tc.swaps).withDefaults()
			d, err := sys.checkBlock("/dev/x", tc.dev, tc.imageSize, Options{Force: tc.force})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("checkBlock: %v", err)
				}
				if d == nil || d.size == 0 || d.logicalBlockSize != 512 {
					t.Errorf("disk = %+v", d)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkBlock succeeded, want an error containing %q", tc.wantErr)
			}
			t.Logf("error: %v", err)
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestCheckPaths(t *testing.T) {
	file := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		device  string
		opts    Options
		wantErr string
	}{
		{name: "regular file refused", device: file, wantErr: "set Options.AllowFile"},
		{name: "regular file allowed", device: file, opts: Options{AllowFile: true}},
		{name: "character device", device: "/dev/null", wantErr: "not a block device"},
		{name: "directory", device: t.TempDir(), wantErr: "not a block device"},
		{name: "missing", device: "/dev/does-not-exist-lapsebox", wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.device, tc.opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check(%q) = %v, want error containing %q", tc.device, err, tc.wantErr)
			}
		})
	}
}

func TestDevNumber(t *testing.T) {
	for _, tc := range []struct {
		dev  uint64
		want string
	}{
		{0x0810, "8:16"},
		{0xb300, "179:0"},
		{0xfd00, "253:0"},
		{0x10010301, "259:65537"}, // nvme partitions get large minors: minor bits above 8 live at bit 20
	} {
		if got := devNumber(tc.dev); got != tc.want {
			t.Errorf("devNumber(%#x) = %s, want %s", tc.dev, got, tc.want)
		}
	}
}
