// Package disk lays out a gokrazy disk: a hybrid MBR and a GPT with a boot
// FAT, two root partitions and /perm, identified by partition UUIDs derived
// from the hostname so that an update regenerates the same identities.
package disk

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// SectorSize is the logical sector size every image is laid out for.
const SectorSize = 512

// Sizes of the fixed partitions. The boot partition and the roots are as
// gokrazy's own tool writes them; lapsebox adds a second boot slot.
const (
	FirstPartitionSector = 8192
	BootSectors          = 100 * 1024 * 1024 / SectorSize
	RootSectors          = 500 * 1024 * 1024 / SectorSize

	// BootSlots is how many boot file systems the disk has room for, one
	// after the other from FirstPartitionSector. Partition 1 covers the
	// one the boards boot; a release with new boot files is written into
	// the other, and the partition tables switched to it (SwitchBoot), so
	// that a power cut during the write leaves the boot files in use
	// whole. gokrazy's tool has one.
	BootSlots = 2

	// MinSizeBytes is the smallest disk: both boot slots, two roots and
	// 100 MiB of /perm (gokrazy's tool, with one boot slot, asks for
	// 1200 MiB).
	MinSizeBytes = (BootSlots*100 + 2*500 + 100) * 1024 * 1024
)

// BootSlotStart returns the first sector of boot slot s.
func BootSlotStart(s int) int64 { return FirstPartitionSector + int64(s)*BootSectors }

// Partition type GUIDs.
var (
	TypeEFISystem  = MustParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeLinuxData  = MustParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	TypeRootAMD64  = MustParseGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	TypeRootARM64  = MustParseGUID("B921B045-1DF0-41C3-AF44-4C6F280D3FAE")
	typeRootByArch = map[string]GUID{"amd64": TypeRootAMD64, "arm64": TypeRootARM64}
)

// RootType returns the GPT type of the first root partition for a Go
// architecture, as gokrazy's tool chooses it.
func RootType(goarch string) GUID {
	if t, ok := typeRootByArch[goarch]; ok {
		return t
	}
	return TypeRootARM64
}

// GUID is a GPT GUID in its textual (big-endian) byte order.
type GUID [16]byte

// ParseGUID parses the canonical 8-4-4-4-12 form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	hex := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(hex) != 32 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("disk: GUID %q: want the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	for i := range g {
		b, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			return g, fmt.Errorf("disk: GUID %q: %v", s, err)
		}
		g[i] = byte(b)
	}
	return g, nil
}

// MustParseGUID is ParseGUID for constants.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String returns the canonical lower-case form.
func (g GUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}

// mixedEndian returns the on-disk form: the first three fields little-endian.
func (g GUID) mixedEndian() [16]byte {
	var b [16]byte
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	copy(b[8:], g[8:])
	return b
}

// Signature is the hostname's FNV-32a hash: the MBR disk signature and the
// seed of every partition UUID.
func Signature(hostname string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(hostname))
	return h.Sum32()
}

// PartUUID returns the GPT unique GUID of partition n (0 for the disk
// itself) on a disk built for hostname, in gokrazy's scheme.
func PartUUID(hostname string, n int) GUID {
	return MustParseGUID(fmt.Sprintf("60c24cc1-f3f9-427a-8199-%08x00%02x", Signature(hostname), n))
}

// Partition is one entry of the partition table.
type Partition struct {
	Number int // 1-based
	Name   string
	Type   GUID
	UUID   GUID
	Start  int64 // first sector
	Size   int64 // sectors
}

// Offset returns the partition's byte offset on the disk.
func (p Partition) Offset() int64 { return p.Start * SectorSize }

// Bytes returns the partition's size in bytes.
func (p Partition) Bytes() int64 { return p.Size * SectorSize }

// Layout describes a disk to partition.
type Layout struct {
	SizeBytes int64  // whole disk; a multiple of SectorSize, at least MinSizeBytes
	Hostname  string // seeds the partition UUIDs
	GOARCH    string // chooses the root partition type
	BootSlot  int    // the boot slot partition 1 covers: 0 in a new image
}

// Partitions returns boot, root A, root B and perm, in that order.
func (l Layout) Partitions() ([]Partition, error) {
	if l.SizeBytes < MinSizeBytes || l.SizeBytes%SectorSize != 0 {
		return nil, fmt.Errorf("disk: size %d bytes: want a multiple of %d, at least %d (%d MiB)", l.SizeBytes, SectorSize, MinSizeBytes, MinSizeBytes>>20)
	}
	if l.BootSlot < 0 || l.BootSlot >= BootSlots {
		return nil, fmt.Errorf("disk: boot slot %d: want 0 to %d", l.BootSlot, BootSlots-1)
	}
	if l.Hostname == "" {
		return nil, fmt.Errorf("disk: empty hostname: partition UUIDs are derived from it")
	}
	last := l.SizeBytes/SectorSize - 1
	rootA := BootSlotStart(BootSlots)
	rootB := rootA + RootSectors
	perm := rootB + RootSectors
	permEnd := last - 33 // the backup GPT takes the last 33 sectors
	return []Partition{
		{1, "Microsoft basic data", TypeEFISystem, PartUUID(l.Hostname, 1), BootSlotStart(l.BootSlot), BootSectors},
		{2, "Linux filesystem", RootType(l.GOARCH), PartUUID(l.Hostname, 2), rootA, RootSectors},
		{3, "Linux filesystem", TypeLinuxData, PartUUID(l.Hostname, 3), rootB, RootSectors},
		{4, "Linux filesystem", TypeLinuxData, PartUUID(l.Hostname, 4), perm, permEnd - perm},
	}, nil
}

// BootCodeSize is how much of the MBR an update may replace: the boot code
// region before the disk signature and the partition table.
const BootCodeSize = 446

// BootCode returns the 446-byte MBR boot-code region: the Minimal Linux
// Bootloader in loader (at most 432 bytes of code) told where vmlinuz and
// cmdline.txt lie, followed by the disk signature. loader may be nil for
// boards that boot without it.
func BootCode(loader []byte, vmlinuzLBA, cmdlineLBA uint32, signature uint32) ([BootCodeSize]byte, error) {
	var b [BootCodeSize]byte
	if len(loader) > 440 {
		return b, fmt.Errorf("disk: boot loader is %d bytes, the MBR has room for 440", len(loader))
	}
	copy(b[:], loader)
	if loader != nil {
		binary.LittleEndian.PutUint32(b[432:], vmlinuzLBA)
		binary.LittleEndian.PutUint32(b[436:], cmdlineLBA)
	}
	binary.LittleEndian.PutUint32(b[440:], signature)
	return b, nil
}
