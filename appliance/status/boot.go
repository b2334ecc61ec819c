package status

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/lapsebox/lapsebox/appliance/bootdisk"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/disk"
)

// BootPath is where statusd serves BootFiles.
const BootPath = "/api/boot"

// BootFiles is what statusd reads of the device's boot partition when
// asked: which boot files a push would write over. The running build's
// boot files (Snapshot.Build.BootSHA256) are not enough: a push that
// wrote new ones and failed before its reboot leaves the old build
// running on them.
type BootFiles struct {
	// SHA256 and Bytes name the boot file system on partition 1 read as
	// the image wrote it (bootconf.SumAsBuilt): a release's boot file
	// system whatever command-line rewrites gokrazy made since.
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	// Slot is the boot slot the MBR names: 0 at rest, 1 while updated
	// moves new boot files into place (appliance/updater, bootslot.go).
	Slot int `json:"slot"`
}

// ReadBootFiles reads d's boot partition and partition tables.
func ReadBootFiles(d bootdisk.Disk) (*BootFiles, error) {
	whole, err := os.Open(d.Whole)
	if err != nil {
		return nil, err
	}
	defer whole.Close()
	slot, _, err := disk.Slots(whole)
	if err != nil {
		return nil, fmt.Errorf("the partition tables of %s: %w", d.Whole, err)
	}
	boot, err := os.Open(d.Boot)
	if err != nil {
		return nil, err
	}
	defer boot.Close()
	sum, size, err := bootconf.SumAsBuilt(boot)
	if err != nil {
		return nil, fmt.Errorf("the boot partition %s: %w", d.Boot, err)
	}
	return &BootFiles{SHA256: sum, Bytes: size, Slot: slot}, nil
}

// boot serves BootFiles, read now and one request at a time: a Pi's
// boot partition is 73 MiB.
func (h *handler) boot(w http.ResponseWriter, r *http.Request) {
	if h.c.cfg.Disk == nil {
		http.Error(w, "statusd does not know the device's disk", http.StatusServiceUnavailable)
		return
	}
	h.bootMu.Lock()
	b, err := ReadBootFiles(*h.c.cfg.Disk)
	h.bootMu.Unlock()
	if err != nil {
		log.Printf("status: reading the boot files: %v", err)
		http.Error(w, "reading the boot partition failed (see statusd's log)", http.StatusInternalServerError)
		return
	}
	writeJSON(w, b)
}
