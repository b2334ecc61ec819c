// Package mountinfo reads the kernel's mount table
// (/proc/<pid>/mountinfo, see proc_pid_mountinfo(5)): which file system is
// mounted where, so the appliance can tell /perm from the read-only root or
// a tmpfs, and the flasher can tell a mounted card.
package mountinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Read parses the mount table at path, usually "/proc/self/mountinfo".
func Read(path string) ([]Mount, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Containing returns the visible mount that holds path: the one with the
// longest mount point that is path or one of its parents.
func Containing(mounts []Mount, path string) (Mount, bool) {
	path = filepath.Clean(path)
	best, found := Mount{}, false
	for _, m := range mounts {
		if m.Point == path || m.Point == "/" || strings.HasPrefix(path, m.Point+"/") {
			if !found || len(m.Point) >= len(best.Point) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// Mount is one line of /proc/<pid>/mountinfo; see proc_pid_mountinfo(5).
type Mount struct {
	ID, ParentID int
	MajorMinor   string // "179:4"
	Root         string // root of the mount within the filesystem
	Point        string // mount point, unescaped
	Options      string // per-mount options
	FSType       string
	Source       string // "/dev/mmcblk0p4", "tmpfs", "none"
	SuperOptions string // per-superblock options
}

// Parse parses the content of /proc/<pid>/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// that is mount ID, parent ID, major:minor, root, mount point, options, zero
// or more optional fields, a "-", filesystem type, source and superblock
// options. The kernel separates fields with a space and escapes only the
// spaces, tabs, newlines and backslashes inside them: any other byte (a
// carriage return, a vertical tab) belongs to its field.
func Parse(b []byte) ([]Mount, error) {
	var mounts []Mount
	for n, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

func parseLine(line string) (Mount, error) {
	fields := slices.DeleteFunc(strings.Split(line, " "), func(f string) bool { return f == "" })
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+3 {
		return Mount{}, fmt.Errorf("%q: want at least 6 fields, \"-\", type and source", line)
	}
	id, err := strconv.Atoi(fields[0])
	if err != nil {
		return Mount{}, fmt.Errorf("mount ID %q: %w", fields[0], err)
	}
	parent, err := strconv.Atoi(fields[1])
	if err != nil {
		return Mount{}, fmt.Errorf("parent ID %q: %w", fields[1], err)
	}
	m := Mount{
		ID:         id,
		ParentID:   parent,
		MajorMinor: fields[2],
		Root:       unescape(fields[3]),
		Point:      unescape(fields[4]),
		Options:    fields[5],
		FSType:     fields[sep+1],
		Source:     unescape(fields[sep+2]),
	}
	if len(fields) > sep+3 {
		m.SuperOptions = fields[sep+3]
	}
	return m, nil
}

// unescape undoes the kernel's octal escaping of space, tab,
// newline and backslash (\040, \011, \012, \134) in mountinfo fields.
// Anything else is left as it is.
func unescape(s string) string {
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

// HasOption reports whether the comma-separated options include o.
func HasOption(options, o string) bool {
	for e := range strings.SplitSeq(options, ",") {
		if e == o {
			return true
		}
	}
	return false
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// Find returns the mount at point dir that is visible: the last one in
// the table, as later mounts hide earlier ones at the same point.
func Find(mounts []Mount, dir string) (Mount, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].Point == dir {
			return mounts[i], true
		}
	}
	return Mount{}, false
}

// Escape escapes s the way the kernel writes mount points and sources in
// mountinfo; tests use it to write mount tables.
func Escape(s string) string {
	return strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`).Replace(s)
}
