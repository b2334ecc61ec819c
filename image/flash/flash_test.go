package flash

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// sparseImage writes a sparse image shaped like a small gokrazy disk: a
// partition table at the start, a "FAT" at 1 MiB, a range starting at an
// odd offset, and a backup table in the last sectors, with holes between.
// It returns the path and the image's bytes.
func sparseImage(t *testing.T, size int64) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	put := func(off int64, b []byte) {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], b)
	}
	put(0, bytes.Repeat([]byte("MBR+GPT!"), 17*1024/8))
	put(1<<20, bytes.Repeat([]byte{0xfa, 0x70}, 300<<10))
	put(3<<20+100, []byte("an unaligned bit of data"))
	put(size-16896, bytes.Repeat([]byte("backup"), 16896/6))
	return path, want
}

// garbageTarget returns a regular file of n bytes of 0xAA, standing for a
// card's previous content.
func garbageTarget(t *testing.T, n int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "card")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xaa}, int(n)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDataExtents(t *testing.T) {
	const size = 8<<20 + 1234
	img, _ := sparseImage(t, size)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exts, err := dataExtents(f, size)
	if err != nil {
		t.Fatal(err)
	}
	var data int64
	prev := int64(-1)
	for _, e := range exts {
		if e.off%align != 0 || e.off <= prev || e.len <= 0 || e.off+e.len > size {
			t.Errorf("bad extent [%d, +%d) after %d", e.off, e.len, prev)
		}
		prev = e.off + e.len
		data += e.len
	}
	if len(exts) == 1 && exts[0].len == size {
		testtool.Missing(t, "a file system that reports holes (SEEK_HOLE) under "+os.TempDir(), "point TMPDIR at ext4, xfs, btrfs or tmpfs")
	}
	if data >= size/2 {
		t.Errorf("extents cover %d of %d bytes; holes not found: %+v", data, size, exts)
	}
	if last := exts[len(exts)-1]; last.off+last.len != size {
		t.Errorf("last extent ends at %d, want the image end %d", last.off+last.len, size)
	}
}

func TestWrite(t *testing.T) {
	const size = 8<<20 + 1234 // not a multiple of the alignment: exercises the buffered tail
	for _, tc := range []struct {
		name       string
		direct     bool
		punch      bool
		skipHoles  bool
		targetSize int64 // -1: equal to the image
	}{
		{name: "direct, punch holes", direct: true, punch: true, targetSize: -1},
		{name: "direct, zero holes by read and write", direct: true, punch: false, targetSize: -1},
		{name: "buffered, zero holes by read and write", direct: false, punch: false, targetSize: -1},
		{name: "buffered, punch holes", direct: false, punch: true, targetSize: -1},
		{name: "larger target", direct: true, punch: false, targetSize: size + 1<<20},
		{name: "empty target file grows", direct: true, punch: true, targetSize: 0},
		{name: "skip holes", direct: true, skipHoles: true, targetSize: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(d, p bool) { tryDirect, tryPunch = d, p }(tryDirect, tryPunch)
			tryDirect, tryPunch = tc.direct, tc.punch
			img, want := sparseImage(t, size)
			ts := tc.targetSize
			if ts < 0 {
				ts = size
			}
			target := garbageTarget(t, ts)

			var calls int
			var last, lastTotal int64
			opts := Options{
				AllowFile: true,
				Verify:    true,
				SkipHoles: tc.skipHoles,
				Progress: func(done, total int64) {
					calls++
					if done < last || done > total {
						t.Errorf("progress went from %d to %d of %d", last, done, total)
					}
					last, lastTotal = done, total
				},
			}
			if err := Write(context.Background(), img, target, opts); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if calls < 3 || last != lastTotal || lastTotal <= size {
				t.Errorf("progress: %d calls, last %d of %d; want several, ending at a total above the image size %d", calls, last, lastTotal, size)
			}
			got, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(got)) != max(size, ts) {
				t.Errorf("target is %d bytes, want %d", len(got), max(size, ts))
			}
			if tc.skipHoles {
				// Data ranges are the image's; a hole keeps the old bytes.
				if !bytes.Equal(got[:17*1024], want[:17*1024]) || !bytes.Equal(got[size-16896:size], want[size-16896:]) {
					t.Error("data ranges differ from the image")
				}
				if got[5<<20] != 0xaa {
					t.Errorf("byte in a hole = %#x, want the old 0xaa kept", got[5<<20])
				}
				return
			}
			if tc.punch && tc.targetSize < 0 {
				// Punched holes leave the target file sparse.
				fi, err := os.Stat(target)
				if err != nil {
					t.Fatal(err)
				}
				if alloc := fi.Sys().(*syscall.Stat_t).Blocks * 512; alloc > 4<<20 {
					t.Errorf("target has %d bytes allocated after punching holes, want < 4 MiB", alloc)
				}
			}
			if i := firstDiff(got[:size], want); i >= 0 {
				t.Errorf("target differs from the image at %d: %#x, want %#x", i, got[i], want[i])
			}
			for i := int64(size); i < int64(len(got)); i++ {
				if got[i] != 0xaa {
					t.Errorf("byte %d past the image end was changed to %#x", i, got[i])
					break
				}
			}
		})
	}
}

func TestOpenTargetDirect(t *testing.T) {
	path := garbageTarget(t, 4096)
	tg, err := openTarget(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	if tg.direct == nil {
		t.Log("O_DIRECT is not available in t.TempDir(); the direct cases of TestWrite ran buffered")
	}
	if uintptr(unsafe.Pointer(&tg.alignBuf[0]))%align != 0 || len(tg.alignBuf) != bufSize {
		t.Errorf("alignBuf is not aligned or has length %d", len(tg.alignBuf))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func TestWriteVerifyDetectsCorruption(t *testing.T) {
	defer func() { testHookBeforeSync = nil }()
	img, _ := sparseImage(t, 4<<20)
	target := garbageTarget(t, 4<<20)
	// A card that loses a write: flip a byte of the FAT range.
	testHookBeforeSync = func(f *os.File) {
		if _, err := f.WriteAt([]byte{0}, 1<<20+5); err != nil {
			t.Fatal(err)
		}
	}
	err := Write(context.Background(), img, target, Options{AllowFile: true, Verify: true})
	if err == nil {
		t.Fatal("Write succeeded on a corrupted target")
	}
	t.Logf("error: %v", err)
	for _, s := range []string{"verify", target, "[1048576, ", "sha256"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}

	// Without Verify, the same corruption goes unnoticed: that is what
	// Verify is for.
	if err := Write(context.Background(), img, target, Options{AllowFile: true}); err != nil {
		t.Errorf("Write without Verify: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	img, _ := sparseImage(t, 4<<20)
	empty := filepath.Join(t.TempDir(), "empty.img")
	os.WriteFile(empty, nil, 0o644)
	target := garbageTarget(t, 1<<20)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name          string
		ctx           context.Context
		image, device string
		opts          Options
		wantErr       string
		wantIs        error
	}{
		{name: "file target not allowed", image: img, device: target, wantErr: "set Options.AllowFile"},
		{name: "missing image", image: filepath.Join(t.TempDir(), "nope.img"), device: target, opts: Options{AllowFile: true}, wantErr: "no such file"},
		{name: "empty image", image: empty, device: target, opts: Options{AllowFile: true}, wantErr: "is empty"},
		{name: "directory as image", image: t.TempDir(), device: target, opts: Options{AllowFile: true}, wantErr: "not a regular file"},
		{name: "character device target", image: img, device: "/dev/null", wantErr: "not a block device"},
		{name: "canceled", ctx: canceled, image: img, device: target, opts: Options{AllowFile: true}, wantIs: context.Canceled, wantErr: "after 0 of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := Write(ctx, tc.image, tc.device, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Write = %v, want error containing %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
		})
	}
}

// TestWriteBlockDevice writes to a real block device named by
// $LAPSEBOX_FLASH_TEST_DEVICE (e.g. a loop device over a scratch file:
// losetup -f --show scratch.img), through the real safety checks with Force
// (loop devices are not removable). It destroys that device's content.
func TestWriteBlockDevice(t *testing.T) {
	dev := os.Getenv("LAPSEBOX_FLASH_TEST_DEVICE")
	if dev == "" {
		testtool.Optional(t, "writes to a real block device: set LAPSEBOX_FLASH_TEST_DEVICE to a scratch one (a loop device: losetup -f --show scratch.img)")
	}
	for _, punch := range []bool{true, false} {
		defer func(p bool) { tryPunch = p }(tryPunch)
		tryPunch = punch
		const size = 8<<20 + 512
		img, want := sparseImage(t, size)
		f, err := os.OpenFile(dev, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xaa}, size+4096), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := Write(context.Background(), img, dev, Options{Verify: true}); err == nil || !strings.Contains(err.Error(), "not a removable disk") {
			t.Errorf("Write without Force = %v, want a refusal", err)
		}
		if err := Write(context.Background(), img, dev, Options{Verify: true, Force: true}); err != nil {
			t.Fatalf("Write (punch=%v): %v", punch, err)
		}
		got := make([]byte, size+4096)
		f, err = os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if i := firstDiff(got[:size], want); i >= 0 {
			t.Errorf("punch=%v: device differs from the image at %d: %#x, want %#x", punch, i, got[i], want[i])
		}
		if got[size] != 0xaa {
			t.Errorf("punch=%v: byte past the image end changed to %#x", punch, got[size])
		}
	}
}
