package process

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/anthonynsimon/bild/transform"
	"github.com/lapsebox/lapsebox/appliance/process/internal/jpegscale"
	"github.com/lapsebox/lapsebox/appliance/process/internal/synth"
)

// photo18MP is a photo-like 5184×3456 JPEG at quality 92 (Go writes 4:2:0;
// scripts/bench-process also measures a 4:2:2 one, as Canon writes).
var photo18MP = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, synth.Photo(5184, 3456, 1, 10), &jpeg.Options{Quality: 92})
	return b.Bytes()
})

// benchSpec is the three sizes of the bench script, watermarked and
// captioned.
func benchSpec(b *testing.B) *Spec {
	wm := writePNG(b, b.TempDir(), "wm.png", synth.Logo(400, 400, color.NRGBA{0xd0, 0x30, 0x20, 0xff}))
	mark := func(margin int) *Watermark {
		return &Watermark{File: wm, Opacity: 0.6, Margin: margin, Scale: 0.2}
	}
	caption := func(size float64, margin int) *Caption {
		return &Caption{Text: "Site 7 — {time}", Size: size, Shadow: "#000000a0", Margin: margin}
	}
	return &Spec{Outputs: []Output{
		{Name: "large", Width: 1920, Height: 1920, Quality: 85, Watermark: mark(20), Caption: caption(32, 20)},
		{Name: "medium", Width: 1280, Height: 1280, Quality: 85, Watermark: mark(14), Caption: caption(22, 14)},
		{Name: "thumb", Width: 640, Height: 640, Fit: "fill", Quality: 80, Watermark: mark(8), Caption: caption(14, 8)},
	}}
}

// BenchmarkProcess18MP makes the three outputs from an 18 MP photo.
func BenchmarkProcess18MP(b *testing.B) {
	photo := photo18MP()
	p, err := New(benchSpec(b))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.SetBytes(int64(len(photo)))
	for b.Loop() {
		err := p.Process(b.Context(), Photo{Name: "photo.jpg", R: bytes.NewReader(photo), Taken: taken},
			func(o *Output) (io.WriteCloser, error) { return os.Create(filepath.Join(dir, o.Name+".jpg")) })
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStages times the steps of the largest output separately, and
// bild's filters against the tabulated Lanczos and the fixed-point one.
func BenchmarkStages(b *testing.B) {
	photo := photo18MP()
	img, err := jpeg.Decode(bytes.NewReader(photo))
	if err != nil {
		b.Fatal(err)
	}
	ycc := img.(*image.YCbCr)
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			jpeg.Decode(bytes.NewReader(photo))
		}
	})
	for _, d := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("decode-1:%d", d), func(b *testing.B) {
			for b.Loop() {
				jpegscale.DecodeScaled(bytes.NewReader(photo), d)
			}
		})
	}
	b.Run("to-RGBA", func(b *testing.B) {
		for b.Loop() {
			boxYCbCr(ycc, ycc.Rect, 1, 1)
		}
	})
	b.Run("box-2x", func(b *testing.B) {
		for b.Loop() {
			boxYCbCr(ycc, ycc.Rect, 2, 2)
		}
	})
	half := boxYCbCr(ycc, ycc.Rect, 2, 2)
	for _, f := range []struct {
		name string
		f    transform.ResampleFilter
	}{
		{"bild-lanczos", transform.Lanczos},
		{"table-lanczos", lanczos3},
		{"bild-catmullrom", transform.CatmullRom},
		{"bild-linear", transform.Linear},
	} {
		b.Run("2592-to-1920/"+f.name, func(b *testing.B) {
			for b.Loop() {
				transform.Resize(half, 1920, 1280, f.f)
			}
		})
	}
	b.Run("2592-to-1920/fixed-point-lanczos", func(b *testing.B) {
		for b.Loop() {
			resizeLanczos(half, 1920, 1280)
		}
	})
	b.Run("full-to-1920/bild-lanczos-on-RGBA", func(b *testing.B) {
		for b.Loop() {
			transform.Resize(ycc, 1920, 1280, transform.Lanczos)
		}
	})
	large := transform.Resize(half, 1920, 1280, lanczos3)
	b.Run("encode-1920-q85", func(b *testing.B) {
		for b.Loop() {
			jpeg.Encode(io.Discard, large, &jpeg.Options{Quality: 85})
		}
	})
}

// BenchmarkProcessAll18MP makes the outputs of two targets from an 18 MP
// photo (benchSpec, and a live-cam picture at 1280 wide), from one decode
// with ProcessAll against one Process call each.
func BenchmarkProcessAll18MP(b *testing.B) {
	photo := photo18MP()
	ps := []*Processor{}
	for _, s := range []*Spec{benchSpec(b), {Outputs: []Output{
		{Name: "live", Width: 1280, Quality: 80, Caption: &Caption{Text: "{time}", Size: 22, Margin: 14}},
	}}} {
		p, err := New(s)
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	ph := func() Photo { return Photo{Name: "photo.jpg", R: bytes.NewReader(photo), Taken: taken} }
	discard := func(*Output) (io.WriteCloser, error) { return nopCloser{io.Discard}, nil }
	b.Run("ProcessAll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, err := range ProcessAll(b.Context(), ph(), ps, func(int, *Output) (io.WriteCloser, error) { return discard(nil) }) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Process-each", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range ps {
				if err := p.Process(b.Context(), ph(), discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
