package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The partition tables name the boot partition three times: MBR entry 1
// (what the Raspberry Pi firmware reads), the MBR boot code's LBAs of
// vmlinuz and cmdline.txt (a PC's BIOS), and GPT entry 1, in the primary
// and the backup table (UEFI firmware and Linux). SwitchBoot rewrites
// them in an order that a power cut may stop anywhere: each write is
// flushed before the next, the GPT first (backup, then primary, whose
// header comes after its entries, so that a torn primary is invalid and
// readers take the backup), the MBR last. Every state in between names,
// for each reader, one whole boot slot. The caller has written and
// flushed the new slot before, and knows from its own record that a
// switch may have been cut (Slots then disagree): it switches again.

// Slots reports the boot slot each table points partition 1 at: the MBR's
// entry 1, and the GPT's (the primary, or the backup when the primary
// is invalid).
func Slots(r io.ReaderAt) (mbr, gpt int, err error) {
	s, err := readMBR(r)
	if err != nil {
		return 0, 0, err
	}
	if mbr, err = slotAt(int64(binary.LittleEndian.Uint32(s[446+8:]))); err != nil {
		return 0, 0, fmt.Errorf("disk: MBR entry 1: %w", err)
	}
	g, err := readGPT(r)
	if err != nil {
		return 0, 0, err
	}
	if gpt, err = slotAt(int64(binary.LittleEndian.Uint64(g.entries[32:]))); err != nil {
		return 0, 0, fmt.Errorf("disk: GPT entry 1: %w", err)
	}
	return mbr, gpt, nil
}

func readMBR(r io.ReaderAt) ([SectorSize]byte, error) {
	var s [SectorSize]byte
	if _, err := r.ReadAt(s[:], 0); err != nil {
		return s, fmt.Errorf("disk: reading the MBR: %w", err)
	}
	if s[510] != 0x55 || s[511] != 0xAA {
		return s, errors.New("disk: sector 0 holds no MBR (no 55 AA signature)")
	}
	return s, nil
}

func slotAt(start int64) (int, error) {
	for s := range BootSlots {
		if BootSlotStart(s) == start {
			return s, nil
		}
	}
	return 0, fmt.Errorf("partition 1 starts at sector %d, which is no boot slot's start", start)
}

// SwitchBoot points partition 1 of the disk f at boot slot slot: GPT entry
// 1 in both tables, MBR entry 1, and, when bootCode is not nil, the MBR's
// boot code region (the BIOS loader with the LBAs of the new slot's files:
// see MoveBootCode). f is flushed after each step when it has a Sync
// method (an *os.File). Switching to the slot the tables already name
// rewrites them unchanged, which is how a cut switch is finished.
func SwitchBoot(f interface {
	io.ReaderAt
	io.WriterAt
}, slot int, bootCode []byte) error {
	if slot < 0 || slot >= BootSlots {
		return fmt.Errorf("disk: boot slot %d: want 0 to %d", slot, BootSlots-1)
	}
	if bootCode != nil && len(bootCode) != BootCodeSize {
		return fmt.Errorf("disk: boot code is %d bytes, want %d", len(bootCode), BootCodeSize)
	}
	mbr, err := readMBR(f)
	if err != nil {
		return err
	}
	g, err := readGPT(f)
	if err != nil {
		return err
	}
	start := BootSlotStart(slot)
	binary.LittleEndian.PutUint64(g.entries[32:], uint64(start))
	binary.LittleEndian.PutUint64(g.entries[40:], uint64(start+BootSectors-1))
	crc := crc32.ChecksumIEEE(g.entries)
	header := func(self, alternate, entryLBA uint64) []byte {
		h := bytes.Clone(g.header)
		binary.LittleEndian.PutUint64(h[24:], self)
		binary.LittleEndian.PutUint64(h[32:], alternate)
		binary.LittleEndian.PutUint64(h[72:], entryLBA)
		binary.LittleEndian.PutUint32(h[88:], crc)
		binary.LittleEndian.PutUint32(h[16:], 0)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:binary.LittleEndian.Uint32(h[12:])]))
		return h
	}
	if bootCode != nil {
		copy(mbr[:BootCodeSize], bootCode)
	}
	binary.LittleEndian.PutUint32(mbr[446+8:], uint32(start))
	binary.LittleEndian.PutUint32(mbr[446+12:], uint32(BootSectors))
	type write struct {
		data []byte
		lba  uint64
	}
	// Each step is flushed before the next; within the primary, the
	// entries reach the card before the header that vouches for them.
	steps := []struct {
		what   string
		writes []write
	}{
		{"backup GPT", []write{{g.entries, g.backupEntries}, {header(g.last, 1, g.backupEntries), g.last}}},
		{"primary GPT's entries", []write{{g.entries, gptEntrySector}}},
		{"primary GPT's header", []write{{header(1, g.last, gptEntrySector), 1}}},
		{"MBR", []write{{mbr[:], 0}}},
	}
	for _, st := range steps {
		for _, w := range st.writes {
			if _, err := f.WriteAt(w.data, int64(w.lba)*SectorSize); err != nil {
				return fmt.Errorf("disk: writing the %s: %w", st.what, err)
			}
		}
		if err := sync(f); err != nil {
			return fmt.Errorf("disk: flushing the %s: %w", st.what, err)
		}
	}
	return nil
}

func sync(f any) error {
	if s, ok := f.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}

// MoveBootCode returns the MBR boot code region code with the BIOS
// loader's LBAs of vmlinuz and cmdline.txt moved from boot slot from to
// boot slot to. A region without a loader (both LBAs zero: boards that do
// not boot through BIOS) is returned unchanged.
func MoveBootCode(code []byte, from, to int) ([]byte, error) {
	if len(code) != BootCodeSize {
		return nil, fmt.Errorf("disk: boot code is %d bytes, want %d", len(code), BootCodeSize)
	}
	out := bytes.Clone(code)
	delta := BootSlotStart(to) - BootSlotStart(from)
	for _, off := range []int{432, 436} {
		lba := int64(binary.LittleEndian.Uint32(out[off:]))
		if lba == 0 {
			continue
		}
		if lba < BootSlotStart(from) || lba >= BootSlotStart(from)+BootSectors {
			return nil, fmt.Errorf("disk: the boot loader's LBA %d lies outside boot slot %d", lba, from)
		}
		binary.LittleEndian.PutUint32(out[off:], uint32(lba+delta))
	}
	return out, nil
}

// gpt is one valid copy of a disk's GPT, with where both copies lie.
type gpt struct {
	header        []byte // the header's sector
	entries       []byte
	last          uint64 // the backup header's LBA
	backupEntries uint64
}

// readGPT reads the primary GPT, or the backup when the primary's header
// or entries fail their checksums (a switch cut between the primary's
// entries and its header).
func readGPT(r io.ReaderAt) (*gpt, error) {
	primary, perr := readGPTAt(r, 1)
	if perr == nil {
		return primary, nil
	}
	// The primary names the backup; without it, the backup is where
	// WriteTable put it: find the disk's end from the primary's header
	// even when its entries are torn.
	var h [SectorSize]byte
	if _, err := r.ReadAt(h[:], SectorSize); err != nil {
		return nil, fmt.Errorf("disk: primary GPT: %v; reading its header: %w", perr, err)
	}
	backup, err := readGPTAt(r, binary.LittleEndian.Uint64(h[32:]))
	if err != nil {
		return nil, fmt.Errorf("disk: primary GPT: %v; backup GPT: %w", perr, err)
	}
	return backup, nil
}

func readGPTAt(r io.ReaderAt, lba uint64) (*gpt, error) {
	h := make([]byte, SectorSize)
	if _, err := r.ReadAt(h, int64(lba)*SectorSize); err != nil {
		return nil, fmt.Errorf("reading the header at LBA %d: %w", lba, err)
	}
	if string(h[:8]) != "EFI PART" {
		return nil, fmt.Errorf("no GPT header at LBA %d", lba)
	}
	size := binary.LittleEndian.Uint32(h[12:])
	if size < gptHeaderSize || size > SectorSize {
		return nil, fmt.Errorf("GPT header at LBA %d: size %d", lba, size)
	}
	c := bytes.Clone(h[:size])
	binary.LittleEndian.PutUint32(c[16:], 0)
	if crc32.ChecksumIEEE(c) != binary.LittleEndian.Uint32(h[16:]) {
		return nil, fmt.Errorf("GPT header at LBA %d: checksum mismatch", lba)
	}
	n, esize := binary.LittleEndian.Uint32(h[80:]), binary.LittleEndian.Uint32(h[84:])
	if n != gptEntries || esize != gptEntrySize {
		return nil, fmt.Errorf("GPT header at LBA %d: %d entries of %d bytes, want %d of %d", lba, n, esize, gptEntries, gptEntrySize)
	}
	entries := make([]byte, gptEntries*gptEntrySize)
	entryLBA := binary.LittleEndian.Uint64(h[72:])
	if _, err := r.ReadAt(entries, int64(entryLBA)*SectorSize); err != nil {
		return nil, fmt.Errorf("reading the GPT entries at LBA %d: %w", entryLBA, err)
	}
	if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(h[88:]) {
		return nil, fmt.Errorf("GPT entries at LBA %d: checksum mismatch", entryLBA)
	}
	g := &gpt{header: h, entries: entries}
	if lba == 1 {
		g.last = binary.LittleEndian.Uint64(h[32:])
	} else {
		g.last = lba
	}
	g.backupEntries = g.last - gptEntries*gptEntrySize/SectorSize
	return g, nil
}
