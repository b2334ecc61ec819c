package status

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/cdp"
)

// sections are the page's sections, each of which must render with
// content.
var sections = []string{"latest", "today", "camera", "uploads", "health", "watchdog", "sensors", "modem", "update", "errors", "versions", "storage", "services", "heartbeats"}

// serveDevice serves statusd's interface for tr on 127.0.0.1 until the
// test ends and returns its base URL.
func serveDevice(t testing.TB, tr *tree) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: tr.server()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// startBrowser starts headless Chromium sending the device password with
// every request.
func startBrowser(t testing.TB) *cdp.Browser {
	t.Helper()
	b := cdp.Start(t)
	if err := b.Call("Network.enable", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Call("Network.setExtraHTTPHeaders", map[string]any{"headers": map[string]string{"Authorization": basic(testPassword)}}, nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// The page in headless Chromium at a desktop's and a phone's width, fed
// by the recorded status files: every section renders with content,
// nothing is wider than the window, the latest picture loads, the
// content security policy holds. The screenshots are kept.
func TestPageInChromium(t *testing.T) {
	b := startBrowser(t)
	base := serveDevice(t, recordedDevice(t, false))
	shots := cdp.ScreenshotDir(t)
	for _, tc := range []struct {
		name          string
		width, height int
		mobile        bool
	}{
		{"desktop", 1280, 900, false},
		{"phone", 390, 844, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.Viewport(tc.width, tc.height, tc.mobile); err != nil {
				t.Fatal(err)
			}
			if err := b.Navigate(base + "/"); err != nil {
				t.Fatal(err)
			}
			var missing []string
			if err := b.Eval(fmt.Sprintf(`%q.split(' ').filter(id => {
				const s = document.getElementById(id);
				return !s || s.querySelector('h2') === null || s.innerText.trim().length <= s.querySelector('h2').innerText.trim().length + 5 ||
					s.getBoundingClientRect().height === 0 })`, strings.Join(sections, " ")), &missing); err != nil {
				t.Fatal(err)
			}
			if len(missing) > 0 {
				t.Errorf("sections missing or empty: %v", missing)
			}
			var sizes struct{ ScrollWidth, InnerWidth, Widest int }
			if err := b.Eval(`({scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth,
				widest: Math.ceil(Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right)))})`, &sizes); err != nil {
				t.Fatal(err)
			}
			if sizes.ScrollWidth > sizes.InnerWidth || sizes.Widest > sizes.InnerWidth {
				t.Errorf("the page overflows: scrollWidth %d, widest element's right edge %d, window %d", sizes.ScrollWidth, sizes.Widest, sizes.InnerWidth)
			}
			var natural int
			if err := b.Eval(`(async () => {
				const img = document.querySelector('#latest img');
				if (!img.complete) await new Promise(r => { img.onload = r; img.onerror = r });
				return img.naturalWidth })()`, &natural); err != nil {
				t.Fatal(err)
			}
			if natural != thumbnailWidth {
				t.Errorf("the latest picture is %d pixels wide in the browser, want %d", natural, thumbnailWidth)
			}
			var cells int
			b.Eval(`document.querySelectorAll('#today .tl span.taken').length`, &cells)
			if cells != 22 { // 00:00–11:30 with pictures, less 03:00 (missed) and 09:30 (failed)
				t.Errorf("%d half hours shown as taken, want 22", cells)
			}
			if err := b.Screenshot(filepath.Join(shots, "statusd-"+tc.name+".png"), true); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, l := range b.Logs() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused") {
			t.Errorf("browser: %s", l)
		}
	}
}

// BenchmarkPageInChromium measures the page's weight (its HTML and the
// latest picture, in bytes) and the time headless Chromium takes to load
// and render it from statusd, fed by the recorded status files, against
// a static copy of the same bytes served from files in the same run (the
// browser's and the loopback's own cost).
//
//	go test -run '^$' -bench PageInChromium -benchtime 20x ./appliance/status/
func BenchmarkPageInChromium(b *testing.B) {
	br := startBrowser(b)
	base := serveDevice(b, recordedDevice(b, false))
	get := func(path string) []byte {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", basic(testPassword))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %s", path, resp.Status)
		}
		return body
	}
	html, pic := get("/"), get("/latest.jpg")
	static := b.TempDir()
	os.WriteFile(filepath.Join(static, "index.html"), html, 0o644)
	os.WriteFile(filepath.Join(static, "latest.jpg"), pic, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(static))}
	go srv.Serve(ln)
	defer srv.Close()
	staticURL := "http://" + ln.Addr().String() + "/"

	if err := br.Viewport(390, 844, true); err != nil {
		b.Fatal(err)
	}
	// load navigates to url and returns the navigation's duration (to
	// the load event, the picture included) in milliseconds.
	load := func(url string) float64 {
		if err := br.Navigate(url); err != nil {
			b.Fatal(err)
		}
		var ms float64
		if err := br.Eval(`(async () => {
			const nav = () => performance.getEntriesByType('navigation')[0];
			while (!nav() || nav().loadEventEnd === 0) await new Promise(r => setTimeout(r, 5));
			return nav().loadEventEnd - nav().startTime })()`, &ms); err != nil {
			b.Fatal(err)
		}
		return ms
	}
	load(base + "/") // warm up both: the thumbnail cache, the browser
	load(staticURL)
	var live, ref float64
	b.ResetTimer()
	for range b.N {
		live += load(base + "/")
		ref += load(staticURL)
	}
	b.ReportMetric(float64(len(html)), "html-bytes")
	b.ReportMetric(float64(len(pic)), "picture-bytes")
	b.ReportMetric(live/float64(b.N), "ms/load")
	b.ReportMetric(ref/float64(b.N), "ref-static-ms/load")
}
