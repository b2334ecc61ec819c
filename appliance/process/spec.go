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
// the photo's EXIF orientation and then Rotate are applied. In JSON (a
// target's "process" in the site configuration) its keys are snake_case,
// like the rest of the configuration: {"outputs": [{"name": "web",
// "width": 1280}]}.
type Spec struct {
	// Rotate turns every output clockwise by 0, 90, 180 or 270 degrees,
	// after the EXIF orientation (for a camera mounted on its side).
	Rotate int `json:"rotate,omitempty"`
	// Crop, if set, cuts every output from this region of the picture.
	Crop *Crop `json:"crop,omitempty"`
	// Outputs lists the JPEGs to make: at least one, at most MaxOutputs.
	Outputs []Output `json:"outputs"`
}

// Output describes one JPEG derived from the photo.
type Output struct {
	// Name identifies the output to the caller: unique within the spec,
	// letters, digits, '.', '-' and '_' only.
	Name string `json:"name"`
	// Width and Height are the size in pixels. With Fit "fit" the picture
	// is scaled to fit inside them keeping its aspect ratio; one of them may
	// be 0 (no limit). With "fill" both are required: the picture is scaled
	// to cover them and its centre cut to exactly Width×Height.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Fit is "fit" (the default when empty) or "fill".
	Fit string `json:"fit,omitempty"`
	// Crop, if set, cuts this output from a region of the picture (of the
	// spec's Crop when that is set too).
	Crop *Crop `json:"crop,omitempty"`
	// Quality is the JPEG quality, 1 to 100; 0 means DefaultQuality.
	Quality int `json:"quality,omitempty"`
	// Watermark, if set, is drawn over the output.
	Watermark *Watermark `json:"watermark,omitempty"`
	// Caption, if set, is written over the output (above the watermark).
	Caption *Caption `json:"caption,omitempty"`
}

// Crop is a rectangle of the picture, in pixels or in fractions of its
// width and height.
type Crop struct {
	// X and Y are the top left corner, Width and Height the size.
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	// Unit is "px" (the default when empty; whole numbers only) or
	// "fraction" (0 to 1 of the picture's width and height).
	Unit string `json:"unit,omitempty"`
}

// Watermark is a PNG drawn over an output.
type Watermark struct {
	// File is the PNG's path, e.g. /perm/lapsebox/wm.png. It is read when
	// first needed and again whenever its size or time stamp changes.
	File string `json:"file"`
	// Opacity multiplies the PNG's own alpha: above 0, at most 1; 0 (or
	// absent) means 1.
	Opacity float64 `json:"opacity,omitempty"`
	// Position is one of Positions; empty means "bottom-right".
	Position string `json:"position,omitempty"`
	// Margin is the distance in pixels from the edges it is placed against.
	Margin int `json:"margin,omitempty"`
	// Scale is the watermark's width as a fraction of the output's width
	// (above 0, at most 1); 0 draws the PNG at its own size.
	Scale float64 `json:"scale,omitempty"`
}

// Caption is a line of text written over an output.
type Caption struct {
	// Text is the text; "{time}" in it is replaced by the capture time in
	// TimeFormat, e.g. "Site 7 — {time}".
	Text string `json:"text"`
	// TimeFormat is a Go time layout; empty means DefaultTimeFormat.
	TimeFormat string `json:"time_format,omitempty"`
	// Font is one of Fonts (the Go fonts, embedded); empty means "regular".
	Font string `json:"font,omitempty"`
	// Size is the font size in pixels; 0 means a thirtieth of the output's
	// height. Text wider than the output shrinks to fit.
	Size float64 `json:"size,omitempty"`
	// Color is "#rrggbb" or "#rrggbbaa"; empty means white.
	Color string `json:"color,omitempty"`
	// Shadow is the colour of a drop shadow, as Color; empty means none.
	Shadow string `json:"shadow,omitempty"`
	// Position is one of Positions; empty means "bottom-left".
	Position string `json:"position,omitempty"`
	// Margin is the distance in pixels from the edges it is placed against.
	Margin int `json:"margin,omitempty"`
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

// ParseSpec decodes a spec from JSON strictly (keys in snake_case exactly,
// unknown fields, wrong types and trailing data are errors naming the line
// and field) and validates it. name (usually the file name) is part of
// every error, which is an *Error of KindSpec; strictjson.Errors lists its
// problems, each located by line or by field.
func ParseSpec(name string, data []byte) (*Spec, error) {
	var s Spec
	if err := strictjson.Unmarshal("", data, &s); err != nil {
		return nil, &Error{Kind: KindSpec, Name: name, Err: err}
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

// CheckSpec validates a spec given as JSON, for configuration checks that
// do not process pictures.
func CheckSpec(data []byte) error {
	_, err := ParseSpec("", data)
	return err
}

// Validate checks every field; the error, an *Error of KindSpec, names
// each bad one by its JSON path, e.g.
// "outputs[1].watermark.opacity: 1.5 is not in (0, 1]".
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &strictjson.Error{Field: field, Err: fmt.Errorf(format, args...)})
	}
	switch s.Rotate {
	case 0, 90, 180, 270:
	default:
		bad("rotate", "%d is not 0, 90, 180 or 270", s.Rotate)
	}
	if s.Crop != nil {
		if err := s.Crop.validate(); err != nil {
			bad("crop", "%v", err)
		}
	}
	if len(s.Outputs) == 0 {
		bad("outputs", "no outputs")
	}
	if len(s.Outputs) > MaxOutputs {
		bad("outputs", "%d outputs, more than %d", len(s.Outputs), MaxOutputs)
	}
	names := make(map[string]bool)
	for i := range s.Outputs {
		o := &s.Outputs[i]
		f := fmt.Sprintf("outputs[%d]", i)
		switch {
		case o.Name == "":
			bad(f+".name", "empty")
		case strings.Trim(o.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "":
			bad(f+".name", "%q: only letters, digits, '.', '-' and '_' are allowed", o.Name)
		case names[o.Name]:
			bad(f+".name", "%q is used twice", o.Name)
		}
		names[o.Name] = true
		sizeOK := true
		if o.Width < 0 || o.Width > MaxSide {
			bad(f+".width", "%d is not in [0, %d]", o.Width, MaxSide)
			sizeOK = false
		}
		if o.Height < 0 || o.Height > MaxSide {
			bad(f+".height", "%d is not in [0, %d]", o.Height, MaxSide)
			sizeOK = false
		}
		switch o.Fit {
		case "", "fit":
			if sizeOK && o.Width == 0 && o.Height == 0 {
				bad(f, "zero size: width and height are both 0")
			}
		case "fill":
			if sizeOK && (o.Width == 0 || o.Height == 0) {
				bad(f, "zero size: fill needs both width and height")
			}
		default:
			bad(f+".fit", "%q is not \"fit\" or \"fill\"", o.Fit)
		}
		if o.Crop != nil {
			if err := o.Crop.validate(); err != nil {
				bad(f+".crop", "%v", err)
			}
		}
		if o.Quality < 0 || o.Quality > 100 {
			bad(f+".quality", "%d is not in [1, 100] (or 0 for %d)", o.Quality, DefaultQuality)
		}
		if w := o.Watermark; w != nil {
			f := f + ".watermark"
			if w.File == "" {
				bad(f+".file", "empty")
			}
			if !(w.Opacity >= 0 && w.Opacity <= 1) {
				bad(f+".opacity", "%v is not in (0, 1]", w.Opacity)
			}
			if !(w.Scale >= 0 && w.Scale <= 1) {
				bad(f+".scale", "%v is not in (0, 1]", w.Scale)
			}
			if err := checkPosition(w.Position); err != nil {
				bad(f+".position", "%v", err)
			}
			if w.Margin < 0 || w.Margin > MaxSide {
				bad(f+".margin", "%d is not in [0, %d]", w.Margin, MaxSide)
			}
		}
		if c := o.Caption; c != nil {
			f := f + ".caption"
			if strings.TrimSpace(c.Text) == "" {
				bad(f+".text", "empty")
			}
			if c.TimeFormat != "" && time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(c.TimeFormat) == c.TimeFormat {
				bad(f+".time_format", "%q has no date or time in it (see Go's time.Layout)", c.TimeFormat)
			}
			if c.Font != "" && !contains(Fonts, c.Font) {
				bad(f+".font", "%q is not one of %s", c.Font, strings.Join(Fonts, ", "))
			}
			if !(c.Size >= 0 && c.Size <= MaxSide) {
				bad(f+".size", "%v is not in [0, %d]", c.Size, MaxSide)
			}
			if _, err := parseColor(c.Color, white); err != nil {
				bad(f+".color", "%v", err)
			}
			if _, err := parseColor(c.Shadow, white); err != nil {
				bad(f+".shadow", "%v", err)
			}
			if err := checkPosition(c.Position); err != nil {
				bad(f+".position", "%v", err)
			}
			if c.Margin < 0 || c.Margin > MaxSide {
				bad(f+".margin", "%d is not in [0, %d]", c.Margin, MaxSide)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return &Error{Kind: KindSpec, Err: errs[0]}
	}
	return &Error{Kind: KindSpec, Err: errors.Join(errs...)}
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
		return fmt.Errorf("unit %q is not \"px\" or \"fraction\"", c.Unit)
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
