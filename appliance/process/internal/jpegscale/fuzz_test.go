package jpegscale

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeScaled checks that no input makes DecodeScaled panic at any
// scale, that at 1/1 it accepts what image/jpeg accepts and decodes it to
// the same pixels, and that at other scales it gives the reduced size.
func FuzzDecodeScaled(f *testing.F) {
	files, err := filepath.Glob("testdata/*.jpeg")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 4096 {
			// Larger seeds (20 KB) stalled the fuzzer at 0 execs/s
			// here (cause not found); TestTestdata covers them.
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// As image/jpeg's own fuzz target: a header that does not parse
		// fails both decoders before any pixel memory is allocated.
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width*cfg.Height > 1e6 {
			return // memory, not correctness
		}
		want, werr := jpeg.Decode(bytes.NewReader(b))
		for _, denom := range []int{1, 2, 4, 8} {
			got, err := DecodeScaled(bytes.NewReader(b), denom)
			if denom == 1 {
				if (err == nil) != (werr == nil) {
					t.Fatalf("1/1: error %v, image/jpeg's %v", err, werr)
				}
				if err == nil && !reflect.DeepEqual(got, want) {
					t.Fatalf("1/1: image differs from image/jpeg's")
				}
				continue
			}
			if err != nil || werr != nil {
				continue // a scale may fail where 1/1 does not: a bad block is a bad block
			}
			wb := want.Bounds()
			r := image.Rect(0, 0, (wb.Dx()+denom-1)/denom, (wb.Dy()+denom-1)/denom)
			if got.Bounds() != r {
				t.Fatalf("1/%d: bounds %v, want %v", denom, got.Bounds(), r)
			}
		}
	})
}

// TestTestdata decodes every seed at every scale: the errors at 1/1 are
// image/jpeg's, the sizes are rounded up, and the pixels are close to the
// box-averaged full decode.
func TestTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jpeg")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		full, werr := jpeg.Decode(bytes.NewReader(b))
		for _, denom := range []int{1, 2, 4, 8} {
			got, err := DecodeScaled(bytes.NewReader(b), denom)
			if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
				t.Errorf("%s 1:%d: error %v, image/jpeg's %v", p, denom, err, werr)
				continue
			}
			if err != nil {
				continue
			}
			if reflect.TypeOf(got) != reflect.TypeOf(full) {
				t.Errorf("%s 1:%d: %T, image/jpeg gives %T", p, denom, got, full)
				continue
			}
			if denom == 1 && !reflect.DeepEqual(got, full) {
				t.Errorf("%s: differs from image/jpeg at 1/1", p)
			}
			if _, ok := full.(*image.YCbCr); !ok && !strings.Contains(p, "gray") {
				continue // RGB, CMYK: types checked, planes differ
			}
			fp, sp := planes(t, full), planes(t, got)
			for i := range fp {
				if psnr := psnrBox(fp[i], sp[i], denom); psnr < 40 {
					t.Errorf("%s 1:%d plane %d: PSNR %.1f dB against the box-averaged full decode", p, denom, i, psnr)
				}
			}
		}
	}
}
