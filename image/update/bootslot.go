package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// gokrazy's /update/boot writes new boot files over partition 1 in
// place: a power cut in the middle leaves half a kernel or half a FAT,
// and a device that does not boot. A lapsebox device's updated takes
// them instead, writes them into the boot slot partition 1 does not
// cover (their command lines naming the root just written), flushes
// them, and only then switches the partition tables to that slot, in
// steps no cut can tear (appliance/updater, docs/image.md §6.3). Push
// uses it when Device.Updated is set.

// UpdatedPort is the port updated takes pushed boot files on.
const UpdatedPort = "8081"

// BootSlotPath is updated's handler for pushed boot files: PUT the boot
// file system as the image built it, with BootSHA256Header and, for
// boards that boot through the MBR, BootCodeHeader. The answer is the
// hex sha256 of what it took, as gokrazy's /update/boot answers.
const BootSlotPath = "/update/boot-slot"

const (
	// BootSHA256Header carries the boot file system's sha256 (hex):
	// updated writes nothing unless the body has it.
	BootSHA256Header = "Lapsebox-Boot-Sha256"
	// BootCodeHeader carries the image's MBR boot code (MBRSize bytes,
	// standard base64), laid out for the disk's first boot slot.
	BootCodeHeader = "Lapsebox-Boot-Code"
)

// ErrNoBootSlot means that the device has no updated that takes boot
// files (an image older than BootSlotPath, or updated not running).
var ErrNoBootSlot = errors.New("the device's updated takes no boot files")

// pushBootSlot hands img.Boot and img.MBR to the device's updated.
func pushBootSlot(ctx context.Context, dev Device, img Image, report func(Progress)) error {
	c, err := newClient(Device{BaseURL: dev.Updated, Password: dev.Password, Client: dev.Client})
	if err != nil {
		return fmt.Errorf("update: Device.Updated: %w", err)
	}
	// A copy of its own: a transport still sending it after an early
	// answer must not race with gokrazy's upload of img.Boot, the
	// fallback.
	if _, err := img.Boot.Seek(0, io.SeekStart); err != nil {
		return &Error{Step: StepBoot, Err: fmt.Errorf("rewinding the boot file system: %w", err)}
	}
	fs, err := io.ReadAll(img.Boot)
	if err != nil {
		return &Error{Step: StepBoot, Err: fmt.Errorf("reading the boot file system: %w", err)}
	}
	sum := sha256.Sum256(fs)
	hdr := http.Header{BootSHA256Header: {hex.EncodeToString(sum[:])}}
	if img.MBR != nil {
		hdr.Set(BootCodeHeader, base64.StdEncoding.EncodeToString(img.MBR))
	}
	// updated starts a few seconds after gokrazy answers, and restarts
	// after a change of the site configuration: a refused connection is
	// tried again for a while before it counts as no updated at all.
	deadline := time.Now().Add(bootSlotPatience)
	for said := false; ; said = true {
		err = c.upload(ctx, StepBoot, BootSlotPath, bytes.NewReader(fs), hdr, report)
		var e *Error
		refused := errors.As(err, &e) && e.StatusCode == 0 && isRefused(e.Err)
		if refused && time.Now().Before(deadline) {
			if !said {
				report(Progress{Step: StepBoot, Detail: fmt.Sprintf("the device's updated does not answer yet: trying again for up to %v", bootSlotPatience)})
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(pollInterval):
			}
			continue
		}
		if refused || (e != nil && e.StatusCode == http.StatusNotFound) {
			return fmt.Errorf("%w: %v", ErrNoBootSlot, err)
		}
		return err
	}
}

// bootSlotPatience is how long a push waits for the device's updated to
// answer before it takes the device for one without (a var for tests).
var bootSlotPatience = 30 * time.Second

// isRefused reports whether err is a refused connection: nothing listens.
func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
