package bootdisk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSysfs lays out sysfs as the kernel does for a disk with four
// partitions: /sys/dev/block/M:m links into the device tree.
func fakeSysfs(t *testing.T, disk string, parts map[string]string) string {
	t.Helper()
	sys := t.TempDir()
	dev := filepath.Join(sys, "devices/pci0000:00/0000:00:04.0/virtio1/block", disk)
	for name, majmin := range parts {
		d := filepath.Join(dev, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "partition"), []byte(name[len(name)-1:]+"\n"), 0o644)
		os.MkdirAll(filepath.Join(sys, "dev/block"), 0o755)
		if err := os.Symlink(filepath.Join("../../devices/pci0000:00/0000:00:04.0/virtio1/block", disk, name), filepath.Join(sys, "dev/block", majmin)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dev, "dev"), []byte("179:0\n"), 0o644)
	return sys
}

func TestFind(t *testing.T) {
	sys := fakeSysfs(t, "mmcblk0", map[string]string{"mmcblk0p1": "179:1", "mmcblk0p2": "179:2", "mmcblk0p3": "179:3", "mmcblk0p4": "179:4"})
	dir := t.TempDir()
	mi := filepath.Join(dir, "mountinfo")
	// gokrazy's root as the kernel mounted it: /dev/root, squashfs,
	// here from the second root partition.
	os.WriteFile(mi, []byte("19 1 179:3 / / ro,relatime - squashfs /dev/root ro\n"+
		"22 19 179:4 / /perm rw,relatime - ext4 /dev/mmcblk0p4 rw\n"), 0o644)
	d, err := Find(mi, sys)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Disk{Whole: "/dev/mmcblk0", Root: "/dev/mmcblk0p3", Boot: "/dev/mmcblk0p1", RootNumber: 3}); d != want {
		t.Errorf("Find = %+v, want %+v", d, want)
	}

	// A root that is not on a partition (an initramfs, a whole disk).
	os.WriteFile(mi, []byte("19 1 0:2 / / rw - rootfs rootfs rw\n"), 0o644)
	if _, err := Find(mi, sys); err == nil || !strings.Contains(err.Error(), "0:2") {
		t.Errorf("root on no block device: %v", err)
	}
}
