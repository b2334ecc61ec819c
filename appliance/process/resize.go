package process

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"runtime"
	"sync"

	"github.com/anthonynsimon/bild/transform"
)

// resample returns region r of src scaled to w×h, in two stages as libvips
// does: a box filter shrinks by the integer part of the factor, reading
// *image.YCbCr and *image.Gray planes directly (so the photo is never
// converted to RGBA whole), then a Lanczos-3 filter (resizeLanczos) does
// the remaining factor, below 2, on the much smaller intermediate.
func resample(src image.Image, r image.Rectangle, w, h int) *image.RGBA {
	kx := max(1, r.Dx()/w)
	ky := max(1, r.Dy()/h)
	var mid *image.RGBA
	shared := false
	switch s := src.(type) {
	case *image.YCbCr:
		mid = boxYCbCr(s, r, kx, ky)
	case *image.Gray:
		mid = boxGray(s, r, kx, ky)
	case *image.RGBA:
		if kx == 1 && ky == 1 {
			mid, shared = s.SubImage(r).(*image.RGBA), true
		} else {
			mid = boxRGBA(s, r, kx, ky)
		}
	default: // CMYK JPEGs: rare, and slow
		mid = image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
		draw.Draw(mid, mid.Rect, src, r.Min, draw.Src)
		if kx > 1 || ky > 1 {
			mid = boxRGBA(mid, mid.Rect, kx, ky)
		}
	}
	if mid.Rect.Dx() == w && mid.Rect.Dy() == h {
		if shared {
			// A part of an earlier output's clean picture: copy it, so
			// that overlays drawn on this output stay off that one.
			return cloneRGBA(mid)
		}
		return mid
	}
	return resizeLanczos(mid, w, h)
}

// lanczos3 is bild's Lanczos filter with its function tabulated: bild calls
// the filter once per tap per pixel, and two math.Sin calls there cost more
// than the rest of the resampling (see bench_test.go). resizeLanczos takes
// its weights from it.
var lanczos3 = func() transform.ResampleFilter {
	const perUnit = 4096
	tab := make([]float64, 3*perUnit+2)
	for i := range tab {
		tab[i] = sinc(float64(i)/perUnit) * sinc(float64(i)/perUnit/3)
	}
	return transform.ResampleFilter{
		Support: 3,
		Fn: func(x float64) float64 {
			x = math.Abs(x)
			if x >= 3 {
				return 0
			}
			return tab[int(x*perUnit+0.5)]
		},
	}
}()

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

// parallelRows calls fn on consecutive bands of [0, n) on every core.
func parallelRows(n int, fn func(y0, y1 int)) {
	p := min(runtime.GOMAXPROCS(0), max(1, n/16))
	if p <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range p {
		y0, y1 := n*i/p, n*(i+1)/p
		wg.Go(func() { fn(y0, y1) })
	}
	wg.Wait()
}

// boxSize returns the size of r shrunk by kx×ky (a partial block at the
// right or bottom edge makes a pixel of its own).
func boxSize(r image.Rectangle, kx, ky int) (int, int) {
	return (r.Dx() + kx - 1) / kx, (r.Dy() + ky - 1) / ky
}

// boxYCbCr averages kx×ky blocks of region r of src, converting the
// averages to RGB. YCbCr to RGB is affine, so averaging first is exact but
// for rounding; chroma samples are weighted by the luma pixels they cover.
func boxYCbCr(src *image.YCbCr, r image.Rectangle, kx, ky int) *image.RGBA {
	w, h := boxSize(r, kx, ky)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	var shx, shy uint
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		shx = 1
	case image.YCbCrSubsampleRatio420:
		shx, shy = 1, 1
	case image.YCbCrSubsampleRatio440:
		shy = 1
	case image.YCbCrSubsampleRatio411:
		shx = 2
	case image.YCbCrSubsampleRatio410:
		shx, shy = 2, 1
	}
	// Chroma column of every luma column of r, computed once.
	ccol := make([]int, r.Dx())
	for i := range ccol {
		x := r.Min.X + i
		ccol[i] = x>>shx - src.Rect.Min.X>>shx
	}
	parallelRows(h, func(y0, y1 int) {
		sy := make([]uint32, w)
		sb := make([]uint32, w)
		sr := make([]uint32, w)
		for oy := y0; oy < y1; oy++ {
			clear(sy)
			clear(sb)
			clear(sr)
			ya, yb := r.Min.Y+oy*ky, min(r.Min.Y+(oy+1)*ky, r.Max.Y)
			for y := ya; y < yb; y++ {
				yrow := src.Y[(y-src.Rect.Min.Y)*src.YStride+(r.Min.X-src.Rect.Min.X):][:r.Dx()]
				co := (y>>shy - src.Rect.Min.Y>>shy) * src.CStride
				cb, cr := src.Cb[co:], src.Cr[co:]
				for ox := 0; ox < w; ox++ {
					xa, xb := ox*kx, min((ox+1)*kx, len(yrow))
					var a, b, c uint32
					for x := xa; x < xb; x++ {
						a += uint32(yrow[x])
						b += uint32(cb[ccol[x]])
						c += uint32(cr[ccol[x]])
					}
					sy[ox] += a
					sb[ox] += b
					sr[ox] += c
				}
			}
			rows := uint32(yb - ya)
			out := dst.Pix[oy*dst.Stride:][:4*w]
			for ox := 0; ox < w; ox++ {
				n := rows * uint32(min((ox+1)*kx, r.Dx())-ox*kx)
				R, G, B := color.YCbCrToRGB(uint8((sy[ox]+n/2)/n), uint8((sb[ox]+n/2)/n), uint8((sr[ox]+n/2)/n))
				out[4*ox], out[4*ox+1], out[4*ox+2], out[4*ox+3] = R, G, B, 0xff
			}
		}
	})
	return dst
}

// boxGray averages kx×ky blocks of region r of src.
func boxGray(src *image.Gray, r image.Rectangle, kx, ky int) *image.RGBA {
	w, h := boxSize(r, kx, ky)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	parallelRows(h, func(y0, y1 int) {
		s := make([]uint32, w)
		for oy := y0; oy < y1; oy++ {
			clear(s)
			ya, yb := r.Min.Y+oy*ky, min(r.Min.Y+(oy+1)*ky, r.Max.Y)
			for y := ya; y < yb; y++ {
				row := src.Pix[src.PixOffset(r.Min.X, y):][:r.Dx()]
				for ox := 0; ox < w; ox++ {
					var a uint32
					for _, v := range row[ox*kx : min((ox+1)*kx, len(row))] {
						a += uint32(v)
					}
					s[ox] += a
				}
			}
			rows := uint32(yb - ya)
			out := dst.Pix[oy*dst.Stride:][:4*w]
			for ox := 0; ox < w; ox++ {
				n := rows * uint32(min((ox+1)*kx, r.Dx())-ox*kx)
				v := uint8((s[ox] + n/2) / n)
				out[4*ox], out[4*ox+1], out[4*ox+2], out[4*ox+3] = v, v, v, 0xff
			}
		}
	})
	return dst
}

// boxRGBA averages kx×ky blocks of region r of src (premultiplied, so
// averaging alpha with the colours is right).
func boxRGBA(src *image.RGBA, r image.Rectangle, kx, ky int) *image.RGBA {
	w, h := boxSize(r, kx, ky)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	parallelRows(h, func(y0, y1 int) {
		s := make([]uint32, 4*w)
		for oy := y0; oy < y1; oy++ {
			clear(s)
			ya, yb := r.Min.Y+oy*ky, min(r.Min.Y+(oy+1)*ky, r.Max.Y)
			for y := ya; y < yb; y++ {
				row := src.Pix[src.PixOffset(r.Min.X, y):][:4*r.Dx()]
				for ox := 0; ox < w; ox++ {
					var a, b, c, d uint32
					px := row[4*ox*kx : 4*min((ox+1)*kx, r.Dx())]
					for i := 0; i+3 < len(px); i += 4 {
						a += uint32(px[i])
						b += uint32(px[i+1])
						c += uint32(px[i+2])
						d += uint32(px[i+3])
					}
					s[4*ox] += a
					s[4*ox+1] += b
					s[4*ox+2] += c
					s[4*ox+3] += d
				}
			}
			rows := uint32(yb - ya)
			out := dst.Pix[oy*dst.Stride:][:4*w]
			for ox := 0; ox < w; ox++ {
				n := rows * uint32(min((ox+1)*kx, r.Dx())-ox*kx)
				for c := range 4 {
					out[4*ox+c] = uint8((s[4*ox+c] + n/2) / n)
				}
			}
		}
	})
	return dst
}
