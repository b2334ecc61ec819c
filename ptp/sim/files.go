package sim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"time"
)

// rawSource makes pseudo-random RAW files without holding them: a file's
// bytes are computed from a 64 KiB random table as they are read.
type rawSource struct {
	table [2 << 16]byte // the table twice, so that any 64 KiB window is contiguous
}

func newRawSource(r *rand.Rand) *rawSource {
	s := new(rawSource)
	for i := 0; i < 1<<16; i += 8 {
		binary.LittleEndian.PutUint64(s.table[i:], r.Uint64())
	}
	copy(s.table[1<<16:], s.table[:1<<16])
	return s
}

// rawFile is one RAW file: a TIFF-like header, then pseudo-random bytes.
type rawFile struct {
	s    *rawSource
	key  uint64
	size int64
	head []byte
}

func (s *rawSource) file(key uint64, size int64, ext string) *rawFile {
	head := []byte("II*\x00\x10\x00\x00\x00")
	if ext == ".CR2" {
		head = append(head, "CR\x02\x00"...)
	}
	head = fmt.Appendf(head, "lapsebox sim shot %d\x00", key)
	return &rawFile{s: s, key: key, size: size, head: head}
}

// ReadAt implements io.ReaderAt.
func (f *rawFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off < f.size {
		if off < int64(len(f.head)) {
			k := copy(p[n:], f.head[off:])
			n += k
			off += int64(k)
			continue
		}
		block := uint64(off) >> 16
		start := (f.key*0x9E3779B1 + block*40503) & 0xFFFF
		in := uint64(off) & 0xFFFF
		w := f.s.table[start+in : start+(1<<16)]
		k := copy(p[n:min(len(p), n+int(f.size-off))], w)
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, fmt.Errorf("sim: read past the end of a %d-byte file", f.size)
	}
	return n, nil
}

// makeJPEG draws a test pattern with the capture number and time, encodes
// it as a JPEG and pads it with a comment segment to about size bytes.
func makeJPEG(r *rand.Rand, shot int, t time.Time, w, h, size int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bars := []color.RGBA{{235, 235, 235, 255}, {235, 235, 16, 255}, {16, 235, 235, 255}, {16, 235, 16, 255},
		{235, 16, 235, 255}, {235, 16, 16, 255}, {16, 16, 235, 255}, {16, 16, 16, 255}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c color.RGBA
			if y < h*2/3 {
				c = bars[x*len(bars)/w]
			} else {
				v := uint8(x * 255 / w)
				c = color.RGBA{v, uint8(shot * 37), 255 - v, 255}
			}
			// A little noise, so that the picture does not compress to nothing.
			n := uint8(r.IntN(16))
			c.R, c.G, c.B = sat(c.R, n), sat(c.G, n), sat(c.B, n)
			img.SetRGBA(x, y, c)
		}
	}
	scale := max(1, w/160)
	drawText(img, fmt.Sprintf("#%04d", shot), 4*scale, 4*scale, scale)
	drawText(img, t.Format("2006-01-02 15:04:05"), 4*scale, 14*scale, scale)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err) // cannot happen with an in-memory RGBA image
	}
	return padJPEG(r, buf.Bytes(), size)
}

func sat(v, n uint8) uint8 {
	if int(v)+int(n) > 255 {
		return 255
	}
	return v + n
}

// padJPEG inserts comment segments of random bytes after SOI until b is
// size bytes long (or as close as segments of at least 4 bytes allow).
func padJPEG(r *rand.Rand, b []byte, size int) []byte {
	need := size - len(b)
	if need < 4 {
		return b
	}
	out := make([]byte, 0, size)
	out = append(out, b[:2]...) // SOI
	for need >= 4 {
		n := min(need-4, 0xFFFF-2)
		if rest := need - 4 - n; rest > 0 && rest < 4 {
			n -= 4 // leave room for one more segment
		}
		out = append(out, 0xFF, 0xFE, byte((n+2)>>8), byte(n+2))
		for i := 0; i < n; i++ {
			out = append(out, byte(r.Uint32()))
		}
		need -= n + 4
	}
	return append(out, b[2:]...)
}

// font is a 3×5 bitmap font for the characters of the caption: each row
// is 3 bits, most significant on the left.
var font = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, '#': {5, 7, 5, 7, 5}, ':': {0, 2, 0, 2, 0},
	'-': {0, 0, 7, 0, 0}, ' ': {},
}

// drawText draws s in black on white at (x, y), each font pixel scale×2
// image pixels.
func drawText(img *image.RGBA, s string, x, y, scale int) {
	px := 2 * scale
	b := img.Bounds()
	fill := func(x0, y0, w, h int, c color.RGBA) {
		for yy := y0; yy < y0+h && yy < b.Max.Y; yy++ {
			for xx := x0; xx < x0+w && xx < b.Max.X; xx++ {
				img.SetRGBA(xx, yy, c)
			}
		}
	}
	fill(x-px, y-px, (len(s)*4+1)*px, 7*px, color.RGBA{255, 255, 255, 255})
	for i, ch := range s {
		g := font[ch]
		for row := 0; row < 5; row++ {
			for col := 0; col < 3; col++ {
				if g[row]&(4>>col) != 0 {
					fill(x+(i*4+col)*px, y+row*px, px, px, color.RGBA{0, 0, 0, 255})
				}
			}
		}
	}
}
