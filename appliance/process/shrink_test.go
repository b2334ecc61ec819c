package process

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"io"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/process/internal/quality"
	"github.com/lapsebox/lapsebox/appliance/process/internal/synth"
)

// TestShrinkFor checks the scale chosen for a camera frame: the largest
// that leaves every output a downscale on both axes, crops and rotation
// included.
func TestShrinkFor(t *testing.T) {
	frac := func(x, y, w, h float64) *Crop { return &Crop{Unit: "fraction", X: x, Y: y, Width: w, Height: h} }
	tests := []struct {
		name   string
		spec   Spec
		orient int
		denom  int
	}{
		{"1920 fit", Spec{Outputs: []Output{{Width: 1920, Height: 1920}}}, 1, 2},
		{"1280 fit", Spec{Outputs: []Output{{Width: 1280, Height: 1280}}}, 1, 4},
		{"640 fill", Spec{Outputs: []Output{{Width: 640, Height: 640, Fit: "fill"}}}, 1, 4},
		{"160 fit", Spec{Outputs: []Output{{Width: 160}}}, 1, 8},
		{"largest decides", Spec{Outputs: []Output{{Width: 160}, {Width: 1920}, {Width: 640, Height: 640, Fit: "fill"}}}, 1, 2},
		{"full size", Spec{Outputs: []Output{{Width: 5184}, {Width: 640}}}, 1, 1},
		{"enlarged", Spec{Outputs: []Output{{Width: 8000}}}, 1, 1},
		// 1280 of a quarter of the width needs the full resolution.
		{"output crop", Spec{Outputs: []Output{{Width: 1280}, {Width: 1280, Crop: frac(0.5, 0.5, 0.25, 0.25)}}}, 1, 1},
		// A half-width crop to 1296 wide: 2592 source pixels, 1/2 gives 1296.
		{"spec crop", Spec{Crop: frac(0, 0, 0.5, 1), Outputs: []Output{{Width: 1296}}}, 1, 2},
		// Shown portrait, the 1920 height is along the stored width.
		{"rotated", Spec{Outputs: []Output{{Height: 1920}}}, 6, 2},
		{"rotated tall", Spec{Outputs: []Output{{Width: 1800}}}, 6, 1},
		{"full decode", Spec{Outputs: []Output{{Width: 160}}}, 1, 1},
	}
	for _, tt := range tests {
		o := exifOrient(tt.orient)
		jobs, _, err := plan(&tt.spec, o, 5184, 3456)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := shrinkFor(jobs, 5184, 3456)
		if tt.name == "full decode" {
			continue // Process's FullDecode, not shrinkFor's
		}
		if got != tt.denom {
			t.Errorf("%s: 1/%d, want 1/%d", tt.name, got, tt.denom)
		}
		for _, j := range jobs {
			if j.from >= 0 {
				continue
			}
			b := image.Rect(0, 0, (5184+got-1)/got, (3456+got-1)/got)
			if r := scaleRect(j.region, got, b); r.Dx() < j.w && got > 1 || r.Dy() < j.h && got > 1 {
				t.Errorf("%s: region %v at 1/%d is smaller than %dx%d", tt.name, r, got, j.w, j.h)
			}
		}
	}
}

// runWith is run with shrink-on-load on or off.
func runWith(t testing.TB, spec *Spec, photo []byte, full bool) map[string]image.Image {
	t.Helper()
	p, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	p.FullDecode = full
	bufs := make(map[string]*bytes.Buffer)
	err = p.Process(context.Background(), Photo{Name: "photo.jpg", R: bytes.NewReader(photo), Taken: taken},
		func(o *Output) (io.WriteCloser, error) {
			b := new(bytes.Buffer)
			bufs[o.Name] = b
			return nopCloser{b}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]image.Image)
	for n, b := range bufs {
		img, err := decodeTestJPEG(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		out[n] = img
	}
	return out
}

// TestShrinkQuality checks that outputs made from a frame decoded at a
// reduced scale are close to those made from the full decode: the same
// size, and within PSNR and SSIM bounds, for fit, fill, crops and an EXIF
// rotation, on a photo-like picture with noise and hard edges.
func TestShrinkQuality(t *testing.T) {
	photo := withEXIF(encodeJPEG(t, synth.Photo(2592, 1728, 3, 10), 92), 6, binary.BigEndian)
	spec := &Spec{Outputs: []Output{
		{Name: "large", Width: 1000, Height: 1000},            // 1/2: stored 1000×667 of 1296×864
		{Name: "medium", Width: 640, Height: 640},             // 1/4 alone: 648×432 holds 640×427
		{Name: "thumb", Width: 200, Height: 200, Fit: "fill"}, // 1/8 alone
		{Name: "crop", Width: 300, Crop: &Crop{Unit: "fraction", X: 0.1, Y: 0.2, Width: 0.5, Height: 0.5}},
	}}
	cases := []struct {
		name string
		spec *Spec
	}{
		{"all", spec},
		{"medium and smaller", &Spec{Outputs: spec.Outputs[1:]}}, // 1/2
		{"thumb", &Spec{Outputs: []Output{spec.Outputs[2]}}},     // 1/8
		{"crop", &Spec{Outputs: []Output{spec.Outputs[3]}}},      // 1/2
	}
	for _, c := range cases {
		full := runWith(t, c.spec, photo, true)
		shrunk := runWith(t, c.spec, photo, false)
		for name, want := range full {
			got := shrunk[name]
			if got.Bounds() != want.Bounds() {
				t.Errorf("%s/%s: %v, full decode gives %v", c.name, name, got.Bounds(), want.Bounds())
				continue
			}
			p, s := quality.PSNR(got, want), quality.SSIM(got, want)
			t.Logf("%s/%s %v: PSNR %.1f dB, SSIM %.4f", c.name, name, got.Bounds().Size(), p, s)
			if p < 32 || s < 0.95 {
				t.Errorf("%s/%s: PSNR %.1f dB, SSIM %.4f against the full decode; want ≥ 32 dB, ≥ 0.95", c.name, name, p, s)
			}
		}
	}
}
