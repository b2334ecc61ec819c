package gallery_test

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// imageMagick is Debian's ImageMagick 6 convert (PATH may hold a
// stand-in of that name first).
const imageMagick = "/usr/bin/convert"

// The derived copies of an 18 MP JPEG (5184×3456, a Canon EOS 600D's
// frame): what cloudd spends per received photo, against decoding it
// alone and against ImageMagick making the same two copies
// (convert -resize, one decode too) in the same run.
func BenchmarkDerive18MP(b *testing.B) {
	data := picture(b, 5184, 3456, 150)
	dir := b.TempDir()
	src := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("gallery", func(b *testing.B) {
		r := newRig(b, gallery.TimelapseConfig{Off: true}, "cam")
		b.ResetTimer()
		for i := range b.N {
			name := fmt.Sprintf("%d.jpg", i)
			p := filepath.Join(r.root, "cam", name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Link(src, p); err != nil {
				b.Fatal(err)
			}
			if err := r.svc.Derive(ctx, ingest.Stored{Device: "cam", Name: name, Path: p, CaptureTime: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-only", func(b *testing.B) {
		for range b.N {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("imagemagick", func(b *testing.B) {
		testtool.File(b, imageMagick)
		for range b.N {
			out, err := exec.Command(imageMagick, src, "-resize", fmt.Sprintf("%dx%d", gallery.WebSide, gallery.WebSide), "-quality", "82",
				"-write", filepath.Join(dir, "web.jpg"), "-resize", fmt.Sprintf("%dx%d", gallery.ThumbSide, gallery.ThumbSide), "-quality", "75",
				filepath.Join(dir, "thumb.jpg")).CombinedOutput()
			if err != nil {
				b.Fatalf("convert: %v: %s", err, out)
			}
		}
	})
}

// A day's time-lapse of 288 frames (every 5 minutes) from 1920×1280
// web-size copies, against ffmpeg decoding the same frames alone.
func BenchmarkTimelapse288(b *testing.B) {
	ff := testtool.Program(b, "ffmpeg")
	dir := b.TempDir()
	var frames []string
	for i := range 288 {
		p := filepath.Join(dir, fmt.Sprintf("%03d.jpg", i))
		if err := os.WriteFile(p, picture(b, 1920, 1280, uint8(40+i%160)), 0o644); err != nil {
			b.Fatal(err)
		}
		frames = append(frames, p)
	}
	out := filepath.Join(dir, "out.mp4")
	for _, deflicker := range []bool{false, true} {
		b.Run(fmt.Sprintf("encode/deflicker=%v", deflicker), func(b *testing.B) {
			for range b.N {
				if err := gallery.Encode(ctx, gallery.EncodeOptions{FFmpeg: ff, Deflicker: deflicker}, frames, out, nil); err != nil {
					b.Fatal(err)
				}
			}
			fi, _ := os.Stat(out)
			b.ReportMetric(float64(fi.Size()), "bytes")
		})
	}
	b.Run("decode-only", func(b *testing.B) {
		list := filepath.Join(dir, "list.txt")
		var l bytes.Buffer
		for _, f := range frames {
			fmt.Fprintf(&l, "file '%s'\n", f)
		}
		os.WriteFile(list, l.Bytes(), 0o644)
		for range b.N {
			if out, err := exec.Command(ff, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", list, "-f", "null", "-").CombinedOutput(); err != nil {
				b.Fatalf("ffmpeg: %v: %s", err, out)
			}
		}
	})
}
