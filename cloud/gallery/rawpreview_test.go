package gallery

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"testing"
)

// ifd is an IFD of a synthetic TIFF: its tags (SHORT or LONG values, or
// offsets to fill in) and what follows it.
type ifd struct {
	compression int    // 0: none
	strip       []byte // a JPEG-compressed strip
	jpeg        []byte // a JPEGInterchangeFormat preview
	subs        []ifd
}

// TIFFWithPreviews lays out a TIFF-based RAW file, as the cameras do:
// IFD0 first, each IFD's data after it, SubIFDs as an array of offsets,
// the IFDs of ifds chained by their next pointers.
func TIFFWithPreviews(bo binary.ByteOrder, ifds ...ifd) []byte {
	var b bytes.Buffer
	if bo == binary.LittleEndian {
		b.WriteString("II*\x00")
	} else {
		b.WriteString("MM\x00*")
	}
	binary.Write(&b, bo, uint32(8))
	var write func(list []ifd) int
	write = func(list []ifd) int { // returns the offset of the first IFD
		first := b.Len()
		for k, d := range list {
			start := b.Len()
			type entry struct {
				tag, typ uint16
				count    uint32
				value    uint32
			}
			var es []entry
			if d.compression != 0 {
				es = append(es, entry{0x103, 3, 1, uint32(d.compression)})
			}
			if d.strip != nil {
				es = append(es, entry{0x111, 4, 1, 0}, entry{0x117, 4, 1, uint32(len(d.strip))})
			}
			if len(d.subs) > 0 {
				es = append(es, entry{0x14a, 4, uint32(len(d.subs)), 0})
			}
			if d.jpeg != nil {
				es = append(es, entry{0x201, 4, 1, 0}, entry{0x202, 4, 1, uint32(len(d.jpeg))})
			}
			size := 2 + 12*len(es) + 4
			data := start + size
			put := func(p []byte) uint32 { off := data; data += len(p); return uint32(off) }
			var blobs [][]byte
			for i := range es {
				switch es[i].tag {
				case 0x111:
					es[i].value = put(d.strip)
					blobs = append(blobs, d.strip)
				case 0x201:
					es[i].value = put(d.jpeg)
					blobs = append(blobs, d.jpeg)
				}
			}
			for i := range es {
				if es[i].tag == 0x14a {
					es[i].value = uint32(data) // the array after the blobs, filled below
				}
			}
			binary.Write(&b, bo, uint16(len(es)))
			for _, e := range es {
				binary.Write(&b, bo, e.tag)
				binary.Write(&b, bo, e.typ)
				binary.Write(&b, bo, e.count)
				if e.typ == 3 {
					binary.Write(&b, bo, uint16(e.value))
					binary.Write(&b, bo, uint16(0))
				} else {
					binary.Write(&b, bo, e.value)
				}
			}
			nextAt := b.Len()
			binary.Write(&b, bo, uint32(0))
			for _, p := range blobs {
				b.Write(p)
			}
			if len(d.subs) > 0 {
				arr := b.Len()
				b.Write(make([]byte, 4*len(d.subs)))
				for j, sub := range d.subs {
					off := write([]ifd{sub})
					bo.PutUint32(b.Bytes()[arr+4*j:], uint32(off))
				}
			}
			if k+1 < len(list) {
				bo.PutUint32(b.Bytes()[nextAt:], uint32(b.Len()))
			}
		}
		return first
	}
	write(ifds)
	return b.Bytes()
}

func jpegOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// lossless stands for the raw data of a CR2 or DNG: a JPEG of the
// lossless kind (SOF3) Go does not decode, the largest part of the file.
var lossless = append([]byte("\xff\xd8\xff\xc3\x00\x0b\x08\x10\x00\x10\x00\x01\x01\x11\x00"), make([]byte, 200000)...)

func TestRawPreview(t *testing.T) {
	big, small, mid := jpegOf(t, 600, 400), jpegOf(t, 60, 40), jpegOf(t, 300, 200)
	for _, c := range []struct {
		name string
		file []byte
		want int // width of the preview found; 0: none
	}{
		{"CR2-like: IFD0 strip, IFD1 thumbnail, raw in a later IFD",
			TIFFWithPreviews(binary.LittleEndian, ifd{compression: 6, strip: big}, ifd{jpeg: small}, ifd{compression: 6, strip: lossless}), 600},
		{"NEF-like: previews in SubIFDs, big-endian",
			TIFFWithPreviews(binary.BigEndian, ifd{jpeg: small, subs: []ifd{{jpeg: mid}, {compression: 7, strip: lossless}}}), 300},
		{"DNG-like: only the lossless raw",
			TIFFWithPreviews(binary.LittleEndian, ifd{subs: []ifd{{compression: 7, strip: lossless}}}), 0},
		{"not a TIFF", []byte("II*\x00 a raw file"), 0},
		{"empty", nil, 0},
	} {
		sr, err := rawPreview(bytes.NewReader(c.file), int64(len(c.file)))
		got := 0
		if err == nil {
			cfg, derr := jpeg.DecodeConfig(sr)
			if derr != nil {
				t.Errorf("%s: the preview found does not decode: %v", c.name, derr)
			}
			got = cfg.Width
		}
		if got != c.want {
			t.Errorf("%s: a preview %d pixels wide (%v), want %d", c.name, got, err, c.want)
		}
	}
}

// Whatever the bytes, rawPreview ends, stays within the file and returns
// only a JPEG the decoder reads.
func FuzzRawPreview(f *testing.F) {
	f.Add(TIFFWithPreviews(binary.LittleEndian, ifd{compression: 6, strip: jpegOf(f, 16, 16)}, ifd{jpeg: jpegOf(f, 8, 8)}))
	f.Add(TIFFWithPreviews(binary.BigEndian, ifd{subs: []ifd{{jpeg: jpegOf(f, 8, 8)}}}))
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := rawPreview(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if _, err := jpeg.DecodeConfig(sr); err != nil {
			t.Errorf("a preview that does not decode: %v", err)
		}
	})
}

// CR2ForTest is a CR2-like RAW file embedding preview (its full-size
// JPEG) and thumb, and lossless data standing for the raw image.
func CR2ForTest(preview, thumb []byte) []byte {
	return TIFFWithPreviews(binary.LittleEndian, ifd{compression: 6, strip: preview}, ifd{jpeg: thumb}, ifd{compression: 6, strip: lossless})
}
