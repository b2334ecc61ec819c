package gallery

import (
	"bufio"
	"errors"
	"image/jpeg"
	"io"
	"sort"

	"github.com/lapsebox/lapsebox/internal/tiff"
)

// Limits of the walk through a RAW file's TIFF structure: enough for the
// raw formats' few IFDs, little for a crafted file.
const (
	maxIFDs       = 16
	maxIFDEntries = 512
	maxPreview    = 64 << 20
)

// TIFF tags that locate a JPEG.
const (
	tagCompression    = 0x0103
	tagStripOffsets   = 0x0111
	tagStripByteCount = 0x0117
	tagSubIFDs        = 0x014a
	tagJPEGOffset     = 0x0201
	tagJPEGLength     = 0x0202
)

// errNoPreview says a file has no JPEG preview that can be decoded.
var errNoPreview = errors.New("no embedded JPEG preview")

// rawPreview finds the largest baseline JPEG embedded in a TIFF-based RAW
// file (Canon CR2, Nikon NEF, Sony ARW, DNG, Pentax PEF: the camera's own
// preview, often full size) and returns a reader of it. It walks the IFDs
// from the first, their SubIFDs and their next IFDs, and takes a JPEG
// where one is pointed to (JPEGInterchangeFormat) or where a single strip
// is JPEG-compressed; a candidate Go's decoder cannot read (the lossless
// JPEG of the raw data itself) is passed over.
func rawPreview(r io.ReaderAt, size int64) (*io.SectionReader, error) {
	var head [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, errNoPreview
	}
	bo := tiff.ByteOrder(head[:])
	if bo == nil {
		return nil, errNoPreview
	}
	type span struct{ off, n int64 }
	var found []span
	queue := []int64{int64(bo.Uint32(head[4:]))}
	seen := map[int64]bool{}
	for len(queue) > 0 && len(seen) < maxIFDs {
		off := queue[0]
		queue = queue[1:]
		if off < 8 || off >= size || seen[off] {
			continue
		}
		seen[off] = true
		var nb [2]byte
		if _, err := r.ReadAt(nb[:], off); err != nil {
			continue
		}
		n := int64(bo.Uint16(nb[:]))
		if n == 0 || n > maxIFDEntries {
			continue
		}
		entries := make([]byte, 12*n+4)
		if _, err := r.ReadAt(entries, off+2); err != nil {
			continue
		}
		tags := map[uint16]uint32{}
		for i := range n {
			e := entries[12*i:]
			tag, typ, count := bo.Uint16(e), bo.Uint16(e[2:]), bo.Uint32(e[4:])
			var v uint32
			switch typ {
			case 3: // SHORT
				v = uint32(bo.Uint16(e[8:]))
			case 4, 13: // LONG, IFD
				v = bo.Uint32(e[8:])
			default:
				continue
			}
			if tag == tagSubIFDs {
				if count == 1 {
					queue = append(queue, int64(v))
				} else if count <= maxIFDs && typ != 3 {
					subs := make([]byte, 4*count)
					if _, err := r.ReadAt(subs, int64(v)); err == nil {
						for j := range count {
							queue = append(queue, int64(bo.Uint32(subs[4*j:])))
						}
					}
				}
				continue
			}
			if count == 1 {
				tags[tag] = v
			}
		}
		if o, ok := tags[tagJPEGOffset]; ok {
			found = append(found, span{int64(o), int64(tags[tagJPEGLength])})
		}
		if c := tags[tagCompression]; c == 6 || c == 7 {
			if o, ok := tags[tagStripOffsets]; ok {
				found = append(found, span{int64(o), int64(tags[tagStripByteCount])})
			}
		}
		queue = append(queue, int64(bo.Uint32(entries[12*n:])))
	}
	sort.Slice(found, func(i, j int) bool { return found[i].n > found[j].n })
	for _, s := range found {
		if s.n < 4 || s.n > maxPreview || s.off < 8 || s.off+s.n > size {
			continue
		}
		sr := io.NewSectionReader(r, s.off, s.n)
		if _, err := jpeg.DecodeConfig(bufio.NewReader(sr)); err != nil {
			continue
		}
		sr.Seek(0, io.SeekStart)
		return sr, nil
	}
	return nil, errNoPreview
}
