// Package delta turns one version of a file system image into the next
// with a patch much smaller than the image: the root file systems of two
// releases differ in a few programs, and a Go program rebuilt after a
// small change differs from the old one in small, regular ways all
// through its bytes (addresses moved by the same few bytes), which
// content-defined blocks cannot reuse but a bytewise difference can.
//
// A patch is
//
//	"lbxdlt02" (8 bytes)
//	the sha256 of old and of new (32 bytes each)
//	len(new) (uvarint)
//	three streams, each a uvarint length and raw DEFLATE data:
//	  control: for each step, uvarints x, y and a varint o; then a last x
//	  diff:    y bytes per step, added to old[o:o+y] (mod 256), its runs of
//	           zeros coded as counts (zeroruns.go)
//	  extra:   x bytes per step, copied as they are
//
// and new is, step after step, x bytes of extra then y bytes of old plus
// diff; the last x bytes of extra end it.
package delta

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

const magic = "lbxdlt02"

// header is what a patch says before its streams.
type header struct {
	OldSHA256, NewSHA256 [32]byte
	NewSize              int64
}

// encode frames a patch around its three compressed streams.
func encode(h header, ctl, diff, extra []byte) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write(h.OldSHA256[:])
	b.Write(h.NewSHA256[:])
	b.Write(binary.AppendUvarint(nil, uint64(h.NewSize)))
	for _, s := range [][]byte{ctl, diff, extra} {
		b.Write(binary.AppendUvarint(nil, uint64(len(s))))
		b.Write(s)
	}
	return b.Bytes()
}

// decode splits a patch into its header and its three compressed
// streams.
func decode(p []byte) (header, [3][]byte, error) {
	var h header
	var streams [3][]byte
	if len(p) < len(magic)+64 || string(p[:len(magic)]) != magic {
		return h, streams, fmt.Errorf("delta: not a patch (no %q header)", magic)
	}
	p = p[len(magic):]
	copy(h.OldSHA256[:], p)
	copy(h.NewSHA256[:], p[32:])
	p = p[64:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > 1<<40 {
		return h, streams, fmt.Errorf("delta: bad output size in the patch header")
	}
	h.NewSize = int64(n)
	p = p[k:]
	for i, name := range []string{"control", "diff", "extra"} {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return h, streams, fmt.Errorf("delta: the %s stream's length is cut or larger than the patch", name)
		}
		streams[i] = p[k : k+int(n)]
		p = p[k+int(n):]
	}
	if len(p) != 0 {
		return h, streams, fmt.Errorf("delta: %d bytes after the patch's last stream", len(p))
	}
	return h, streams, nil
}
