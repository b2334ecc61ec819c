package rest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReleaseCode unmaps the pages of the daemon's program files (its binary,
// and the libraries of one that has any) that it holds mapped read-only.
// A page of code or of read-only data, once run or read, stays in the
// process's resident memory for its whole life, though most of them
// (package initialisation, parsing the flags and the configuration, the
// bursts of work) are not used again for hours; on a daemon at rest they
// are most of what it holds. Unmapped (MADV_DONTNEED), such a page is
// the kernel's page cache again: the first to go when memory runs short,
// and mapped back without a read (a minor fault) while it is still
// cached, which keeps a daemon's next wake-up from waiting on the disk.
//
// Only mappings that cannot hold the process's own data are unmapped:
// not writable, and without a page of their own (as relocations leave
// in a library's read-only data). From any other the kernel would drop
// what the process wrote.
func ReleaseCode() error {
	// Read as a stream: the whole file is tens of KiB, allocated just
	// after the heap was given back.
	smaps, err := os.Open("/proc/self/smaps")
	if err != nil {
		return fmt.Errorf("unmapping the program's code: %w", err)
	}
	ms, err := fileMappings(smaps)
	smaps.Close()
	if err != nil {
		return fmt.Errorf("unmapping the program's code: /proc/self/smaps: %w", err)
	}
	for _, m := range ms {
		if m.writable || m.anonymous != 0 {
			continue
		}
		// Not unix.Madvise: its []byte would have to be made from the
		// address by unsafe.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 && errno != unix.ENOMEM {
			// ENOMEM: the mapping went away since smaps was read.
			return fmt.Errorf("unmapping %s (%#x–%#x): madvise: %w", m.path, m.start, m.end, errno)
		}
	}
	return nil
}

// mapping is one mapping of a file in /proc/<pid>/smaps.
type mapping struct {
	start, end uintptr
	writable   bool
	anonymous  int64 // bytes of the process's own (copied on write) pages
	path       string
}

// fileMappings returns the mappings of files in a /proc/<pid>/smaps. Each
// mapping is a line "start-end perms offset dev inode path", with the
// path absent for anonymous memory and bracketed ("[heap]", "[vdso]") for
// the kernel's own, followed by lines "Field: value" of its pages.
func fileMappings(smaps io.Reader) ([]mapping, error) {
	var out []mapping
	var cur *mapping // the file mapping being read, nil in another
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Bytes()
		f := bytes.Fields(line)
		if len(f) == 0 {
			return nil, fmt.Errorf("empty line")
		}
		if f[0][len(f[0])-1] == ':' { // a field of the mapping above
			if cur != nil && string(f[0]) == "Anonymous:" {
				kb, err := strconv.ParseInt(string(f[1]), 10, 64)
				if len(f) != 3 || err != nil || kb < 0 {
					return nil, fmt.Errorf("malformed line %q", line)
				}
				cur.anonymous = kb << 10
			}
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		span := bytes.SplitN(f[0], []byte("-"), 2)
		if len(span) != 2 || len(f[1]) != 4 {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		// An address wider than a pointer (strconv.IntSize, as uintptr)
		// is malformed.
		start, err1 := strconv.ParseUint(string(span[0]), 16, strconv.IntSize)
		end, err2 := strconv.ParseUint(string(span[1]), 16, strconv.IntSize)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("malformed range in %q", line)
		}
		cur = nil
		if len(f) < 6 || f[5][0] != '/' {
			continue
		}
		// The path is the rest of the line: it may hold spaces.
		path := string(line[bytes.Index(line, f[5]):])
		out = append(out, mapping{start: uintptr(start), end: uintptr(end), writable: f[1][1] == 'w', path: path})
		cur = &out[len(out)-1]
	}
	return out, sc.Err()
}
