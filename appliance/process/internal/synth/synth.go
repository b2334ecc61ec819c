// Package synth draws photo-like test images: smooth gradients, hard edges
// and sensor-like noise, so that JPEG sizes and resampling costs resemble a
// real camera frame rather than a flat colour.
package synth

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
)

// Photo returns a w×h landscape-like picture: a sky gradient, rolling hills,
// a few buildings with sharp edges and per-pixel noise of about ±noise
// levels. The same seed gives the same picture.
func Photo(w, h int, seed uint64, noise int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type box struct {
		x0, x1, y0 int
		c          [3]float64
	}
	var boxes []box
	for i := 0; i < 7; i++ {
		x0 := rng.IntN(w)
		bw := w/20 + rng.IntN(w/8+1)
		boxes = append(boxes, box{x0, x0 + bw, h/3 + rng.IntN(h/3+1),
			[3]float64{60 + rng.Float64()*150, 60 + rng.Float64()*150, 60 + rng.Float64()*150}})
	}
	fw, fh := float64(w), float64(h)
	for y := 0; y < h; y++ {
		fy := float64(y) / fh
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			fx := float64(x) / fw
			hill := 0.6 + 0.08*math.Sin(fx*7+1) + 0.04*math.Sin(fx*23)
			var c [3]float64
			if fy < hill {
				// Sky: blue at the top, paler at the horizon.
				c = [3]float64{90 + 120*fy, 140 + 90*fy, 230 - 20*fy}
			} else {
				// Ground: greens and browns with a texture.
				t := 0.5 + 0.5*math.Sin(fx*40+fy*30)*math.Cos(fx*13-fy*17)
				c = [3]float64{70 + 60*t, 90 + 50*t - 30*fy, 40 + 20*t}
			}
			for _, b := range boxes {
				if x >= b.x0 && x < b.x1 && y >= b.y0 && fy < hill+0.2 {
					c = b.c
					// Windows: a regular grid of darker squares.
					if (x-b.x0)%(w/200+8) < w/400+3 && (y-b.y0)%(h/150+8) < h/300+3 {
						c = [3]float64{c[0] * 0.4, c[1] * 0.4, c[2] * 0.5}
					}
				}
			}
			n := 0.0
			if noise > 0 {
				n = float64(rng.IntN(2*noise+1) - noise)
			}
			for i := range 3 {
				row[4*x+i] = clamp(c[i] + n + float64(rng.IntN(3)-1))
			}
			row[4*x+3] = 0xff
		}
	}
	return img
}

func clamp(v float64) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v + 0.5)
}

// Logo returns a w×h watermark-like picture with transparency: an opaque
// disc of colour c on a fully transparent background, with a soft edge.
func Logo(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy, r := float64(w)/2, float64(h)/2, math.Min(float64(w), float64(h))/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			a := math.Max(0, math.Min(1, r-d))
			img.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8(float64(c.A)*a + 0.5)})
		}
	}
	return img
}
