package rest

import (
	"bytes"
	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseCode checks that the test binary's resident pages of its
// files fall when it releases them: by a quarter at least, of the
// megabytes a Go test binary has run and read by now.
func TestReleaseCode(t *testing.T) {
	before := rssFile(t)
	if before < 1<<20 {
		t.Fatalf("RssFile %d bytes before the release: want a MiB or more to measure by", before)
	}
	if err := ReleaseCode(); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	t.Logf("resident pages of files: %d KiB before, %d KiB after", before>>10, after>>10)
	if after > before*3/4 {
		t.Errorf("resident pages of files went from %d KiB to %d KiB: want a quarter or more given back", before>>10, after>>10)
	}
}

// rssFile returns this process's resident pages of files, in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("RssFile %q: %v", v, err)
			}
			return n << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseCodeKeepsWrittenPages checks that what the process wrote
// into private mappings of a file survives the release: in a writable
// mapping, and in one made read-only after the write (as a loader does to
// a library's relocated data).
func TestReleaseCodeKeepsWrittenPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, bytes.Repeat([]byte("file"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var maps [2][]byte
	for i := range maps {
		m, err := unix.Mmap(int(f.Fd()), 0, 4*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		copy(m, "mine")
		_ = m[3*4096] // a page read, not written: the file's
		maps[i] = m
	}
	if err := unix.Mprotect(maps[1], unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if err := ReleaseCode(); err != nil {
		t.Fatal(err)
	}
	for i, m := range maps {
		if got := string(m[:4]); got != "mine" {
			t.Errorf("mapping %d (writable %v) reads %q after the release, want what the process wrote, %q", i, i == 0, got, "mine")
		}
		if got := string(m[3*4096 : 3*4096+4]); got != "file" {
			t.Errorf("mapping %d reads %q from the file after the release", i, got)
		}
	}
}

// TestFileMappings checks which mappings of a smaps file are files', with
// their permissions and pages of their own, and that a malformed line is
// an error that quotes it.
func TestFileMappings(t *testing.T) {
	smaps := `00400000-00c2b000 r-xp 00000000 fd:01 1311 /user/camerad
Size:               8364 kB
Rss:                2816 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw
00c2b000-01480000 r--p 0082b000 fd:01 1311 /user/camerad
Anonymous:             0 kB
01480000-014c4000 rw-p 01080000 fd:01 1311 /user/camerad
Anonymous:           120 kB
014c4000-014fc000 rw-p 00000000 00:00 0 
Anonymous:           224 kB
01ab9000-01ada000 rw-p 00000000 00:00 0                                  [heap]
Anonymous:            12 kB
7f1c2000-7f1c2a21 r--p 00000000 08:02 77 /usr/lib/my libs/libusb.so
Anonymous:             8 kB
7ffd5000-7ffd7000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
7ffe0000-7fff0000 r-xp 00000000 fd:01 1311 /user/camerad (deleted)
Anonymous:             0 kB
`
	got, err := fileMappings(strings.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{
		{0x400000, 0xc2b000, false, 0, "/user/camerad"},
		{0xc2b000, 0x1480000, false, 0, "/user/camerad"},
		{0x1480000, 0x14c4000, true, 120 << 10, "/user/camerad"},
		{0x7f1c2000, 0x7f1c2a21, false, 8 << 10, "/usr/lib/my libs/libusb.so"},
		{0x7ffe0000, 0x7fff0000, false, 0, "/user/camerad (deleted)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fileMappings:\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"00400000 r-xp 00000000 fd:01 1311 /user/camerad\n",
		"00c2b000-00400000 r-xp 00000000 fd:01 1311 /user/camerad\n",
		"zz-00c2b000 r-xp 00000000 fd:01 1311 /user/camerad\n",
		"00400000-00c2b000 r-xp\n",
		"00400000-00c2b000 r-xp 00000000 fd:01 1311 /user/camerad\nAnonymous: lots kB\n",
	} {
		if _, err := fileMappings(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("fileMappings(%q): error %v, want one naming the malformed line", bad, err)
		}
	}
}
