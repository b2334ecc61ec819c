package process

import (
	"fmt"
	"image"
	"math"
)

// orient maps the stored pixels to the picture as shown: transpose first,
// then mirror left-right, then top-bottom. The eight values are the eight
// EXIF orientations.
type orient struct{ t, fx, fy bool }

// exifOrient returns the orientation an EXIF Orientation value asks for.
func exifOrient(v int) orient {
	switch v {
	case 2: // mirrored left-right
		return orient{fx: true}
	case 3: // turned 180°
		return orient{fx: true, fy: true}
	case 4: // mirrored top-bottom
		return orient{fy: true}
	case 5: // transposed
		return orient{t: true}
	case 6: // to be turned 90° clockwise
		return orient{t: true, fx: true}
	case 7: // transversed
		return orient{t: true, fx: true, fy: true}
	case 8: // to be turned 90° anticlockwise
		return orient{t: true, fy: true}
	}
	return orient{}
}

// rotation returns a clockwise turn by deg (0, 90, 180 or 270).
func rotation(deg int) orient {
	switch deg {
	case 90:
		return exifOrient(6)
	case 180:
		return exifOrient(3)
	case 270:
		return exifOrient(8)
	}
	return orient{}
}

// matrix returns o as a matrix acting on (x, y) about the centre.
func (o orient) matrix() [2][2]int {
	m := [2][2]int{{1, 0}, {0, 1}}
	if o.t {
		m = [2][2]int{{0, 1}, {1, 0}}
	}
	if o.fx {
		m[0][0], m[0][1] = -m[0][0], -m[0][1]
	}
	if o.fy {
		m[1][0], m[1][1] = -m[1][0], -m[1][1]
	}
	return m
}

// then returns o followed by n.
func (o orient) then(n orient) orient {
	a, b := n.matrix(), o.matrix()
	var m [2][2]int
	for i := range 2 {
		for j := range 2 {
			m[i][j] = a[i][0]*b[0][j] + a[i][1]*b[1][j]
		}
	}
	if m[0][0] == 0 {
		return orient{t: true, fx: m[0][1] < 0, fy: m[1][0] < 0}
	}
	return orient{fx: m[0][0] < 0, fy: m[1][1] < 0}
}

// shown returns the size of a w×h stored picture as shown.
func (o orient) shown(w, h int) (int, int) {
	if o.t {
		return h, w
	}
	return w, h
}

// toStored maps rectangle r of the picture as shown (dw×dh) back to stored
// pixels.
func (o orient) toStored(r image.Rectangle, dw, dh int) image.Rectangle {
	if o.fx {
		r.Min.X, r.Max.X = dw-r.Max.X, dw-r.Min.X
	}
	if o.fy {
		r.Min.Y, r.Max.Y = dh-r.Max.Y, dh-r.Min.Y
	}
	if o.t {
		r = image.Rect(r.Min.Y, r.Min.X, r.Max.Y, r.Max.X)
	}
	return r
}

// apply returns src (stored orientation) as shown. Exact pixel moves, no
// resampling; src itself when o is the identity.
func (o orient) apply(src *image.RGBA) *image.RGBA {
	if o == (orient{}) {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := o.shown(w, h)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		row := src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y):][:4*w]
		for x := 0; x < w; x++ {
			tx, ty := x, y
			if o.t {
				tx, ty = y, x
			}
			if o.fx {
				tx = dw - 1 - tx
			}
			if o.fy {
				ty = dh - 1 - ty
			}
			copy(dst.Pix[ty*dst.Stride+4*tx:][:4], row[4*x:])
		}
	}
	return dst
}

// job is one output in processing order.
type job struct {
	out *Output
	// region is the part of the stored photo the output shows, and w×h the
	// size it is resampled to, both in stored orientation.
	region image.Rectangle
	w, h   int
	// from is the index of the earlier job whose clean resampled picture
	// this one is derived from, or -1 for the decoded photo; sub is the
	// part of that picture to use.
	from int
	sub  image.Rectangle
	// lastUse is the index of the last job derived from this one's clean
	// picture, or -1.
	lastUse int
	// gen counts the resamplings from the photo to this output.
	gen int
}

// plan orders the outputs largest first and works out what each is cut and
// resampled from: the decoded photo (sw×sh stored pixels) or, when it holds
// the region at no less detail, an earlier output's clean picture, so the
// photo itself is read as few times as possible (once for typical specs).
// Among those it prefers the fewest resamplings from the photo (each one
// softens a little), then the smallest picture.
// It returns the jobs and the index of the last one that reads the photo.
func plan(s *Spec, o orient, sw, sh int) ([]job, int, error) {
	dw, dh := o.shown(sw, sh)
	base := image.Rect(0, 0, dw, dh)
	if s.Crop != nil {
		var err error
		if base, err = cropRect(s.Crop, base); err != nil {
			return nil, 0, &Error{Kind: KindSpec, Err: fmt.Errorf("crop: %w", err)}
		}
	}
	jobs := make([]job, len(s.Outputs))
	for i := range s.Outputs {
		out := &s.Outputs[i]
		r := base
		if out.Crop != nil {
			var err error
			if r, err = cropRect(out.Crop, base); err != nil {
				return nil, 0, &Error{Kind: KindSpec, Err: fmt.Errorf("outputs[%d].crop: %w", i, err)}
			}
		}
		r, w, h := fitFill(r, out)
		r = o.toStored(r, dw, dh)
		if o.t {
			w, h = h, w
		}
		jobs[i] = job{out: out, region: r, w: w, h: h, from: -1, lastUse: -1}
	}
	// Largest first; stable, so equal sizes keep the spec's order.
	for i := 1; i < len(jobs); i++ {
		for j := i; j > 0 && jobs[j].w*jobs[j].h > jobs[j-1].w*jobs[j-1].h; j-- {
			jobs[j], jobs[j-1] = jobs[j-1], jobs[j]
		}
	}
	lastFrame := -1
	for i := range jobs {
		j := &jobs[i]
		best := -1
		for k := 0; k < i; k++ {
			c := &jobs[k]
			if !j.region.In(c.region) {
				continue
			}
			// Detail of c per stored pixel, against what j needs.
			if float64(c.w)*float64(j.region.Dx()) < float64(j.w)*float64(c.region.Dx()) ||
				float64(c.h)*float64(j.region.Dy()) < float64(j.h)*float64(c.region.Dy()) {
				continue
			}
			if best < 0 || c.gen < jobs[best].gen || c.gen == jobs[best].gen && c.w*c.h < jobs[best].w*jobs[best].h {
				best = k
			}
		}
		if best < 0 {
			lastFrame = i
			j.gen = 1
			continue
		}
		c := &jobs[best]
		j.from = best
		j.gen = c.gen + 1
		c.lastUse = i
		sx := float64(c.w) / float64(c.region.Dx())
		sy := float64(c.h) / float64(c.region.Dy())
		j.sub = image.Rect(
			int(math.Round(float64(j.region.Min.X-c.region.Min.X)*sx)),
			int(math.Round(float64(j.region.Min.Y-c.region.Min.Y)*sy)),
			int(math.Round(float64(j.region.Max.X-c.region.Min.X)*sx)),
			int(math.Round(float64(j.region.Max.Y-c.region.Min.Y)*sy)),
		).Intersect(image.Rect(0, 0, c.w, c.h))
		if j.sub.Empty() {
			j.sub = image.Rect(0, 0, 1, 1)
		}
	}
	return jobs, lastFrame, nil
}

// cropRect returns crop c of rectangle base.
func cropRect(c *Crop, base image.Rectangle) (image.Rectangle, error) {
	bw, bh := base.Dx(), base.Dy()
	var r image.Rectangle
	if c.Unit == "fraction" {
		r = image.Rect(
			int(math.Round(c.X*float64(bw))),
			int(math.Round(c.Y*float64(bh))),
			int(math.Round((c.X+c.Width)*float64(bw))),
			int(math.Round((c.Y+c.Height)*float64(bh))),
		).Intersect(image.Rect(0, 0, bw, bh))
		// A thin strip of a small picture still gets a pixel.
		if r.Dx() == 0 {
			r.Max.X = min(r.Min.X+1, bw)
			r.Min.X = r.Max.X - 1
		}
		if r.Dy() == 0 {
			r.Max.Y = min(r.Min.Y+1, bh)
			r.Min.Y = r.Max.Y - 1
		}
	} else {
		r = image.Rect(int(c.X), int(c.Y), int(c.X+c.Width), int(c.Y+c.Height))
		if !r.In(image.Rect(0, 0, bw, bh)) {
			return image.Rectangle{}, fmt.Errorf("%d,%d %d×%d reaches beyond the %d×%d picture", r.Min.X, r.Min.Y, r.Dx(), r.Dy(), bw, bh)
		}
	}
	return r.Add(base.Min), nil
}

// fitFill returns the part of r that out shows and the size it becomes.
func fitFill(r image.Rectangle, out *Output) (image.Rectangle, int, int) {
	rw, rh := float64(r.Dx()), float64(r.Dy())
	W, H := out.Width, out.Height
	if out.Fit == "fill" {
		// Cut the centre of r to the aspect ratio W:H.
		if rw*float64(H) > rh*float64(W) {
			cw := max(1, int(math.Round(rh*float64(W)/float64(H))))
			x := r.Min.X + (r.Dx()-cw)/2
			r = image.Rect(x, r.Min.Y, x+cw, r.Max.Y)
		} else {
			ch := max(1, int(math.Round(rw*float64(H)/float64(W))))
			y := r.Min.Y + (r.Dy()-ch)/2
			r = image.Rect(r.Min.X, y, r.Max.X, y+ch)
		}
		return r, W, H
	}
	switch {
	case H == 0 || W != 0 && rw*float64(H) >= rh*float64(W):
		H = max(1, int(math.Round(rh*float64(W)/rw)))
	default:
		W = max(1, int(math.Round(rw*float64(H)/rh)))
	}
	return r, W, H
}

// shrinkFor returns the largest denom of 8, 4, 2 and 1 at which the photo
// (sw×sh stored pixels) can be decoded with every job that reads the frame
// still a downscale or 1:1 on both axes: its region, scaled as scaleRect
// does, at least w×h. The final resampling then only ever shrinks, as
// libvips' thumbnail requires of its shrink-on-load.
func shrinkFor(jobs []job, sw, sh int) int {
	for _, d := range []int{8, 4, 2} {
		bounds := image.Rect(0, 0, (sw+d-1)/d, (sh+d-1)/d)
		ok := true
		for i := range jobs {
			j := &jobs[i]
			if j.from >= 0 {
				continue // made from an earlier output, not the frame
			}
			if r := scaleRect(j.region, d, bounds); r.Dx() < j.w || r.Dy() < j.h {
				ok = false
				break
			}
		}
		if ok {
			return d
		}
	}
	return 1
}

// scaleRect maps r, in full-size stored pixels, to a frame decoded at
// 1/denom whose bounds are b: the edges are rounded to the nearest pixel
// (a shift of at most half a frame pixel, under half an output pixel since
// the frame is at least the output's size), and a pixel is kept at least.
func scaleRect(r image.Rectangle, denom int, b image.Rectangle) image.Rectangle {
	if denom == 1 {
		return r
	}
	div := func(v int) int { return (2*v + denom) / (2 * denom) } // round half up, v ≥ 0
	s := image.Rect(div(r.Min.X), div(r.Min.Y), div(r.Max.X), div(r.Max.Y)).Intersect(b)
	if s.Dx() == 0 {
		s.Max.X = min(s.Min.X+1, b.Max.X)
		s.Min.X = s.Max.X - 1
	}
	if s.Dy() == 0 {
		s.Max.Y = min(s.Min.Y+1, b.Max.Y)
		s.Min.Y = s.Max.Y - 1
	}
	return s
}
