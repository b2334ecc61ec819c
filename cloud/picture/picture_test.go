package picture

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"strings"
	"testing"
)

// synth returns a JPEG w×h of a horizontal gradient from lo to hi gray.
func synth(tb testing.TB, w, h int, lo, hi uint8) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		v := uint8(int(lo) + (int(hi)-int(lo))*x/max(1, w-1))
		for y := range h {
			img.SetRGBA(x, y, color.RGBA{v, v, v, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name   string
		w, h   int
		lo, hi uint8
		luma   float64
	}{
		{"black", 640, 480, 0, 0, 0},
		{"white", 640, 480, 255, 255, 255},
		{"gradient", 1200, 800, 0, 200, 100},
		{"dusk", 3000, 2000, 5, 25, 15},
		{"narrow", 100, 50, 128, 128, 128},
	} {
		info, err := Analyze(bytes.NewReader(synth(t, tc.w, tc.h, tc.lo, tc.hi)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if info.Width != tc.w || info.Height != tc.h || math.Abs(info.Luma-tc.luma) > 2 {
			t.Errorf("%s: %d×%d luma %.1f, want %d×%d luma %.0f", tc.name, info.Width, info.Height, info.Luma, tc.w, tc.h, tc.luma)
		}
		th, err := jpeg.Decode(bytes.NewReader(info.Thumb))
		if err != nil {
			t.Fatalf("%s: thumbnail: %v", tc.name, err)
		}
		wantW := min(ThumbWidth, tc.w)
		if th.Bounds().Dx() != wantW || th.Bounds().Dy() != tc.h*wantW/tc.w {
			t.Errorf("%s: thumbnail %v", tc.name, th.Bounds())
		}
		// The thumbnail keeps the brightness.
		if l := meanLuma(th); math.Abs(l-tc.luma) > 4 {
			t.Errorf("%s: thumbnail luma %.1f, want %.0f", tc.name, l, tc.luma)
		}
	}
}

func TestAnalyzeRefuses(t *testing.T) {
	// A frame header claiming 60000×60000 pixels: refused before its
	// pixels are decoded.
	b := synth(t, 16, 16, 0, 0)
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	huge := append([]byte(nil), b...)
	huge[i+5], huge[i+6], huge[i+7], huge[i+8] = 0xEA, 0x60, 0xEA, 0x60
	for name, in := range map[string][]byte{
		"huge":      huge,
		"not jpeg":  []byte("GIF89a…"),
		"truncated": b[:len(b)/2],
		"empty":     nil,
	} {
		_, err := Analyze(bytes.NewReader(in))
		if err == nil || !strings.HasPrefix(err.Error(), "picture: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// An 18 MP frame (a Canon EOS 600D's) is analysed at ingest: Analyze
// against a bare decode of the same bytes, the reference.
func BenchmarkAnalyze18MP(b *testing.B) {
	img := synth(b, 5184, 3456, 10, 240)
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(img)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("analyze", func(b *testing.B) {
		for b.Loop() {
			if _, err := Analyze(bytes.NewReader(img)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
