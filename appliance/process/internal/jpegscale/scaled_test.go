package jpegscale

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/process/internal/synth"
)

// encodeSynth returns a photo-like w×h JPEG; gray makes it one-component.
func encodeSynth(t testing.TB, w, h int, gray bool) []byte {
	t.Helper()
	var src image.Image = synth.Photo(w, h, 7, 10)
	if gray {
		g := image.NewGray(src.Bounds())
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				g.Set(x, y, src.At(x, y))
			}
		}
		src = g
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// planes returns the sample planes of a decoded image with their
// sub-sampling (log2 per axis) relative to the first plane.
type plane struct {
	pix            []byte
	stride, w, h   int
	shiftX, shiftY uint
}

func planes(t testing.TB, m image.Image) []plane {
	switch m := m.(type) {
	case *image.Gray:
		b := m.Bounds()
		return []plane{{m.Pix, m.Stride, b.Dx(), b.Dy(), 0, 0}}
	case *image.YCbCr:
		b := m.Bounds()
		var sx, sy uint
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422:
			sx = 1
		case image.YCbCrSubsampleRatio420:
			sx, sy = 1, 1
		case image.YCbCrSubsampleRatio440:
			sy = 1
		case image.YCbCrSubsampleRatio411:
			sx = 2
		case image.YCbCrSubsampleRatio410:
			sx, sy = 2, 1
		}
		cw, ch := (b.Max.X+(1<<sx)-1)>>sx-b.Min.X>>sx, (b.Max.Y+(1<<sy)-1)>>sy-b.Min.Y>>sy
		return []plane{
			{m.Y, m.YStride, b.Dx(), b.Dy(), 0, 0},
			{m.Cb, m.CStride, cw, ch, sx, sy},
			{m.Cr, m.CStride, cw, ch, sx, sy},
		}
	}
	t.Fatalf("unexpected image type %T", m)
	return nil
}

// psnrBox returns the PSNR of plane s against plane f box-averaged by k.
func psnrBox(f, s plane, k int) float64 {
	var se float64
	n := 0
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			var sum, cnt int
			for yy := y * k; yy < min((y+1)*k, f.h); yy++ {
				for xx := x * k; xx < min((x+1)*k, f.w); xx++ {
					sum += int(f.pix[yy*f.stride+xx])
					cnt++
				}
			}
			d := float64(sum)/float64(cnt) - float64(s.pix[y*s.stride+x])
			se += d * d
			n++
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

// TestScaledMatchesBox checks that each scale is, within rounding and
// clipping, image/jpeg's full decode box-averaged by the same factor, for
// baseline and progressive, colour (4:2:0 as image/jpeg writes, and 4:2:2
// and 4:4:4 via testdata-free re-encodes) and grey, with sizes that are not
// multiples of the block.
func TestScaledMatchesBox(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"color-420-1001x667", encodeSynth(t, 1001, 667, false)},
		{"gray-517x389", encodeSynth(t, 517, 389, true)},
	}
	for _, c := range cases {
		full, err := jpeg.Decode(bytes.NewReader(c.data))
		if err != nil {
			t.Fatal(err)
		}
		for _, denom := range []int{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("%s/1:%d", c.name, denom), func(t *testing.T) {
				got, err := DecodeScaled(bytes.NewReader(c.data), denom)
				if err != nil {
					t.Fatal(err)
				}
				fb := full.Bounds()
				want := image.Rect(0, 0, (fb.Dx()+denom-1)/denom, (fb.Dy()+denom-1)/denom)
				if got.Bounds() != want {
					t.Fatalf("bounds %v, want %v", got.Bounds(), want)
				}
				fp, sp := planes(t, full), planes(t, got)
				for i := range fp {
					p := psnrBox(fp[i], sp[i], denom)
					t.Logf("plane %d: PSNR %.1f dB", i, p)
					if denom == 1 && !math.IsInf(p, 1) {
						t.Errorf("plane %d differs from image/jpeg at full size", i)
					}
					if p < 45 {
						t.Errorf("plane %d: PSNR %.1f dB against the box-averaged full decode, want ≥ 45", i, p)
					}
				}
			})
		}
	}
}
