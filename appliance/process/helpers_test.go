package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var taken = time.Date(2026, 7, 14, 12, 30, 5, 0, time.UTC)

// encodeJPEG returns img as a JPEG.
func encodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withEXIF inserts an APP1 EXIF segment with an Orientation tag right after
// the SOI of a JPEG, in the byte order bo.
func withEXIF(jpg []byte, orientation uint16, bo binary.ByteOrder) []byte {
	var t bytes.Buffer
	if bo == binary.LittleEndian {
		t.WriteString("II*\x00")
	} else {
		t.WriteString("MM\x00*")
	}
	w := func(v any) { binary.Write(&t, bo, v) }
	w(uint32(8))           // IFD0 offset
	w(uint16(2))           // entries
	w([]uint16{0x010f, 2}) // Make, ASCII
	w(uint32(4))
	t.WriteString("Cnn\x00")
	w([]uint16{0x0112, 3}) // Orientation, SHORT
	w(uint32(1))
	w([]uint16{orientation, 0})
	w(uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), t.Bytes()...)
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// fill returns a w×h picture of colour c.
func fill(w, h int, c color.Color) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

var (
	red   = color.RGBA{0xe0, 0x20, 0x20, 0xff}
	green = color.RGBA{0x20, 0xc0, 0x20, 0xff}
	blue  = color.RGBA{0x20, 0x20, 0xe0, 0xff}
	grey  = color.RGBA{0x80, 0x80, 0x80, 0xff}
	ivory = color.RGBA{0xf0, 0xf0, 0xc0, 0xff}
)

// quadrants returns a w×h picture: red top left, green top right, blue
// bottom left, ivory bottom right.
func quadrants(w, h int) *image.RGBA {
	img := fill(w, h, red)
	draw.Draw(img, image.Rect(w/2, 0, w, h/2), image.NewUniform(green), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, h/2, w/2, h), image.NewUniform(blue), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(w/2, h/2, w, h), image.NewUniform(ivory), image.Point{}, draw.Src)
	return img
}

// writePNG writes img as a PNG in dir and returns its path.
func writePNG(t testing.TB, dir, name string, img image.Image) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// result is what one Process call wrote.
type result struct {
	order []string
	jpeg  map[string][]byte
}

func (r *result) image(t testing.TB, name string) image.Image {
	t.Helper()
	b, ok := r.jpeg[name]
	if !ok {
		t.Fatalf("no output %q", name)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output %s: %v", name, err)
	}
	return img
}

// run processes photo with spec.
func run(t testing.TB, spec *Spec, photo []byte) (*result, error) {
	t.Helper()
	p, err := New(spec)
	if err != nil {
		return nil, err
	}
	res := &result{jpeg: make(map[string][]byte)}
	bufs := make(map[string]*bytes.Buffer)
	err = p.Process(context.Background(), Photo{Name: "photo.jpg", R: bytes.NewReader(photo), Taken: taken},
		func(o *Output) (io.WriteCloser, error) {
			b := new(bytes.Buffer)
			bufs[o.Name] = b
			res.order = append(res.order, o.Name)
			return nopCloser{b}, nil
		})
	for n, b := range bufs {
		res.jpeg[n] = b.Bytes()
	}
	return res, err
}

// mustRun is run that fails the test on error.
func mustRun(t testing.TB, spec *Spec, photo []byte) *result {
	t.Helper()
	res, err := run(t, spec, photo)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// near reports whether c is within tol of want in every channel.
func near(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { x := int(a>>8) - int(b); return x >= -tol && x <= tol }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func rgb(c color.Color) color.RGBA {
	r, g, b, a := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

func newBufReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

type writeCloser = io.WriteCloser

func decodeTestJPEG(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }

func imageRect(w, h int) image.Rectangle { return image.Rect(0, 0, w, h) }
