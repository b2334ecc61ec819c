package status

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
	"github.com/lapsebox/lapsebox/internal/promtext"
)

//go:embed page.html public.html head.html
var templates embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"bytes":       templateBytes,
	"drain":       drain,
	"rate":        rate,
	"dur":         formatSeconds,
	"percent":     percent,
	"indent":      indentJSON,
	"stateClass":  func(s State) string { return strings.ReplaceAll(string(s), " ", "-") },
	"ago":         ago,
	"signal":      signal,
	"dataUse":     dataUse,
	"autonomy":    autonomy,
	"uptime":      uptime,
	"pct":         func(f float64) float64 { return 100 * f },
	"join":        func(s []string) string { return strings.Join(s, ", ") },
	"secs":        func(d statusfile.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) },
	"differs":     committedDiffers,
	"resultClass": resultClass,
	"stepText":    stepText,
	"until":       until,
}).ParseFS(templates, "page.html", "head.html"))

// Options configure statusd's HTTP interface.
type Options struct {
	// Refresh is how often the page reloads itself (not at all if 0).
	Refresh time.Duration
	// EtcDir holds the image's gokr-pw.txt ("/etc" if empty); the
	// password may be overridden in the Collector's PermDir, as gokrazy
	// does.
	EtcDir string
	// AllowPublic answers clients on public addresses too; by default
	// only loopback, private and link-local ones (gokrazyhttp.PrivateOnly).
	AllowPublic bool
	// Protected are more handlers behind the password, by ServeMux
	// pattern (statusd's /api/config).
	Protected map[string]http.Handler
	// Logf reports refused passwords and what cannot be served
	// (log.Printf if nil). Passwords are never logged.
	Logf func(format string, args ...any)
}

// NewServer returns statusd's HTTP interface to c:
//
//   - /healthz "ok", as long as statusd serves at all: without a password.
//   - /public/ (the page), /public/latest.jpg and /public/status.json:
//     the public summary, without a password and from any address, when
//     the site configuration's status.public_summary is set (see
//     PublicSummary). Otherwise these need the password like the rest.
//   - everything else needs gokrazy's user and the device's password
//     (Basic auth), from a private address unless AllowPublic: / the
//     page of the current Snapshot, /api/status the Snapshot as JSON,
//     /api/boot the BootFiles, read when asked, /latest.jpg the newest
//     picture, scaled down, /metrics the Snapshot in Prometheus's text
//     format, and o.Protected.
func NewServer(c *Collector, o Options) http.Handler {
	logf := o.Logf
	if logf == nil {
		logf = log.Printf
	}
	etc := o.EtcDir
	if etc == "" {
		etc = "/etc"
	}
	h := newHandler(c, o.Refresh)
	private := h.private()
	for pattern, ph := range o.Protected {
		private.Handle(pattern, ph)
	}
	// The password is read the way gokrazy reads it, at every request.
	gate := &gokrazyhttp.Gate{Password: func() (string, error) { return gokrazyhttp.DevicePassword(c.cfg.PermDir, etc) },
		Service: "status", Realm: "lapsebox", Off: "this device has no HTTP password: its status page is off",
		Logf: logf, Now: c.cfg.Now}
	var protected http.Handler = gate.Wrap(private)
	healthz := http.Handler(http.HandlerFunc(serveHealthz))
	if !o.AllowPublic {
		protected = gokrazyhttp.PrivateOnly("statusd", protected)
		healthz = gokrazyhttp.PrivateOnly("statusd", healthz)
	}
	public := h.public()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			healthz.ServeHTTP(w, r)
		case isPublic(r.URL.Path) && h.publicSummary():
			public.ServeHTTP(w, r)
		default:
			protected.ServeHTTP(w, r)
		}
	})
}

func serveHealthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

type handler struct {
	c       *Collector
	refresh int // seconds
	thumbs  thumbnails
	bootMu  sync.Mutex // one read of the boot partition at a time
}

func newHandler(c *Collector, refresh time.Duration) *handler {
	h := &handler{c: c, refresh: int(refresh.Round(time.Second).Seconds())}
	if refresh > 0 && h.refresh < 1 {
		h.refresh = 1
	}
	return h
}

// private returns the routes behind the password.
func (h *handler) private() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /api/status", h.api)
	mux.HandleFunc("GET "+BootPath, h.boot)
	mux.HandleFunc("GET /latest.jpg", h.latest)
	mux.HandleFunc("GET /metrics", h.metrics)
	return mux
}

// latest serves a thumbnail of the newest picture camerad took.
func (h *handler) latest(w http.ResponseWriter, r *http.Request) {
	s := h.c.Collect(r.Context())
	h.thumbs.serve(w, r, filepath.Join(h.c.cfg.PermDir, "lapsebox"), s.camera().LatestPhoto())
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	s := h.c.Collect(r.Context())
	var buf bytes.Buffer
	if err := page.Execute(&buf, struct {
		*Snapshot
		Refresh  int
		Camera   *statusfile.Camera
		Uploads  *statusfile.Uploads
		Modem    *statusfile.Modem
		Watchdog *watchdogStatus
	}{s, h.refresh, s.camera(), s.uploads(), s.modem(), s.watchdog()}); err != nil {
		log.Printf("status: rendering page: %v", err)
		http.Error(w, "rendering page failed", http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header())
	w.Write(buf.Bytes())
}

// pageHeaders sets the headers of an HTML page: the page is
// self-contained, no scripts, nothing external.
func pageHeaders(hdr http.Header) {
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'")
}

func (h *handler) metrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	writeMetrics(&b, h.c.Collect(r.Context()))
	w.Header().Set("Content-Type", promtext.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

func (h *handler) api(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, h.c.Collect(r.Context()))
}

// writeJSON answers with v as indented JSON, never cached.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		log.Printf("status: encoding %T: %v", v, err)
		http.Error(w, "encoding status failed", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.Write(append(b, '\n'))
}

// templateBytes is formatBytes for the byte counts of status files, some
// signed (a negative count is shown as 0).
func templateBytes(n any) string {
	switch n := n.(type) {
	case uint64:
		return formatBytes(n)
	case int64:
		return formatBytes(uint64(max(n, 0)))
	case int:
		return formatBytes(uint64(max(n, 0)))
	}
	return fmt.Sprint(n)
}

// formatBytes formats n in binary units: "512 B", "3.4 GiB".
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// formatSeconds formats a duration in seconds coarsely, the two largest
// units: "42s", "5m 12s", "3h 4m", "12d 3h". A negative duration (clocks
// that disagree) is shown as 0s: the page never shows "-2s".
func formatSeconds(secs float64) string {
	if math.IsNaN(secs) || math.IsInf(secs, 0) {
		return "?"
	}
	secs = max(secs, 0)
	s := int64(secs)
	d, h, m := s/86400, s/3600%24, s/60%60
	s %= 60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd %dh", d, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// uptime says how long a service has run: "up 3h 4m". A start a little
// after now (the clock stepped back after boot) is "just started", never a
// negative duration; a stopped service says when it was started.
func uptime(now time.Time, state State, started time.Time) string {
	d := now.Sub(started)
	running := state == StateRunning || state == StateStopping
	switch {
	case running && d >= 0:
		return "up " + formatSeconds(d.Seconds())
	case running && d > -time.Minute:
		return "up, just started"
	}
	return "started " + ago(now, started)
}

// ago says how long before now t was: "5m 12s ago". A t after now means
// the clock was set back since (no real-time clock, NTP at boot).
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < -time.Second {
		return formatSeconds(-d.Seconds()) + " in the future (clock set back?)"
	}
	return formatSeconds(max(d, 0).Seconds()) + " ago"
}

// percent returns part of total in whole percent, 0 if total is 0.
func percent(part, total uint64) int {
	if total == 0 {
		return 0
	}
	return int(math.Round(float64(part) / float64(total) * 100))
}

// indentJSON pretty-prints raw JSON for display, or returns it as it is if
// it cannot.
func indentJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}
