package process

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
	"io"
	"testing"
)

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(exampleSpec))
	f.Add([]byte(`{"rotate":90,"crop":{"x":1,"y":2,"width":3,"height":4},"outputs":[{"name":"a","width":5,"height":7,"fit":"fill"}]}`))
	f.Add([]byte(`{"outputs":[{"name":"a","height":3,"crop":{"x":0.9,"y":0,"width":0.1,"height":1e-9,"unit":"fraction"}}]}`))
	f.Add([]byte(`{"outputs":[{"name":"a","width":1,"caption":{"text":"{time}","color":"#00000000"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec("fuzz.json", data)
		if err != nil {
			if !IsBadInput(err) {
				t.Fatalf("not an *Error: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed, then invalid: %v", err)
		}
		// Planning for any photo never panics and gives sane sizes.
		for _, size := range [][2]int{{1, 1}, {7, 3}, {5184, 3456}} {
			for v := 1; v <= 8; v++ {
				jobs, _, err := plan(s, exifOrient(v).then(rotation(s.Rotate)), size[0], size[1])
				if err != nil {
					continue
				}
				for _, j := range jobs {
					if j.w < 1 || j.h < 1 || j.region.Empty() || !j.region.In(imageRect(size[0], size[1])) {
						t.Fatalf("%v EXIF %d: job %s: %dx%d from %v", size, v, j.out.Name, j.w, j.h, j.region)
					}
				}
			}
		}
	})
}

// FuzzProcess processes arbitrary bytes as a photo: bad input is an
// *Error, and a photo that processes gives every output as a whole JPEG
// of the size its spec says ("a" fits 12×12, "b" fills 4×4).
func FuzzProcess(f *testing.F) {
	jpg := encodeJPEG(f, quadrants(24, 16), 80)
	f.Add(jpg)
	f.Add(withEXIF(jpg, 6, binary.BigEndian))
	f.Add(withEXIF(jpg, 3, binary.LittleEndian))
	f.Add(jpg[:len(jpg)/2])
	f.Add([]byte("II*\x00\x10\x00\x00\x00CR\x02\x00"))
	p, err := New(&Spec{Crop: &Crop{X: 0.1, Y: 0, Width: 0.8, Height: 1, Unit: "fraction"}, Outputs: []Output{
		{Name: "a", Width: 12, Height: 12},
		{Name: "b", Width: 4, Height: 4, Fit: "fill"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	p.MaxPixels = 1 << 16 // so that no input can ask for much memory
	f.Fuzz(func(t *testing.T, data []byte) {
		outs := map[string]*bytes.Buffer{}
		err := p.Process(t.Context(), Photo{Name: "fuzz.jpg", R: bytes.NewReader(data)},
			func(o *Output) (io.WriteCloser, error) {
				if outs[o.Name] != nil {
					t.Fatalf("output %s created twice", o.Name)
				}
				outs[o.Name] = new(bytes.Buffer)
				return nopCloser{outs[o.Name]}, nil
			})
		if err != nil {
			if !IsBadInput(err) {
				t.Fatalf("not an *Error: %v", err)
			}
			return
		}
		if len(outs) != 2 {
			t.Fatalf("processed, with %d outputs of 2", len(outs))
		}
		for name, b := range outs {
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatalf("output %s is no JPEG: %v", name, err)
			}
			if _, err := jpeg.Decode(bytes.NewReader(b.Bytes())); err != nil {
				t.Fatalf("output %s does not decode: %v", name, err)
			}
			w, h := cfg.Width, cfg.Height
			if name == "a" && (max(w, h) != 12 || min(w, h) < 1) || name == "b" && (w != 4 || h != 4) {
				t.Fatalf("output %s is %d×%d", name, w, h)
			}
		}
	})
}
