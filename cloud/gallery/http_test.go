package gallery_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// site is a gallery with two cameras' photos, served on 127.0.0.1.
type site struct {
	*rig
	*server
	token, other string // links to cam and to other
	cam, oth     []state.Indexed
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{rig: newRig(t, gallery.TimelapseConfig{Off: true}, "cam", "other")}
	for i := range 3 {
		at := time.Date(2026, 11, 26, 10+i, 0, 0, 0, paris)
		s.svc.Stored(s.put(t, "cam", at.Format("2006/01/02/20060102150405.jpg"), picture(t, 1200, 800, uint8(80+40*i)), at))
	}
	s.svc.Stored(s.put(t, "cam", "2026/11/26/20261126120000.cr2", []byte("II*\x00 raw bytes of a CR2"), time.Date(2026, 11, 26, 12, 0, 0, 0, paris)))
	s.svc.Stored(s.put(t, "other", "secret/20261126110000.jpg", picture(t, 600, 400, 30), time.Date(2026, 11, 26, 11, 0, 0, 0, paris)))
	s.run(t)
	s.drain(t)
	var err error
	if _, s.token, err = gallery.NewLink(ctx, s.db, "cam", "", s.now); err != nil {
		t.Fatal(err)
	}
	if _, s.other, err = gallery.NewLink(ctx, s.db, "other", "", s.now); err != nil {
		t.Fatal(err)
	}
	s.cam, _ = s.db.DayPhotos(ctx, "cam", "2026-11-26")
	s.oth, _ = s.db.DayPhotos(ctx, "other", "2026-11-26")
	if len(s.cam) != 4 || len(s.oth) != 1 {
		t.Fatalf("indexed: %+v, %+v", s.cam, s.oth)
	}
	s.server = newServer(t, s.rig)
	return s
}

// server serves a rig's pages on 127.0.0.1.
type server struct{ srv *httptest.Server }

func newServer(t *testing.T, r *rig) *server {
	srv := httptest.NewServer(r.svc.Handler())
	t.Cleanup(srv.Close)
	return &server{srv}
}

// get requests path (sent as it is, escapes included) with method and
// headers ("Name: value").
func (s *server) get(t *testing.T, method, path string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // the path as written: %2F stays %2F
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestLivePage(t *testing.T) {
	s := newSite(t)
	base := gallery.LinkPath(s.token)
	res, body := s.get(t, "GET", base)
	if res.StatusCode != 200 {
		t.Fatalf("live page: %s %s", res.Status, body)
	}
	newest := s.cam[2] // 12:00, the newest JPEG (the RAW of 12:00 has no picture)
	for _, want := range []string{
		fmt.Sprintf(`src="%sphoto/%d/web.jpg"`, base, newest.ID),
		"Thu 26 Nov 2026, 12:00:00 CET",
		`<noscript><meta http-equiv="refresh" content="30"></noscript>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the live page lacks %q", want)
		}
	}
	for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("CSP %q", csp)
	}
	res, body = s.get(t, "GET", base+"latest.json")
	var l gallery.Latest
	if err := json.Unmarshal([]byte(body), &l); err != nil || l.ID != newest.ID || l.Src != fmt.Sprintf("photo/%d/web.jpg", newest.ID) || !l.Time.Equal(newest.Captured) {
		t.Errorf("latest.json: %s %s (%v)", res.Status, body, err)
	}
	res, body = s.get(t, "GET", fmt.Sprintf("%sphoto/%d/web.jpg", base, newest.ID))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" || !strings.HasPrefix(body, "\xff\xd8") {
		t.Errorf("the web-size copy: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
}

func TestArchive(t *testing.T) {
	s := newSite(t)
	base := gallery.LinkPath(s.token)
	res, body := s.get(t, "GET", base+"days/")
	if res.StatusCode != 200 || !strings.Contains(body, `href="`+base+`days/2026-11-26/"`) || !strings.Contains(body, "4 pictures, 10:00–12:00") {
		t.Errorf("days: %s %s", res.Status, body)
	}
	res, body = s.get(t, "GET", base+"days/2026-11-26/")
	if res.StatusCode != 200 {
		t.Fatalf("day: %s", res.Status)
	}
	for _, p := range s.cam {
		if want := fmt.Sprintf(`%sphoto/%d/original`, base, p.ID); !strings.Contains(body, want) {
			t.Errorf("the day lacks the download %s", want)
		}
		thumb := fmt.Sprintf(`%sphoto/%d/thumb.jpg`, base, p.ID)
		if strings.Contains(body, thumb) != p.Derived {
			t.Errorf("thumbnail %s shown: %v, want %v", thumb, !p.Derived, p.Derived)
		}
	}
	if strings.Contains(body, "secret") {
		t.Error("another camera's photo on the page")
	}
	// The original, whole and by range.
	jpg := s.cam[0]
	orig, _ := os.ReadFile(filepath.Join(s.root, "cam", filepath.FromSlash(jpg.Name)))
	path := fmt.Sprintf("%sphoto/%d/original", base, jpg.ID)
	res, body = s.get(t, "GET", path)
	if res.StatusCode != 200 || body != string(orig) || res.Header.Get("Content-Type") != "image/jpeg" || !strings.HasPrefix(res.Header.Get("Cache-Control"), "private") ||
		res.Header.Get("Content-Disposition") != `attachment; filename=20261126100000.jpg` {
		t.Errorf("download: %s %q %q, %d bytes", res.Status, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"), len(body))
	}
	res, body = s.get(t, "GET", path, "Range: bytes=100-199")
	if res.StatusCode != 206 || body != string(orig[100:200]) || res.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(orig)) {
		t.Errorf("range: %s %q", res.Status, res.Header.Get("Content-Range"))
	}
	res, body = s.get(t, "HEAD", path)
	if res.StatusCode != 200 || body != "" || res.ContentLength != int64(len(orig)) {
		t.Errorf("HEAD: %s, length %d, body %d bytes", res.Status, res.ContentLength, len(body))
	}
	raw := s.cam[3]
	res, _ = s.get(t, "GET", fmt.Sprintf("%sphoto/%d/original", base, raw.ID))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("RAW download: %s %q", res.Status, res.Header.Get("Content-Type"))
	}
	if res, _ := s.get(t, "GET", fmt.Sprintf("%sphoto/%d/thumb.jpg", base, raw.ID)); res.StatusCode != 404 {
		t.Errorf("a RAW's thumbnail: %s", res.Status)
	}
}

// What an attacker tries: tokens that are not live links, another
// camera's photos through a link, paths that climb out, encoded slashes,
// a link planted in the tree, listings.
func TestAttacks(t *testing.T) {
	s := newSite(t)
	base := gallery.LinkPath(s.token)
	jpg := s.cam[0]
	revokedID, revoked, err := gallery.NewLink(ctx, s.db, "cam", "", s.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.RevokeLink(ctx, revokedID, s.now); err != nil {
		t.Fatal(err)
	}
	_, notFound := s.get(t, "GET", "/p/AAAAAAAAAAAAAAAAAAAAAAAAAA/")
	for _, token := range []string{revoked, "AAAAAAAAAAAAAAAAAAAAAAAAAA", strings.ToLower(s.token), s.token + "A", s.token[1:], "..", "%2e%2e", "cam", s.token + "%00"} {
		res, body := s.get(t, "GET", "/p/"+token+"/")
		if res.StatusCode != 404 || body != notFound {
			t.Errorf("token %q: %s %q, want the same 404 as any unknown token", token, res.Status, body)
		}
	}
	for _, p := range []string{
		// another camera's photo by its ID, through cam's link
		fmt.Sprintf("%sphoto/%d/original", base, s.oth[0].ID),
		fmt.Sprintf("%sphoto/%d/web.jpg", base, s.oth[0].ID),
		// IDs that are not IDs
		fmt.Sprintf("%sphoto/0%d/original", base, jpg.ID),
		fmt.Sprintf("%sphoto/%d%%2F..%%2F..%%2Fother/original", base, jpg.ID),
		fmt.Sprintf("%sphoto/-%d/original", base, jpg.ID),
		base + "photo/1e3/original",
		// files that are not ours to name
		fmt.Sprintf("%sphoto/%d/..%%2F..%%2Fetc%%2Fpasswd", base, jpg.ID),
		fmt.Sprintf("%sphoto/%d/original%%2F..", base, jpg.ID),
		fmt.Sprintf("%sphoto/%d/original.jpg", base, jpg.ID),
		// days that are not days
		base + "days/..%2F..%2Fother/",
		base + "days/2026-11-26%2F..%2F..%2F..%2Fother/",
		base + "days/2026-11-26%2F..%2Fx/timelapse.mp4",
		base + "days/..%2F..%2F.derived/timelapse.mp4",
		base + "days/2026-11-25/",
		base + "days/2026-11-26/timelapse.mp4", // none made
		// no listing
		base + "photo/", base + fmt.Sprintf("photo/%d/", jpg.ID), "/p/", base + "days/2026-11-26/x",
	} {
		res, body := s.get(t, "GET", p)
		if res.StatusCode != 404 {
			t.Errorf("%s: %s %q, want 404", p, res.Status, body)
		}
		if strings.Contains(body, s.root) {
			t.Errorf("%s: the answer names a server path: %q", p, body)
		}
	}
	// A path with dot segments is not cleaned into another (the mux
	// would redirect): it is no page.
	for _, p := range []string{base + "days/../../other/", base + "../" + s.other + "/", base + "./", "/p//" + s.token + "/"} {
		if res, _ := s.get(t, "GET", p); res.StatusCode != 404 {
			t.Errorf("%s: %s to %q", p, res.Status, res.Header.Get("Location"))
		}
	}
	// A link planted where a thumbnail is, pointing to the other camera's
	// web-size copy: refused, not followed.
	thumb := filepath.Join(s.root, ".derived", "thumb", "cam", filepath.FromSlash(jpg.Name))
	if err := os.Remove(thumb); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(s.root, ".derived", "web", "other", filepath.FromSlash(s.oth[0].Name)), thumb); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.get(t, "GET", fmt.Sprintf("%sphoto/%d/thumb.jpg", base, jpg.ID)); res.StatusCode != 404 {
		t.Errorf("a planted link: %s", res.Status)
	}
	// A directory of the original's path replaced by a link.
	dir := filepath.Join(s.root, "cam", "2026", "11")
	if err := os.Rename(dir, dir+"-moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir+"-moved", dir); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.get(t, "GET", fmt.Sprintf("%sphoto/%d/original", base, jpg.ID)); res.StatusCode != 404 {
		t.Errorf("a planted directory link: %s", res.Status)
	}
	// Revoking the live link closes it at once.
	if _, err := s.db.RevokeLinks(ctx, "other", s.now); err != nil {
		t.Fatal(err)
	}
	if res, body := s.get(t, "GET", gallery.LinkPath(s.other)); res.StatusCode != 404 || body != notFound {
		t.Errorf("a revoked link: %s", res.Status)
	}
}

// A client that keeps guessing tokens is made to wait, whatever it asks
// for next; its guesses never reach the state's answers.
func TestGuessingIsLimited(t *testing.T) {
	s := newSite(t)
	var last *http.Response
	for i := range 40 {
		last, _ = s.get(t, "GET", fmt.Sprintf("/p/%026d/", i))
		if last.StatusCode == 429 {
			break
		}
	}
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("after many unknown tokens: %s", last.Status)
	}
	if res, _ := s.get(t, "GET", gallery.LinkPath(s.token)); res.StatusCode != 429 {
		t.Errorf("a guessing client's next request: %s", res.Status)
	}
	s.now = s.now.Add(time.Minute)
	if res, _ := s.get(t, "GET", gallery.LinkPath(s.token)); res.StatusCode != 200 {
		t.Errorf("after waiting: %s", res.Status)
	}
}

// A download longer than the server's WriteTimeout goes on while bytes
// flow (a RAW file over a phone's link).
func TestSlowDownload(t *testing.T) {
	r := newRig(t, gallery.TimelapseConfig{Off: true}, "cam")
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	r.svc.Stored(r.put(t, "cam", "20261126120000.cr2", big, time.Date(2026, 11, 26, 12, 0, 0, 0, paris)))
	r.run(t)
	r.drain(t)
	_, token, _ := gallery.NewLink(ctx, r.db, "cam", "", r.now)
	ps, _ := r.db.DayPhotos(ctx, "cam", "2026-11-26")
	srv := httptest.NewUnstartedServer(r.svc.Handler())
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	res, err := http.Get(fmt.Sprintf("%s%sphoto/%d/original", srv.URL, gallery.LinkPath(token), ps[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got []byte
	buf := make([]byte, 256<<10)
	start := time.Now()
	for {
		n, err := res.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // a slow reader
	}
	if len(got) != len(big) || string(got) != string(big) {
		t.Errorf("got %d bytes of %d in %v, past a WriteTimeout of 300ms", len(got), len(big), time.Since(start).Round(time.Millisecond))
	}
}
