package updater

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// squashfsSize returns how many bytes of a partition the squashfs in it
// takes: its superblock's bytes_used rounded up to the 4 KiB mksquashfs
// pads to, not the whole partition.
func squashfsSize(r io.ReaderAt, partSize int64) (int64, error) {
	var sb [48]byte
	if _, err := r.ReadAt(sb[:], 0); err != nil {
		return 0, fmt.Errorf("updater: reading the root's superblock: %w", err)
	}
	if string(sb[:4]) != "hsqs" {
		return 0, errors.New("updater: the running root is not a squashfs")
	}
	n := int64(binary.LittleEndian.Uint64(sb[40:]))
	n = (n + 4095) &^ 4095
	if partSize > 0 {
		n = min(n, partSize)
	}
	return n, nil
}
