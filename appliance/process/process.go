// Package process derives what each upload target wants from a stored
// photo: rotated (by EXIF orientation and by the target's spec), cropped,
// resized to several sizes (fit or fill), watermarked with a PNG, captioned
// with the capture time, and encoded as JPEG at a quality per output.
//
// Each photo is decoded once, at the smallest of 1/1, 1/2, 1/4 and 1/8 of
// its size that still holds every output's detail (shrink-on-load, as
// libjpeg and libvips do it: see shrinkFor), and every output is derived
// from that decoded frame, or from a larger output's clean resampled
// picture when that holds enough detail; ProcessAll does so for the specs
// of several targets at once. The frame is never converted to RGBA whole
// when an output is at most half its size, it is dropped as soon as the
// last output that needs it is made, and only one Process or ProcessAll
// call runs at a time in a process, so at most one full frame is in
// memory. Outputs are streamed to writers.
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

// frame serialises ProcessAll (and so Process) calls in the whole program,
// so that at most one decoded photo is in memory (an 18 MP frame is
// 27–36 MB as YCbCr).
var frame sync.Mutex

// Process decodes the photo and writes each output of the spec to a
// writer that create returns for it, closing it once the JPEG is complete.
// create is called once per output, largest first; it may return a nil
// writer for an output not wanted (one already delivered, say), which is
// then not encoded. If create, a write or a Close fails, Process returns
// that error, wrapped. Bad input gives an *Error (see IsBadInput); then no
// output has been created if the photo or the spec is at fault, though one
// may have been if a watermark is.
func (p *Processor) Process(ctx context.Context, ph Photo, create func(*Output) (io.WriteCloser, error)) error {
	return ProcessAll(ctx, ph, []*Processor{p}, func(_ int, o *Output) (io.WriteCloser, error) { return create(o) })[0]
}

// ProcessAll makes the outputs of every Processor in ps from one decode of
// the photo, at the smallest scale that holds the outputs of them all, as
// Process makes one Processor's: create(i, o) returns the writer of output
// o of ps[i], as Process's create does. The processors are served in turn,
// in the order of ps, each with its outputs largest first.
//
// It returns one error per processor, nil for one whose outputs were all
// made. A bad or unreadable photo, and a cancelled ctx, fail every
// processor not yet served; a spec that does not fit the photo, a bad
// watermark, a failing create, write or Close fail only their own
// processor, and the others' outputs are still made.
//
// A processor's outputs are byte for byte those Process makes when the
// photo is decoded at the scale its own outputs need; when another
// processor needs more detail the frame is larger and its outputs are
// resampled from that (as sharp or sharper, not byte for byte the same).
func ProcessAll(ctx context.Context, ph Photo, ps []*Processor, create func(i int, o *Output) (io.WriteCloser, error)) []error {
	errs := make([]error, len(ps))
	failRest := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	if len(ps) == 0 {
		return errs
	}
	frame.Lock()
	defer frame.Unlock()
	if err := ctx.Err(); err != nil {
		return failRest(err)
	}
	largest := 0
	for _, p := range ps {
		largest = max(largest, p.maxPixels())
	}
	h, br, err := readPhoto(ph.Name, ph.R, largest)
	if err != nil {
		return failRest(err)
	}
	// Plan every processor's outputs against the one frame; the decode
	// scale is the finest any of them needs.
	parts := make([]*part, len(ps))
	specErrs := make([]error, len(ps))
	denom := 8 // with no spec that fits, decoding only tells a bad photo
	for i, p := range ps {
		if err := checkPixels(ph.Name, h, p.maxPixels()); err != nil {
			errs[i] = err
			continue
		}
		o := exifOrient(h.orientation).then(rotation(p.spec.Rotate))
		jobs, lastFrame, perr := plan(&p.spec, o, h.width, h.height)
		if perr != nil {
			perr.(*Error).Name = ph.Name
			specErrs[i] = perr
			continue
		}
		d := 1
		if !p.FullDecode {
			d = shrinkFor(jobs, h.width, h.height)
		}
		denom = min(denom, d)
		parts[i] = &part{p: p, o: o, jobs: jobs, lastFrame: lastFrame}
	}
	img, err := decodeFrame(ph.Name, h, br, denom)
	if err != nil {
		return failRest(err) // a bad photo is reported before a bad spec, as ever
	}
	for i, err := range specErrs {
		if err != nil {
			errs[i] = err
		}
	}
	b := img.Bounds()
	if b.Dx()*b.Dy() >= bigFrame {
		// Collect once the frame is garbage, so that the next photo's
		// frame reuses its memory rather than growing the heap past it:
		// the pacer would otherwise let the heap reach twice this
		// photo's peak (150 MB rather than 92 for 18 MP photos).
		defer runtime.GC()
	}
	// Watermarks first, so that a missing one costs no work.
	lastPart := -1
	for i, r := range parts {
		if r == nil {
			continue
		}
		if err := r.loadMarks(); err != nil {
			errs[i], parts[i] = err, nil
			continue
		}
		for k := range r.jobs {
			if r.jobs[k].from < 0 {
				r.jobs[k].region = scaleRect(r.jobs[k].region, denom, b)
			}
		}
		lastPart = i
	}
	fr := &decoded{img: img}
	img = nil
	for i, r := range parts {
		if r == nil {
			continue
		}
		if i != lastPart {
			r.lastFrame = -1 // a later part still reads the frame
		}
		if err := ctx.Err(); err != nil {
			return failRest(err)
		}
		errs[i] = r.make(ctx, ph, fr, func(o *Output) (io.WriteCloser, error) { return create(i, o) })
		if ctx.Err() != nil {
			return failRest(ctx.Err())
		}
	}
	return errs
}

// maxPixels is p.MaxPixels, or its default.
func (p *Processor) maxPixels() int {
	if p.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return p.MaxPixels
}

// decoded holds the decoded frame, so that the part that reads it last can
// let it go for the rest of the work.
type decoded struct{ img image.Image }

// part is one processor's part of a ProcessAll call.
type part struct {
	p    *Processor
	o    orient
	jobs []job
	// lastFrame is the index of the job after which the frame can go, or
	// -1 when a later part reads it.
	lastFrame int
	marks     []*image.RGBA // per job, nil without a watermark
}

// loadMarks reads the watermarks of r's outputs.
func (r *part) loadMarks() error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	r.marks = make([]*image.RGBA, len(r.jobs))
	for i, j := range r.jobs {
		if j.out.Watermark != nil {
			var err error
			if r.marks[i], err = r.p.watermark(j.out.Watermark.File); err != nil {
				return err
			}
		}
	}
	return nil
}

// make derives r's outputs from the frame, largest first, and writes them
// to writers from create.
func (r *part) make(ctx context.Context, ph Photo, fr *decoded, create func(*Output) (io.WriteCloser, error)) error {
	jobs := r.jobs
	clean := make([]*image.RGBA, len(jobs))
	for i, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		var pic *image.RGBA
		if j.from < 0 {
			pic = resample(fr.img, j.region, j.w, j.h)
		} else {
			src := clean[j.from]
			pic = resample(src, j.sub.Add(src.Rect.Min), j.w, j.h)
		}
		if i == r.lastFrame {
			fr.img = nil // the frame's memory is free for the rest
		}
		for k := range clean {
			if clean[k] != nil && jobs[k].lastUse <= i {
				clean[k] = nil
			}
		}
		out := r.o.apply(pic)
		if j.lastUse > i {
			clean[i] = pic
			if out == pic {
				out = cloneRGBA(pic) // overlays must not reach later outputs
			}
		}
		if j.out.Watermark != nil {
			drawWatermark(out, r.marks[i], j.out.Watermark)
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

// encode writes pic as out's JPEG to a writer from create, unless create
// returns none.
func encode(out *Output, pic *image.RGBA, create func(*Output) (io.WriteCloser, error)) error {
	q := out.Quality
	if q == 0 {
		q = DefaultQuality
	}
	w, err := create(out)
	if err != nil {
		return fmt.Errorf("process: output %s: %w", out.Name, err)
	}
	if w == nil {
		return nil // not wanted
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
