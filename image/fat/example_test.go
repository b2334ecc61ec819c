package fat_test

import (
	"bytes"
	"fmt"
	"log"
	"time"

	"github.com/lapsebox/lapsebox/image/fat"
)

// Build a boot file system, then compute the LBAs the legacy BIOS boot
// loader in the MBR needs, and check that gokrazy's device finds the file
// it rewrites on updates.
func Example() {
	w := fat.NewWriter(fat.Options{
		Label:    "GOKRAZY",
		VolumeID: 0x2e18c40c,
		ModTime:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		MinBytes: 100 << 20, // the partition size
	})
	for _, f := range []struct {
		path string
		data []byte
	}{
		{"/vmlinuz", make([]byte, 16<<20)},
		{"/cmdline.txt", []byte("console=tty1 root=PARTUUID=2e18c40c-01/PARTNROFF=1 init=/gokrazy/init rootwait")},
		{"/loader/entries/gokrazy.conf", []byte("title gokrazy\nlinux /vmlinuz\n")},
	} {
		if err := w.AddFile(f.path, f.data); err != nil {
			log.Fatal(err)
		}
	}
	var img bytes.Buffer
	if _, err := w.WriteTo(&img); err != nil {
		log.Fatal(err)
	}

	const partitionStart = 8192 // LBA of the boot partition
	for _, p := range []string{"/vmlinuz", "/cmdline.txt"} {
		off, _, err := w.Extent(p)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s at LBA %d\n", p, partitionStart+off/fat.SectorSize)
	}
	if _, _, err := fat.Find(bytes.NewReader(img.Bytes()), "/loader/entries/gokrazy.conf"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Len()>>20, "MiB")
	// Output:
	// /vmlinuz at LBA 8436
	// /cmdline.txt at LBA 41204
	// 100 MiB
}
