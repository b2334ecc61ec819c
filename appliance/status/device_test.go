package status

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// recordedDevice is a fake device fed by the recorded status files of
// testdata/device (camerad, uploadd, modemd, watchdogd and updated, on
// trial, of a crane site at midday), its site configuration (public summary on or off),
// gokrazy's password in the image and today's pictures in the store.
func recordedDevice(t testing.TB, public bool) *tree {
	t.Helper()
	tr := newTree(t)
	tr.defaultGokrazy(t)
	tr.write(t, "etc/gokr-pw.txt", "image-password-not-used\n") // /perm's wins, as in gokrazy
	for _, name := range []string{"camerad", "uploadd", "modemd", "watchdogd", "updated"} {
		b, err := os.ReadFile(filepath.Join("testdata/device", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		fn := tr.write(t, "run/lapsebox/"+name+".json", string(b))
		mtime := t0.Add(-15 * time.Second)
		os.Chtimes(fn, mtime, mtime)
	}
	site, err := os.ReadFile("testdata/device/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if !public {
		site = bytes.Replace(site, []byte(`"public_summary": true`), []byte(`"public_summary": false`), 1)
	}
	tr.write(t, "perm/lapsebox/config.json", string(site))
	// Every 5 minutes since midnight but the slots camerad missed; the
	// newest a real JPEG: a sky over a building site.
	missed := map[string]bool{"031000": true, "031500": true, "094000": true}
	for at := t0.Truncate(24 * time.Hour); at.Before(t0); at = at.Add(5 * time.Minute) {
		if missed[at.Format("150405")] {
			continue
		}
		tr.write(t, "perm/lapsebox/photos/2026/07/14/"+at.Format("20060102150405")+".jpg", "")
		tr.write(t, "perm/lapsebox/photos/2026/07/14/"+at.Format("20060102150405")+".json", "{}")
	}
	img := image.NewRGBA(image.Rect(0, 0, 1600, 1067))
	for y := range 1067 {
		for x := range 1600 {
			c := color.RGBA{110, 160, 220, 255}
			if y > 600 {
				c = color.RGBA{150, 130, 100, 255}
			}
			if x > 700 && x < 760 && y > 150 {
				c = color.RGBA{230, 180, 30, 255} // the crane
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	tr.write(t, "perm/lapsebox/photos/2026/07/14/20260714115500.jpg", b.String())
	return tr
}

// server is statusd's whole HTTP interface on tr.
func (tr *tree) server() http.Handler {
	return NewServer(NewCollector(tr.config()), Options{EtcDir: tr.etc, Logf: func(string, ...any) {}})
}

// request serves one request from remote with user and password (none if
// user is "") and returns the recorded response.
func request(h http.Handler, method, target, remote, user, password string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	if user != "" {
		r.SetBasicAuth(user, password)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// basic is the Authorization header for user gokrazy and password.
func basic(password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("gokrazy:"+password))
}

// Every route but /healthz needs user gokrazy and the password; the
// public summary too while the site configuration keeps it closed.
func TestPasswordEverywhere(t *testing.T) {
	tr := recordedDevice(t, false)
	h := tr.server()
	routes := []string{"/", "/api/status", "/metrics", "/latest.jpg", "/api/config", "/public/", "/public/latest.jpg",
		"/public/status.json", "/public", "/nope", "/api/status/x", "/healthz/x", "//", "/%2e%2e/etc/passwd"}
	n := 0
	remote := func() string { n++; return fmt.Sprintf("192.168.%d.%d:40000", n/250, n%250+1) } // below the failure limit
	for _, route := range routes {
		for _, tc := range []struct{ name, user, pw string }{
			{"no password", "", ""},
			{"wrong password", "gokrazy", "hunter2"},
			{"password's prefix", "gokrazy", testPassword[:len(testPassword)-1]},
			{"password with more", "gokrazy", testPassword + "x"},
			{"wrong user", "root", testPassword},
			{"empty", "gokrazy", ""},
		} {
			for _, method := range []string{"GET", "HEAD", "PUT", "POST"} {
				rec := request(h, method, route, remote(), tc.user, tc.pw)
				if rec.Code != http.StatusUnauthorized {
					t.Errorf("%s %s, %s: %d, want 401", method, route, tc.name, rec.Code)
				}
				if !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Basic") {
					t.Errorf("%s %s, %s: no Basic challenge", method, route, tc.name)
				}
				noSecrets(t, route, rec.Body.String())
				if strings.Contains(rec.Body.String(), "Site 7") || strings.Contains(rec.Body.String(), tr.root) {
					t.Errorf("%s %s, %s: the refusal shows the device: %q", method, route, tc.name, rec.Body)
				}
			}
		}
		rec := request(h, "GET", route, remote(), "gokrazy", testPassword)
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			t.Errorf("GET %s with the password: %d", route, rec.Code)
		}
	}
	if rec := request(h, "GET", "/healthz", remote(), "", ""); rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("/healthz without the password: %d %q", rec.Code, rec.Body)
	}
	// The password from /etc is not the one in use: /perm's overrides it.
	if rec := request(h, "GET", "/", remote(), "gokrazy", "image-password-not-used"); rec.Code != http.StatusUnauthorized {
		t.Errorf("/etc's password while /perm has one: %d", rec.Code)
	}
	// The network fence stays: the right password from a public address.
	if rec := request(h, "GET", "/api/status", "203.0.113.7:5000", "gokrazy", testPassword); rec.Code != http.StatusForbidden {
		t.Errorf("from a public address with the password: %d, want 403", rec.Code)
	}
	if rec := request(h, "GET", "/healthz", "203.0.113.7:5000", "", ""); rec.Code != http.StatusForbidden {
		t.Errorf("/healthz from a public address: %d, want 403", rec.Code)
	}
}

// A client that keeps guessing is slowed down; the others are not.
func TestPasswordGuessing(t *testing.T) {
	tr := recordedDevice(t, false)
	h := tr.server()
	var codes []int
	for range 12 {
		codes = append(codes, request(h, "GET", "/api/status", "10.0.0.9:1", "gokrazy", "guess").Code)
	}
	if codes[0] != 401 || codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Errorf("12 wrong guesses answered %v, want 401 first, 429 last", codes)
	}
	if rec := request(h, "GET", "/api/status", "10.0.0.9:1", "gokrazy", testPassword); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the right password right after: %d, want 429 still", rec.Code)
	}
	if rec := request(h, "GET", "/api/status", "10.0.0.10:1", "gokrazy", testPassword); rec.Code != http.StatusOK {
		t.Errorf("another client: %d", rec.Code)
	}
}

// An image built without a password serves nothing that needs one.
func TestNoPasswordOnImage(t *testing.T) {
	tr := recordedDevice(t, false)
	os.Remove(filepath.Join(tr.etc, "gokr-pw.txt"))
	h := tr.server()
	for _, route := range []string{"/", "/api/status", "/metrics", "/latest.jpg"} {
		for _, pw := range []string{"", testPassword} {
			if rec := request(h, "GET", route, "127.0.0.1:1", "gokrazy", pw); rec.Code != http.StatusForbidden {
				t.Errorf("GET %s, password %q, no /etc/gokr-pw.txt: %d, want 403", route, pw, rec.Code)
			}
		}
	}
}

// The public summary, when the site opens it, answers anyone without a
// password and tells the latest picture, its time and healthy or not:
// nothing else of the device.
func TestPublicSummary(t *testing.T) {
	tr := recordedDevice(t, true)
	h := tr.server()
	const stranger = "203.0.113.7:5000" // a public address
	page := request(h, "GET", "/public/", stranger, "", "")
	js := request(h, "GET", "/public/status.json", stranger, "", "")
	pic := request(h, "GET", "/public/latest.jpg", stranger, "", "")
	for name, rec := range map[string]*httptest.ResponseRecorder{"page": page, "JSON": js, "picture": pic} {
		if rec.Code != http.StatusOK {
			t.Fatalf("public %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if rec := request(h, "GET", "/public", stranger, "", ""); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/public/" {
		t.Errorf("/public: %d → %q", rec.Code, rec.Header().Get("Location"))
	}
	if got, want := js.Body.String(), `{"now":"2026-07-14T12:00:00Z","lastCapture":"2026-07-14T11:55:00Z","picture":"latest.jpg","healthy":true}`+"\n"; got != want {
		t.Errorf("public JSON\n%s\nwant\n%s", got, want)
	}
	if im, err := jpeg.Decode(bytes.NewReader(pic.Body.Bytes())); err != nil || im.Bounds().Dx() != thumbnailWidth {
		t.Errorf("public picture: %v, %v", err, err == nil && im.Bounds().Dx() == thumbnailWidth)
	}
	body := page.Body.String() + js.Body.String()
	for _, leak := range []string{
		testPassword, testArgToken, "tok-SECRET", "image-password",
		"lapsebox-glacier", "Site 7", "Raspberry", "v0.3.1", "go1.", "2026.07", "trial", // host, site, versions
		tr.root, "/perm", "/run", "/dev/", "photos/", "20260714115500", // paths
		"http://", "https://", "example", "cloud", "webdav", // URLs and targets
		"Canon", "083024011234", "Quectel", "866758041234567", "8933150319000012345", "10.64.12.7", "Orange", // devices
		"PTP", "busy", "error", "reset", "watchdog", "relay", "°C", // errors, health reasons
	} {
		if strings.Contains(body, leak) {
			t.Errorf("the public summary shows %q:\n%s", leak, body)
		}
	}
	if !strings.Contains(page.Body.String(), `src="latest.jpg"`) || !strings.Contains(page.Body.String(), "working") {
		t.Errorf("public page:\n%s", page.Body)
	}
	// The rest still needs the password, also from here.
	for _, route := range []string{"/", "/api/status", "/metrics", "/latest.jpg"} {
		if rec := request(h, "GET", route, stranger, "", ""); rec.Code != http.StatusForbidden {
			t.Errorf("GET %s from a public address with the summary open: %d, want 403", route, rec.Code)
		}
		if rec := request(h, "GET", route, "192.168.1.50:1", "", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s with the summary open: %d, want 401", route, rec.Code)
		}
	}
	// Unhealthy: camerad's status goes stale and watchdogd's too.
	old := t0.Add(-time.Hour)
	for _, name := range []string{"camerad", "watchdogd"} {
		os.Chtimes(filepath.Join(tr.run, name+".json"), old, old)
	}
	if rec := request(h, "GET", "/public/status.json", stranger, "", ""); !strings.Contains(rec.Body.String(), `"healthy":false`) || strings.Contains(rec.Body.String(), "camerad") {
		t.Errorf("public JSON with camerad stale: %s", rec.Body)
	}
}

// /metrics passes promtool's checks and carries the page's figures.
func TestMetricsPromtool(t *testing.T) {
	promtool := testtool.Program(t, "promtool")
	tr := recordedDevice(t, false)
	rec := request(tr.server(), "GET", "/metrics", "127.0.0.1:1", "gokrazy", testPassword)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\n--- metrics:\n%s", err, out, body)
	}
	for _, want := range []string{
		`lapsebox_healthy{source="watchdogd"} 1`,
		`lapsebox_health_check_ok{rule="clock"} 1`,
		"lapsebox_captures_today 141\n", // 144 slots until noon, 3 missed
		"lapsebox_missed_slots_today 3\n",
		"lapsebox_failed_captures_today 2\n",
		"lapsebox_expected_slots_today 144\n",
		"lapsebox_last_capture_timestamp_seconds 1.7840301e+09\n",
		`lapsebox_upload_pending_photos{target="photographer-dav"} 120`,
		`lapsebox_upload_drain_seconds{target="cloud"} 654`,
		"lapsebox_modem_signal_dbm -97\n",
		"lapsebox_watchdog_feeding 1\n",
		`lapsebox_relay_powered{device="camera"} 1`,
		`lapsebox_temperature_celsius{zone="thermal_zone0"} 48.7`,
		`lapsebox_service_running{service="camerad"} 0`,
		`lapsebox_service_resident_bytes{service="statusd"} 3.1744e+06`,
		`lapsebox_service_context_switches_total{service="statusd"} 319`,
		`lapsebox_service_monitor_context_switches_total{service="statusd"} 7`,
		`lapsebox_status_file_stale{service="modemd"} 0`,
		`lapsebox_build_info{version="v0.3.1",`,
		"lapsebox_update_running_build_timestamp_seconds 1.7839224e+09\n",
		"lapsebox_update_committed_build_timestamp_seconds 1.7828856e+09\n",
		"lapsebox_update_trial 1\n",
		`lapsebox_update_last_attempt_timestamp_seconds{version="2026.07.13",result="trying"} 1.78402908e+09`,
		"lapsebox_update_last_attempt_fetched_bytes 9.437184e+06\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `target="photographer-dav"} -1`) {
		t.Error("an unknown drain time is exported as -1")
	}
	noSecrets(t, "/metrics", body)
}

// The JSON API carries the page's parts, every key camelCase.
func TestAPIShape(t *testing.T) {
	tr := recordedDevice(t, false)
	rec := request(tr.server(), "GET", "/api/status", "127.0.0.1:1", "gokrazy", testPassword)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "" || strings.ContainsAny(k, "_- ") || k[0] < 'a' || k[0] > 'z' {
					t.Errorf("key %q is not camelCase", k)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(m)
	var s Snapshot
	json.Unmarshal(rec.Body.Bytes(), &s)
	if s.Site != "Site 7 crane" || s.Health == nil || !s.Health.OK || s.Today == nil || s.Today.Taken != 141 || len(s.Errors) == 0 {
		t.Errorf("site %q, health %+v, today %+v, %d services with errors", s.Site, s.Health, s.Today, len(s.Errors))
	}
	for _, e := range s.Errors {
		for _, m := range e.Errors {
			if strings.Contains(m.Message, "tok-SECRET") {
				t.Errorf("%s: %s", e.Service, m.Message)
			}
		}
	}
	noSecrets(t, "/api/status", rec.Body.String())
	// uploadd's error quotes a URL with a password and a token: the
	// page shows neither, in the uploads, the errors or the heartbeats.
	page := request(tr.server(), "GET", "/", "127.0.0.1:1", "gokrazy", testPassword).Body.String()
	if strings.Contains(rec.Body.String(), "dav-SECRET") || strings.Contains(rec.Body.String(), "tok-SECRET") {
		t.Error("the API shows uploadd's credentials")
	}
	if strings.Contains(page, "dav-SECRET") || strings.Contains(page, "tok-SECRET") || !strings.Contains(page, "dav.example.com/remote.php") {
		t.Errorf("the page shows uploadd's credentials, or not the URL at all")
	}
}

// Without watchdogd, modemd and updated the page says so, and statusd
// judges health itself.
func TestPageWithoutWatchdogd(t *testing.T) {
	tr := recordedDevice(t, false)
	for _, name := range []string{"watchdogd", "modemd", "updated"} {
		os.Remove(filepath.Join(tr.run, name+".json"))
	}
	page := request(tr.server(), "GET", "/", "127.0.0.1:1", "gokrazy", testPassword).Body.String()
	for _, want := range []string{"watchdogd not running: no watchdogd.json", "watchdogd not running: no readings",
		"No modem: modemd is not running", "updated not running: no updated.json", "as statusd judges", `class="badge good">healthy</span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, id := range sections {
		if !strings.Contains(page, `<section id="`+id+`">`) {
			t.Errorf("no section %s", id)
		}
	}
}
