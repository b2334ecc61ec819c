package updater

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// FindDisk finds the running root's partition from the major:minor of
// the root mount (gokrazy mounts it as /dev/root, a name that is no
// device node), and its disk and boot partition from sysfs.
func FindDisk(mountinfoPath, sysfs string) (Disk, error) {
	mounts, err := mountinfo.Read(mountinfoPath)
	if err != nil {
		return Disk{}, fmt.Errorf("updater: %w", err)
	}
	m, ok := mountinfo.Find(mounts, "/")
	if !ok {
		return Disk{}, fmt.Errorf("updater: no root mount in %s", mountinfoPath)
	}
	part, err := filepath.EvalSymlinks(filepath.Join(sysfs, "dev/block", m.MajorMinor))
	if err != nil {
		return Disk{}, fmt.Errorf("updater: the root's block device %s: %w", m.MajorMinor, err)
	}
	if _, err := os.Stat(filepath.Join(part, "partition")); err != nil {
		return Disk{}, fmt.Errorf("updater: the root (%s, %s) is not on a partition", m.MajorMinor, filepath.Base(part))
	}
	whole := filepath.Dir(part)
	entries, err := os.ReadDir(whole)
	if err != nil {
		return Disk{}, fmt.Errorf("updater: %w", err)
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
		return Disk{}, fmt.Errorf("updater: %s has no partition 1 (the boot file system)", d.Whole)
	}
	return d, nil
}

// squashfsSize returns how many bytes of a partition the squashfs in it
// takes: its superblock's bytes_used rounded up to the 4 KiB mksquashfs
// pads to, not the whole partition.
func squashfsSize(r io.ReaderAt, partSize int64) (int64, error) {
	var sb [48]byte
	if _, err := r.ReadAt(sb[:], 0); err != nil {
		return 0, fmt.Errorf("updater: reading the root's superblock: %w", err)
	}
	if string(sb[:4]) != "hsqs" {
		return 0, errors.New("updater: the running root is not a squashfs")
	}
	n := int64(binary.LittleEndian.Uint64(sb[40:]))
	n = (n + 4095) &^ 4095
	if partSize > 0 {
		n = min(n, partSize)
	}
	return n, nil
}
