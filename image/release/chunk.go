package release

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// Content-defined chunking (FastCDC's normalized gear hash): a part is
// cut where a rolling hash of the last bytes matches a mask, so a cut
// depends only on the bytes near it. A file that moved inside the
// squashfs, because one before it grew, is cut the same way in the new
// root as in the old one, and its chunks are found on the device; fixed
// blocks all shift and none is.
const (
	// MinChunk, AvgChunk and MaxChunk bound the chunks: no cut before
	// MinChunk bytes, a cut forced at MaxChunk (BlockSize, what cloudd
	// stores and serves at most), about AvgChunk on average.
	MinChunk = 4 << 10
	AvgChunk = 16 << 10
	MaxChunk = BlockSize
)

// Below AvgChunk a cut needs more bits of the hash to be zero, beyond it
// fewer: chunk sizes cluster around AvgChunk (FastCDC's normalization).
const (
	maskSmall = 1<<16 - 1 // 16 bits
	maskLarge = 1<<12 - 1 // 12 bits
)

// gear maps a byte to a random 64-bit number, derived from SHA-256 so
// that it can never change under the releases already published.
var gear = func() (g [256]uint64) {
	for i := range g {
		sum := sha256.Sum256([]byte{'l', 'a', 'p', 's', 'e', 'b', 'o', 'x', byte(i)})
		g[i] = binary.LittleEndian.Uint64(sum[:])
	}
	return g
}()

// cut returns the length of the first chunk of data (data holds at most
// MaxChunk bytes, fewer only at the end of the part).
func cut(data []byte) int {
	n := len(data)
	if n <= MinChunk {
		return n
	}
	var h uint64
	i := MinChunk
	for ; i < min(n, AvgChunk); i++ {
		h = h<<1 + gear[data[i]]
		if h&maskSmall == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = h<<1 + gear[data[i]]
		if h&maskLarge == 0 {
			return i + 1
		}
	}
	return n
}

// chunk calls fn for each content-defined chunk of the size bytes of r,
// in order, with its offset and bytes (valid only during the call).
func chunk(r io.ReaderAt, size int64, fn func(off int64, b []byte) error) error {
	buf := make([]byte, MaxChunk)
	for off := int64(0); off < size; {
		b := buf[:min(int64(MaxChunk), size-off)]
		if _, err := r.ReadAt(b, off); err != nil && !(err == io.EOF && off+int64(len(b)) == size) {
			return fmt.Errorf("release: reading at %d: %w", off, err)
		}
		b = b[:cut(b)]
		if err := fn(off, b); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}
