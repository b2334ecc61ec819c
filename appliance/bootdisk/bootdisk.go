// Package bootdisk finds the block devices of the disk a gokrazy device
// runs from: the partition of the running root, the disk, and the disk's
// first partition, which holds the boot file system.
package bootdisk

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lapsebox/lapsebox/internal/mountinfo"
)

// Disk names the block devices of the running installation.
type Disk struct {
	// Whole is the disk ("/dev/mmcblk0"), Root the partition the running
	// root was mounted from ("/dev/mmcblk0p2"), Boot the disk's first
	// partition, which holds the boot file system ("/dev/mmcblk0p1").
	Whole, Root, Boot string
	// RootNumber is the running root's partition number: 2 (root A) or
	// 3 (root B).
	RootNumber int
}

// Find finds the running root's partition from the major:minor of
// the root mount (gokrazy mounts it as /dev/root, a name that is no
// device node), and its disk and boot partition from sysfs.
func Find(mountinfoPath, sysfs string) (Disk, error) {
	mounts, err := mountinfo.Read(mountinfoPath)
	if err != nil {
		return Disk{}, fmt.Errorf("bootdisk: %w", err)
	}
	m, ok := mountinfo.Find(mounts, "/")
	if !ok {
		return Disk{}, fmt.Errorf("bootdisk: no root mount in %s", mountinfoPath)
	}
	part, err := filepath.EvalSymlinks(filepath.Join(sysfs, "dev/block", m.MajorMinor))
	if err != nil {
		return Disk{}, fmt.Errorf("bootdisk: the root's block device %s: %w", m.MajorMinor, err)
	}
	if _, err := os.Stat(filepath.Join(part, "partition")); err != nil {
		return Disk{}, fmt.Errorf("bootdisk: the root (%s, %s) is not on a partition", m.MajorMinor, filepath.Base(part))
	}
	whole := filepath.Dir(part)
	entries, err := os.ReadDir(whole)
	if err != nil {
		return Disk{}, fmt.Errorf("bootdisk: %w", err)
	}
	d := Disk{Whole: "/dev/" + filepath.Base(whole), Root: "/dev/" + filepath.Base(part)}
	if b, err := os.ReadFile(filepath.Join(part, "partition")); err == nil {
		d.RootNumber, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(whole, e.Name(), "partition"))
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			d.Boot = "/dev/" + e.Name()
		}
	}
	if d.Boot == "" {
		return Disk{}, fmt.Errorf("bootdisk: %s has no partition 1 (the boot file system)", d.Whole)
	}
	return d, nil
}
