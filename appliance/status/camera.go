package status

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"log"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/image/draw"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// camera decodes camerad.json from a snapshot's status files.
func (s *Snapshot) camera() *statusfile.Camera {
	var c statusfile.Camera
	if s.decode("camerad", &c) {
		return &c
	}
	return nil
}

// thumbnailWidth keeps the latest picture light enough for a phone on the
// site's own 4G link.
const thumbnailWidth = 640

// thumbnails caches the thumbnail of the latest photo: decoding an 18 MP
// JPEG costs a second on a Pi, so it is done once per photo.
type thumbnails struct {
	mu   sync.Mutex
	path string
	jpeg []byte
}

// serve writes the thumbnail of photo (a path relative to the store).
func (t *thumbnails) serve(w http.ResponseWriter, r *http.Request, storeDir, photo string) {
	if photo == "" || !strings.HasPrefix(photo, "photos/") || path.Clean(photo) != photo {
		http.Error(w, "no picture yet", http.StatusNotFound)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.path != photo {
		b, err := thumbnail(filepath.Join(storeDir, filepath.FromSlash(photo)), thumbnailWidth)
		if err != nil {
			// The error names the file: for the log, not the client.
			log.Printf("status: %v", err)
			http.Error(w, "the latest picture cannot be read", http.StatusInternalServerError)
			return
		}
		t.path, t.jpeg = photo, b
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(t.jpeg)
}

// thumbnail scales the JPEG at file to width pixels.
func thumbnail(file string, width int) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("latest picture: %w", err)
	}
	defer f.Close()
	src, err := jpeg.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("latest picture %s: %w", file, err)
	}
	b := src.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("latest picture %s: empty image", file)
	}
	width = min(width, b.Dx())
	height := max(1, b.Dy()*width/b.Dx())
	dst := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// autonomy says how many days of pictures fit on /perm and what that
// assumes, or "" when unknown.
func autonomy(a *statusfile.Autonomy) string {
	if a == nil {
		return ""
	}
	assumes := fmt.Sprintf("%s pictures a day of %s (%s) in %s free below the %.0f %% mark",
		strconv.FormatFloat(a.PicturesPerDay, 'f', -1, 64), formatBytes(uint64(max(a.BytesPerPicture, 0))), a.SizeSource,
		formatBytes(a.UsableBytes), 100*a.HighWater)
	if a.Days == nil {
		return "unlimited: the schedule takes no pictures"
	}
	var fit string
	switch d := *a.Days; {
	case d >= 10:
		fit = fmt.Sprintf("%.0f days", d)
	case d >= 1:
		fit = fmt.Sprintf("%.1f days", d)
	default:
		fit = formatSeconds(d * 86400)
	}
	return fmt.Sprintf("≈ %s of pictures fit on /perm before retention deletes any: %s", fit, assumes)
}
