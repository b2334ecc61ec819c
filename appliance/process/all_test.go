package process

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image/color"
	"io"
	"path/filepath"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/process/internal/synth"
)

// runAll makes the outputs of each spec's processor in one ProcessAll call.
func runAll(t testing.TB, ctx context.Context, photo []byte, ps []*Processor) ([]*result, []error) {
	t.Helper()
	res := make([]*result, len(ps))
	for i := range res {
		res[i] = &result{jpeg: map[string][]byte{}}
	}
	bufs := map[[2]any]*bytes.Buffer{}
	errs := ProcessAll(ctx, Photo{Name: "photo.jpg", R: bytes.NewReader(photo), Taken: taken}, ps,
		func(i int, o *Output) (io.WriteCloser, error) {
			b := new(bytes.Buffer)
			bufs[[2]any{i, o.Name}] = b
			res[i].order = append(res[i].order, o.Name)
			return nopCloser{b}, nil
		})
	for k, b := range bufs {
		res[k[0].(int)].jpeg[k[1].(string)] = b.Bytes()
	}
	if len(errs) != len(ps) {
		t.Fatalf("ProcessAll returned %d errors for %d processors", len(errs), len(ps))
	}
	return res, errs
}

func mustNew(t testing.TB, spec *Spec) *Processor {
	t.Helper()
	p, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameOutputs fails unless got holds the outputs of want, byte for byte, in
// the same order.
func sameOutputs(t *testing.T, what string, got, want *result) {
	t.Helper()
	if len(got.order) != len(want.order) {
		t.Fatalf("%s: outputs %v, want %v", what, got.order, want.order)
	}
	for i, name := range want.order {
		if got.order[i] != name {
			t.Errorf("%s: outputs %v, want %v", what, got.order, want.order)
		}
		if !bytes.Equal(got.jpeg[name], want.jpeg[name]) {
			t.Errorf("%s: output %s differs from what Process alone makes (%d bytes, want %d)", what, name, len(got.jpeg[name]), len(want.jpeg[name]))
		}
	}
}

// TestProcessAllSameScale: specs whose outputs need the same decode scale
// get from one shared decode exactly what each Process call makes alone.
func TestProcessAllSameScale(t *testing.T) {
	photo := withEXIF(encodeJPEG(t, synth.Photo(1600, 1200, 3, 4), 90), 6, binary.BigEndian)
	wm := writePNG(t, t.TempDir(), "wm.png", synth.Logo(60, 60, color.NRGBA{0xd0, 0x30, 0x20, 0xff}))
	a := &Spec{Outputs: []Output{
		{Name: "large", Width: 600, Watermark: &Watermark{File: wm, Opacity: 0.5, Margin: 4, Scale: 0.2}},
		{Name: "small", Width: 160, Caption: &Caption{Text: "{time}", Size: 12, Margin: 4}},
	}}
	b := &Spec{Rotate: 90, Outputs: []Output{
		{Name: "square", Width: 500, Height: 500, Fit: "fill", Quality: 70},
	}}
	for _, s := range []*Spec{a, b} {
		o := exifOrient(6).then(rotation(s.Rotate))
		jobs, _, err := plan(s, o, 1600, 1200)
		if err != nil {
			t.Fatal(err)
		}
		if d := shrinkFor(jobs, 1600, 1200); d != 2 {
			t.Fatalf("the test wants specs decoded at 1/2, this one is at 1/%d", d)
		}
	}
	got, errs := runAll(t, context.Background(), photo, []*Processor{mustNew(t, a), mustNew(t, b)})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("processor %d: %v", i, err)
		}
	}
	sameOutputs(t, "a", got[0], mustRun(t, a, photo))
	sameOutputs(t, "b", got[1], mustRun(t, b, photo))
}

// TestProcessAllFinestScale: the frame is decoded at the finest scale any
// spec needs; the spec that needs the most detail gets what it gets alone,
// the other one outputs of the same size and look.
func TestProcessAllFinestScale(t *testing.T) {
	photo := encodeJPEG(t, quadrants(1600, 1200), 95)
	fine := &Spec{Outputs: []Output{{Name: "big", Width: 1000}}}    // 1/1
	coarse := &Spec{Outputs: []Output{{Name: "thumb", Width: 150}}} // 1/8 alone
	got, errs := runAll(t, context.Background(), photo, []*Processor{mustNew(t, coarse), mustNew(t, fine)})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	sameOutputs(t, "fine", got[1], mustRun(t, fine, photo))
	alone := mustRun(t, coarse, photo).image(t, "thumb")
	shared := got[0].image(t, "thumb")
	if alone.Bounds() != shared.Bounds() {
		t.Fatalf("thumb is %v, alone %v", shared.Bounds(), alone.Bounds())
	}
	for _, pt := range [][2]int{{30, 30}, {120, 30}, {30, 90}, {120, 90}} {
		if a, s := rgb(alone.At(pt[0], pt[1])), shared.At(pt[0], pt[1]); !near(s, a, 8) {
			t.Errorf("thumb at %v: %v, alone %v", pt, rgb(s), a)
		}
	}
}

// TestProcessAllBadPhoto: a bad photo is every processor's error, and no
// output is created.
func TestProcessAllBadPhoto(t *testing.T) {
	photo := encodeJPEG(t, synth.Photo(400, 300, 1, 4), 90)
	photo = photo[:len(photo)/2]
	spec := &Spec{Outputs: []Output{{Name: "o", Width: 100}}}
	got, errs := runAll(t, context.Background(), photo, []*Processor{mustNew(t, spec), mustNew(t, spec)})
	for i, err := range errs {
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindPhoto || !errors.Is(err, ErrTruncated) {
			t.Errorf("processor %d: %v, want a truncated photo", i, err)
		}
		if len(got[i].order) != 0 {
			t.Errorf("processor %d: outputs %v made of a bad photo", i, got[i].order)
		}
	}
}

// TestProcessAllOneProcessorFails: a spec that does not fit the photo, a
// missing watermark, a failing writer or a smaller pixel limit fail their
// own processor only; the other's outputs are what it makes alone (the
// bad specs need the same decode scale, so byte for byte).
func TestProcessAllOneProcessorFails(t *testing.T) {
	photo := encodeJPEG(t, synth.Photo(800, 600, 2, 4), 90)
	good := &Spec{Outputs: []Output{{Name: "a", Width: 300}, {Name: "b", Width: 100}}}
	want := mustRun(t, good, photo)
	writeErr := errors.New("disk full")
	for _, tt := range []struct {
		name  string
		spec  *Spec
		limit int
		fail  bool // the bad processor's create fails
		check func(error) bool
	}{
		{name: "spec", spec: &Spec{Crop: &Crop{X: 700, Y: 0, Width: 200, Height: 100}, Outputs: []Output{{Name: "c", Width: 50}}},
			check: func(err error) bool {
				var e *Error
				return errors.As(err, &e) && e.Kind == KindSpec && e.Name == "photo.jpg"
			}},
		{name: "watermark", spec: &Spec{Outputs: []Output{{Name: "c", Width: 250, Watermark: &Watermark{File: filepath.Join(t.TempDir(), "none.png"), Opacity: 1, Scale: 0.1}}}},
			check: func(err error) bool { var e *Error; return errors.As(err, &e) && e.Kind == KindWatermark }},
		{name: "writer", spec: &Spec{Outputs: []Output{{Name: "c", Width: 250}}}, fail: true,
			check: func(err error) bool { return errors.Is(err, writeErr) && !IsBadInput(err) }},
		{name: "pixels", spec: &Spec{Outputs: []Output{{Name: "c", Width: 250}}}, limit: 1000,
			check: func(err error) bool { return errors.Is(err, ErrTooLarge) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := mustNew(t, tt.spec)
			if tt.limit > 0 {
				bad.MaxPixels = tt.limit
			}
			// The bad one first, so that its failure comes before the
			// good one's work.
			ps := []*Processor{bad, mustNew(t, good)}
			res := &result{jpeg: map[string][]byte{}}
			errs := ProcessAll(context.Background(), Photo{Name: "photo.jpg", R: bytes.NewReader(photo), Taken: taken}, ps,
				func(i int, o *Output) (io.WriteCloser, error) {
					if i == 0 {
						if tt.fail {
							return nil, writeErr
						}
						return nopCloser{io.Discard}, nil
					}
					b := new(bytes.Buffer)
					res.order = append(res.order, o.Name)
					return &captured{Buffer: b, done: func() { res.jpeg[o.Name] = b.Bytes() }}, nil
				})
			if !tt.check(errs[0]) {
				t.Errorf("bad processor: %v", errs[0])
			}
			if errs[1] != nil {
				t.Fatalf("good processor: %v", errs[1])
			}
			sameOutputs(t, "good", res, want)
		})
	}
}

// captured is a buffer that says when it is closed.
type captured struct {
	*bytes.Buffer
	done func()
}

func (c *captured) Close() error { c.done(); return nil }

// TestProcessAllSkipsUnwanted: an output create wants no writer for is not
// encoded; the others are what Process makes.
func TestProcessAllSkipsUnwanted(t *testing.T) {
	photo := encodeJPEG(t, synth.Photo(800, 600, 2, 4), 90)
	spec := &Spec{Outputs: []Output{{Name: "a", Width: 400}, {Name: "b", Width: 100}}}
	want := mustRun(t, spec, photo)
	var got []byte
	err := mustNew(t, spec).Process(context.Background(), Photo{Name: "photo.jpg", R: bytes.NewReader(photo), Taken: taken},
		func(o *Output) (io.WriteCloser, error) {
			if o.Name == "a" {
				return nil, nil // delivered already: the picture b derives from is still made
			}
			b := new(bytes.Buffer)
			return &captured{Buffer: b, done: func() { got = b.Bytes() }}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.jpeg["b"]) {
		t.Errorf("output b differs from the one made with a")
	}
}

// TestProcessAllCancelled: a cancelled context is every processor's error.
func TestProcessAllCancelled(t *testing.T) {
	photo := encodeJPEG(t, synth.Photo(400, 300, 1, 4), 90)
	spec := &Spec{Outputs: []Output{{Name: "o", Width: 100}}}
	_, errs := runAll(t, cancelled(), photo, []*Processor{mustNew(t, spec), mustNew(t, spec)})
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("processor %d: %v, want context.Canceled", i, err)
		}
	}
}
