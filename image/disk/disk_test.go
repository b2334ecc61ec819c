package disk

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

func TestPartUUIDMatchesGokrazyScheme(t *testing.T) {
	// The hash is computed here too; the format around it is what
	// gokrazy's tool and cmdline.txt rely on.
	sig := Signature("gokrazy")
	got := PartUUID("gokrazy", 1).String()
	want := "60c24cc1-f3f9-427a-8199-" + strings.ToLower(hex32(sig)) + "0001"
	if got != want {
		t.Errorf("PartUUID(gokrazy, 1) = %s, want %s", got, want)
	}
	if PartUUID("a", 1) == PartUUID("b", 1) {
		t.Error("different hostnames give the same partition UUID")
	}
}

func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

func TestLayoutRejectsBadSizes(t *testing.T) {
	for _, size := range []int64{0, MinSizeBytes - SectorSize, MinSizeBytes + 1} {
		if _, err := (Layout{SizeBytes: size, Hostname: "x"}).Partitions(); err == nil {
			t.Errorf("Partitions with size %d: no error", size)
		}
	}
	if _, err := (Layout{SizeBytes: MinSizeBytes}).Partitions(); err == nil {
		t.Error("Partitions without hostname: no error")
	}
}

func writeImage(t *testing.T, l Layout, code [BootCodeSize]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(l.SizeBytes); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(f, l, code); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTableVerifiesWithSgdisk(t *testing.T) {
	sgdisk := testtool.Program(t, "sgdisk")
	for _, arch := range []string{"amd64", "arm64"} {
		l := Layout{SizeBytes: 2 << 30, Hostname: "lapsebox", GOARCH: arch}
		path := writeImage(t, l, [BootCodeSize]byte{})
		out, err := exec.Command(sgdisk, "-v", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "No problems found") {
			t.Fatalf("%s: sgdisk -v: %v\n%s", arch, err, out)
		}
		out, err = exec.Command(sgdisk, "-i", "2", path).CombinedOutput()
		if err != nil {
			t.Fatalf("sgdisk -i 2: %v\n%s", err, out)
		}
		wantType := RootType(arch).String()
		if !strings.Contains(strings.ToLower(string(out)), wantType) {
			t.Errorf("%s: partition 2 type is not %s:\n%s", arch, wantType, out)
		}
		if !strings.Contains(strings.ToLower(string(out)), PartUUID("lapsebox", 2).String()) {
			t.Errorf("%s: partition 2 unique GUID is not %s:\n%s", arch, PartUUID("lapsebox", 2), out)
		}
	}
}

func TestHybridMBRPointsAtBootFAT(t *testing.T) {
	l := Layout{SizeBytes: MinSizeBytes, Hostname: "pi", GOARCH: "arm64"}
	code, err := BootCode(nil, 0, 0, Signature("pi"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(writeImage(t, l, code))
	if err != nil {
		t.Fatal(err)
	}
	mbr := b[:SectorSize]
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		t.Fatal("no MBR signature")
	}
	e1 := mbr[446:462]
	if e1[0] != 0x80 || e1[4] != 0x0C {
		t.Errorf("entry 1: status %#x type %#x, want 0x80 0x0c (bootable FAT32 LBA)", e1[0], e1[4])
	}
	if start, size := binary.LittleEndian.Uint32(e1[8:]), binary.LittleEndian.Uint32(e1[12:]); start != FirstPartitionSector || size != BootSectors {
		t.Errorf("entry 1 covers %d+%d, want the boot partition %d+%d", start, size, FirstPartitionSector, BootSectors)
	}
	if e2 := mbr[462:478]; e2[4] != 0xEE || binary.LittleEndian.Uint32(e2[8:]) != 1 {
		t.Errorf("entry 2: type %#x start %d, want 0xee at 1", e2[4], binary.LittleEndian.Uint32(e2[8:]))
	}
	if sig := binary.LittleEndian.Uint32(mbr[440:]); sig != Signature("pi") {
		t.Errorf("disk signature %#x, want %#x", sig, Signature("pi"))
	}
	// gokrazy finds its root device by the first GPT entry's unique GUID at LBA 2.
	var u [16]byte
	copy(u[:], b[2*SectorSize+16:])
	if want := PartUUID("pi", 1).mixedEndian(); u != want {
		t.Errorf("first GPT entry unique GUID %x, want %x", u, want)
	}
	if last := b[len(b)-SectorSize:]; string(last[:8]) != "EFI PART" {
		t.Error("no backup GPT header in the last sector")
	}
}

func TestBootCode(t *testing.T) {
	loader := make([]byte, 440)
	for i := range loader {
		loader[i] = 0x90
	}
	code, err := BootCode(loader, 8200, 8300, 0xdeadbeef)
	if err != nil {
		t.Fatal(err)
	}
	if code[0] != 0x90 || binary.LittleEndian.Uint32(code[432:]) != 8200 || binary.LittleEndian.Uint32(code[436:]) != 8300 || binary.LittleEndian.Uint32(code[440:]) != 0xdeadbeef {
		t.Errorf("boot code fields not where the Minimal Linux Bootloader reads them: % x", code[428:446])
	}
	if _, err := BootCode(make([]byte, 441), 0, 0, 0); err == nil {
		t.Error("oversized loader accepted")
	}
}
