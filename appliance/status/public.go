package status

import (
	"bytes"
	"encoding/json"
	"html/template"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

var publicPage = template.Must(template.New("public.html").Funcs(template.FuncMap{"ago": ago}).ParseFS(templates, "public.html", "head.html"))

// PublicSummary is all the public summary tells: the latest picture (at
// /public/latest.jpg), when it was taken, and whether the appliance is
// healthy. Nothing else leaves the device without the password: no host
// name, version, path, URL, error message or configuration.
type PublicSummary struct {
	// Now is when the summary was made.
	Now time.Time `json:"now"`
	// LastCapture is the slot of the latest picture; zero if none.
	LastCapture time.Time `json:"lastCapture,omitzero"`
	// Picture is the latest picture's address, relative to the summary;
	// empty if there is none.
	Picture string `json:"picture,omitempty"`
	// Healthy is the health verdict, without its reasons.
	Healthy bool `json:"healthy"`
}

// publicPrefix is where the public summary lives.
const publicPrefix = "/public/"

func isPublic(path string) bool {
	return path == strings.TrimSuffix(publicPrefix, "/") || strings.HasPrefix(path, publicPrefix)
}

// publicSummary reports whether the site configuration opens the public
// summary. It is read on every request, so that a configuration pushed
// to the device closes it at once; an unreadable or invalid file falls
// back as the services' does (see config.Load), never to open.
func (h *handler) publicSummary() bool {
	site, _ := h.c.site()
	return site != nil && site.Status.PublicSummary
}

// public returns the public summary's routes.
func (h *handler) public() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /public", http.RedirectHandler(publicPrefix, http.StatusMovedPermanently))
	mux.HandleFunc("GET /public/{$}", h.publicPage)
	mux.HandleFunc("GET /public/status.json", h.publicJSON)
	mux.HandleFunc("GET /public/latest.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.thumbs.serve(w, r, filepath.Join(h.c.cfg.PermDir, "lapsebox"), h.c.summarySnapshot().camera().LatestPhoto())
	})
	return mux
}

// summarySnapshot collects what the public summary needs: the status
// files and /perm, not gokrazy (a public request never waits on it).
func (c *Collector) summarySnapshot() *Snapshot {
	now := c.cfg.Now()
	s := &Snapshot{Now: now, Files: []File{}, Perm: readPerm(c.cfg.ProcDir, c.cfg.PermDir)}
	if fs, err := readFiles(c.cfg.RunDir, now, c.cfg.StaleAfter); err != nil {
		s.FilesError = err.Error()
	} else {
		s.Files = fs
	}
	return s
}

func (c *Collector) publicSummary() *PublicSummary {
	s := c.summarySnapshot()
	p := &PublicSummary{Now: s.Now, Healthy: s.health().OK}
	if cam := s.camera(); cam != nil && cam.LastCapture != nil {
		p.LastCapture = cam.LastCapture.Slot
		if cam.LatestPhoto() != "" {
			p.Picture = "latest.jpg"
		}
	}
	return p
}

func (h *handler) publicPage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := publicPage.Execute(&buf, struct {
		*PublicSummary
		Refresh int
	}{h.c.publicSummary(), h.refresh}); err != nil {
		log.Printf("status: rendering the public summary: %v", err)
		http.Error(w, "rendering page failed", http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header())
	w.Write(buf.Bytes())
}

func (h *handler) publicJSON(w http.ResponseWriter, r *http.Request) {
	b, _ := json.Marshal(h.c.publicSummary()) // cannot fail: times and a bool
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// For a live-cam page on another site.
	hdr.Set("Access-Control-Allow-Origin", "*")
	w.Write(append(b, '\n'))
}
