package flash

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/lapsebox/lapsebox/internal/mountinfo"
)

// System says where the safety checks read the kernel's view of disks and
// mounts. Tests point it at a fake tree; the zero value (or a nil
// Options.System) means the running system.
type System struct {
	// Sys is the sysfs root; "" means "/sys".
	Sys string
	// Mountinfo is the mount table; "" means "/proc/self/mountinfo".
	Mountinfo string
	// Swaps is the active swap list; "" means "/proc/swaps".
	Swaps string
}

func (s *System) withDefaults() System {
	var c System
	if s != nil {
		c = *s
	}
	if c.Sys == "" {
		c.Sys = "/sys"
	}
	if c.Mountinfo == "" {
		c.Mountinfo = "/proc/self/mountinfo"
	}
	if c.Swaps == "" {
		c.Swaps = "/proc/swaps"
	}
	return c
}

// disk is what the checks learned about a target block device.
type disk struct {
	name             string // kernel name, e.g. "sdb"
	size             int64  // bytes
	logicalBlockSize int64
}

// Check runs the safety checks for writing to device without writing
// anything: device must be a whole-disk block device (or, with
// Options.AllowFile, a regular file), not read-only, not mounted, not used
// as swap or by device-mapper/RAID, not the disk holding the running
// system's root file system, and removable unless Options.Force. Write runs
// the same checks and also refuses a device smaller than the image.
func Check(device string, opts Options) error {
	_, err := check(device, 0, opts)
	return err
}

// check returns nil disk for an allowed regular file.
func check(device string, imageSize int64, opts Options) (*disk, error) {
	fi, err := os.Stat(device)
	if err != nil {
		return nil, fmt.Errorf("flash: %v", err)
	}
	switch {
	case fi.Mode().IsRegular():
		if !opts.AllowFile {
			return nil, fmt.Errorf("flash: %s is a regular file, not a block device; set Options.AllowFile to write an image into a file (tests, VM disks)", device)
		}
		return nil, nil
	case fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0:
		return nil, fmt.Errorf("flash: %s is not a block device (mode %v); give the whole disk, e.g. /dev/sdb or /dev/mmcblk0", device, fi.Mode())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("flash: %s: cannot read its device number", device)
	}
	return opts.System.withDefaults().checkBlock(device, devNumber(uint64(st.Rdev)), imageSize, opts)
}

// devNumber formats a Linux dev_t as "major:minor" (glibc's encoding).
func devNumber(dev uint64) string {
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	return fmt.Sprintf("%d:%d", major, minor)
}

// checkBlock checks the block device with number mm ("8:16"). imageSize 0
// skips the size check.
func (s System) checkBlock(device, mm string, imageSize int64, opts Options) (*disk, error) {
	dir, err := filepath.EvalSymlinks(filepath.Join(s.Sys, "dev/block", mm))
	if err != nil {
		return nil, fmt.Errorf("flash: %s (device %s) not found in sysfs: %v", device, mm, err)
	}
	name := filepath.Base(dir)
	if exists(filepath.Join(dir, "partition")) {
		parent := filepath.Base(filepath.Dir(dir))
		return nil, fmt.Errorf("flash: %s is partition %s of disk %s; an image holds a whole disk: write it to /dev/%s", device, name, parent, parent)
	}
	d := &disk{name: name, logicalBlockSize: 512}
	sectors, err := readInt(filepath.Join(dir, "size"))
	if err != nil {
		return nil, fmt.Errorf("flash: %s (%s): reading its size: %v", device, name, err)
	}
	d.size = sectors * 512 // sysfs counts 512-byte sectors whatever the device's block size
	if lbs, err := readInt(filepath.Join(dir, "queue/logical_block_size")); err == nil && lbs > 0 {
		d.logicalBlockSize = lbs
	}
	desc := s.describe(dir, d)

	if d.size == 0 {
		return nil, fmt.Errorf("flash: %s (%s) has size 0: no medium (is the card inserted?)", device, desc)
	}
	if ro, _ := readString(filepath.Join(dir, "ro")); ro == "1" {
		return nil, fmt.Errorf("flash: %s (%s) is read-only (is the SD card's lock switch set?)", device, desc)
	}

	roots, err := s.rootDisks()
	if err != nil {
		return nil, fmt.Errorf("flash: finding the disk of the root file system: %v", err)
	}
	if roots[name] {
		return nil, fmt.Errorf("flash: %s (%s) holds the running system's root file system (/); refusing, there is no override", device, desc)
	}

	users, err := s.users(dir)
	if err != nil {
		return nil, fmt.Errorf("flash: %s (%s): %v", device, desc, err)
	}
	if len(users) > 0 {
		return nil, fmt.Errorf("flash: %s (%s) is in use: %s; unmount or close it first", device, desc, strings.Join(users, "; "))
	}

	if rm, _ := readString(filepath.Join(dir, "removable")); rm != "1" && !opts.Force {
		return nil, fmt.Errorf("flash: %s (%s) is not a removable disk (removable=%q in sysfs); if it really is the card to overwrite, use Force", device, desc, rm)
	}

	if imageSize > d.size {
		return nil, fmt.Errorf("flash: %s (%s) is smaller than the image: %d < %d bytes", device, desc, d.size, imageSize)
	}
	return d, nil
}

// describe names a disk for messages: "sdb, 29.7 GiB, USB, Generic STORAGE DEVICE".
func (s System) describe(dir string, d *disk) string {
	parts := []string{d.name, fmt.Sprintf("%.1f GiB", float64(d.size)/(1<<30))}
	if strings.Contains(dir, "/usb") {
		parts = append(parts, "USB")
	}
	vendor, _ := readString(filepath.Join(dir, "device/vendor"))
	model, _ := readString(filepath.Join(dir, "device/model"))
	if m := strings.TrimSpace(vendor + " " + model); m != "" {
		parts = append(parts, m)
	} else if n, _ := readString(filepath.Join(dir, "device/name")); n != "" { // mmc
		parts = append(parts, n)
	}
	return strings.Join(parts, ", ")
}

// block is a block device seen in sysfs.
type block struct {
	name string // kernel name, "sdb1"
	dev  string // "8:17"
}

// members returns the disk at dir, its partitions, and everything stacked
// on them (device-mapper, md), recursively.
func (s System) members(dir string) ([]block, []string, error) {
	var blocks []block
	var holders []string
	seen := map[string]bool{}
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		name := filepath.Base(dir)
		if seen[name] || depth > 8 {
			return nil
		}
		seen[name] = true
		dev, err := readString(filepath.Join(dir, "dev"))
		if err != nil {
			return fmt.Errorf("reading %s: %v", filepath.Join(dir, "dev"), err)
		}
		blocks = append(blocks, block{name: name, dev: dev})
		entries, _ := os.ReadDir(filepath.Join(dir, "holders"))
		for _, e := range entries {
			hdir, err := filepath.EvalSymlinks(filepath.Join(dir, "holders", e.Name()))
			if err != nil {
				return err
			}
			holders = append(holders, fmt.Sprintf("%s is held by %s (device-mapper, RAID or similar)", name, e.Name()))
			if err := walk(hdir, depth+1); err != nil {
				return err
			}
		}
		if depth > 0 {
			return nil
		}
		entries, err = os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if e.IsDir() && exists(filepath.Join(p, "partition")) {
				if err := walk(p, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := walk(dir, 0)
	return blocks, holders, err
}

// users lists what keeps the disk at dir or its partitions busy: mounts,
// swap, holders.
func (s System) users(dir string) ([]string, error) {
	blocks, users, err := s.members(dir)
	if err != nil {
		return nil, err
	}
	byDev := map[string]string{}
	byName := map[string]bool{}
	for _, b := range blocks {
		byDev[b.dev] = b.name
		byName[b.name] = true
	}
	mounts, err := mountinfo.Read(s.Mountinfo)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		name, ok := byDev[m.MajorMinor]
		if !ok && strings.HasPrefix(m.Source, "/dev/") {
			if n := s.sourceName(m.Source); byName[n] {
				name, ok = n, true
			}
		}
		if ok {
			users = append(users, fmt.Sprintf("%s is mounted on %s", name, m.Point))
		}
	}
	if b, err := os.ReadFile(s.Swaps); err == nil {
		lines := strings.Split(string(b), "\n")
		for _, line := range lines[min(1, len(lines)):] { // header line
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], "/dev/") {
				if n := s.sourceName(f[0]); byName[n] {
					users = append(users, n+" is active swap")
				}
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	sort.Strings(users)
	return users, nil
}

// sourceName maps a /dev path from the mount table to a kernel name:
// /dev/sdb1 → sdb1, /dev/mapper/vg-root → dm-3 (through its symlink).
func (s System) sourceName(source string) string {
	if p, err := filepath.EvalSymlinks(source); err == nil {
		source = p
	}
	return filepath.Base(source)
}

// rootDisks returns the kernel names of the whole disks the root file
// system lives on, through partitions and stacked devices (dm-crypt, LVM,
// md). An empty set means / is not on a block device (tmpfs, overlay in a
// container).
func (s System) rootDisks() (map[string]bool, error) {
	mounts, err := mountinfo.Read(s.Mountinfo)
	if err != nil {
		return nil, err
	}
	disks := map[string]bool{}
	for _, m := range mounts {
		if m.Point != "/" {
			continue
		}
		var dirs []string
		if !strings.HasPrefix(m.MajorMinor, "0:") { // 0:x are anonymous devices (btrfs, overlay, tmpfs)
			if d, err := filepath.EvalSymlinks(filepath.Join(s.Sys, "dev/block", m.MajorMinor)); err == nil {
				dirs = append(dirs, d)
			}
		}
		if strings.HasPrefix(m.Source, "/dev/") {
			if d, err := filepath.EvalSymlinks(filepath.Join(s.Sys, "class/block", s.sourceName(m.Source))); err == nil {
				dirs = append(dirs, d)
			}
		}
		for _, d := range dirs {
			s.disksOf(d, 0, disks)
		}
	}
	return disks, nil
}

// disksOf adds the whole disks under the block device at dir to set.
func (s System) disksOf(dir string, depth int, set map[string]bool) {
	if depth > 8 {
		return
	}
	if exists(filepath.Join(dir, "partition")) {
		set[filepath.Base(filepath.Dir(dir))] = true
		return
	}
	slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
	if len(slaves) == 0 {
		set[filepath.Base(dir)] = true
		return
	}
	for _, sl := range slaves {
		if d, err := filepath.EvalSymlinks(filepath.Join(dir, "slaves", sl.Name())); err == nil {
			s.disksOf(d, depth+1, set)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

func readInt(path string) (int64, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}
