package process

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/anthonynsimon/bild/transform"
)

// Limits on a watermark file.
const (
	maxWatermarkBytes = 16 << 20
	maxWatermarkSide  = 8192
)

// mark is a decoded watermark and what its file looked like when read.
type mark struct {
	img   *image.RGBA
	size  int64
	mtime time.Time
}

// watermark returns the decoded PNG at path, reading it again when its size
// or time stamp changed since the last call (a fixed file is picked up with
// no restart). A failure is not remembered.
func (p *Processor) watermark(path string) (*image.RGBA, error) {
	bad := func(err error) error { return &Error{Kind: KindWatermark, Name: path, Err: err} }
	fi, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return nil, bad(err)
	}
	if m, ok := p.marks[path]; ok && m.size == fi.Size() && m.mtime.Equal(fi.ModTime()) {
		return m.img, nil
	}
	delete(p.marks, path)
	if !fi.Mode().IsRegular() {
		return nil, bad(errors.New("not a regular file"))
	}
	if fi.Size() > maxWatermarkBytes {
		return nil, bad(fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, fi.Size(), maxWatermarkBytes))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, bad(err)
	}
	img, err := decodePNG(data)
	if err != nil {
		return nil, bad(err)
	}
	if p.marks == nil {
		p.marks = make(map[string]mark)
	}
	p.marks[path] = mark{img: img, size: fi.Size(), mtime: fi.ModTime()}
	return img, nil
}

// decodePNG decodes a watermark, checking its format and size first.
func decodePNG(data []byte) (img *image.RGBA, err error) {
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		return nil, ErrNotPNG
	}
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: decoder panicked: %v", ErrCorrupt, p)
		}
	}()
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err == nil && (cfg.Width > maxWatermarkSide || cfg.Height > maxWatermarkSide) {
		return nil, fmt.Errorf("%w: %d×%d pixels, more than %d on a side", ErrTooLarge, cfg.Width, cfg.Height, maxWatermarkSide)
	}
	var m image.Image
	if err == nil {
		m, err = png.Decode(bytes.NewReader(data))
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || err != nil && !bytes.Contains(data, []byte("IEND")):
		return nil, fmt.Errorf("%w: the file ends inside the image", ErrTruncated)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	b := m.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("%w: no pixels", ErrCorrupt)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Rect, m, b.Min, draw.Src)
	return rgba, nil
}

// drawWatermark draws wm over dst as w asks.
func drawWatermark(dst *image.RGBA, wm *image.RGBA, w *Watermark) {
	W := dst.Rect.Dx()
	if w.Scale > 0 {
		sw := max(1, int(math.Round(w.Scale*float64(W))))
		sh := max(1, int(math.Round(float64(sw)*float64(wm.Rect.Dy())/float64(wm.Rect.Dx()))))
		if sw != wm.Rect.Dx() || sh != wm.Rect.Dy() {
			wm = transform.Resize(wm, sw, sh, transform.CatmullRom)
		}
	}
	at := place(wm.Rect.Dx(), wm.Rect.Dy(), dst.Rect, w.Position, "bottom-right", w.Margin)
	r := image.Rectangle{at, at.Add(wm.Rect.Size())}
	var mask image.Image
	if w.Opacity > 0 && w.Opacity < 1 {
		mask = image.NewUniform(color.Alpha{uint8(math.Round(w.Opacity * 255))})
	}
	draw.DrawMask(dst, r, wm, wm.Rect.Min, mask, image.Point{}, draw.Over)
}

// place returns the top left corner of a w×h box put at pos in r, margin
// pixels from the edges it is against.
func place(w, h int, r image.Rectangle, pos, def string, margin int) image.Point {
	if pos == "" {
		pos = def
	}
	x := r.Min.X + (r.Dx()-w)/2
	y := r.Min.Y + (r.Dy()-h)/2
	switch pos {
	case "top-left", "left", "bottom-left":
		x = r.Min.X + margin
	case "top-right", "right", "bottom-right":
		x = r.Max.X - margin - w
	}
	switch pos {
	case "top-left", "top", "top-right":
		y = r.Min.Y + margin
	case "bottom-left", "bottom", "bottom-right":
		y = r.Max.Y - margin - h
	}
	return image.Pt(x, y)
}
