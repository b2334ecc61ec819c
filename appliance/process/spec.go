package process

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/strictjson"
)

// Spec describes what one upload target wants from each photo: the JPEG
// outputs to derive from it. Geometry is that of the picture as shown: after
// the photo's EXIF orientation and then Rotate are applied.
type Spec struct {
	// Rotate turns every output clockwise by 0, 90, 180 or 270 degrees,
	// after the EXIF orientation (for a camera mounted on its side).
	Rotate int
	// Crop, if set, cuts every output from this region of the picture.
	Crop *Crop `json:",omitempty"`
	// Outputs lists the JPEGs to make: at least one, at most MaxOutputs.
	Outputs []Output
}

// Output describes one JPEG derived from the photo.
type Output struct {
	// Name identifies the output to the caller: unique within the spec,
	// letters, digits, '.', '-' and '_' only.
	Name string
	// Width and Height are the size in pixels. With Fit "fit" the picture
	// is scaled to fit inside them keeping its aspect ratio; one of them may
	// be 0 (no limit). With "fill" both are required: the picture is scaled
	// to cover them and its centre cut to exactly Width×Height.
	Width, Height int
	// Fit is "fit" (the default when empty) or "fill".
	Fit string `json:",omitempty"`
	// Crop, if set, cuts this output from a region of the picture (of the
	// spec's Crop when that is set too).
	Crop *Crop `json:",omitempty"`
	// Quality is the JPEG quality, 1 to 100; 0 means DefaultQuality.
	Quality int `json:",omitempty"`
	// Watermark, if set, is drawn over the output.
	Watermark *Watermark `json:",omitempty"`
	// Caption, if set, is written over the output (above the watermark).
	Caption *Caption `json:",omitempty"`
}

// Crop is a rectangle of the picture, in pixels or in fractions of its
// width and height.
type Crop struct {
	// X and Y are the top left corner, Width and Height the size.
	X, Y, Width, Height float64
	// Unit is "px" (the default when empty; whole numbers only) or
	// "fraction" (0 to 1 of the picture's width and height).
	Unit string `json:",omitempty"`
}

// Watermark is a PNG drawn over an output.
type Watermark struct {
	// File is the PNG's path, e.g. /perm/lapsebox/wm.png. It is read when
	// first needed and again whenever its size or time stamp changes.
	File string
	// Opacity multiplies the PNG's own alpha: above 0, at most 1; 0 (or
	// absent) means 1.
	Opacity float64 `json:",omitempty"`
	// Position is one of Positions; empty means "bottom-right".
	Position string `json:",omitempty"`
	// Margin is the distance in pixels from the edges it is placed against.
	Margin int `json:",omitempty"`
	// Scale is the watermark's width as a fraction of the output's width
	// (above 0, at most 1); 0 draws the PNG at its own size.
	Scale float64 `json:",omitempty"`
}

// Caption is a line of text written over an output.
type Caption struct {
	// Text is the text; "{time}" in it is replaced by the capture time in
	// TimeFormat, e.g. "Site 7 — {time}".
	Text string
	// TimeFormat is a Go time layout; empty means DefaultTimeFormat.
	TimeFormat string `json:",omitempty"`
	// Font is one of Fonts (the Go fonts, embedded); empty means "regular".
	Font string `json:",omitempty"`
	// Size is the font size in pixels; 0 means a thirtieth of the output's
	// height. Text wider than the output shrinks to fit.
	Size float64 `json:",omitempty"`
	// Color is "#rrggbb" or "#rrggbbaa"; empty means white.
	Color string `json:",omitempty"`
	// Shadow is the colour of a drop shadow, as Color; empty means none.
	Shadow string `json:",omitempty"`
	// Position is one of Positions; empty means "bottom-left".
	Position string `json:",omitempty"`
	// Margin is the distance in pixels from the edges it is placed against.
	Margin int `json:",omitempty"`
}

// Defaults and limits of a Spec.
const (
	// DefaultQuality is the JPEG quality of an output with Quality 0.
	DefaultQuality = 85
	// DefaultTimeFormat is the layout of "{time}" in a caption with no
	// TimeFormat.
	DefaultTimeFormat = "2006-01-02 15:04"
	// MaxOutputs is the most outputs a spec may list.
	MaxOutputs = 16
	// MaxSide is the largest Width or Height of an output.
	MaxSide = 16384
)

// Positions lists the places a watermark or caption can go.
var Positions = []string{
	"top-left", "top", "top-right",
	"left", "center", "right",
	"bottom-left", "bottom", "bottom-right",
}

// Fonts lists the font names a Caption may use.
var Fonts = []string{"regular", "bold", "italic", "mono", "mono-bold"}

// ParseSpec decodes a spec from JSON strictly (unknown fields, wrong types
// and trailing data are errors naming the line and field) and validates it.
// name (usually the file name) is part of every error, which is an *Error
// of KindSpec.
func ParseSpec(name string, data []byte) (*Spec, error) {
	var s Spec
	if err := strictjson.Unmarshal(name, data, &s); err != nil {
		// strictjson puts the name first; *Error puts it in its place.
		return nil, &Error{Kind: KindSpec, Name: name, Err: errors.New(strings.TrimPrefix(err.Error(), name+": "))}
	}
	if err := s.Validate(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Name = name
		}
		return nil, err
	}
	return &s, nil
}

// Validate checks every field; the error, an *Error of KindSpec, names the
// first bad one, e.g. "Outputs[1].Watermark.Opacity: 1.5 is not in (0, 1]".
func (s *Spec) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &Error{Kind: KindSpec, Err: fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))}
	}
	switch s.Rotate {
	case 0, 90, 180, 270:
	default:
		return bad("Rotate", "%d is not 0, 90, 180 or 270", s.Rotate)
	}
	if s.Crop != nil {
		if err := s.Crop.validate(); err != nil {
			return bad("Crop", "%v", err)
		}
	}
	if len(s.Outputs) == 0 {
		return bad("Outputs", "no outputs")
	}
	if len(s.Outputs) > MaxOutputs {
		return bad("Outputs", "%d outputs, more than %d", len(s.Outputs), MaxOutputs)
	}
	names := make(map[string]bool)
	for i := range s.Outputs {
		o := &s.Outputs[i]
		f := fmt.Sprintf("Outputs[%d]", i)
		if o.Name == "" {
			return bad(f+".Name", "empty")
		}
		if strings.Trim(o.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
			return bad(f+".Name", "%q: only letters, digits, '.', '-' and '_' are allowed", o.Name)
		}
		if names[o.Name] {
			return bad(f+".Name", "%q is used twice", o.Name)
		}
		names[o.Name] = true
		if o.Width < 0 || o.Width > MaxSide {
			return bad(f+".Width", "%d is not in [0, %d]", o.Width, MaxSide)
		}
		if o.Height < 0 || o.Height > MaxSide {
			return bad(f+".Height", "%d is not in [0, %d]", o.Height, MaxSide)
		}
		switch o.Fit {
		case "", "fit":
			if o.Width == 0 && o.Height == 0 {
				return bad(f, "zero size: Width and Height are both 0")
			}
		case "fill":
			if o.Width == 0 || o.Height == 0 {
				return bad(f, "zero size: fill needs both Width and Height")
			}
		default:
			return bad(f+".Fit", "%q is not \"fit\" or \"fill\"", o.Fit)
		}
		if o.Crop != nil {
			if err := o.Crop.validate(); err != nil {
				return bad(f+".Crop", "%v", err)
			}
		}
		if o.Quality < 0 || o.Quality > 100 {
			return bad(f+".Quality", "%d is not in [1, 100] (or 0 for %d)", o.Quality, DefaultQuality)
		}
		if w := o.Watermark; w != nil {
			f := f + ".Watermark"
			if w.File == "" {
				return bad(f+".File", "empty")
			}
			if !(w.Opacity >= 0 && w.Opacity <= 1) {
				return bad(f+".Opacity", "%v is not in (0, 1]", w.Opacity)
			}
			if !(w.Scale >= 0 && w.Scale <= 1) {
				return bad(f+".Scale", "%v is not in (0, 1]", w.Scale)
			}
			if err := checkPosition(w.Position); err != nil {
				return bad(f+".Position", "%v", err)
			}
			if w.Margin < 0 || w.Margin > MaxSide {
				return bad(f+".Margin", "%d is not in [0, %d]", w.Margin, MaxSide)
			}
		}
		if c := o.Caption; c != nil {
			f := f + ".Caption"
			if strings.TrimSpace(c.Text) == "" {
				return bad(f+".Text", "empty")
			}
			if c.TimeFormat != "" && time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(c.TimeFormat) == c.TimeFormat {
				return bad(f+".TimeFormat", "%q has no date or time in it (see Go's time.Layout)", c.TimeFormat)
			}
			if c.Font != "" && !contains(Fonts, c.Font) {
				return bad(f+".Font", "%q is not one of %s", c.Font, strings.Join(Fonts, ", "))
			}
			if !(c.Size >= 0 && c.Size <= MaxSide) {
				return bad(f+".Size", "%v is not in [0, %d]", c.Size, MaxSide)
			}
			if _, err := parseColor(c.Color, white); err != nil {
				return bad(f+".Color", "%v", err)
			}
			if _, err := parseColor(c.Shadow, white); err != nil {
				return bad(f+".Shadow", "%v", err)
			}
			if err := checkPosition(c.Position); err != nil {
				return bad(f+".Position", "%v", err)
			}
			if c.Margin < 0 || c.Margin > MaxSide {
				return bad(f+".Margin", "%d is not in [0, %d]", c.Margin, MaxSide)
			}
		}
	}
	return nil
}

func (c *Crop) validate() error {
	for _, v := range []float64{c.X, c.Y, c.Width, c.Height} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%v is not a number", v)
		}
	}
	switch c.Unit {
	case "", "px":
		for _, v := range []float64{c.X, c.Y, c.Width, c.Height} {
			if v != math.Trunc(v) || v < 0 || v > 1<<20 {
				return fmt.Errorf("%v is not a whole number of pixels", v)
			}
		}
		if c.Width < 1 || c.Height < 1 {
			return fmt.Errorf("zero size: %v×%v", c.Width, c.Height)
		}
	case "fraction":
		if c.X < 0 || c.Y < 0 || c.Width <= 0 || c.Height <= 0 {
			return fmt.Errorf("zero or negative size or position: %v,%v %v×%v", c.X, c.Y, c.Width, c.Height)
		}
		// A little slack for decimal fractions such as 0.1+0.9.
		if c.X+c.Width > 1+1e-9 || c.Y+c.Height > 1+1e-9 {
			return fmt.Errorf("%v,%v %v×%v reaches beyond the picture (fractions are at most 1)", c.X, c.Y, c.Width, c.Height)
		}
	default:
		return fmt.Errorf("Unit %q is not \"px\" or \"fraction\"", c.Unit)
	}
	return nil
}

func checkPosition(p string) error {
	if p == "" || contains(Positions, p) {
		return nil
	}
	return fmt.Errorf("%q is not one of %s", p, strings.Join(Positions, ", "))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// rgba8 is a non-premultiplied colour.
type rgba8 struct{ R, G, B, A uint8 }

var white = rgba8{0xff, 0xff, 0xff, 0xff}

// parseColor parses "#rrggbb" or "#rrggbbaa"; empty gives def.
func parseColor(s string, def rgba8) (rgba8, error) {
	if s == "" {
		return def, nil
	}
	if s[0] != '#' || (len(s) != 7 && len(s) != 9) {
		return rgba8{}, fmt.Errorf("%q is not #rrggbb or #rrggbbaa", s)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return rgba8{}, fmt.Errorf("%q is not #rrggbb or #rrggbbaa", s)
	}
	if len(s) == 7 {
		v = v<<8 | 0xff
	}
	return rgba8{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}
