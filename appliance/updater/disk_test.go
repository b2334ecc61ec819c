package updater

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestSquashfsSize(t *testing.T) {
	sb := make([]byte, 4096)
	copy(sb, "hsqs")
	binary.LittleEndian.PutUint64(sb[40:], 10_000)
	if n, err := squashfsSize(bytes.NewReader(sb), 1<<20); err != nil || n != 12288 {
		t.Errorf("squashfsSize = %d, %v; want 12288 (rounded up to 4 KiB)", n, err)
	}
	if n, _ := squashfsSize(bytes.NewReader(sb), 8192); n != 8192 {
		t.Errorf("bounded by the partition: %d", n)
	}
	if _, err := squashfsSize(bytes.NewReader(make([]byte, 64)), 1<<20); err == nil {
		t.Error("no squashfs magic: accepted")
	}
}
