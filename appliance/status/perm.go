package status

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/lapsebox/lapsebox/internal/mountinfo"
)

// Perm describes the persistent partition.
type Perm struct {
	// Path is where the partition should be mounted ("/perm").
	Path string `json:"path"`
	// Mounted is false if no filesystem is mounted at Path: nothing written
	// there survives a reboot. The fields below are then empty.
	Mounted bool `json:"mounted"`
	// Device is the mount source ("/dev/mmcblk0p4").
	Device string `json:"device,omitempty"`
	// FSType is the filesystem type ("ext4").
	FSType string `json:"fsType,omitempty"`
	// Options are the per-mount options ("rw,relatime").
	Options string `json:"options,omitempty"`
	// ReadOnly is true if the mount or the filesystem is read-only, as
	// after ext4 remounts itself read-only on errors (a failing SD card).
	ReadOnly bool `json:"readOnly,omitempty"`
	// TotalBytes is the filesystem's size.
	TotalBytes uint64 `json:"totalBytes,omitempty"`
	// UsedBytes is what is in use, as df counts it.
	UsedBytes uint64 `json:"usedBytes,omitempty"`
	// FreeBytes is what is available to unprivileged writers (without the
	// blocks reserved for root).
	FreeBytes uint64 `json:"freeBytes,omitempty"`
	// Error says why the mount table or the filesystem could not be read.
	Error string `json:"error,omitempty"`
}

// UsedPercent is the share of the file system in use as df counts it:
// used of used plus available, so that the blocks reserved for root count
// as neither (camerad's retention counts the same way).
func (p Perm) UsedPercent() int { return percent(p.UsedBytes, p.UsedBytes+p.FreeBytes) }

// readPerm describes the filesystem mounted at dir, according to the mount
// table in procDir.
func readPerm(procDir, dir string) Perm {
	p := Perm{Path: dir}
	fn := filepath.Join(procDir, "self/mountinfo")
	b, err := os.ReadFile(fn)
	if err != nil {
		p.Error = fmt.Sprintf("reading mount table: %v", err)
		return p
	}
	mounts, err := mountinfo.Parse(b)
	if err != nil {
		p.Error = fmt.Sprintf("parsing %s: %v", fn, err)
		return p
	}
	m, ok := mountinfo.Find(mounts, dir)
	if !ok {
		return p
	}
	p.Mounted = true
	p.Device = m.Source
	p.FSType = m.FSType
	p.Options = m.Options
	p.ReadOnly = mountinfo.HasOption(m.Options, "ro") || mountinfo.HasOption(m.SuperOptions, "ro")

	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		p.Error = fmt.Sprintf("statfs %s: %v", dir, err)
		return p
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	p.TotalBytes = st.Blocks * bs
	p.UsedBytes = (st.Blocks - st.Bfree) * bs
	p.FreeBytes = st.Bavail * bs
	return p
}
