package process

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sof returns the offset of the first SOF0 marker's payload in a Go-encoded
// JPEG.
func sof(t *testing.T, jpg []byte) int {
	t.Helper()
	i := bytes.Index(jpg, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	return i + 4
}

func TestBadPhoto(t *testing.T) {
	good := encodeJPEG(t, fill(64, 48, grey), 90)
	patch := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	sos := bytes.Index(good, []byte{0xff, 0xda})
	var pngData bytes.Buffer
	png.Encode(&pngData, fill(4, 4, grey))
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotJPEG, "not a JPEG (looks like an empty file)"},
		{"text", []byte("hello, world"), ErrNotJPEG, "not a JPEG"},
		{"CR2", append([]byte("II*\x00\x10\x00\x00\x00CR\x02\x00"), make([]byte, 100)...), ErrNotJPEG, "looks like a Canon CR2 raw file"},
		{"NEF", append([]byte("MM\x00*\x00\x00\x00\x08"), make([]byte, 100)...), ErrNotJPEG, "TIFF-based raw file"},
		{"CR3", []byte("\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01"), ErrNotJPEG, "Canon CR3 raw file"},
		{"PNG", pngData.Bytes(), ErrNotJPEG, "looks like a PNG"},
		{"SOI only", good[:2], ErrNotJPEG, "looks like a damaged JPEG"},
		{"cut in the header", good[:40], ErrTruncated, "truncated: the file ends in its header"},
		{"cut in the data", good[:sos+(len(good)-sos)/2], ErrTruncated, "truncated: the file ends inside the image data"},
		{"cut after SOS", good[:sos+20], ErrTruncated, "truncated"},
		{"huge", patch(func(b []byte) {
			binary.BigEndian.PutUint16(b[sof(t, b)+1:], 60000)
			binary.BigEndian.PutUint16(b[sof(t, b)+3:], 60000)
		}), ErrTooLarge, "too large: 60000×60000 pixels, more than the limit of 60000000"},
		{"zero width", patch(func(b []byte) { binary.BigEndian.PutUint16(b[sof(t, b)+3:], 0) }), ErrCorrupt, "frame header says 0×48 pixels"},
		{"12-bit", patch(func(b []byte) { b[sof(t, b)] = 12 }), ErrCorrupt, "corrupt: unsupported JPEG feature"},
		{"bad marker", patch(func(b []byte) { b[4+int(binary.BigEndian.Uint16(b[4:]))] = 0x12 }), ErrCorrupt, "no marker where one should be"},
		{"scan first", append(append([]byte{}, good[:2]...), good[sos:]...), ErrCorrupt, "marker 0xda before the frame header"},
		{"garbage scan", append(bytes.Clone(good[:sos+14]), bytes.Repeat([]byte{0xff, 0x00, 0x13, 0x77}, 200)...), nil, ""},
	}
	p, err := New(&Spec{Outputs: []Output{{Name: "o", Width: 32}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created := false
			err := p.Process(t.Context(), Photo{Name: "/perm/photos/x.jpg", R: bytes.NewReader(tt.data)}, func(*Output) (wc writeCloser, err error) {
				created = true
				return nopCloser{&bytes.Buffer{}}, nil
			})
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindPhoto || e.Name != "/perm/photos/x.jpg" {
				t.Fatalf("got %v, want a photo *Error", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "process: photo /perm/photos/x.jpg: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q, want …%s…", err, tt.msg)
			}
			if created {
				t.Error("an output was created")
			}
		})
	}
}

func TestBadWatermark(t *testing.T) {
	dir := t.TempDir()
	photo := encodeJPEG(t, fill(64, 48, grey), 90)
	var b bytes.Buffer
	png.Encode(&b, fill(16, 16, color.RGBA{0xff, 0, 0, 0xff}))
	good := bytes.Clone(b.Bytes())
	idat := bytes.Index(good, []byte("IDAT"))
	corrupt := bytes.Clone(good)
	corrupt[idat+6] ^= 0xff
	b.Reset()
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 9000, 1)))
	wide := b.Bytes()
	files := map[string][]byte{
		"jpeg.png":      photo,
		"truncated.png": good[:idat+10],
		"corrupt.png":   corrupt,
		"wide.png":      wide,
		"empty.png":     nil,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "dir.png"), 0o755)
	tests := []struct {
		file string
		want error
		msg  string
	}{
		{"missing.png", fs.ErrNotExist, "no such file or directory"},
		{"jpeg.png", ErrNotPNG, "not a PNG"},
		{"empty.png", ErrNotPNG, "not a PNG"},
		{"truncated.png", ErrTruncated, "truncated"},
		{"corrupt.png", ErrCorrupt, "corrupt"},
		{"wide.png", ErrTooLarge, "too large: 9000×1 pixels"},
		{"dir.png", nil, "not a regular file"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.file)
		_, err := run(t, &Spec{Outputs: []Output{{Name: "o", Width: 32, Watermark: &Watermark{File: path}}}}, photo)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindWatermark || e.Name != path {
			t.Errorf("%s: got %v, want a watermark *Error", tt.file, err)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.file, err, tt.want)
		}
		if want := "process: watermark " + path + ": "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: message %q, want %s…%s…", tt.file, err, want, tt.msg)
		}
	}
}

// TestWatermarkReloaded checks that a watermark put right, or changed, is
// used with no new Processor.
func TestWatermarkReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wm.png")
	p, err := New(&Spec{Outputs: []Output{{Name: "o", Width: 64, Quality: 100, Watermark: &Watermark{File: path, Position: "top-left"}}}})
	if err != nil {
		t.Fatal(err)
	}
	photo := encodeJPEG(t, fill(64, 48, grey), 100)
	corner := func() (color.Color, error) {
		var b bytes.Buffer
		err := p.Process(t.Context(), Photo{Name: "x.jpg", R: bytes.NewReader(photo)}, func(*Output) (writeCloser, error) { return nopCloser{&b}, nil })
		if err != nil {
			return nil, err
		}
		img, err := decodeTestJPEG(b.Bytes())
		if err != nil {
			return nil, err
		}
		return img.At(2, 2), nil
	}
	if _, err := corner(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	writePNG(t, filepath.Dir(path), "wm.png", fill(8, 8, red))
	if c, err := corner(); err != nil || !near(c, red, 10) {
		t.Fatalf("red: %v %v", c, err)
	}
	writePNG(t, filepath.Dir(path), "wm.png", fill(9, 9, blue)) // another size
	if c, err := corner(); err != nil || !near(c, blue, 10) {
		t.Fatalf("blue: %v %v", c, err)
	}
}
