// Package picture looks at a received JPEG once: its size in pixels, its
// mean brightness (for the "too dark" alert: a lens cap, a dead flash, a
// camera facing a wall at night) and a small thumbnail for the fleet
// page, all from one decode.
package picture

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
)

// MaxPixels bounds the pictures decoded (a 100 MP frame, about 150 MB of
// decoded planes): a larger one is refused before its pixels are read.
const MaxPixels = 100_000_000

// ThumbWidth is the thumbnail's width in pixels.
const ThumbWidth = 160

// Info is what Analyze found.
type Info struct {
	Width, Height int
	// Luma is the mean brightness, 0 (black) to 255 (white), from the
	// luma plane (every pixel but the borders of a sampling grid).
	Luma float64
	// Thumb is a JPEG ThumbWidth pixels wide.
	Thumb []byte
}

// Analyze decodes the JPEG r and describes it.
func Analyze(r io.Reader) (Info, error) {
	var buf bytes.Buffer
	cfg, err := jpeg.DecodeConfig(io.TeeReader(r, &buf))
	if err != nil {
		return Info{}, fmt.Errorf("picture: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return Info{}, fmt.Errorf("picture: %d×%d pixels: at most %d", cfg.Width, cfg.Height, MaxPixels)
	}
	img, err := jpeg.Decode(io.MultiReader(&buf, r))
	if err != nil {
		return Info{}, fmt.Errorf("picture: %w", err)
	}
	b := img.Bounds()
	info := Info{Width: b.Dx(), Height: b.Dy(), Luma: meanLuma(img)}
	thumb := downscale(img, ThumbWidth)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, thumb, &jpeg.Options{Quality: 75}); err != nil {
		return Info{}, fmt.Errorf("picture: thumbnail: %w", err)
	}
	info.Thumb = out.Bytes()
	return info, nil
}

// meanLuma averages the luma of about 64k pixels spread over the picture.
func meanLuma(img image.Image) float64 {
	b := img.Bounds()
	step := max(1, isqrt(b.Dx()*b.Dy()/65536))
	var sum, n float64
	switch m := img.(type) {
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y += step {
			row := m.Y[m.YOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x += step {
				sum += float64(row[x])
				n++
			}
		}
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y += step {
			for x := b.Min.X; x < b.Max.X; x += step {
				sum += float64(m.GrayAt(x, y).Y)
				n++
			}
		}
	default: // CMYK JPEGs
		for y := b.Min.Y; y < b.Max.Y; y += step {
			for x := b.Min.X; x < b.Max.X; x += step {
				sum += float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

func isqrt(n int) int {
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// downscale averages boxes of img's pixels into a picture width wide.
func downscale(img image.Image, width int) *image.RGBA {
	b := img.Bounds()
	width = min(width, b.Dx())
	height := max(1, b.Dy()*width/b.Dx())
	out := image.NewRGBA(image.Rect(0, 0, width, height))
	for ty := range height {
		y0, y1 := b.Min.Y+ty*b.Dy()/height, b.Min.Y+(ty+1)*b.Dy()/height
		for tx := range width {
			x0, x1 := b.Min.X+tx*b.Dx()/width, b.Min.X+(tx+1)*b.Dx()/width
			// At most 4×4 samples a box: enough for a thumbnail, and
			// cheap on an 18 MP frame.
			sx, sy := max(1, (x1-x0)/4), max(1, (y1-y0)/4)
			var r, g, bl, n uint32
			for y := y0; y < y1; y += sy {
				for x := x0; x < x1; x += sx {
					cr, cg, cb, _ := img.At(x, y).RGBA()
					r, g, bl, n = r+cr>>8, g+cg>>8, bl+cb>>8, n+1
				}
			}
			out.SetRGBA(tx, ty, color.RGBA{uint8(r / n), uint8(g / n), uint8(bl / n), 255})
		}
	}
	return out
}
