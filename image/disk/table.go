package disk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

const (
	gptEntries     = 128
	gptEntrySize   = 128
	gptEntrySector = 2 // gokrazy's device-side reader assumes entries at LBA 2
	gptHeaderSize  = 92
)

// WriteTable writes the hybrid MBR (boot code included) and both GPT copies
// of layout to w, which must be at least layout.SizeBytes long.
//
// The MBR is hybrid rather than protective because the Raspberry Pi
// firmware finds its FAT through MBR entry 1; the 0xEE entry behind it makes
// Linux read the GPT.
func WriteTable(w io.WriterAt, l Layout, bootCode [BootCodeSize]byte) error {
	parts, err := l.Partitions()
	if err != nil {
		return err
	}
	boot := parts[0]

	var mbr [SectorSize]byte
	copy(mbr[:], bootCode[:])
	putMBREntry(mbr[446:], 0x80, 0x0C, uint32(boot.Start), uint32(boot.Size))
	putMBREntry(mbr[462:], 0x00, 0xEE, 1, FirstPartitionSector-1)
	mbr[510], mbr[511] = 0x55, 0xAA
	if _, err := w.WriteAt(mbr[:], 0); err != nil {
		return fmt.Errorf("disk: writing MBR: %w", err)
	}

	entries := make([]byte, gptEntries*gptEntrySize)
	for i, p := range parts {
		e := entries[i*gptEntrySize:]
		t, u := p.Type.mixedEndian(), p.UUID.mixedEndian()
		copy(e[0:], t[:])
		copy(e[16:], u[:])
		binary.LittleEndian.PutUint64(e[32:], uint64(p.Start))
		binary.LittleEndian.PutUint64(e[40:], uint64(p.Start+p.Size-1))
		for j, c := range utf16.Encode([]rune(p.Name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], c)
		}
	}
	entriesCRC := crc32.ChecksumIEEE(entries)

	last := uint64(l.SizeBytes/SectorSize - 1)
	backupEntries := last - gptEntries*gptEntrySize/SectorSize
	disk := PartUUID(l.Hostname, 0).mixedEndian()
	header := func(self, alternate, entryLBA uint64) []byte {
		h := make([]byte, SectorSize)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], gptHeaderSize)
		binary.LittleEndian.PutUint64(h[24:], self)
		binary.LittleEndian.PutUint64(h[32:], alternate)
		binary.LittleEndian.PutUint64(h[40:], gptEntrySector+gptEntries*gptEntrySize/SectorSize) // first usable
		binary.LittleEndian.PutUint64(h[48:], backupEntries-1)                                   // last usable
		copy(h[56:], disk[:])
		binary.LittleEndian.PutUint64(h[72:], entryLBA)
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:gptHeaderSize]))
		return h
	}
	writes := []struct {
		what string
		data []byte
		lba  uint64
	}{
		{"primary GPT header", header(1, last, gptEntrySector), 1},
		{"primary GPT entries", entries, gptEntrySector},
		{"backup GPT entries", entries, backupEntries},
		{"backup GPT header", header(last, 1, backupEntries), last},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.data, int64(wr.lba)*SectorSize); err != nil {
			return fmt.Errorf("disk: writing %s: %w", wr.what, err)
		}
	}
	return nil
}

func putMBREntry(e []byte, status, typ byte, start, size uint32) {
	e[0] = status
	copy(e[1:4], []byte{0xFE, 0xFF, 0xFF}) // CHS unused: LBA only
	e[4] = typ
	copy(e[5:8], []byte{0xFE, 0xFF, 0xFF})
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], size)
}
