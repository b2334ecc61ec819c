// Package flash writes a disk image to an SD card or USB disk on Linux,
// after safety checks that keep it away from the running system's disks.
//
// # Holes
//
// Images are sparse files: a 2 GiB gokrazy image holds a few dozen MiB of
// data. Write copies only the data ranges (SEEK_DATA/SEEK_HOLE, like
// bmaptool), which turns minutes into seconds on a slow card. But a hole in
// the image reads as zeros, while the same range on a used card holds
// whatever was there before, so the question is where the image relies on
// those zeros:
//
//   - The partition tables are data: the MBR and primary GPT at the start
//     and the backup GPT at the end of the image are written explicitly.
//     (A card larger than the image keeps its old content past the image's
//     end, including any old backup GPT at its last sector; the kernel uses
//     the valid primary GPT, which points at the image's backup.)
//   - squashfs roots are written contiguously and have no holes that
//     matter; an empty root B partition, the gap before the first partition
//     and the free space of a file system are "don't care".
//   - ext4 (/perm) is where the zeros matter. Its superblock, group
//     descriptors, bitmaps and directories are data, but mkfs.ext4 on a
//     regular file first punches the whole range out, then writes only what
//     is not zero and marks the inode tables ITABLE_ZEROED and the journal
//     lazily initialised: on a freshly made 1 GiB ext4, 16 MiB of inode
//     tables and the 32 MiB journal are holes that the file system trusts to
//     read as zeros. Stale inodes or journal blocks from the card's previous
//     life (often the previous lapsebox /perm, at the very same offsets)
//     would then be read as if valid by e2fsck or journal recovery.
//   - FAT directories end at the first zero entry; a tool that leaves the
//     tail of a directory cluster as a hole would expose stale entries.
//
// So by default every hole of the image is made to read as zeros on the
// target: first with fallocate(PUNCH_HOLE), which on a block device asks for
// an offloaded write-zeroes and fails rather than falling back, and on a
// regular file keeps it sparse; if that is not supported (most SD readers and
// USB sticks), by reading the range and writing zeros only over the parts
// that are not zero already, which costs a read of the holes but not a
// write. Options.SkipHoles gives bmaptool's semantics instead (holes keep
// the target's old bytes) for images whose builder guarantees that no hole
// is relied on.
package flash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Options control Check and Write.
type Options struct {
	// Force allows writing to a disk that does not report itself as
	// removable (USB SSDs, some built-in SD readers). It never allows the
	// disk of the running root file system, a mounted disk or one too
	// small for the image.
	Force bool
	// Progress, if not nil, is called as Write advances, with done ≤
	// total bytes: total is the image's size, plus the size of its data
	// when Verify is set (the read-back comes after the write).
	Progress func(done, total int64)
	// Verify reads back every range Write wrote, after fsync and
	// bypassing the page cache, and compares its sha256 with the image's.
	Verify bool
	// SkipHoles leaves the target's old bytes where the image has holes
	// (bmaptool's semantics) instead of making them read as zeros; see
	// the package documentation.
	SkipHoles bool
	// AllowFile allows a regular file as the target (tests, VM disk
	// images). The file grows to the image's size if smaller.
	AllowFile bool
	// System says where the checks read sysfs and the mount table; nil
	// means the running system.
	System *System
}

const (
	align   = 4096    // direct I/O alignment: covers 512 and 4096 byte sectors
	bufSize = 4 << 20 // bytes per read/write
)

// Test hooks.
var (
	tryDirect          = true
	tryPunch           = true
	testHookBeforeSync func(target *os.File)
)

// extent is a range of the image, with the sha256 of its bytes once
// written.
type extent struct {
	off, len int64
	sum      []byte
	zeros    bool // written by hole, not part of the image's data
}

// Write writes the image file to device after the checks of Check, and
// refuses a device smaller than the image. It writes the image's data
// ranges with large aligned direct I/O, makes its holes read as zeros
// (unless Options.SkipHoles), fsyncs, and with Options.Verify reads every
// written range back and compares hashes. The context is checked between
// blocks; a canceled write leaves the device partly written.
func Write(ctx context.Context, image, device string, opts Options) error {
	img, err := os.Open(image)
	if err != nil {
		return fmt.Errorf("flash: %v", err)
	}
	defer img.Close()
	fi, err := img.Stat()
	if err != nil {
		return fmt.Errorf("flash: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("flash: image %s is not a regular file", image)
	}
	size := fi.Size()
	if size == 0 {
		return fmt.Errorf("flash: image %s is empty", image)
	}
	d, err := check(device, size, opts)
	if err != nil {
		return err
	}
	data, err := dataExtents(img, size)
	if err != nil {
		return fmt.Errorf("flash: mapping the data of image %s: %v", image, err)
	}

	t, err := openTarget(device, d != nil)
	if err != nil {
		return err
	}
	defer t.close()

	w := &writer{ctx: ctx, img: img, t: t, opts: opts, total: size, image: image, device: device}
	if opts.Verify {
		for _, e := range data {
			w.total += e.len
		}
	}
	w.report()

	var verify []*extent
	prev := int64(0)
	for _, e := range data {
		if err := w.hole(prev, e.off-prev, &verify); err != nil {
			return err
		}
		if err := w.copy(e); err != nil {
			return err
		}
		verify = append(verify, e)
		prev = e.off + e.len
	}
	if err := w.hole(prev, size-prev, &verify); err != nil {
		return err
	}
	if d == nil {
		// A regular file: make it as long as the image; the extension
		// reads as zeros.
		if st, err := t.f.Stat(); err == nil && st.Size() < size {
			if err := t.f.Truncate(size); err != nil {
				return fmt.Errorf("flash: extending %s to %d bytes: %v", device, size, err)
			}
		}
	}
	if testHookBeforeSync != nil {
		testHookBeforeSync(t.f)
	}
	if err := t.sync(); err != nil {
		return fmt.Errorf("flash: fsync %s: %v", device, err)
	}
	if opts.Verify {
		if err := w.verify(verify); err != nil {
			return err
		}
	}
	if d != nil {
		// Let the kernel see the new partition table; best effort (a
		// desktop may already have grabbed a partition).
		ioctl(t.f, blkRRPart)
	}
	return t.close()
}

// dataExtents maps the image's data with SEEK_DATA/SEEK_HOLE, rounds each
// range out to align (so that direct I/O works; the extra bytes read as
// zeros from the image's holes) and merges neighbours. Without SEEK_DATA
// support the whole image is one extent.
func dataExtents(f *os.File, size int64) ([]*extent, error) {
	var out []*extent
	add := func(off, end int64) {
		off = off / align * align
		end = min((end+align-1)/align*align, size)
		if n := len(out); n > 0 && out[n-1].off+out[n-1].len >= off {
			if e := out[n-1]; off+(end-off) > e.off+e.len {
				e.len = end - e.off
			}
			return
		}
		out = append(out, &extent{off: off, len: end - off})
	}
	const seekData, seekHole = 3, 4
	for off := int64(0); off < size; {
		start, err := f.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole is left
		}
		if errors.Is(err, syscall.EINVAL) && off == 0 {
			return []*extent{{off: 0, len: size}}, nil // no SEEK_DATA here
		}
		if err != nil {
			return nil, err
		}
		end, err := f.Seek(start, seekHole)
		if err != nil {
			return nil, err
		}
		end = min(end, size)
		if end <= start {
			break
		}
		add(start, end)
		off = end
	}
	return out, nil
}

// target is the opened device: a direct I/O descriptor when the kernel
// allows one, and a buffered one for what direct I/O cannot do.
type target struct {
	path     string
	f        *os.File // buffered
	direct   *os.File // O_DIRECT, or nil
	isBlock  bool
	noPunch  bool
	zeroBuf  []byte
	alignBuf []byte
}

func openTarget(device string, isBlock bool) (*target, error) {
	t := &target{path: device, isBlock: isBlock}
	flags := os.O_RDWR | syscall.O_CLOEXEC
	if isBlock {
		// O_EXCL on a block device claims it: the open fails with
		// EBUSY while a file system, swap or device-mapper uses it.
		flags |= syscall.O_EXCL
	}
	f, err := os.OpenFile(device, flags, 0)
	if errors.Is(err, syscall.EBUSY) {
		return nil, fmt.Errorf("flash: %s is busy (mounted, swap or device-mapper, per the kernel): %v", device, err)
	}
	if err != nil {
		return nil, fmt.Errorf("flash: opening %s: %v", device, err)
	}
	t.f = f
	if tryDirect {
		// A second, non-exclusive descriptor is allowed next to our
		// exclusive claim.
		if d, err := os.OpenFile(device, os.O_RDWR|syscall.O_CLOEXEC|syscall.O_DIRECT, 0); err == nil {
			t.direct = d
		}
	}
	t.alignBuf = alignedBuffer(bufSize)
	return t, nil
}

// alignedBuffer returns n bytes whose address is a multiple of align, as
// O_DIRECT requires.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+align)
	o := int(uintptr(unsafe.Pointer(&b[0])) & (align - 1))
	if o != 0 {
		o = align - o
	}
	return b[o : o+n : o+n]
}

// writeAt writes p at off: the aligned part with direct I/O when possible,
// the rest buffered.
func (t *target) writeAt(p []byte, off int64) error {
	if t.direct != nil && off%align == 0 {
		n := len(p) / align * align
		if n > 0 {
			if _, err := t.direct.WriteAt(p[:n], off); err != nil {
				if !errors.Is(err, syscall.EINVAL) {
					return err
				}
				// The kernel wants another alignment: go buffered.
				t.direct.Close()
				t.direct = nil
				return t.writeAt(p, off)
			}
			p, off = p[n:], off+int64(n)
		}
	}
	if len(p) == 0 {
		return nil
	}
	_, err := t.f.WriteAt(p, off)
	return err
}

// readAt reads len(p) bytes at off from the device itself, not the page
// cache, when direct I/O is available; bytes past the end of a regular file
// read as zeros.
func (t *target) readAt(p []byte, off int64) error {
	var n int
	var err error
	if t.direct != nil && off%align == 0 && len(p) <= len(t.alignBuf) {
		want := (len(p) + align - 1) / align * align
		n, err = t.direct.ReadAt(t.alignBuf[:want], off)
		copy(p, t.alignBuf[:min(n, len(p))])
	} else {
		n, err = t.f.ReadAt(p, off)
	}
	if n >= len(p) {
		return nil
	}
	if err == io.EOF && !t.isBlock {
		clear(p[n:])
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (t *target) sync() error {
	if t.direct != nil {
		if err := t.direct.Sync(); err != nil {
			return err
		}
	}
	if err := t.f.Sync(); err != nil {
		return err
	}
	if t.isBlock && t.direct == nil {
		// Buffered verification must read the device, not the cache.
		if err := ioctl(t.f, blkFlsBuf); err != nil {
			return fmt.Errorf("dropping the page cache (BLKFLSBUF): %v", err)
		}
	}
	return nil
}

func (t *target) close() error {
	var err error
	if t.direct != nil {
		err = t.direct.Close()
		t.direct = nil
	}
	if t.f != nil {
		if e := t.f.Close(); err == nil {
			err = e
		}
		t.f = nil
	}
	return err
}

const (
	blkRRPart = 0x125f // _IO(0x12, 95): re-read the partition table
	blkFlsBuf = 0x1261 // _IO(0x12, 97): flush and drop the buffer cache
)

func ioctl(f *os.File, req uintptr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, 0)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// writer carries the state of one Write.
type writer struct {
	ctx           context.Context
	img           *os.File
	t             *target
	opts          Options
	image, device string
	done, total   int64
	readBuf       []byte
}

func (w *writer) report() {
	if w.opts.Progress != nil {
		w.opts.Progress(w.done, w.total)
	}
}

func (w *writer) canceled() error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("flash: writing %s to %s: %w after %d of %d bytes", w.image, w.device, err, w.done, w.total)
	}
	return nil
}

// copy writes the image's extent e to the target and records its sha256.
func (w *writer) copy(e *extent) error {
	h := sha256.New()
	buf := w.t.alignBuf
	for off := e.off; off < e.off+e.len; {
		if err := w.canceled(); err != nil {
			return err
		}
		n := min(int64(len(buf)), e.off+e.len-off)
		p := buf[:n]
		if _, err := w.img.ReadAt(p, off); err != nil && err != io.EOF {
			return fmt.Errorf("flash: reading image %s at %d: %v", w.image, off, err)
		}
		h.Write(p)
		if err := w.t.writeAt(p, off); err != nil {
			return fmt.Errorf("flash: writing %s at %d (%d bytes): %v", w.device, off, n, err)
		}
		off += n
		w.done += n
		w.report()
	}
	e.sum = h.Sum(nil)
	return nil
}

// hole makes [off, off+n) of the target read as zeros, unless SkipHoles.
// Ranges it had to write are added to verify.
func (w *writer) hole(off, n int64, verify *[]*extent) error {
	if n <= 0 {
		return nil
	}
	defer func() { w.report() }()
	if w.opts.SkipHoles {
		w.done += n
		return nil
	}
	if tryPunch && !w.t.noPunch {
		const keepSize, punchHole = 0x01, 0x02
		if err := syscall.Fallocate(int(w.t.f.Fd()), keepSize|punchHole, off, n); err == nil {
			w.done += n
			return nil
		}
		// EOPNOTSUPP on most SD readers and USB sticks; stop trying.
		w.t.noPunch = true
	}
	if w.t.zeroBuf == nil {
		w.t.zeroBuf = alignedBuffer(bufSize)
	}
	if w.readBuf == nil {
		w.readBuf = make([]byte, bufSize)
	}
	for end := off + n; off < end; {
		if err := w.canceled(); err != nil {
			return err
		}
		m := min(int64(bufSize), end-off)
		p := w.readBuf[:m]
		if err := w.t.readAt(p, off); err != nil {
			return fmt.Errorf("flash: reading %s at %d (%d bytes) to check for zeros: %v", w.device, off, m, err)
		}
		if !allZero(p) {
			if err := w.t.writeAt(w.t.zeroBuf[:m], off); err != nil {
				return fmt.Errorf("flash: zeroing %s at %d (%d bytes): %v", w.device, off, m, err)
			}
			*verify = append(*verify, &extent{off: off, len: m, sum: zeroSum(m), zeros: true})
		}
		off += m
		w.done += m
		w.report()
	}
	return nil
}

func allZero(p []byte) bool {
	var zero [4096]byte
	for len(p) > 0 {
		n := min(len(p), len(zero))
		if !bytes.Equal(p[:n], zero[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

func zeroSum(n int64) []byte {
	h := sha256.New()
	var zero [64 << 10]byte
	for n > 0 {
		m := min(n, int64(len(zero)))
		h.Write(zero[:m])
		n -= m
	}
	return h.Sum(nil)
}

// verify reads each extent back from the device and compares hashes.
func (w *writer) verify(exts []*extent) error {
	if w.readBuf == nil {
		w.readBuf = make([]byte, bufSize)
	}
	for _, e := range exts {
		h := sha256.New()
		for off := e.off; off < e.off+e.len; {
			if err := w.canceled(); err != nil {
				return err
			}
			n := min(int64(bufSize), e.off+e.len-off)
			p := w.readBuf[:n]
			if err := w.t.readAt(p, off); err != nil {
				return fmt.Errorf("flash: verify: reading %s at %d (%d bytes): %v", w.device, off, n, err)
			}
			h.Write(p)
			off += n
			if !e.zeros {
				w.done += n
				w.report()
			}
		}
		if got := h.Sum(nil); !bytes.Equal(got, e.sum) {
			return fmt.Errorf("flash: verify: %s bytes [%d, %d) have sha256 %x, the image's have %x: the card did not keep what was written (a fake-capacity or failing card?)", w.device, e.off, e.off+e.len, got, e.sum)
		}
	}
	return nil
}
