package server_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/internal/cdp"
)

// fleetOfFour runs cloudd with a device in each state the page shows.
func fleetOfFour(t *testing.T) *servertest.Cloud {
	t.Helper()
	r := servertest.Start(t, server.Config{Alerts: server.AlertsConfig{Grace: map[string]server.Duration{"disk": 0}}}, server.Options{})
	ctx := context.Background()
	now := time.Now()
	for i, name := range []string{"glacier-1", "crane-2", "roof-3", "spare-4"} {
		r.AddDevice(t, name, fmt.Sprint("token-", i))
	}
	days, dbm := 41.0, -87
	beat := func(name string, at time.Time, queue int, used uint64, u *heartbeat.Update) {
		hb := &heartbeat.Heartbeat{V: 1, Time: at, Version: "v1.4.2",
			Camera: &heartbeat.Camera{State: "waiting", Connected: true, Captures: 40, LastCapture: at.Add(-3 * time.Minute)},
			Disk:   &heartbeat.Disk{UsedBytes: used, TotalBytes: 64 << 30, AutonomyDays: &days},
			Queues: []heartbeat.Queue{{Target: "cloud", Pending: queue, PendingBytes: int64(queue) * 6 << 20}},
			Modem:  &heartbeat.Modem{State: "connected", SignalDBM: &dbm, SignalBars: 3}, Update: u}
		if err := r.Fleet.Record(ctx, name, hb, at); err != nil {
			t.Fatal(err)
		}
	}
	// glacier-1 runs a release on trial; crane-2 rolled one back, with
	// a long error.
	b1, b2 := time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC), time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC)
	beat("glacier-1", now.Add(-time.Minute), 0, 10<<30, &heartbeat.Update{State: "waiting", Version: "2026.06.09", Build: b2,
		CommittedVersion: "2026.06.02", Committed: b1,
		Trial: &heartbeat.Trial{Version: "2026.06.09", Deadline: now.Add(20 * time.Minute), Waiting: "a picture from camerad"},
		Last:  &heartbeat.Attempt{Time: now.Add(-10 * time.Minute), Version: "2026.06.09", Result: "trying", RootBytes: 120 << 20, FetchedBytes: 9 << 20}})
	beat("crane-2", now.Add(-2*time.Minute), 40, 61<<30, &heartbeat.Update{State: "up to date", Version: "2026.06.02", Build: b1,
		CommittedVersion: "2026.06.02", Committed: b1,
		Last: &heartbeat.Attempt{Time: now.Add(-3 * time.Hour), Version: "2026.06.09", Result: "rolled back", Failures: 1,
			Error: "camerad took no picture during the trial: PTP OpenSession on the camera at bus 1 device 4: the device answered GeneralError after 30 s, twice"}})
	beat("roof-3", now.Add(-time.Hour), 2, 5<<30, nil)
	// A picture of glacier-1: a sky over snow.
	img := image.NewRGBA(image.Rect(0, 0, 1200, 800))
	for y := range 800 {
		for x := range 1200 {
			c := color.RGBA{90, 150, 230, 255}
			if y > 450 {
				c = color.RGBA{235, 240, 245, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	p := filepath.Join(t.TempDir(), "photo.jpg")
	os.WriteFile(p, bytes.Repeat(b.Bytes(), 1), 0o644)
	r.Fleet.Analyze(ctx, ingest.Stored{Device: "glacier-1", Name: "2026/11/26/120000.jpg", Path: p, Size: 200 << 10, CaptureTime: now.Add(-4 * time.Minute)})
	if err := r.Fleet.EvaluateAll(ctx, now); err != nil {
		t.Fatal(err)
	}
	return r
}

// The fleet page in a real browser, headless Chromium: the login form,
// the rows, a thumbnail, sorting, the desktop table and the phone's
// cards, no content security policy violation, logging out.
func TestFleetPageInChromium(t *testing.T) {
	b := cdp.Start(t)
	r := fleetOfFour(t)
	shots := cdp.ScreenshotDir(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	eval := func(expr string, out any) {
		t.Helper()
		must(b.Eval(expr, out))
	}
	var s string
	var n int
	var ok bool

	must(b.Viewport(1280, 800, false))
	must(b.Navigate(r.URL + "/fleet"))
	if eval("location.pathname", &s); s != "/login" {
		t.Fatalf("without a session the page is %s, want /login", s)
	}
	must(b.Load(func() error {
		return b.Eval(fmt.Sprintf(`document.querySelector('#name').value = 'admin';
			document.querySelector('#password').value = %q;
			document.querySelector('button[type=submit]').click()`, r.Password), nil)
	}))
	if eval("location.pathname", &s); s != "/fleet" {
		t.Fatalf("after logging in the page is %s", s)
	}
	var states []string
	eval(`[...document.querySelectorAll('#fleet tbody tr')].map(tr => tr.id + ' ' + tr.dataset.state)`, &states)
	if got := strings.Join(states, ", "); got != "d-roof-3 silent, d-crane-2 warning, d-glacier-1 ok, d-spare-4 new" {
		t.Errorf("rows, worst first: %s", got)
	}
	eval(`(async () => {
		const img = document.querySelector('#d-glacier-1 img');
		if (!img.complete) await new Promise(r => { img.onload = r; img.onerror = r });
		return img.naturalWidth })()`, &n)
	if n != 160 {
		t.Errorf("the thumbnail is %d pixels wide in the browser, want 160", n)
	}
	eval(`getComputedStyle(document.querySelector('thead')).display !== 'none' &&
		document.documentElement.scrollWidth <= innerWidth`, &ok)
	if !ok {
		t.Error("desktop: no table header, or the page scrolls sideways")
	}
	var upd []string
	eval(`['d-glacier-1', 'd-crane-2', 'd-roof-3'].map(id => document.querySelector('#' + id + ' .ver').innerText.replace(/\s+/g, ' '))`, &upd)
	if len(upd) != 3 || !strings.Contains(upd[0], "release 2026.06.09") || !strings.Contains(upd[0], "(committed: 2026.06.02), waiting for a picture from camerad") ||
		!strings.Contains(upd[0], "last update: 2026.06.09 trying") ||
		!strings.Contains(upd[1], "release 2026.06.02") || !strings.Contains(upd[1], "last update: 2026.06.09 rolled back: camerad took no picture") ||
		strings.Contains(upd[1], "committed") || upd[2] != "v1.4.2" {
		t.Errorf("the rows' versions and updates: %q", upd)
	}
	must(b.Screenshot(filepath.Join(shots, "fleet-desktop.png"), false))

	// Sort by queue, then the other way round.
	for range 2 {
		must(b.Load(func() error {
			return b.Eval(`[...document.querySelectorAll('th a')].find(a => a.textContent.startsWith('Queue')).click()`, nil)
		}))
	}
	eval(`location.search + ' ' + document.querySelector('#fleet tbody tr').id`, &s)
	if s != "?sort=queue&desc=1 d-crane-2" {
		t.Errorf("sorted by queue, descending: %s", s)
	}

	// A phone: one card per device, nothing wider than the screen.
	must(b.Viewport(390, 844, true))
	must(b.Navigate(r.URL + "/fleet"))
	eval(`getComputedStyle(document.querySelector('thead')).display === 'none' &&
		getComputedStyle(document.querySelector('#fleet tbody tr')).display === 'block' &&
		getComputedStyle(document.querySelector('#fleet td'), '::before').content === '"Device"' &&
		document.documentElement.scrollWidth <= innerWidth`, &ok)
	if !ok {
		eval(`document.documentElement.scrollWidth + ' > ' + innerWidth`, &s)
		t.Errorf("phone: not laid out as cards within the screen (%s)", s)
	}
	must(b.Screenshot(filepath.Join(shots, "fleet-phone.png"), true))

	must(b.Load(func() error { return b.Eval(`document.querySelector('header form button').click()`, nil) }))
	if eval("location.pathname", &s); s != "/login" {
		t.Errorf("after logging out the page is %s", s)
	}
	must(b.Navigate(r.URL + "/fleet"))
	if eval("location.pathname", &s); s != "/login" {
		t.Errorf("the session outlived logging out: %s", s)
	}
	for _, l := range b.Logs() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused to") || strings.HasPrefix(l, "exception") {
			t.Errorf("browser: %s", l)
		}
	}
	t.Logf("screenshots in %s", shots)
}
