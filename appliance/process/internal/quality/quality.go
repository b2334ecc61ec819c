// Package quality measures how close two pictures of the same size are,
// for the tests and the benchmark that compare resizes: the PSNR over R,
// G and B, and the mean SSIM of the luma over 8×8 windows.
package quality

import (
	"image"
	"image/color"
	"math"
)

// PSNR returns the peak signal-to-noise ratio of a against b over R, G
// and B, in dB (+Inf when they are equal). b is read at a's coordinates.
func PSNR(a, b image.Image) float64 {
	r := a.Bounds()
	var se float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p, q := rgb(a.At(x, y)), rgb(b.At(x, y))
			for _, d := range [3]float64{float64(p.R) - float64(q.R), float64(p.G) - float64(q.G), float64(p.B) - float64(q.B)} {
				se += d * d
			}
		}
	}
	mse := se / float64(3*r.Dx()*r.Dy())
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// SSIM returns the mean structural similarity of the luma of a and b over
// 8×8 windows (1 when they are equal). b is read at a's coordinates.
func SSIM(a, b image.Image) float64 {
	luma := func(m image.Image, x, y int) float64 {
		c := rgb(m.At(x, y))
		return 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
	}
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	r := a.Bounds()
	var sum float64
	n := 0
	for y0 := r.Min.Y; y0+8 <= r.Max.Y; y0 += 8 {
		for x0 := r.Min.X; x0+8 <= r.Max.X; x0 += 8 {
			var sa, sb, saa, sbb, sab float64
			for y := y0; y < y0+8; y++ {
				for x := x0; x < x0+8; x++ {
					p, q := luma(a, x, y), luma(b, x, y)
					sa, sb, saa, sbb, sab = sa+p, sb+q, saa+p*p, sbb+q*q, sab+p*q
				}
			}
			const k = 64
			ma, mb := sa/k, sb/k
			va, vb, cov := saa/k-ma*ma, sbb/k-mb*mb, sab/k-ma*mb
			sum += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}

func rgb(c color.Color) color.RGBA {
	return color.RGBAModel.Convert(c).(color.RGBA)
}
