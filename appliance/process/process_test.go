package process

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"io"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/process/internal/synth"
)

func TestSizes(t *testing.T) {
	photo := encodeJPEG(t, synth.Photo(600, 400, 1, 4), 90)
	tests := []struct {
		out  Output
		w, h int
	}{
		{Output{Width: 300}, 300, 200},
		{Output{Height: 100}, 150, 100},
		{Output{Width: 300, Height: 300}, 300, 200},
		{Output{Width: 300, Height: 300, Fit: "fit"}, 300, 200},
		{Output{Width: 100, Height: 300}, 100, 67},
		{Output{Width: 1000, Height: 100}, 150, 100},
		{Output{Width: 1200}, 1200, 800}, // enlarged
		{Output{Width: 100, Height: 100, Fit: "fill"}, 100, 100},
		{Output{Width: 500, Height: 100, Fit: "fill"}, 500, 100},
		{Output{Width: 64, Height: 480, Fit: "fill"}, 64, 480},
		{Output{Width: 1, Height: 1, Fit: "fill"}, 1, 1},
		{Output{Width: 600}, 600, 400}, // no resampling at all
		{Output{Width: 1}, 1, 1},
	}
	for _, tt := range tests {
		out := tt.out
		out.Name = "o"
		res := mustRun(t, &Spec{Outputs: []Output{out}}, photo)
		b := res.image(t, "o").Bounds()
		if b.Dx() != tt.w || b.Dy() != tt.h {
			t.Errorf("%+v: got %v, want %dx%d", tt.out, b.Size(), tt.w, tt.h)
		}
	}
}

// TestFitFill checks which part of the picture each mode shows, on a
// picture of three vertical bands.
func TestFitFill(t *testing.T) {
	bands := fill(600, 200, red)
	for y := 0; y < 200; y++ {
		for x := 200; x < 600; x++ {
			c := green
			if x >= 400 {
				c = blue
			}
			bands.SetRGBA(x, y, c)
		}
	}
	photo := encodeJPEG(t, bands, 100)
	spec := &Spec{Outputs: []Output{
		{Name: "fill", Width: 100, Height: 100, Fit: "fill", Quality: 100},
		{Name: "fit", Width: 300, Height: 300, Quality: 100},
		{Name: "tall", Width: 20, Height: 100, Fit: "fill", Quality: 100},
	}}
	res := mustRun(t, spec, photo)
	check := func(name string, x, y int, want color.RGBA) {
		t.Helper()
		if c := res.image(t, name).At(x, y); !near(c, want, 12) {
			t.Errorf("%s at %d,%d: %v, want %v", name, x, y, rgb(c), want)
		}
	}
	// Fill: the centre square, all green.
	for _, x := range []int{2, 50, 97} {
		check("fill", x, 50, green)
	}
	// Fit: all three bands, 300×100.
	check("fit", 50, 50, red)
	check("fit", 150, 50, green)
	check("fit", 250, 50, blue)
	// Tall fill: a 40×200 strip from the middle.
	check("tall", 10, 50, green)
}

func TestCrop(t *testing.T) {
	photo := encodeJPEG(t, quadrants(600, 400), 100)
	tests := []struct {
		name      string
		spec, out *Crop
		w, h      int // of the output, at 100% (Width 0 means the crop's width)
		want      color.RGBA
	}{
		{"px top right", nil, &Crop{X: 300, Y: 0, Width: 300, Height: 200}, 300, 200, green},
		{"px bottom left", nil, &Crop{X: 10, Y: 210, Width: 280, Height: 180}, 280, 180, blue},
		{"fraction bottom right", nil, &Crop{X: 0.5, Y: 0.5, Width: 0.5, Height: 0.5, Unit: "fraction"}, 300, 200, ivory},
		{"fraction top left", nil, &Crop{X: 0, Y: 0, Width: 0.25, Height: 0.5, Unit: "fraction"}, 150, 200, red},
		{"nested", &Crop{X: 300, Y: 0, Width: 300, Height: 400}, &Crop{X: 0, Y: 0.5, Width: 1, Height: 0.5, Unit: "fraction"}, 300, 200, ivory},
		{"spec only", &Crop{X: 0, Y: 200, Width: 300, Height: 200}, nil, 300, 200, blue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &Spec{Crop: tt.spec, Outputs: []Output{{Name: "o", Width: tt.w, Crop: tt.out, Quality: 100}}}
			img := mustRun(t, spec, photo).image(t, "o")
			b := img.Bounds()
			if b.Dx() != tt.w || b.Dy() != tt.h {
				t.Fatalf("size %v, want %dx%d", b.Size(), tt.w, tt.h)
			}
			for _, p := range []image.Point{{1, 1}, {b.Dx() / 2, b.Dy() / 2}, {b.Dx() - 2, b.Dy() - 2}} {
				if c := img.At(p.X, p.Y); !near(c, tt.want, 12) {
					t.Errorf("at %v: %v, want %v", p, rgb(c), tt.want)
				}
			}
		})
	}
	t.Run("beyond the picture", func(t *testing.T) {
		spec := &Spec{Outputs: []Output{{Name: "o", Width: 100, Crop: &Crop{X: 500, Y: 0, Width: 200, Height: 100}}}}
		_, err := run(t, spec, photo)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindSpec || !strings.Contains(err.Error(), "outputs[0].crop: 500,0 200×100 reaches beyond the 600×400 picture") {
			t.Fatalf("got %v", err)
		}
		if e.Name != "photo.jpg" {
			t.Errorf("Name %q", e.Name)
		}
	})
}

// Reference transforms of a 2×2 grid of colours (the quadrants), written
// from the EXIF specification's words rather than from orient.
type grid [2][2]color.RGBA // [row][column]

func (g grid) rot90() grid  { return grid{{g[1][0], g[0][0]}, {g[1][1], g[0][1]}} }
func (g grid) flipH() grid  { return grid{{g[0][1], g[0][0]}, {g[1][1], g[1][0]}} }
func (g grid) flipV() grid  { return grid{g[1], g[0]} }
func (g grid) rot180() grid { return g.rot90().rot90() }
func (g grid) rot270() grid { return g.rot180().rot90() }

func TestRotation(t *testing.T) {
	base := grid{{red, green}, {blue, ivory}}
	byEXIF := map[int]grid{
		1: base,
		2: base.flipH(),
		3: base.rot180(),
		4: base.flipV(),
		5: base.flipH().rot270(), // mirror horizontal and rotate 270 CW
		6: base.rot90(),
		7: base.flipH().rot90(), // mirror horizontal and rotate 90 CW
		8: base.rot270(),
	}
	byRotate := map[int]func(grid) grid{
		0:   func(g grid) grid { return g },
		90:  grid.rot90,
		180: grid.rot180,
		270: grid.rot270,
	}
	jpg := encodeJPEG(t, quadrants(80, 40), 100)
	for exif := 0; exif <= 8; exif++ { // 0: no EXIF at all
		for _, rot := range []int{0, 90, 180, 270} {
			photo, want := jpg, base
			if exif > 0 {
				bo := binary.ByteOrder(binary.BigEndian)
				if exif%2 == 0 {
					bo = binary.LittleEndian
				}
				photo, want = withEXIF(jpg, uint16(exif), bo), byEXIF[exif]
			}
			want = byRotate[rot](want)
			spec := &Spec{Rotate: rot, Outputs: []Output{{Name: "o", Width: 80, Height: 80, Quality: 100}}}
			img := mustRun(t, spec, photo).image(t, "o")
			w, h := 80, 40
			if (exif >= 5) != (rot%180 == 90) {
				w, h = 40, 80
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("EXIF %d, Rotate %d: size %v, want %dx%d", exif, rot, b.Size(), w, h)
				continue
			}
			for r := range 2 {
				for c := range 2 {
					x, y := w/4+c*w/2, h/4+r*h/2
					if got := img.At(x, y); !near(got, want[r][c], 12) {
						t.Errorf("EXIF %d, Rotate %d: quadrant %d,%d is %v, want %v", exif, rot, r, c, rgb(got), want[r][c])
					}
				}
			}
		}
	}
}

func TestOrientCompose(t *testing.T) {
	// Four quarter turns are none; a mirror twice is none.
	r := rotation(90)
	if got := r.then(r).then(r).then(r); got != (orient{}) {
		t.Errorf("4×90°: %+v", got)
	}
	for v := 1; v <= 8; v++ {
		o := exifOrient(v)
		if o.then(o.then(o.then(o))) != (orient{}) {
			t.Errorf("EXIF %d to the 4th is not the identity", v)
		}
	}
	if got := exifOrient(6).then(rotation(90)); got != rotation(180) {
		t.Errorf("EXIF 6 then 90°: %+v, want 180°", got)
	}
}

func TestEXIFOrientation(t *testing.T) {
	jpg := encodeJPEG(t, fill(8, 8, grey), 90)
	for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
		for v := uint16(0); v <= 9; v++ {
			b := withEXIF(jpg, v, bo)
			h, err := scanHeader(newBufReader(b))
			if err != nil {
				t.Fatal(err)
			}
			want := int(v)
			if v < 1 || v > 8 {
				want = 1
			}
			if h.orientation != want {
				t.Errorf("%v %d: got %d", bo, v, h.orientation)
			}
		}
	}
	for _, bad := range [][]byte{nil, []byte("II*\x00"), []byte("II*\x00\xff\xff\xff\xff"), []byte("MM\x00*\x00\x00\x00\x08\x00\x05"), []byte("XX*\x00\x08\x00\x00\x00")} {
		if got := exifOrientation(bad); got != 0 {
			t.Errorf("%q: %d", bad, got)
		}
	}
}

func TestWatermark(t *testing.T) {
	dir := t.TempDir()
	mark := fill(40, 20, color.RGBA{0xff, 0, 0, 0xff})
	// A transparent column on the right: the photo shows through.
	for y := 0; y < 20; y++ {
		for x := 30; x < 40; x++ {
			mark.SetRGBA(x, y, color.RGBA{})
		}
	}
	path := writePNG(t, dir, "wm.png", mark)
	photo := encodeJPEG(t, fill(400, 300, grey), 100)
	tests := []struct {
		pos     string
		opacity float64
		scale   float64
		rect    image.Rectangle // where the opaque part lands
	}{
		{"", 1, 0, image.Rect(350, 270, 380, 290)}, // bottom-right by default
		{"top-left", 1, 0, image.Rect(10, 10, 40, 30)},
		{"top", 1, 0, image.Rect(180, 10, 210, 30)},
		{"top-right", 0.5, 0, image.Rect(350, 10, 380, 30)},
		{"left", 1, 0, image.Rect(10, 140, 40, 160)},
		{"center", 0.25, 0, image.Rect(180, 140, 210, 160)},
		{"right", 1, 0, image.Rect(350, 140, 380, 160)},
		{"bottom-left", 1, 0, image.Rect(10, 270, 40, 290)},
		{"bottom", 1, 0, image.Rect(180, 270, 210, 290)},
		{"top-left", 1, 0.25, image.Rect(10, 10, 85, 60)},          // 100×50
		{"bottom-right", 0.5, 0.5, image.Rect(190, 190, 340, 290)}, // 200×100
	}
	for _, tt := range tests {
		spec := &Spec{Outputs: []Output{{Name: "o", Width: 400, Quality: 100,
			Watermark: &Watermark{File: path, Position: tt.pos, Opacity: tt.opacity, Margin: 10, Scale: tt.scale}}}}
		img := mustRun(t, spec, photo).image(t, "o")
		// Over grey 128: red 255 at opacity a gives 128+a*127, and a*… off the others.
		a := tt.opacity
		want := color.RGBA{uint8(128 + a*127 + 0.5), uint8(128 - a*128 + 0.5), uint8(128 - a*128 + 0.5), 0xff}
		in := tt.rect.Inset(3)
		for _, p := range []image.Point{in.Min, in.Max.Sub(image.Pt(1, 1)), {(in.Min.X + in.Max.X) / 2, (in.Min.Y + in.Max.Y) / 2}} {
			if c := img.At(p.X, p.Y); !near(c, want, 8) {
				t.Errorf("%q opacity %v scale %v: at %v %v, want %v", tt.pos, tt.opacity, tt.scale, p, rgb(c), want)
			}
		}
		// Just outside, and the transparent part: the photo.
		out := tt.rect.Inset(-3)
		for _, p := range []image.Point{out.Min, {out.Max.X, out.Min.Y + 4}, {tt.rect.Max.X + tt.rect.Dx()/6, (tt.rect.Min.Y + tt.rect.Max.Y) / 2}} {
			if c := img.At(p.X, p.Y); !near(c, grey, 8) {
				t.Errorf("%q opacity %v scale %v: outside at %v %v, want grey", tt.pos, tt.opacity, tt.scale, p, rgb(c))
			}
		}
	}
}

// lit counts the pixels of r brighter than the dark background.
func lit(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := rgb(img.At(x, y)); c.G > 0x60 {
				n++
			}
		}
	}
	return n
}

func TestCaption(t *testing.T) {
	dark := color.RGBA{0x10, 0x10, 0x10, 0xff}
	photo := encodeJPEG(t, fill(640, 480, dark), 95)
	corners := map[string]image.Rectangle{
		"top-left":     image.Rect(0, 0, 200, 60),
		"top-right":    image.Rect(440, 0, 640, 60),
		"bottom-left":  image.Rect(0, 420, 200, 480),
		"bottom-right": image.Rect(440, 420, 640, 480),
	}
	for _, pos := range []string{"", "top-left", "top-right", "bottom-right"} {
		for _, font := range []string{"", "bold", "mono"} {
			spec := &Spec{Outputs: []Output{{Name: "o", Width: 640, Quality: 95, Caption: &Caption{
				Text: "Site 7 — {time}", Font: font, Size: 24, Color: "#ffffff", Shadow: "#000000", Position: pos, Margin: 10}}}}
			img := mustRun(t, spec, photo).image(t, "o")
			want := pos
			if want == "" {
				want = "bottom-left"
			}
			for name, r := range corners {
				n := lit(img, r)
				if name == want && n < 200 {
					t.Errorf("%q %q: only %d lit pixels where the caption is", pos, font, n)
				}
				if name != want && n > 0 {
					t.Errorf("%q %q: %d lit pixels in %s", pos, font, n, name)
				}
			}
		}
	}
	// Text too wide for the picture shrinks to fit: nothing past the margin.
	spec := &Spec{Outputs: []Output{{Name: "o", Width: 640, Quality: 95, Caption: &Caption{
		Text: strings.Repeat("wide ", 40), Size: 40, Margin: 10, Position: "top-left"}}}}
	img := mustRun(t, spec, photo).image(t, "o")
	if n := lit(img, image.Rect(632, 0, 640, 100)); n > 0 {
		t.Errorf("%d lit pixels in the right margin", n)
	}
	if n := lit(img, image.Rect(0, 0, 640, 100)); n < 500 {
		t.Errorf("only %d lit pixels for a wide caption", n)
	}
}

func TestCaptionText(t *testing.T) {
	tests := []struct {
		c    Caption
		want string
	}{
		{Caption{Text: "Site 7 — {time}"}, "Site 7 — 2026-07-14 12:30"},
		{Caption{Text: "{time}", TimeFormat: "02.01.2006 15:04:05 MST"}, "14.07.2026 12:30:05 UTC"},
		{Caption{Text: "no time"}, "no time"},
		{Caption{Text: "{time} / {time}", TimeFormat: "Jan 2"}, "Jul 14 / Jul 14"},
	}
	for _, tt := range tests {
		if got := captionText(&tt.c, taken); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestQuality(t *testing.T) {
	photo := encodeJPEG(t, synth.Photo(600, 400, 2, 8), 95)
	var sizes []int
	for _, q := range []int{20, 50, 0, 95} { // 0 is 85
		res := mustRun(t, &Spec{Outputs: []Output{{Name: "o", Width: 400, Quality: q}}}, photo)
		sizes = append(sizes, len(res.jpeg["o"]))
	}
	for i := 1; i < len(sizes); i++ {
		if sizes[i] <= sizes[i-1] {
			t.Errorf("sizes by quality 20, 50, 85, 95 do not grow: %v", sizes)
		}
	}
}

// TestShared checks that the usual three sizes read the photo once and that
// overlays of one output do not leak into those derived from it.
func TestShared(t *testing.T) {
	spec := &Spec{Outputs: []Output{
		{Name: "thumb", Width: 64, Height: 64, Fit: "fill"},
		{Name: "large", Width: 192},
		{Name: "medium", Width: 128, Height: 128},
	}}
	jobs, last, err := plan(spec, orient{}, 518, 345)
	if err != nil {
		t.Fatal(err)
	}
	// Both smaller outputs from the large one, resampled twice at most.
	if last != 0 || jobs[0].out.Name != "large" || jobs[1].from != 0 || jobs[2].from != 0 || jobs[0].lastUse != 2 {
		t.Errorf("plan: last frame use %d, jobs %+v", last, jobs)
	}
	dir := t.TempDir()
	path := writePNG(t, dir, "wm.png", fill(40, 40, color.RGBA{0xff, 0, 0, 0xff}))
	photo := encodeJPEG(t, fill(518, 345, grey), 100)
	spec.Outputs[1].Watermark = &Watermark{File: path, Position: "center"}
	spec.Outputs[1].Caption = &Caption{Text: "X", Size: 40, Position: "top-left"}
	res := mustRun(t, spec, photo)
	if strings.Join(res.order, " ") != "large medium thumb" {
		t.Errorf("order %v", res.order)
	}
	if c := res.image(t, "large").At(96, 64); !near(c, color.RGBA{0xff, 0, 0, 0xff}, 12) {
		t.Errorf("large has no watermark: %v", rgb(c))
	}
	for _, name := range []string{"medium", "thumb"} {
		img := res.image(t, name)
		b := img.Bounds()
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				if c := img.At(x, y); !near(c, grey, 8) {
					t.Fatalf("%s at %d,%d: %v, want grey (an overlay leaked)", name, x, y, rgb(c))
				}
			}
		}
	}
}

func TestBoxYCbCr(t *testing.T) {
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		// A YCbCr picture with an offset origin, its values kept where no
		// pixel's RGB clips (averaging before converting does not clip
		// either, so it would differ there, a little, for the better).
		ycc := image.NewYCbCr(image.Rect(3, 5, 70, 50), ratio)
		for i := range ycc.Y {
			ycc.Y[i] = uint8(60 + (i*37)%131)
		}
		for i := range ycc.Cb {
			ycc.Cb[i] = uint8(110 + (i*13)%37)
			ycc.Cr[i] = uint8(110 + (i*29)%37)
		}
		for _, k := range [][2]int{{1, 1}, {2, 2}, {3, 2}, {4, 5}} {
			r := image.Rect(4, 6, 69, 49)
			got := boxYCbCr(ycc, r, k[0], k[1])
			// Reference: average the stdlib's conversion of each pixel.
			w, h := boxSize(r, k[0], k[1])
			for oy := 0; oy < h; oy++ {
				for ox := 0; ox < w; ox++ {
					var s [3]int
					n := 0
					for y := r.Min.Y + oy*k[1]; y < min(r.Min.Y+(oy+1)*k[1], r.Max.Y); y++ {
						for x := r.Min.X + ox*k[0]; x < min(r.Min.X+(ox+1)*k[0], r.Max.X); x++ {
							c := rgb(ycc.At(x, y))
							s[0], s[1], s[2] = s[0]+int(c.R), s[1]+int(c.G), s[2]+int(c.B)
							n++
						}
					}
					want := color.RGBA{uint8(s[0] / n), uint8(s[1] / n), uint8(s[2] / n), 0xff}
					if c := got.At(ox, oy); !near(c, want, 2) {
						t.Fatalf("%v k=%v at %d,%d: %v, want %v", ratio, k, ox, oy, rgb(c), want)
					}
				}
			}
		}
	}
}

func TestGrayPhoto(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range g.Pix {
		g.Pix[i] = uint8(i % 251)
	}
	photo := encodeJPEG(t, g, 90)
	res := mustRun(t, &Spec{Outputs: []Output{{Name: "a", Width: 100}, {Name: "b", Width: 250}}}, photo)
	if b := res.image(t, "a").Bounds(); b.Dx() != 100 || b.Dy() != 67 {
		t.Errorf("size %v", b.Size())
	}
}

// TestErrorsAreNotBadInput checks that failures a retry may cure are not
// *Error.
func TestErrorsAreNotBadInput(t *testing.T) {
	photo := encodeJPEG(t, fill(60, 40, grey), 90)
	p, err := New(&Spec{Outputs: []Output{{Name: "o", Width: 30}}})
	if err != nil {
		t.Fatal(err)
	}
	disk := errors.New("input/output error")
	failing := io.MultiReader(bytes.NewReader(photo[:len(photo)/2]), iotestErrReader{disk})
	tests := []struct {
		name   string
		r      io.Reader
		create func(*Output) (io.WriteCloser, error)
		ctx    context.Context
		want   error
	}{
		{"read", failing, nil, context.Background(), disk},
		{"read header", iotestErrReader{disk}, nil, context.Background(), disk},
		{"create", bytes.NewReader(photo), func(*Output) (io.WriteCloser, error) { return nil, disk }, context.Background(), disk},
		{"write", bytes.NewReader(photo), func(*Output) (io.WriteCloser, error) { return nopCloser{iotestErrWriter{disk}}, nil }, context.Background(), disk},
		{"cancelled", bytes.NewReader(photo), nil, cancelled(), context.Canceled},
	}
	for _, tt := range tests {
		create := tt.create
		if create == nil {
			create = func(*Output) (io.WriteCloser, error) { return nopCloser{io.Discard}, nil }
		}
		err := p.Process(tt.ctx, Photo{Name: "x.jpg", R: tt.r}, create)
		if !errors.Is(err, tt.want) || IsBadInput(err) {
			t.Errorf("%s: got %v (bad input %v), want %v", tt.name, err, IsBadInput(err), tt.want)
		}
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

type iotestErrWriter struct{ err error }

func (w iotestErrWriter) Write([]byte) (int, error) { return 0, w.err }

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
