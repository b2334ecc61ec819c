package gallery

import (
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/faillimit"
)

//go:embed pages.html
var pagesHTML string

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"percent": func(done, all int) int {
		if all <= 0 {
			return 0
		}
		return min(100, 100*done/all)
	},
}).Parse(pagesHTML))

// DefaultLiveRefresh is how often the live page looks for a newer
// picture unless Config.LiveRefresh says.
const DefaultLiveRefresh = 30 * time.Second

// Handler serves the pages under PathPrefix:
//
//	GET /p/<token>/                         the live page
//	GET /p/<token>/latest.json              the latest picture's ID and time, for the live page's script
//	GET /p/<token>/days/                    the archive: the days
//	GET /p/<token>/days/<day>/              a day: thumbnails, downloads, its time-lapse
//	GET /p/<token>/days/<day>/timelapse.mp4 the day's time-lapse
//	GET /p/<token>/photo/<id>/thumb.jpg     a photo's thumbnail, web.jpg its web-size copy,
//	GET /p/<token>/photo/<id>/original      and the original, as a download
//
// HEAD too; downloads and videos answer Range requests.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /p/{token}/{$}", s.device(s.live))
	mux.HandleFunc("GET /p/{token}/latest.json", s.device(s.latest))
	mux.HandleFunc("GET /p/{token}/days/{$}", s.device(s.days))
	mux.HandleFunc("GET /p/{token}/days/{day}/{$}", s.device(s.day))
	mux.HandleFunc("GET /p/{token}/days/{day}/timelapse.mp4", s.device(s.video))
	mux.HandleFunc("GET /p/{token}/photo/{id}/{file}", s.device(s.photo))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The token is in every URL: no page may send it on.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Robots-Tag", "noindex, nofollow")
		h.Set("X-Content-Type-Options", "nosniff")
		// No redirect to a cleaned path (the mux's): a path with dot
		// segments or doubled slashes, encoded or not, is no page of ours.
		if p := r.URL.Path; path.Clean(p) != strings.TrimSuffix(p, "/") {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type deviceHandler func(w http.ResponseWriter, r *http.Request, device string)

// device resolves the request's token to its device, through the state
// only; a malformed, unknown or revoked token is the same 404, and a
// client that sent too many of those waits (429), whatever it sends.
func (s *Service) device(h deviceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := s.cfg.Now()
		key := faillimit.Key(r.RemoteAddr)
		if wait := s.fails.Wait(key, now); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			http.Error(w, "too many unknown links: try again later", http.StatusTooManyRequests)
			return
		}
		token := r.PathValue("token")
		var device string
		err := state.ErrNotFound
		if tokenPattern.MatchString(token) {
			device, err = s.db.LinkDevice(r.Context(), sha256.Sum256([]byte(token)))
		}
		if errors.Is(err, state.ErrNotFound) {
			s.fails.Failed(key, now)
			http.NotFound(w, r)
			return
		}
		if err != nil {
			s.serverError(w, "looking up a link", err)
			return
		}
		h(w, r, device)
	}
}

func (s *Service) serverError(w http.ResponseWriter, what string, err error) {
	ref := rand.Text()[:10]
	s.log.Error("gallery: "+what, "ref", ref, "err", err)
	http.Error(w, fmt.Sprintf("internal error (reference %s in the server's log)", ref), http.StatusInternalServerError)
}

// headers sets a page's headers (operator.Headers', with videos and the
// live page's requests for latest.json) and returns its nonce.
func headers(w http.ResponseWriter) string {
	nonce := operator.Headers(w)
	h := w.Header()
	h.Set("Content-Security-Policy", h.Get("Content-Security-Policy")+"; media-src 'self'; connect-src 'self'")
	return nonce
}

// shown is a time as the pages show it.
func (s *Service) shown(t time.Time) string {
	return t.In(s.cfg.Location).Format("Mon 2 Jan 2006, 15:04:05 MST")
}

func (s *Service) render(w http.ResponseWriter, name string, data map[string]any) {
	data["Nonce"] = headers(w)
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		s.serverError(w, "rendering "+name, err)
		return
	}
	w.Write([]byte(b.String()))
}

func (s *Service) live(w http.ResponseWriter, r *http.Request, device string) {
	p, err := s.db.LatestPhoto(r.Context(), device)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		s.serverError(w, "reading the latest photo", err)
		return
	}
	data := map[string]any{"Device": device, "Refresh": max(1, int(s.cfg.LiveRefresh.Seconds())), "Base": base(r)}
	if err == nil {
		data["Photo"] = p
		data["Time"] = s.shown(p.Captured)
		data["ISO"] = p.Captured.Format(time.RFC3339)
	}
	s.render(w, "live", data)
}

// base is the request's link, "/p/<token>/".
func base(r *http.Request) string { return PathPrefix + r.PathValue("token") + "/" }

// Latest is latest.json.
type Latest struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Shown is Time as the page writes it.
	Shown string `json:"shown"`
	Src   string `json:"src"`
}

func (s *Service) latest(w http.ResponseWriter, r *http.Request, device string) {
	p, err := s.db.LatestPhoto(r.Context(), device)
	if errors.Is(err, state.ErrNotFound) {
		http.Error(w, "no picture yet", http.StatusNotFound)
		return
	}
	if err != nil {
		s.serverError(w, "reading the latest photo", err)
		return
	}
	b, _ := json.Marshal(Latest{ID: p.ID, Time: p.Captured, Shown: s.shown(p.Captured), Src: fmt.Sprintf("photo/%d/web.jpg", p.ID)})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// dayRow is a day on the archive's page.
type dayRow struct {
	state.Day
	Title, Span string
	Video       string // "made", "making" or ""
}

func (s *Service) days(w http.ResponseWriter, r *http.Request, device string) {
	ds, err := s.db.Days(r.Context(), device)
	if err != nil {
		s.serverError(w, "reading the days", err)
		return
	}
	tls, err := s.db.Timelapses(r.Context(), device)
	if err != nil {
		s.serverError(w, "reading the time-lapses", err)
		return
	}
	rows := make([]dayRow, 0, len(ds))
	for _, d := range ds {
		row := dayRow{Day: d, Title: dayTitle(d.Day)}
		row.Span = d.First.In(s.cfg.Location).Format("15:04") + "–" + d.Last.In(s.cfg.Location).Format("15:04")
		switch t := tls[d.Day]; t.State {
		case state.TimelapseDone:
			row.Video = "made"
		case state.TimelapseRunning:
			row.Video = "making"
		}
		rows = append(rows, row)
	}
	s.render(w, "days", map[string]any{"Device": device, "Days": rows, "Base": base(r)})
}

// dayTitle writes a day for people: "Thu 26 Nov 2026".
func dayTitle(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Mon 2 Jan 2006")
}

// thumbRow is a photo on a day's page.
type thumbRow struct {
	state.Indexed
	Time, Base string
}

func (s *Service) day(w http.ResponseWriter, r *http.Request, device string) {
	day := r.PathValue("day")
	if !dayPattern.MatchString(day) {
		http.NotFound(w, r)
		return
	}
	ps, err := s.db.DayPhotos(r.Context(), device, day)
	if err != nil {
		s.serverError(w, "reading a day", err)
		return
	}
	if len(ps) == 0 {
		http.NotFound(w, r)
		return
	}
	tls, err := s.db.Timelapses(r.Context(), device)
	if err != nil {
		s.serverError(w, "reading the time-lapses", err)
		return
	}
	rows := make([]thumbRow, len(ps))
	for i, p := range ps {
		rows[i] = thumbRow{Indexed: p, Time: p.Captured.In(s.cfg.Location).Format("15:04:05"), Base: path.Base(p.Name)}
	}
	data := map[string]any{"Device": device, "Day": day, "Title": dayTitle(day), "Photos": rows, "Base": base(r)}
	if t, ok := tls[day]; ok {
		data["Video"] = t
		if t.State == state.TimelapseRunning {
			data["Refresh"] = 5
		}
	}
	s.render(w, "day", data)
}

func (s *Service) video(w http.ResponseWriter, r *http.Request, device string) {
	day := r.PathValue("day")
	if !dayPattern.MatchString(day) {
		http.NotFound(w, r)
		return
	}
	s.serveFile(w, r, s.derivedDir(kindTimelapse, device), day+".mp4", "video/mp4", "", "private, max-age=3600")
}

func (s *Service) photo(w http.ResponseWriter, r *http.Request, device string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != r.PathValue("id") {
		http.NotFound(w, r)
		return
	}
	file := r.PathValue("file")
	if file != "thumb.jpg" && file != "web.jpg" && file != "original" {
		http.NotFound(w, r)
		return
	}
	p, err := s.db.IndexedPhoto(r.Context(), device, id)
	if errors.Is(err, state.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, "reading a photo", err)
		return
	}
	switch file {
	case "original":
		ct := mime.TypeByExtension(strings.ToLower(path.Ext(p.Name)))
		if ct == "" || !isJPEG(p.Name) {
			ct = "application/octet-stream"
		}
		s.serveFile(w, r, filepath.Join(s.cfg.Root, device), p.Name, ct, path.Base(p.Name), "private, max-age=86400")
	default:
		if !p.Derived {
			http.NotFound(w, r)
			return
		}
		s.serveFile(w, r, s.derivedDir(strings.TrimSuffix(file, ".jpg"), device), p.Name, "image/jpeg", "", "private, max-age=86400")
	}
}

// serveFile serves the file name under dir (refusing links, see openIn),
// as an attachment named download if that is set; Range and HEAD through
// http.ServeContent. Nothing is cacheable by a shared cache: a revoked
// link must not live on in a proxy.
func (s *Service) serveFile(w http.ResponseWriter, r *http.Request, dir, name, contentType, download, cache string) {
	f, fi, err := openIn(dir, name)
	if err != nil {
		// Missing, a link, or a bad name: the log says which, the
		// client only that it is not there.
		s.log.Warn("gallery: not serving a file", "dir", dir, "name", name, "err", err)
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cache)
	if download != "" {
		cd := mime.FormatMediaType("attachment", map[string]string{"filename": download})
		if cd == "" { // a name it cannot write: still a download
			cd = "attachment"
		}
		h.Set("Content-Disposition", cd)
	}
	http.ServeContent(flowing{w, http.NewResponseController(w)}, r, "", fi.ModTime(), f)
}

// stallTimeout is how long a download may move no byte before it is cut.
const stallTimeout = time.Minute

// flowing moves the server's write deadline along while bytes flow: a
// RAW file or a video over a phone's slow link takes longer than the
// server's WriteTimeout, a client that stops reading does not.
type flowing struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (f flowing) Write(p []byte) (int, error) {
	f.rc.SetWriteDeadline(time.Now().Add(stallTimeout))
	return f.ResponseWriter.Write(p)
}
