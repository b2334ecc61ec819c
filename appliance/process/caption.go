package process

import (
	"image"
	"image/color"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// fonts holds the embedded Go fonts (BSD-licensed), parsed when first used.
var fonts = map[string]func() (*opentype.Font, error){
	"regular":   parsed(goregular.TTF),
	"bold":      parsed(gobold.TTF),
	"italic":    parsed(goitalic.TTF),
	"mono":      parsed(gomono.TTF),
	"mono-bold": parsed(gomonobold.TTF),
}

func parsed(ttf []byte) func() (*opentype.Font, error) {
	return sync.OnceValues(func() (*opentype.Font, error) { return opentype.Parse(ttf) })
}

// captionText returns c.Text with "{time}" replaced by taken.
func captionText(c *Caption, taken time.Time) string {
	layout := c.TimeFormat
	if layout == "" {
		layout = DefaultTimeFormat
	}
	return strings.ReplaceAll(c.Text, "{time}", taken.Format(layout))
}

// drawCaption writes c over dst.
func drawCaption(dst *image.RGBA, c *Caption, taken time.Time) error {
	name := c.Font
	if name == "" {
		name = "regular"
	}
	f, err := fonts[name]()
	if err != nil {
		return err
	}
	text := captionText(c, taken)
	size := c.Size
	if size == 0 {
		size = math.Max(8, float64(dst.Rect.Dy())/30)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return err
	}
	// Shrink text wider than the output (less the margins and the
	// shadow) to fit; hinting rounds advances, hence a few rounds.
	off := max(1, int(math.Round(size/16)))
	room := dst.Rect.Dx() - 2*c.Margin - off
	for range 4 {
		adv := font.MeasureString(face, text).Ceil()
		if adv <= room || room <= 0 {
			break
		}
		face.Close()
		size = math.Max(1, size*float64(room)/float64(adv)*0.98)
		off = max(1, int(math.Round(size/16)))
		if face, err = opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull}); err != nil {
			return err
		}
	}
	defer face.Close()
	m := face.Metrics()
	w := font.MeasureString(face, text).Ceil()
	h := m.Ascent.Ceil() + m.Descent.Ceil()
	at := place(w, h, dst.Rect, c.Position, "bottom-left", c.Margin)
	dot := fixed.P(at.X, at.Y+m.Ascent.Ceil())
	fg, _ := parseColor(c.Color, white)
	if c.Shadow != "" {
		sc, _ := parseColor(c.Shadow, white)
		d := font.Drawer{Dst: dst, Src: image.NewUniform(color.NRGBA(sc)), Face: face, Dot: dot.Add(fixed.P(off, off))}
		d.DrawString(text)
	}
	d := font.Drawer{Dst: dst, Src: image.NewUniform(color.NRGBA(fg)), Face: face, Dot: dot}
	d.DrawString(text)
	return nil
}
