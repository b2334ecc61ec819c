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
package bootconf

import (
	"bytes"
	"errors"
	"fmt"
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

// OnTrial reports whether a kernel command line (/proc/cmdline) is a
// trial boot's.
func OnTrial(cmdline string) bool { return slices.Contains(strings.Fields(cmdline), TrialFlag) }

var spacesBeforeNewline = regexp.MustCompile(` +\n`)

// Tidy returns a boot file without the flags gokrazy's trials left in it
// and with the spaces it padded before newlines moved to the end, at the
// same length; and how many bytes a rewrite may add before the file's
// end cuts into its last line's text.
func Tidy(b []byte) (tidy []byte, room int) {
	t := bytes.ReplaceAll(b, []byte(" "+TrialFlag), nil)
	t = bytes.ReplaceAll(t, []byte(" "+switchedFlag), nil)
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

// Normalize rewrites, in a boot file system read into memory, the boot
// files as the image wrote them (AsBuilt): the result compares with a
// release's boot file system whatever trials and switches the device
// made since.
func Normalize(fs []byte) error {
	for i, name := range Files {
		off, n, err := fat.Find(bytes.NewReader(fs), name)
		if err != nil {
			if i > 0 {
				continue
			}
			return fmt.Errorf("bootconf: %s: %w", name, err)
		}
		copy(fs[off:off+n], AsBuilt(fs[off:off+n]))
	}
	return nil
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
	changed := false
	for i, name := range Files {
		off, n, err := fat.Find(f, name)
		if err != nil {
			if i > 0 {
				continue // no UEFI entry on this board
			}
			return fmt.Errorf("bootconf: %s on %s: %w", name, path, err)
		}
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			return fmt.Errorf("bootconf: reading %s on %s: %w", name, path, err)
		}
		t, room := Tidy(b)
		if !bytes.Contains(t, []byte{'\n'}) {
			return fmt.Errorf("bootconf: %s on %s: %w (no newline, before which gokrazy puts the flag)", name, path, ErrNoRoom)
		}
		if need := TrialRoom(t); room < need {
			return fmt.Errorf("bootconf: %s on %s: %w (%d bytes of padding, %d needed)", name, path, ErrNoRoom, room, need)
		}
		if bytes.Equal(t, b) {
			continue
		}
		if _, err := f.WriteAt(t, off); err != nil {
			return fmt.Errorf("bootconf: writing %s on %s: %w", name, path, err)
		}
		changed = true
	}
	if changed {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("bootconf: %s: %w", path, err)
		}
	}
	return f.Close()
}
