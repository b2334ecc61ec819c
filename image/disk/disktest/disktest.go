// Package disktest makes disks as an image lays them out, for tests of
// what reads and switches a device's boot slots.
package disktest

import (
	"os"
	"testing"

	"github.com/lapsebox/lapsebox/image/disk"
)

// Write makes path a sparse disk of the smallest size with the image's
// partition tables (no boot code) and boot in boot slot 0.
func Write(t testing.TB, path string, boot []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := disk.Layout{SizeBytes: disk.MinSizeBytes, Hostname: "lapsebox", GOARCH: "amd64"}
	if err := f.Truncate(l.SizeBytes); err != nil {
		t.Fatal(err)
	}
	if err := disk.WriteTable(f, l, [disk.BootCodeSize]byte{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(boot, disk.BootSlotStart(0)*disk.SectorSize); err != nil {
		t.Fatal(err)
	}
}
