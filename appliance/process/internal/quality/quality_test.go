package quality

import (
	"image"
	"image/color"
	"math"
	"testing"
)

func TestEqualAndDifferent(t *testing.T) {
	a := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range a.Pix {
		a.Pix[i] = uint8(i * 7)
	}
	if p, s := PSNR(a, a), SSIM(a, a); !math.IsInf(p, 1) || math.Abs(s-1) > 1e-9 {
		t.Errorf("a picture against itself: PSNR %v, SSIM %v; want +Inf and 1", p, s)
	}
	// Every channel off by 16: MSE 256, PSNR 10·log10(255²/256).
	b := image.NewRGBA(a.Rect)
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			c := a.RGBAAt(x, y)
			b.SetRGBA(x, y, color.RGBA{c.R ^ 16, c.G ^ 16, c.B ^ 16, 255})
		}
	}
	if p, want := PSNR(a, b), 10*math.Log10(255*255/256.0); math.Abs(p-want) > 1e-9 {
		t.Errorf("PSNR %v, want %v", p, want)
	}
	if s := SSIM(a, b); s >= 1 || s <= 0 {
		t.Errorf("SSIM of a changed picture %v, want in (0, 1)", s)
	}
}
