package main

import (
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
)

// compare prints the PSNR (over R, G and B) and the mean SSIM of the luma
// (8×8 windows) of two JPEGs of the same size, for the benchmark to say how
// close two tools' outputs are.
func compare(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: benchcmd compare a.jpg b.jpg")
	}
	var m [2]*image.RGBA
	for i, p := range args {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		b := img.Bounds()
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				rgba.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
		m[i] = rgba
	}
	if m[0].Rect != m[1].Rect {
		return fmt.Errorf("sizes differ: %v and %v", m[0].Rect.Size(), m[1].Rect.Size())
	}
	fmt.Printf("PSNR %.2f dB  SSIM %.4f\n", psnr(m[0], m[1]), ssim(m[0], m[1]))
	return nil
}

func psnr(a, b *image.RGBA) float64 {
	var se float64
	n := 0
	for i := range a.Pix {
		if i%4 == 3 {
			continue
		}
		d := float64(a.Pix[i]) - float64(b.Pix[i])
		se += d * d
		n++
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*float64(n)/se)
}

func ssim(a, b *image.RGBA) float64 {
	luma := func(m *image.RGBA, x, y int) float64 {
		p := m.Pix[m.PixOffset(x, y):]
		return 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
	}
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	n := 0
	for y0 := 0; y0+8 <= a.Rect.Dy(); y0 += 8 {
		for x0 := 0; x0+8 <= a.Rect.Dx(); x0 += 8 {
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
