package process

import (
	"image"
	"testing"

	"github.com/anthonynsimon/bild/transform"
	"github.com/lapsebox/lapsebox/appliance/process/internal/synth"
)

// TestResizeLanczosMatchesBild checks the fixed-point resampler against
// bild's float64 one with the same filter: within one level (rounding), for
// shrinking, enlarging, one axis only, and a sub-image.
func TestResizeLanczosMatchesBild(t *testing.T) {
	src := synth.Photo(613, 409, 5, 10)
	sub := src.SubImage(image.Rect(101, 37, 480, 400)).(*image.RGBA)
	for _, c := range []struct {
		src  *image.RGBA
		w, h int
	}{
		{src, 450, 300}, {src, 200, 137}, {src, 1000, 700}, {src, 613, 200}, {src, 300, 409},
		{src, 1, 1}, {sub, 250, 240}, {sub, 379, 100},
	} {
		got := resizeLanczos(c.src, c.w, c.h)
		want := transform.Resize(cloneRGBA(c.src), c.w, c.h, lanczos3)
		if got.Rect != want.Rect {
			t.Fatalf("%v to %dx%d: %v, bild gives %v", c.src.Rect, c.w, c.h, got.Rect, want.Rect)
		}
		worst := 0
		for i := range got.Pix {
			d := int(got.Pix[i]) - int(want.Pix[i])
			worst = max(worst, d, -d)
		}
		if worst > 1 {
			t.Errorf("%v to %dx%d: differs from bild by up to %d levels", c.src.Rect, c.w, c.h, worst)
		}
	}
}
