package fat

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// testFile is a file to put into a test image.
type testFile struct {
	path string
	data []byte
}

var testTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// content returns size bytes that differ per path and per position, so a
// wrong offset or a swapped file shows up as a content mismatch.
func content(path string, size int) []byte {
	h := fnv.New64a()
	h.Write([]byte(path))
	x := h.Sum64() | 1
	b := make([]byte, (size+7)&^7)
	for i := 0; i < len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	return b[:size]
}

// files makes test files from paths, each with size bytes of content.
func files(size int, paths ...string) []testFile {
	var fs []testFile
	for _, p := range paths {
		fs = append(fs, testFile{p, content(p, size)})
	}
	return fs
}

// gokrazyFiles is what gok puts on an amd64 boot partition.
func gokrazyFiles() []testFile {
	return []testFile{
		{"/vmlinuz", content("/vmlinuz", 3<<20+123)},
		{"/cmdline.txt", []byte("console=tty1 console=ttyS0,115200 root=PARTUUID=2e18c40c-01/PARTNROFF=1 ro init=/gokrazy/init rootwait panic=10 oops=panic" + strings.Repeat(" ", 64))},
		{"/config.txt", nil},
		{"/loader/entries/gokrazy.conf", []byte("title gokrazy\nlinux /vmlinuz\noptions console=tty1 root=PARTUUID=2e18c40c-01/PARTNROFF=1" + strings.Repeat(" ", 64))},
		{"/EFI/BOOT/BOOTX64.EFI", content("/EFI/BOOT/BOOTX64.EFI", 120_000)},
	}
}

// rpiFiles is a Raspberry Pi boot partition (names and sizes from
// testdata/rpi-boot.txt, synthetic content) plus gok's generated files.
// maxSize caps file sizes to keep tests quick; 0 means real sizes.
func rpiFiles(t testing.TB, maxSize int) []testFile {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "rpi-boot.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fs []testFile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, sizeStr, ok := strings.Cut(line, " ")
		size, err := strconv.Atoi(sizeStr)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		if maxSize > 0 {
			size = min(size, maxSize)
		}
		fs = append(fs, testFile{path, content(path, size)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	gen := gokrazyFiles()[1:]
	gen[1].data = []byte("arm_control=0x200\nenable_uart=1\nkernel=vmlinuz\n") // config.txt
	return append(fs, gen...)
}

// build writes an image of the given files (and directories, for paths
// ending in "/") and returns the Writer and the image bytes.
func build(t testing.TB, opts Options, tfs []testFile) (*Writer, []byte) {
	t.Helper()
	w := NewWriter(opts)
	for _, f := range tfs {
		var err error
		if strings.HasSuffix(f.path, "/") {
			err = w.Mkdir(f.path)
		} else {
			err = w.AddFile(f.path, f.data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	img := &sliceWriter{}
	n, err := w.WriteTo(img)
	if err != nil {
		t.Fatal(err)
	}
	size, err := w.Size()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(img.b)) || n != size {
		t.Fatalf("WriteTo returned %d, wrote %d bytes, Size says %d", n, len(img.b), size)
	}
	return w, img.b
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

func writeTemp(t testing.TB, img []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "boot.img")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// command runs a dosfstools or mtools program, skipping the test (failing
// it under CI) when it is not installed.
func command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testtool.Program(t, name), args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	return cmd
}

func mtools(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := command(t, name, args...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return out
}

func fsck(t testing.TB, img string) {
	t.Helper()
	out, err := command(t, "fsck.vfat", "-n", "-V", img).CombinedOutput()
	if err != nil {
		t.Fatalf("fsck.vfat -n -V: %v\n%s", err, out)
	}
	// fsck -n exits 0 unless it found something to fix, but be explicit.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "fsck.fat "),
			strings.HasPrefix(l, "Starting check/repair pass."),
			strings.HasPrefix(l, "Starting verification pass."),
			strings.HasPrefix(l, img+": "):
		default:
			t.Errorf("fsck.vfat: unexpected output %q\n%s", l, out)
		}
	}
}

func fmtSize(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
