package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/operator/operatortest"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
	"github.com/lapsebox/lapsebox/internal/cdp"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// landscape is a JPEG of w×h pixels: a sky over snow, the sky's blue
// shifted by hue so that pictures differ.
func landscape(t testing.TB, w, h int, hue uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{90 + hue/2, 150, 230 - hue, 255}
			if y > h*55/100+(x*h/w)/8 {
				c = color.RGBA{235, 240, 245, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// drain waits for cloudd's derivations queued so far.
func drain(t *testing.T, r *servertest.Cloud) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Gallery.Drain(ctx); err != nil {
		t.Fatalf("derivations: %v", err)
	}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// A photo uploaded by a device's tus client reaches its camera's public
// pages: the live page, the archive, the download; a revoked link is
// closed at once.
func TestPagesAfterUpload(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		r := servertest.Start(t, server.Config{Database: dsn, Pages: server.PagesConfig{Timelapse: server.TimelapseConfig{Off: true}}}, server.Options{})
		r.AddDevice(t, "cam-1", "tok-1")
		tg, err := tus.New(tus.Config{URL: r.URL, Device: "cam-1", Token: "tok-1", Transfer: upload.Transfer{Logger: slog.New(slog.DiscardHandler)}})
		if err != nil {
			t.Fatal(err)
		}
		data := landscape(t, 2400, 1600, 0)
		item := uploadtest.ItemOf("2026/11/26/20261126120000.jpg", data)
		if err := tg.Upload(ctx, item, new(uploadtest.Resume).Save); err != nil {
			t.Fatal(err)
		}
		drain(t, r)
		id, token, err := gallery.NewLink(ctx, r.DB, "cam-1", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		base := r.URL + gallery.LinkPath(token)
		res, body := get(t, base+"latest.json")
		var l gallery.Latest
		if err := json.Unmarshal(body, &l); err != nil || !l.Time.Equal(item.CaptureTime) {
			t.Fatalf("latest.json: %s %s", res.Status, body)
		}
		_, body = get(t, base+l.Src)
		if c, err := jpeg.DecodeConfig(bytes.NewReader(body)); err != nil || c.Width != gallery.WebSide || c.Height != 1280 {
			t.Errorf("the web-size copy: %+v, %v", c, err)
		}
		_, page := get(t, base+"days/2026-11-26/")
		if !strings.Contains(string(page), fmt.Sprintf("photo/%d/original", l.ID)) {
			t.Errorf("the archive's day lacks the photo: %s", page)
		}
		if res, body := get(t, fmt.Sprintf("%sphoto/%d/original", base, l.ID)); res.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Errorf("download: %s, %d bytes of %d", res.Status, len(body), len(data))
		}
		if err := r.DB.RevokeLink(ctx, id, time.Now()); err != nil {
			t.Fatal(err)
		}
		if res, _ := get(t, base); res.StatusCode != 404 {
			t.Errorf("a revoked link: %s", res.Status)
		}
	})
}

// The live page and the archive in headless Chromium at a desktop's and a
// phone's width, as a customer sees them: the picture loaded and its time,
// a newer picture shown by itself, the days, a day's thumbnails loaded,
// its time-lapse playing and a download that works, another day's
// time-lapse in progress; nothing wider than the screen, no content
// security policy violation.
func TestCustomerPagesInChromium(t *testing.T) {
	ff := testtool.Program(t, "ffmpeg")
	b := cdp.Start(t)
	shots := cdp.ScreenshotDir(t)
	ctx := context.Background()
	r := servertest.Start(t, server.Config{TimeZone: "Europe/Paris", Pages: server.PagesConfig{LiveRefresh: server.Duration(time.Second),
		Timelapse: server.TimelapseConfig{Off: true, FPS: 4, FFmpeg: ff}}}, server.Options{})
	r.AddDevice(t, "glacier-1", "tok")
	paris, _ := time.LoadLocation("Europe/Paris")
	today := time.Now().In(paris)
	day := func(ago int) time.Time {
		d := today.AddDate(0, 0, -ago)
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, paris)
	}
	store := func(at time.Time, ext string, data []byte) {
		t.Helper()
		name := at.Format("2006/01/02/20060102150405") + ext
		p := filepath.Join(r.Config.Root, "glacier-1", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r.Gallery.Stored(ingest.Stored{Device: "glacier-1", Name: name, Path: p, Size: int64(len(data)), CaptureTime: at})
	}
	// Two days ago: eight pictures and a RAW, and its time-lapse made.
	for i := range 8 {
		store(day(2).Add(time.Duration(8*60+30*i)*time.Minute), ".jpg", landscape(t, 1200, 800, uint8(20*i)))
	}
	store(day(2).Add(12*time.Hour), ".cr2", []byte("II*\x00 a RAW file's bytes"))
	// Yesterday: ten pictures, its time-lapse being made.
	for i := range 10 {
		store(day(1).Add(time.Duration(9*60+10*i)*time.Minute), ".jpg", landscape(t, 1200, 800, uint8(10*i)))
	}
	// Today, a portrait picture, the latest.
	latest := today.Add(-time.Hour).Truncate(time.Second)
	if latest.Before(day(0)) { // just past midnight
		latest = day(0).Add(time.Minute)
	}
	store(latest, ".jpg", landscape(t, 800, 1200, 40))
	drain(t, r)
	// Yesterday's is being made by another cloudd; two days ago's, here.
	yesterday := state.DayKey{Device: "glacier-1", Day: day(1).Format(time.DateOnly)}
	if ok, err := r.DB.ClaimTimelapse(ctx, yesterday, "another cloudd", time.Now(), time.Hour); !ok || err != nil {
		t.Fatalf("claiming yesterday's time-lapse: %v, %v", ok, err)
	}
	if err := r.DB.TimelapseProgress(ctx, yesterday, "another cloudd", 10, 4, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.Gallery.MakeDue(ctx); err != nil {
		t.Fatal(err)
	}
	_, token, err := gallery.NewLink(ctx, r.DB, "glacier-1", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	base := r.URL + gallery.LinkPath(token)

	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	eval := func(t *testing.T, expr string, out any) {
		t.Helper()
		must(t, b.Eval(expr, out))
	}
	loaded := func(sel string) string { // "width height" of every picture sel matches, once loaded
		return fmt.Sprintf(`Promise.all([...document.querySelectorAll(%q)].map(async img => {
			img.loading = 'eager';
			if (!img.complete) await new Promise(r => { img.onload = r; img.onerror = r });
			return img.naturalWidth + ' ' + img.naturalHeight }))`, sel)
	}
	fits := `document.documentElement.scrollWidth <= innerWidth`
	var s string
	var ss []string
	var ok bool

	for _, vp := range []struct {
		name          string
		width, height int
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		t.Run(vp.name, func(t *testing.T) {
			must(t, b.Viewport(vp.width, vp.height, vp.mobile))

			// The live page: the latest picture and its time.
			must(t, b.Navigate(base))
			eval(t, loaded("#picture"), &ss)
			if len(ss) != 1 || ss[0] != "800 1200" {
				t.Errorf("the live picture in the browser: %v, want one of 800×1200 (as taken: never enlarged)", ss)
			}
			want := latest.Format("Mon 2 Jan 2006, 15:04:05 MST")
			if eval(t, `document.querySelector('#taken').textContent`, &s); s != want {
				t.Errorf("the time shown: %q, want %q", s, want)
			}
			eval(t, `(() => { const r = document.querySelector('#picture').getBoundingClientRect();
				return r.width > 0 && r.right <= innerWidth && `+fits+` })()`, &ok)
			if !ok {
				t.Error("the picture does not fit the screen")
			}
			must(t, b.Screenshot(filepath.Join(shots, "pages-live-"+vp.name+".png"), false))

			// The archive: three days, newest first.
			must(t, b.Load(func() error { return b.Eval(`document.querySelector('nav a[href$="/days/"]').click()`, nil) }))
			eval(t, `[...document.querySelectorAll('#days a')].map(a => a.querySelector('strong').textContent + ': ' + a.textContent.split('\n')[1])`, &ss)
			want2 := []string{
				day(0).Format("Mon 2 Jan 2006") + ": 1 picture, " + latest.Format("15:04") + "–" + latest.Format("15:04"),
				day(1).Format("Mon 2 Jan 2006") + ": 10 pictures, 09:00–10:30 · time-lapse being made",
				day(2).Format("Mon 2 Jan 2006") + ": 9 pictures, 08:00–12:00 · time-lapse",
			}
			if strings.Join(ss, "|") != strings.Join(want2, "|") {
				t.Errorf("days:\n%s\nwant\n%s", strings.Join(ss, "\n"), strings.Join(want2, "\n"))
			}
			if eval(t, fits, &ok); !ok {
				t.Error("the days do not fit the screen")
			}
			must(t, b.Screenshot(filepath.Join(shots, "pages-days-"+vp.name+".png"), true))

			// Two days ago: thumbnails, the RAW, the time-lapse, downloads.
			must(t, b.Load(func() error { return b.Eval(`document.querySelectorAll('#days a')[2].click()`, nil) }))
			eval(t, loaded("#thumbs img"), &ss)
			if len(ss) != 8 || ss[0] != "320 213" {
				t.Errorf("thumbnails in the browser: %v, want 8 of 320×213", ss)
			}
			eval(t, `document.querySelector('#thumbs .raw').textContent`, &s)
			if !strings.HasSuffix(s, ".cr2") {
				t.Errorf("the RAW file's tile: %q", s)
			}
			var video struct {
				Width, Height int
				Duration      float64
				Error         string
			}
			eval(t, `(async () => {
				const v = document.querySelector('#video video');
				if (v.readyState < 1) await new Promise(r => { v.onloadedmetadata = r; v.onerror = r });
				return {Width: v.videoWidth, Height: v.videoHeight, Duration: v.duration, Error: v.error ? String(v.error.code) + ' ' + v.error.message : ''} })()`, &video)
			if video.Width != 1200 || video.Height != 800 || video.Duration < 1.9 || video.Duration > 2.1 || video.Error != "" {
				t.Errorf("the time-lapse in the browser: %+v, want 1200×800, 2 s (8 frames at 4 a second)", video)
			}
			var dl struct {
				Status      int
				Disposition string
				Size        int
			}
			eval(t, `(async () => {
				const a = document.querySelector('#thumbs a.download');
				const r = await fetch(a.href);
				return {Status: r.status, Disposition: r.headers.get('content-disposition'), Size: (await r.arrayBuffer()).byteLength} })()`, &dl)
			first, _ := os.ReadFile(filepath.Join(r.Config.Root, "glacier-1", filepath.FromSlash(day(2).Add(8*time.Hour).Format("2006/01/02/20060102150405.jpg"))))
			if dl.Status != 200 || !strings.HasPrefix(dl.Disposition, "attachment") || dl.Size != len(first) || len(first) == 0 {
				t.Errorf("the download: %+v, want the original's %d bytes as an attachment", dl, len(first))
			}
			var cols int
			eval(t, `getComputedStyle(document.querySelector('#thumbs')).gridTemplateColumns.split(' ').length`, &cols)
			if vp.mobile && cols != 2 || !vp.mobile && cols < 4 {
				t.Errorf("%d columns of thumbnails", cols)
			}
			if eval(t, fits, &ok); !ok {
				t.Error("the day does not fit the screen")
			}
			must(t, b.Screenshot(filepath.Join(shots, "pages-day-"+vp.name+".png"), true))

			// Yesterday: the time-lapse in progress.
			must(t, b.Navigate(base+"days/"+yesterday.Day+"/"))
			eval(t, `document.querySelector('#progress').value + ' ' + document.querySelector('#progress-text').textContent`, &s)
			if s != "40 4 of 10 pictures" {
				t.Errorf("progress: %q", s)
			}
			must(t, b.Screenshot(filepath.Join(shots, "pages-progress-"+vp.name+".png"), false))
		})
	}

	// A newer picture: the open live page shows it by itself.
	must(t, b.Navigate(base))
	newer := latest.Add(30 * time.Second)
	store(newer, ".jpg", landscape(t, 1200, 800, 200))
	drain(t, r)
	eval(t, `new Promise(r => { const t = document.querySelector('#taken'), start = t.textContent;
		const iv = setInterval(() => { if (t.textContent !== start) { clearInterval(iv); r(t.textContent) } }, 100);
		setTimeout(() => { clearInterval(iv); r('unchanged') }, 60000) })`, &s)
	if want := newer.Format("Mon 2 Jan 2006, 15:04:05 MST"); s != want {
		t.Errorf("after a newer picture the live page says %q, want %q", s, want)
	}
	eval(t, loaded("#picture"), &ss)
	if len(ss) != 1 || ss[0] != "1200 800" {
		t.Errorf("the newer picture in the browser: %v", ss)
	}
	// Without JavaScript the live page reloads itself.
	must(t, b.Call("Emulation.setScriptExecutionDisabled", map[string]any{"value": true}, nil))
	must(t, b.Navigate(base))
	newest := newer.Add(30 * time.Second)
	store(newest, ".jpg", landscape(t, 1200, 800, 100))
	drain(t, r)
	want := newest.Format("Mon 2 Jan 2006, 15:04:05 MST")
	for range 30 {
		must(t, b.Load(func() error { return nil })) // the page's own reload
		if eval(t, `document.querySelector('#taken').textContent`, &s); s == want {
			break
		}
	}
	if s != want {
		t.Errorf("without JavaScript, after a newer picture, the live page says %q, want %q", s, want)
	}
	must(t, b.Call("Emulation.setScriptExecutionDisabled", map[string]any{"value": false}, nil))
	for _, l := range b.Logs() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused to") || strings.HasPrefix(l, "exception") {
			t.Errorf("browser: %s", l)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// Operators make and revoke links on /fleet/links: behind the login,
// each form with the session's CSRF token and from this origin only; the
// new link is shown once and works, a revoked one no longer.
func TestOperatorLinks(t *testing.T) {
	ctx := context.Background()
	r := servertest.Start(t, server.Config{PublicURL: "https://cloud.example.com", Pages: server.PagesConfig{Timelapse: server.TimelapseConfig{Off: true}}}, server.Options{})
	r.AddDevice(t, "cam-1", "tok-1")
	anon := operatortest.Browser(nil)
	if res, _ := operatortest.Get(t, anon, r.URL+gallery.LinksPath); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the links page without a session: %s", res.Status)
	}
	if res, _ := operatortest.Post(t, anon, r.URL+gallery.LinksPath+"/add", url.Values{"device": {"cam-1"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("making a link without a session: %s", res.Status)
	}
	c := operatortest.Browser(nil)
	operatortest.Login(t, c, r.URL, "admin", r.Password)
	_, page := operatortest.Get(t, c, r.URL+"/fleet")
	if !strings.Contains(page, `href="/fleet/links"`) {
		t.Error("the fleet page has no way to the links")
	}
	_, page = operatortest.Get(t, c, r.URL+gallery.LinksPath)
	csrf := operatortest.CSRF(page)
	if !strings.Contains(page, "<option>cam-1</option>") || csrf == "" {
		t.Fatalf("the links page: %s", page)
	}
	add := url.Values{"csrf": {csrf}, "device": {"cam-1"}, "note": {"for the architect"}}
	if res, _ := operatortest.Post(t, c, r.URL+gallery.LinksPath+"/add", url.Values{"device": {"cam-1"}, "csrf": {"wrong"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a form without the session's token: %s", res.Status)
	}
	if res, _ := operatortest.Post(t, c, r.URL+gallery.LinksPath+"/add", add, "Origin", "https://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Errorf("a form from another origin: %s", res.Status)
	}
	if ls, _ := r.DB.Links(ctx); len(ls) != 0 {
		t.Fatalf("refused forms made links: %+v", ls)
	}
	res, page := operatortest.Post(t, c, r.URL+gallery.LinksPath+"/add", add)
	m := regexp.MustCompile(`href="https://cloud\.example\.com(/p/[A-Z2-7]{26}/)"`).FindStringSubmatch(page)
	if res.StatusCode != 200 || m == nil || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("making a link: %s %s", res.Status, page)
	}
	if res, _ := get(t, r.URL+m[1]); res.StatusCode != 200 {
		t.Errorf("the new link: %s", res.Status)
	}
	if _, page := operatortest.Get(t, c, r.URL+gallery.LinksPath); strings.Contains(page, m[1]) || !strings.Contains(page, "for the architect") {
		t.Error("the list shows a link's token, or not its note")
	}
	if res, _ := operatortest.Post(t, c, r.URL+gallery.LinksPath+"/add", url.Values{"csrf": {csrf}, "device": {"../cam-1"}}); res.StatusCode != 400 {
		t.Errorf("a link to an unknown device: %s", res.Status)
	}
	ls, _ := r.DB.Links(ctx)
	res, _ = operatortest.Post(t, c, r.URL+gallery.LinksPath+"/revoke", url.Values{"csrf": {csrf}, "id": {fmt.Sprint(ls[0].ID)}})
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("revoking: %s", res.Status)
	}
	if res, _ := get(t, r.URL+m[1]); res.StatusCode != 404 {
		t.Errorf("the revoked link: %s", res.Status)
	}
	if _, page := operatortest.Get(t, c, r.URL+gallery.LinksPath); !strings.Contains(page, "revoked ") {
		t.Errorf("the list does not say it is revoked")
	}
}
