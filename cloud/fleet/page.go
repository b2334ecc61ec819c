package fleet

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// Paths of the fleet page.
const (
	PagePath  = "/fleet"
	ThumbPath = "/fleet/thumb/"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// Row is one device on the fleet page.
type Row struct {
	Name string
	// State is the worst of the row: "silent", "critical", "warning",
	// "ok", or "new" (never seen).
	State    string
	LastSeen string // "3m ago"
	// Picture says when the last picture was taken; Thumb is the
	// thumbnail's URL ("" without one).
	Picture, Thumb string
	Missed         string // slots missed today
	Queue          string
	Autonomy       string
	Signal         string
	Version        string
	// Update is the over-the-air update (nil: the device does not say).
	Update *UpdateView
	Alerts []state.Alert

	// sort keys
	seen, picture time.Time
	missed        int
	queue         int64
	autonomy      float64
	signal        int
}

// stateRank orders states, worst first.
var stateRank = map[string]int{"silent": 0, "critical": 1, "warning": 2, "ok": 3, "new": 4}

// columns the page sorts on, by their query value.
var columns = []struct{ Key, Title string }{
	{"name", "Device"}, {"state", "State"}, {"seen", "Last seen"}, {"picture", "Last picture"},
	{"missed", "Missed today"}, {"queue", "Queue"}, {"autonomy", "Autonomy"}, {"signal", "Signal"},
	{"version", "Version"}, {"alerts", "Alerts"},
}

// rows makes the page's rows at now, sorted by key.
func (s *Service) rows(sts []state.Status, firing []state.Alert, now time.Time, key string, desc bool) []Row {
	by := firingByDevice(firing)
	today := now.In(s.cfg.Location).Format(time.DateOnly)
	out := make([]Row, 0, len(sts))
	for _, st := range sts {
		r := Row{Name: st.Device, Alerts: by[st.Device], Version: st.Version, Update: updateView(updateOf(st), now),
			seen: st.LastSeen, queue: -1, autonomy: -1, signal: -200}
		switch {
		case st.LastSeen.IsZero():
			r.State, r.LastSeen = "new", "never"
		case now.Sub(st.LastSeen) > s.rules.SilentAfter:
			r.State = "silent"
		case len(r.Alerts) > 0:
			r.State = r.Alerts[0].Severity
		default:
			r.State = "ok"
		}
		if !st.LastSeen.IsZero() {
			r.LastSeen = human(now.Sub(st.LastSeen)) + " ago"
		}
		r.picture = st.LastCapture
		if st.Photo.Captured.After(r.picture) {
			r.picture = st.Photo.Captured
		}
		if !r.picture.IsZero() {
			r.Picture = human(now.Sub(r.picture)) + " ago"
		}
		if st.Photo.Name != "" {
			r.Thumb = ThumbPath + url.PathEscape(st.Device) + "?v=" + strconv.FormatInt(st.Photo.Captured.Unix(), 10)
		}
		if !st.LastSeen.IsZero() {
			if st.Day == today {
				r.missed = st.MissedToday
			}
			r.Missed = strconv.Itoa(r.missed)
			r.queue = st.Queue
			r.Queue = fmt.Sprintf("%d (%s)", st.Queue, bytesIEC(st.QueueBytes))
		}
		if st.AutonomyDays != nil {
			r.autonomy = *st.AutonomyDays
			r.Autonomy = fmt.Sprintf("%.0f d", *st.AutonomyDays)
			if *st.AutonomyDays < 10 {
				r.Autonomy = fmt.Sprintf("%.1f d", *st.AutonomyDays)
			}
		}
		if st.SignalDBM != nil {
			r.signal = *st.SignalDBM
			r.Signal = fmt.Sprintf("%d dBm", *st.SignalDBM)
		}
		out = append(out, r)
	}
	less := func(a, b Row) int {
		switch key {
		case "name":
			return 0
		case "seen":
			return a.seen.Compare(b.seen)
		case "picture":
			return a.picture.Compare(b.picture)
		case "missed":
			return cmp.Compare(a.missed, b.missed)
		case "queue":
			return cmp.Compare(a.queue, b.queue)
		case "autonomy":
			return cmp.Compare(a.autonomy, b.autonomy)
		case "signal":
			return cmp.Compare(a.signal, b.signal)
		case "version":
			return cmp.Compare(a.Version, b.Version)
		case "alerts":
			return cmp.Compare(len(a.Alerts), len(b.Alerts))
		}
		return cmp.Compare(stateRank[a.State], stateRank[b.State])
	}
	slices.SortStableFunc(out, func(a, b Row) int {
		c := less(a, b)
		if desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.Name, b.Name)
		}
		return c
	})
	return out
}

// header is a sortable column's heading.
type header struct {
	Title, Href, Arrow string
}

// PageHandler serves the fleet page and the thumbnails of the last
// pictures: wrap it in operator.Auth's Require.
//
//	GET /fleet?sort=KEY&desc=1   one row per device; KEY is name, state
//	                             (the default: worst first), seen,
//	                             picture, missed, queue, autonomy,
//	                             signal, version or alerts
//	GET /fleet/thumb/{device}    the thumbnail of its last picture
func (s *Service) PageHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PagePath, s.page)
	mux.HandleFunc("GET "+ThumbPath+"{device}", s.thumb)
	return mux
}

func (s *Service) page(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("sort")
	if !slices.ContainsFunc(columns, func(c struct{ Key, Title string }) bool { return c.Key == key }) {
		key = "state"
	}
	desc := q.Get("desc") == "1"
	nonce := operator.Headers(w)
	b, err := s.RenderPage(r, s.cfg.Now(), key, desc, nonce)
	if err != nil {
		serverError(w, s, "rendering the fleet page", err)
		return
	}
	w.Write(b)
}

// RenderPage renders the fleet page for the operator of r's session at
// now, sorted by key, with nonce as its style's CSP nonce.
func (s *Service) RenderPage(r *http.Request, now time.Time, key string, desc bool, nonce string) ([]byte, error) {
	sts, err := s.db.Statuses(r.Context())
	if err != nil {
		return nil, err
	}
	firing, err := s.db.FiringAlerts(r.Context())
	if err != nil {
		return nil, err
	}
	rows := s.rows(sts, firing, now, key, desc)
	counts := map[string]int{}
	for _, row := range rows {
		counts[row.State]++
	}
	var heads []header
	for _, c := range columns {
		h := header{Title: c.Title, Href: "?sort=" + c.Key}
		if c.Key == key {
			if desc {
				h.Arrow = " ▼"
			} else {
				h.Arrow, h.Href = " ▲", h.Href+"&desc=1"
			}
		}
		heads = append(heads, h)
	}
	sess := operator.SessionOf(r.Context())
	var buf bytes.Buffer
	err = page.Execute(&buf, struct {
		Nonce, Operator, CSRF string
		Now                   string
		Rows                  []Row
		Heads                 []header
		Counts                map[string]int
		Total                 int
	}{nonce, sess.Operator, sess.CSRF, now.UTC().Format("2006-01-02 15:04 UTC"), rows, heads, counts, len(rows)})
	return buf.Bytes(), err
}

func (s *Service) thumb(w http.ResponseWriter, r *http.Request) {
	b, _, err := s.db.Thumb(r.Context(), r.PathValue("device"))
	if errors.Is(err, state.ErrNotFound) || err == nil && len(b) == 0 {
		http.Error(w, "no thumbnail", http.StatusNotFound)
		return
	}
	if err != nil {
		serverError(w, s, "reading a thumbnail", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=300")
	w.Write(b)
}
