// Package process derives what each upload target wants from a stored
// photo: rotated (by EXIF orientation and by the target's spec), cropped,
// resized to several sizes (fit or fill), watermarked with a PNG, captioned
// with the capture time, and encoded as JPEG at a quality per output.
//
// Each photo is decoded once, at the smallest of 1/1, 1/2, 1/4 and 1/8 of
// its size that still holds every output's detail (shrink-on-load, as
// libjpeg and libvips do it: see shrinkFor), and every output is derived
// from that decoded frame, or from a larger output's clean resampled
// picture when that holds enough detail; the frame is never converted to
// RGBA whole when an output is at most half its size, it is dropped as
// soon as the last output that needs it is made, and only one Process call
// runs at a time in a process, so at most one full frame is in memory.
// Outputs are streamed to writers.
//
// Bad input (a corrupt or truncated JPEG, a raw file, a missing or corrupt
// watermark, a spec that does not fit the photo) is an *Error, never a
// panic: the caller parks that work with the error as the reason and moves
// on.
package process

import (
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"runtime"
	"sync"
	"time"
)

// Photo is a stored photo to process.
type Photo struct {
	// Name is the photo's file name, used in errors.
	Name string
	// R reads the JPEG.
	R io.Reader
	// Taken is the capture time, for captions.
	Taken time.Time
}

// Processor makes the outputs of one Spec. It keeps decoded watermarks
// between photos. Its methods may be called from several goroutines.
type Processor struct {
	spec Spec
	// MaxPixels is the largest photo decoded (width×height, at full size
	// whatever the scale it is decoded at); New sets it to
	// DefaultMaxPixels.
	MaxPixels int
	// FullDecode turns shrink-on-load off: every photo is decoded at full
	// size, as a reference for comparisons.
	FullDecode bool

	mu    sync.Mutex
	marks map[string]mark
}

// New returns a Processor for spec, which it validates; the caller should
// not change spec afterwards.
func New(spec *Spec) (*Processor, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return &Processor{spec: *spec, MaxPixels: DefaultMaxPixels}, nil
}

// Spec returns the spec p was made with.
func (p *Processor) Spec() *Spec { return &p.spec }

// bigFrame is the size from which a photo's memory is collected at once.
const bigFrame = 4 << 20

// frame serialises Process calls in the whole program, so that at most one
// decoded photo is in memory (an 18 MP frame is 27–36 MB as YCbCr).
var frame sync.Mutex

// Process decodes the photo and writes each output of the spec to a
// writer that create returns for it, closing it once the JPEG is complete.
// create is called once per output, largest first; if it, a write or a
// Close fails, Process returns that error, wrapped. Bad input gives an
// *Error (see IsBadInput); then no output has been created if the photo or
// the spec is at fault, though one may have been if a watermark is.
func (p *Processor) Process(ctx context.Context, ph Photo, create func(*Output) (io.WriteCloser, error)) error {
	frame.Lock()
	defer frame.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	maxPixels := p.MaxPixels
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	h, br, err := readPhoto(ph.Name, ph.R, maxPixels)
	if err != nil {
		return err
	}
	o := exifOrient(h.orientation).then(rotation(p.spec.Rotate))
	jobs, lastFrame, perr := plan(&p.spec, o, h.width, h.height)
	denom := 8 // with a spec at fault, decoding only tells a bad photo
	if perr == nil {
		denom = 1
		if !p.FullDecode {
			denom = shrinkFor(jobs, h.width, h.height)
		}
	}
	img, err := decodeFrame(ph.Name, h, br, denom)
	if err != nil {
		return err // a bad photo is reported before a bad spec, as ever
	}
	if perr != nil {
		perr.(*Error).Name = ph.Name
		return perr
	}
	b := img.Bounds()
	for i := range jobs {
		if jobs[i].from < 0 {
			jobs[i].region = scaleRect(jobs[i].region, denom, b)
		}
	}
	if b.Dx()*b.Dy() >= bigFrame {
		// Collect once the frame is garbage, so that the next photo's
		// frame reuses its memory rather than growing the heap past it:
		// the pacer would otherwise let the heap reach twice this
		// photo's peak (150 MB rather than 92 for 18 MP photos).
		defer runtime.GC()
	}
	// Watermarks first, so that a missing one costs no work.
	marks := make([]*image.RGBA, len(jobs))
	for i, j := range jobs {
		if j.out.Watermark != nil {
			if marks[i], err = p.watermark(j.out.Watermark.File); err != nil {
				return err
			}
		}
	}
	clean := make([]*image.RGBA, len(jobs))
	for i, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		var pic *image.RGBA
		if j.from < 0 {
			pic = resample(img, j.region, j.w, j.h)
		} else {
			src := clean[j.from]
			pic = resample(src, j.sub.Add(src.Rect.Min), j.w, j.h)
		}
		if i == lastFrame {
			img = nil // the frame's memory is free for the rest
		}
		for k := range clean {
			if clean[k] != nil && jobs[k].lastUse <= i {
				clean[k] = nil
			}
		}
		out := o.apply(pic)
		if j.lastUse > i {
			clean[i] = pic
			if out == pic {
				out = cloneRGBA(pic) // overlays must not reach later outputs
			}
		}
		if j.out.Watermark != nil {
			drawWatermark(out, marks[i], j.out.Watermark)
		}
		if j.out.Caption != nil {
			if err := drawCaption(out, j.out.Caption, ph.Taken); err != nil {
				return fmt.Errorf("process: caption of %s: %w", j.out.Name, err)
			}
		}
		if err := encode(j.out, out, create); err != nil {
			return err
		}
	}
	return nil
}

// encode writes pic as out's JPEG to a writer from create.
func encode(out *Output, pic *image.RGBA, create func(*Output) (io.WriteCloser, error)) error {
	q := out.Quality
	if q == 0 {
		q = DefaultQuality
	}
	w, err := create(out)
	if err != nil {
		return fmt.Errorf("process: output %s: %w", out.Name, err)
	}
	err = jpeg.Encode(w, pic, &jpeg.Options{Quality: q})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("process: output %s: %w", out.Name, err)
	}
	return nil
}

func cloneRGBA(src *image.RGBA) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, src.Rect.Dx(), src.Rect.Dy()))
	for y := 0; y < dst.Rect.Dy(); y++ {
		copy(dst.Pix[y*dst.Stride:][:4*dst.Rect.Dx()], src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y):])
	}
	return dst
}
