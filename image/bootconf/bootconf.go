// Package bootconf reads and tidies the boot files that carry the kernel's
// command line (cmdline.txt, and loader/entries/gokrazy.conf for UEFI) on
// a device, as gokrazy rewrites them.
//
// gokrazy rewrites those files in place and at their length: a trial boot
// (/update/testboot) inserts " gokrazy.try_boot_inactive=1" before each
// newline, and the boot on trial turns it into " gokrazy.switch_on_boot=1",
// which nothing reads and nothing removes. The image leaves spaces after
// the last newline for that growth (docs/image.md §2.3); each trial uses
// some of them for good. Tidy gives them back, so that a device can run
// any number of trials between two updates that rewrite the boot files.
// What a rewrite grows by is still written, past the file's end, into
// the slack of its last cluster (the file's length stays): AsBuilt's
// views zero it again, as the image has it.
package bootconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/lapsebox/lapsebox/image/fat"
)

// TrialFlag marks a trial boot on the kernel's command line: the boot it
// causes runs the inactive root with the flag still in /proc/cmdline.
const TrialFlag = "gokrazy.try_boot_inactive=1"

// switchedFlag is what the boot on trial leaves of TrialFlag.
const switchedFlag = "gokrazy.switch_on_boot=1"

// Files are the boot files that carry the command line, by their path in
// the boot file system; the second is absent on boards without UEFI.
var Files = []string{"/cmdline.txt", "/loader/entries/gokrazy.conf"}

// SlotTrialFlag marks lapsebox's trial of new boot files: the boot files
// written into the boot slot not in use carry it while the partition
// tables still name the slot in use, and the kernel in them is started
// by kexec, so that any reset ends the trial (appliance/updater).
// gokrazy does not know it.
const SlotTrialFlag = "lapsebox.try_boot_slot=1"

// OnTrial reports whether a kernel command line (/proc/cmdline) is a
// trial boot's: gokrazy's or lapsebox's.
func OnTrial(cmdline string) bool {
	f := strings.Fields(cmdline)
	return slices.Contains(f, TrialFlag) || slices.Contains(f, SlotTrialFlag)
}

// OnSlotTrial reports whether a kernel command line is that of new boot
// files on trial (SlotTrialFlag).
func OnSlotTrial(cmdline string) bool { return slices.Contains(strings.Fields(cmdline), SlotTrialFlag) }

var spacesBeforeNewline = regexp.MustCompile(` +\n`)

// Tidy returns a boot file without the flags gokrazy's trials left in it
// and with the spaces it padded before newlines moved to the end, at the
// same length; and how many bytes a rewrite may add before the file's
// end cuts into its last line's text.
func Tidy(b []byte) (tidy []byte, room int) {
	t := bytes.ReplaceAll(b, []byte(" "+TrialFlag), nil)
	t = bytes.ReplaceAll(t, []byte(" "+switchedFlag), nil)
	t = bytes.ReplaceAll(t, []byte(" "+SlotTrialFlag), nil)
	t = spacesBeforeNewline.ReplaceAll(t, []byte("\n"))
	t = bytes.TrimRight(t, " ")
	room = len(b) - len(t)
	return append(t, bytes.Repeat([]byte{' '}, room)...), room
}

// TrialRoom is the room a trial needs in b: gokrazy inserts the flag
// before each newline.
func TrialRoom(b []byte) int { return bytes.Count(b, []byte{'\n'}) * len(" "+TrialFlag) }

var partition = regexp.MustCompile(`(root=PARTUUID=[0-9a-fA-F-]+/PARTNROFF=)[0-9]+`)

// AsBuilt returns a boot file as the image wrote it, from the file as
// gokrazy left it: tidied, and naming root A again.
func AsBuilt(b []byte) []byte {
	t, _ := Tidy(b)
	return partition.ReplaceAll(t, []byte("${1}1"))
}

// Normalize rewrites a boot file system read into memory as the image
// wrote it: the boot files as AsBuilt makes them, the slack after them
// zeros, and what Linux's vfat driver left on it undone (fat.Unworn:
// gokrazy's kexec reboot mounts it).
// The result compares with a release's boot file system whatever trials,
// switches and reboots the device made since.
func Normalize(fs []byte) error { return asBuilt(memory(fs)) }

// AsBuiltView returns the boot file system on r as the image wrote it,
// as Normalize makes it, every other byte as r has it, and no byte past
// the file system's end (fat.Size): r may be a partition larger than
// it. r is not written. A device compares with, and patches from, its
// boot partition this way without holding it in memory.
func AsBuiltView(r io.ReaderAt) (*io.SectionReader, error) {
	size, err := fat.Size(r)
	if err != nil {
		return nil, fmt.Errorf("bootconf: %w", err)
	}
	o := &overlay{r: r}
	if err := asBuilt(o); err != nil {
		return nil, err
	}
	return io.NewSectionReader(o, 0, size), nil
}

// asBuilt rewrites the boot file system on rw as the image wrote it.
func asBuilt(rw interface {
	io.ReaderAt
	io.WriterAt
}) error {
	spans, err := fat.Unworn(rw)
	if err != nil {
		return fmt.Errorf("bootconf: %w", err)
	}
	for _, sp := range spans {
		if _, err := rw.WriteAt(sp.Data, sp.Offset); err != nil {
			return fmt.Errorf("bootconf: %w", err)
		}
	}
	for i, name := range Files {
		off, n, err := fat.Slack(rw, name)
		if err != nil {
			if i > 0 {
				continue // no UEFI entry on this board
			}
			return fmt.Errorf("bootconf: %s: %w", name, err)
		}
		if _, err := rw.WriteAt(make([]byte, n), off); err != nil {
			return fmt.Errorf("bootconf: %w", err)
		}
	}
	_, err = rewriteAt(rw, "", infallible(AsBuilt))
	return err
}

// SumAsBuilt returns the sha256 (hex) and the length of the boot file
// system on r read as built (AsBuiltView): the sha256 of a release's boot
// file system when r holds it, whatever gokrazy rewrote since.
func SumAsBuilt(r io.ReaderAt) (sum string, size int64, err error) {
	view, err := AsBuiltView(r)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, view); err != nil {
		return "", 0, fmt.Errorf("bootconf: reading the boot file system: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), view.Size(), nil
}

// overlay reads r with the bytes written to it laid over, and writes
// nothing to r.
type overlay struct {
	r     io.ReaderAt
	spans []span
}

type span struct {
	off int64
	b   []byte
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.r.ReadAt(p, off)
	for _, s := range o.spans {
		lo, hi := max(off, s.off), min(off+int64(n), s.off+int64(len(s.b)))
		if lo < hi {
			copy(p[lo-off:hi-off], s.b[lo-s.off:hi-s.off])
		}
	}
	return n, err
}

func (o *overlay) WriteAt(p []byte, off int64) (int, error) {
	o.spans = append(o.spans, span{off, bytes.Clone(p)})
	return len(p), nil
}

// ForRoot rewrites, in a boot file system read into memory, the boot
// files as the image wrote them but naming the root partition nroff
// partitions after the boot partition (1: root A, 2: root B), as
// gokrazy's switch leaves them on a device.
func ForRoot(fs []byte, nroff int) error {
	if nroff != 1 && nroff != 2 {
		return fmt.Errorf("bootconf: root partition offset %d: want 1 or 2", nroff)
	}
	with := fmt.Appendf(nil, "${1}%d", nroff)
	return rewrite(fs, infallible(func(b []byte) []byte { return partition.ReplaceAll(AsBuilt(b), with) }))
}

// ForSlotTrial is ForRoot with SlotTrialFlag before each newline of the
// boot files, taken from the padding at their end.
func ForSlotTrial(fs []byte, nroff int) error {
	if err := ForRoot(fs, nroff); err != nil {
		return err
	}
	return rewrite(fs, func(b []byte) ([]byte, error) {
		t := bytes.ReplaceAll(b, []byte("\n"), []byte(" "+SlotTrialFlag+"\n"))
		if grown := len(t) - len(b); len(t)-len(bytes.TrimRight(t, " ")) < grown {
			return nil, ErrNoRoom
		}
		return t[:len(b)], nil
	})
}

// EndSlotTrial removes SlotTrialFlag from the boot files of a boot file
// system on rw (a boot slot of a disk) in place, before it becomes the
// one the tables name.
func EndSlotTrial(rw interface {
	io.ReaderAt
	io.WriterAt
}) error {
	_, err := rewriteAt(rw, "", infallible(func(b []byte) []byte {
		t := bytes.ReplaceAll(b, []byte(" "+SlotTrialFlag), nil)
		return append(t, bytes.Repeat([]byte{' '}, len(b)-len(t))...)
	}))
	return err
}

// rewrite replaces each boot file in fs by f of it, at its length.
func rewrite(fs []byte, f func([]byte) ([]byte, error)) error {
	_, err := rewriteAt(memory(fs), "", f)
	return err
}

// infallible makes a rewrite that cannot fail one for rewriteAt.
func infallible(f func([]byte) []byte) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) { return f(b), nil }
}

// memory is a boot file system read into memory.
type memory []byte

func (m memory) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m memory) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > int64(len(m)) {
		return 0, errors.New("bootconf: write past the file system's end")
	}
	return copy(m[off:], p), nil
}

// rewriteAt replaces each boot file of the file system on rw by f of it,
// at its length, writing only what changed, and reports whether it wrote.
// where follows a file's name in errors (" on /dev/sda1").
func rewriteAt(rw interface {
	io.ReaderAt
	io.WriterAt
}, where string, f func([]byte) ([]byte, error)) (changed bool, err error) {
	for i, name := range Files {
		off, n, err := fat.Find(rw, name)
		if err != nil {
			if i > 0 {
				continue // no UEFI entry on this board
			}
			return changed, fmt.Errorf("bootconf: %s%s: %w", name, where, err)
		}
		b := make([]byte, n)
		if _, err := rw.ReadAt(b, off); err != nil {
			return changed, fmt.Errorf("bootconf: reading %s%s: %w", name, where, err)
		}
		t, err := f(bytes.Clone(b))
		if err != nil {
			return changed, fmt.Errorf("bootconf: %s%s: %w", name, where, err)
		}
		if len(t) != len(b) {
			return changed, fmt.Errorf("bootconf: %s%s: a rewrite changed its length", name, where)
		}
		if bytes.Equal(t, b) {
			continue
		}
		if _, err := rw.WriteAt(t, off); err != nil {
			return changed, fmt.Errorf("bootconf: writing %s%s: %w", name, where, err)
		}
		changed = true
	}
	return changed, nil
}

// ErrNoRoom means a boot file cannot take a trial's flag even tidied.
var ErrNoRoom = errors.New("no room left for the trial flag")

// TidyPartition tidies the boot files on a boot partition (a device node
// or an image of one) in place, and checks that each has room for a
// trial's flag. It writes only a file that changed, and syncs it.
func TidyPartition(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("bootconf: %w", err)
	}
	defer f.Close()
	changed, err := rewriteAt(f, " on "+path, func(b []byte) ([]byte, error) {
		t, room := Tidy(b)
		if !bytes.Contains(t, []byte{'\n'}) {
			return nil, fmt.Errorf("%w (no newline, before which gokrazy puts the flag)", ErrNoRoom)
		}
		if need := TrialRoom(t); room < need {
			return nil, fmt.Errorf("%w (%d bytes of padding, %d needed)", ErrNoRoom, room, need)
		}
		return t, nil
	})
	if err != nil {
		return err
	}
	if changed {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("bootconf: %s: %w", path, err)
		}
	}
	return f.Close()
}
