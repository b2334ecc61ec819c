package updater

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/release"
)

// A release with new boot files (a kernel, its command line, the Pi's
// firmware) is never written over the ones in use: a power cut in the
// middle would leave no kernel to boot. The disk has two boot slots
// (image/disk); the release's boot file system goes into the one
// partition 1 does not cover, is flushed, and only then are the
// partition tables switched to it (disk.SwitchBoot, which a cut cannot
// tear). The switch is recorded first, so that a start after a cut in
// the middle finishes it. Once the device came back from the new slot,
// it is copied into slot 0 and the tables switched back, in the same
// two safe steps: at rest a device boots from slot 0, as a freshly
// flashed one does, so that a host's push (gokrazy's /update/boot and
// /update/mbr, which write partition 1 and boot code for slot 0) finds
// what it expects.
//
// Where gokrazy's reboot starts the kernel by kexec (amd64), new boot
// files run on trial first: written into the other slot with
// bootconf.SlotTrialFlag on their command line, the kernel told that
// partition 1 lies there (BLKPG) while the tables still name the slot in
// use, and gokrazy's reboot kexecs the new kernel with the new root. A
// reset, a watchdog or a power cut during the trial goes through the
// firmware, which boots the committed slot. The release on trial commits
// itself by removing the flag and switching the tables to its slot.

// bootSwitch is a switch of partition 1 begun and maybe not finished.
type bootSwitch struct {
	Slot int `json:"slot"`
	// BootCode is the MBR boot code the switch writes (nil: kept).
	BootCode []byte `json:"bootCode,omitempty"`
	// BootSHA256 is the release's boot file system the new slot holds
	// (empty when copying a slot): once the switch is done, the boot
	// files are that release's.
	BootSHA256 string `json:"bootSHA256,omitempty"`
}

// writeBootSlot writes the staged boot file system boot (size bytes,
// naming the root nroff partitions after the boot partition) into the
// boot slot not in use, and switches the partition tables to it; it
// returns that slot. bootCode is the release's MBR boot code, laid out
// for slot 0, or nil.
func (s *Service) writeBootSlot(boot io.ReaderAt, size int64, sha256 string, bootCode []byte, nroff int) (slot int, err error) {
	f, sw, err := s.fillBootSlot(boot, size, bootCode, func(fs []byte) error { return bootconf.ForRoot(fs, nroff) })
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sw.BootSHA256 = sha256
	return sw.Slot, s.switchBoot(f, sw)
}

// badBootFS is an error of the boot file system itself, found before
// anything is written (its text is the cause's).
type badBootFS struct{ error }

func (e badBootFS) Unwrap() error { return e.error }

// errNoSlotTrial means that new boot files cannot run on trial here.
var errNoSlotTrial = errors.New("the boot slot cannot run on trial")

// stageSlotTrial writes the staged boot file system p into the boot slot
// not in use, marked for a trial of the root nroff partitions after the
// boot partition, and tells the kernel that partition 1 lies there, for
// gokrazy's kexec reboot to start it. undo tells the kernel the truth
// again, for when the reboot does not happen.
func (s *Service) stageSlotTrial(boot io.ReaderAt, p release.Part, bootCode []byte, nroff int) (undo func(), err error) {
	f, sw, err := s.fillBootSlot(boot, p.Size, bootCode, func(fs []byte) error { return bootconf.ForSlotTrial(fs, nroff) })
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sw.BootSHA256 = p.SHA256
	s.state.BootTrial = &sw
	if err := s.state.save(s.dir()); err != nil {
		return nil, err
	}
	if err := movePartition(f, disk.BootSlotStart(sw.Slot)); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoSlotTrial, err)
	}
	return func() {
		f, err := os.OpenFile(s.Disk.Whole, os.O_RDWR, 0)
		if err == nil {
			err = movePartition(f, disk.BootSlotStart(1-sw.Slot))
			f.Close()
		}
		if err != nil {
			s.logf("updater: partition 1 stays on the boot slot on trial until the next boot: %v", err)
		}
	}, nil
}

// commitSlotTrial makes the boot slot the device runs on trial its boot
// files for good: the flag removed, the tables switched to it, and then
// the device brought to rest on slot 0.
func (s *Service) commitSlotTrial() error {
	sw := s.state.BootTrial
	if sw == nil {
		return errors.New("no record of the boot slot on trial")
	}
	f, err := os.OpenFile(s.Disk.Whole, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening the disk: %w", err)
	}
	defer f.Close()
	if err := bootconf.EndSlotTrial(bootSlot(f, sw.Slot)); err != nil {
		return fmt.Errorf("boot slot %d: %w", sw.Slot, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flushing boot slot %d: %w", sw.Slot, err)
	}
	if err := s.switchBoot(f, *sw); err != nil {
		return err
	}
	s.state.BootTrial = nil
	if err := s.state.save(s.dir()); err != nil {
		return err
	}
	// Committed: bringing the slot to rest may wait for another start.
	if err := s.restOnSlot0(f, sw.Slot); err != nil {
		s.logf("updater: boot slots: %v", err)
	}
	return nil
}

// bootSlot is boot slot n of the disk f, to read and write in place.
func bootSlot(f *os.File, n int) interface {
	io.ReaderAt
	io.WriterAt
} {
	off := disk.BootSlotStart(n) * disk.SectorSize
	return struct {
		*io.SectionReader
		*io.OffsetWriter
	}{io.NewSectionReader(f, off, disk.BootSectors*disk.SectorSize), io.NewOffsetWriter(f, off)}
}

// fillBootSlot writes the staged boot file system boot (size bytes),
// changed by edit, into the boot slot not in use and flushes it. It
// returns the open disk and the switch to that slot.
func (s *Service) fillBootSlot(boot io.ReaderAt, size int64, bootCode []byte, edit func([]byte) error) (_ *os.File, _ bootSwitch, err error) {
	f, err := os.OpenFile(s.Disk.Whole, os.O_RDWR, 0)
	if err != nil {
		return nil, bootSwitch{}, fmt.Errorf("opening the disk: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	mbr, gpt, err := disk.Slots(f)
	if err != nil {
		return nil, bootSwitch{}, err
	}
	if mbr != gpt {
		return nil, bootSwitch{}, fmt.Errorf("the partition tables disagree on the boot slot (MBR %d, GPT %d)", mbr, gpt)
	}
	if size > disk.BootSectors*disk.SectorSize {
		return nil, bootSwitch{}, fmt.Errorf("the boot file system is %d bytes, a boot slot holds %d", size, disk.BootSectors*disk.SectorSize)
	}
	target := 1 - mbr
	fs := make([]byte, size)
	defer debug.FreeOSMemory() // up to 100 MiB, once per kernel
	if _, err := boot.ReadAt(fs, 0); err != nil {
		return nil, bootSwitch{}, fmt.Errorf("reading the staged boot file system: %w", err)
	}
	if err := edit(fs); err != nil {
		return nil, bootSwitch{}, badBootFS{err}
	}
	if err := writeSlot(f, target, fs); err != nil {
		return nil, bootSwitch{}, err
	}
	if bootCode != nil {
		if bootCode, err = disk.MoveBootCode(bootCode, 0, target); err != nil {
			return nil, bootSwitch{}, err
		}
	}
	return f, bootSwitch{Slot: target, BootCode: bootCode}, nil
}

// writeSlot writes the boot file system fs into boot slot n of the disk
// f and flushes it.
func writeSlot(f *os.File, n int, fs []byte) error {
	if _, err := f.WriteAt(fs, disk.BootSlotStart(n)*disk.SectorSize); err != nil {
		return fmt.Errorf("writing boot slot %d: %w", n, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flushing boot slot %d: %w", n, err)
	}
	return nil
}

// switchBoot records sw, switches the tables and tells the kernel where
// partition 1 lies now.
func (s *Service) switchBoot(f *os.File, sw bootSwitch) error {
	s.state.BootSwitch = &sw
	if err := s.state.save(s.dir()); err != nil {
		return err
	}
	if err := disk.SwitchBoot(f, sw.Slot, sw.BootCode); err != nil {
		return err
	}
	s.state.BootSwitch = nil
	if sw.BootSHA256 != "" {
		s.state.BootSHA256 = sw.BootSHA256
	}
	if err := s.state.save(s.dir()); err != nil {
		return err
	}
	// gokrazy rewrites cmdline.txt on partition 1 as the kernel read the
	// table at boot: move it, or a trial flag would land in the slot no
	// firmware reads.
	if err := movePartition(f, disk.BootSlotStart(sw.Slot)); err != nil {
		s.logf("updater: boot slot %d: the kernel keeps the old partition 1 until the next boot: %v", sw.Slot, err)
	}
	return nil
}

// tidyBootSlots finishes or undoes a switch a cut interrupted, and
// brings a device that came back from slot 1 to rest on slot 0.
func (s *Service) tidyBootSlots() error {
	onTrial := s.onTrial()
	if !onTrial {
		s.state.BootTrial = nil // the trial is over, whatever ended it
	}
	f, err := os.OpenFile(s.Disk.Whole, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening the disk: %w", err)
	}
	defer f.Close()
	if sw := s.state.BootSwitch; sw != nil {
		// A cut came between the record and the end of the switch.
		// This boot came from the new slot if the running build's boot
		// files are the release's (a copy between slots is always
		// finished): then finish it; else from the old slot, which the
		// tables name again.
		if sw.BootSHA256 == "" || sw.BootSHA256 == s.Build.BootSHA256 {
			s.logf("updater: finishing the switch to boot slot %d a cut interrupted", sw.Slot)
		} else {
			s.logf("updater: undoing the switch to boot slot %d a cut interrupted: this boot came from slot %d", sw.Slot, 1-sw.Slot)
			sw = &bootSwitch{Slot: 1 - sw.Slot}
		}
		if err := s.switchBoot(f, *sw); err != nil {
			return err
		}
	}
	mbr, gpt, err := disk.Slots(f)
	if err != nil {
		return err
	}
	if mbr != gpt {
		// Only a switch does this, and it is recorded first: somebody
		// else's. The MBR is what the firmware reads.
		s.logf("updater: the partition tables disagree on the boot slot (MBR %d, GPT %d): following the MBR", mbr, gpt)
		if err := s.switchBoot(f, bootSwitch{Slot: mbr}); err != nil {
			return err
		}
	}
	if onTrial {
		return nil // the other slot may be the one on trial
	}
	return s.restOnSlot0(f, mbr)
}

// restOnSlot0 copies boot slot from, the one the tables name, into slot
// 0 and switches to it; from 0 needs nothing.
func (s *Service) restOnSlot0(f *os.File, from int) error {
	if from == 0 {
		return nil
	}
	src := bootSlot(f, from)
	size, err := fatSize(src)
	if err != nil {
		return fmt.Errorf("boot slot %d: %w", from, err)
	}
	code := make([]byte, disk.BootCodeSize)
	if _, err := f.ReadAt(code, 0); err != nil {
		return fmt.Errorf("reading the boot code: %w", err)
	}
	if code, err = disk.MoveBootCode(code, from, 0); err != nil {
		return err
	}
	fs := make([]byte, size)
	defer debug.FreeOSMemory()
	if _, err := src.ReadAt(fs, 0); err != nil {
		return fmt.Errorf("reading boot slot %d: %w", from, err)
	}
	if err := writeSlot(f, 0, fs); err != nil {
		return err
	}
	s.logf("updater: boot slot %d copied to slot 0, which the disk boots from again", from)
	return s.switchBoot(f, bootSwitch{Slot: 0, BootCode: code})
}

// fatSize returns the size of the FAT file system at the start of r,
// from its boot sector.
func fatSize(r io.ReaderAt) (int64, error) {
	var b [512]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return 0, err
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	sectors := int64(binary.LittleEndian.Uint16(b[19:]))
	if sectors == 0 {
		sectors = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	if b[510] != 0x55 || b[511] != 0xAA || bps != disk.SectorSize || sectors == 0 || sectors > disk.BootSectors {
		return 0, errors.New("no FAT file system of a boot slot's size (its boot sector does not say)")
	}
	return sectors * bps, nil
}

// movePartition is movePartition1, or what a test puts in its place: a
// disk image in a file has no partitions to move.
var movePartition = movePartition1

// movePartition1 tells the kernel that partition 1 of the disk f starts at
// sector start now (BLKPG): it re-reads the table only at boot.
func movePartition1(f *os.File, start int64) error {
	part := unix.BlkpgPartition{Pno: 1}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_DEL_PARTITION, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
	if err := blkpg(f, &arg); err != nil {
		return fmt.Errorf("removing partition 1: %w", err)
	}
	part.Start, part.Length = start*disk.SectorSize, disk.BootSectors*disk.SectorSize
	arg.Op = unix.BLKPG_ADD_PARTITION
	if err := blkpg(f, &arg); err != nil {
		return fmt.Errorf("adding partition 1 at sector %d: %w", start, err)
	}
	return nil
}

func blkpg(f *os.File, arg *unix.BlkpgIoctlArg) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(arg)))
	if errno != 0 {
		return errno
	}
	return nil
}
