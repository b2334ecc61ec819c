package main

import (
	"fmt"
	"image"
	"image/jpeg"
	"os"

	"github.com/lapsebox/lapsebox/appliance/process/internal/quality"
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
	fmt.Printf("PSNR %.2f dB  SSIM %.4f\n", quality.PSNR(m[0], m[1]), quality.SSIM(m[0], m[1]))
	return nil
}
