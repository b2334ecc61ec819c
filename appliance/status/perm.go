package status

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	mounts, err := parseMountinfo(b)
	if err != nil {
		p.Error = fmt.Sprintf("parsing %s: %v", fn, err)
		return p
	}
	m, ok := findMount(mounts, dir)
	if !ok {
		return p
	}
	p.Mounted = true
	p.Device = m.Source
	p.FSType = m.FSType
	p.Options = m.Options
	p.ReadOnly = hasOption(m.Options, "ro") || hasOption(m.SuperOptions, "ro")

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

// mount is one line of /proc/<pid>/mountinfo; see proc_pid_mountinfo(5).
type mount struct {
	ID, ParentID int
	MajorMinor   string // "179:4"
	Root         string // root of the mount within the filesystem
	Point        string // mount point, unescaped
	Options      string // per-mount options
	FSType       string
	Source       string // "/dev/mmcblk0p4", "tmpfs", "none"
	SuperOptions string // per-superblock options
}

// parseMountinfo parses the content of /proc/<pid>/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// that is mount ID, parent ID, major:minor, root, mount point, options, zero
// or more optional fields, a "-", filesystem type, source and superblock
// options.
func parseMountinfo(b []byte) ([]mount, error) {
	var mounts []mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMountinfoLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return mounts, nil
}

func parseMountinfoLine(line string) (mount, error) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+3 {
		return mount{}, fmt.Errorf("%q: want at least 6 fields, \"-\", type and source", line)
	}
	id, err := strconv.Atoi(fields[0])
	if err != nil {
		return mount{}, fmt.Errorf("mount ID %q: %w", fields[0], err)
	}
	parent, err := strconv.Atoi(fields[1])
	if err != nil {
		return mount{}, fmt.Errorf("parent ID %q: %w", fields[1], err)
	}
	m := mount{
		ID:         id,
		ParentID:   parent,
		MajorMinor: fields[2],
		Root:       unescapeMountField(fields[3]),
		Point:      unescapeMountField(fields[4]),
		Options:    fields[5],
		FSType:     fields[sep+1],
		Source:     unescapeMountField(fields[sep+2]),
	}
	if len(fields) > sep+3 {
		m.SuperOptions = fields[sep+3]
	}
	return m, nil
}

// unescapeMountField undoes the kernel's octal escaping of space, tab,
// newline and backslash (\040, \011, \012, \134) in mountinfo fields.
// Anything else is left as it is.
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && '0' <= s[i+1] && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			sb.WriteByte(v)
			i += 3
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// hasOption reports whether the comma-separated options include o.
func hasOption(options, o string) bool {
	for e := range strings.SplitSeq(options, ",") {
		if e == o {
			return true
		}
	}
	return false
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// findMount returns the mount at point dir that is visible: the last one in
// the table, as later mounts hide earlier ones at the same point.
func findMount(mounts []mount, dir string) (mount, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].Point == dir {
			return mounts[i], true
		}
	}
	return mount{}, false
}
