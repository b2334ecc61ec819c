package status

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/mountinfo"
)

// get serves one request to h and returns the response and its body.
func get(t *testing.T, h http.Handler, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// noSecrets fails the test if body shows a secret of the fake device.
func noSecrets(t *testing.T, what, body string) {
	t.Helper()
	for _, secret := range []string{testPassword, testArgToken} {
		if strings.Contains(body, secret) {
			t.Errorf("%s reveals secret %q", what, secret)
		}
	}
}

func TestCollect(t *testing.T) {
	tr := newTree(t)
	tr.defaultGokrazy(t)
	tr.write(t, "run/lapsebox/camerad.json", `{"camera":"Canon EOS 90D"}`)
	s := NewCollector(tr.config()).Collect(context.Background())

	if s.Hostname != "lapsebox-glacier" || s.Model != "Raspberry Pi 4 Model B Rev 1.5" || s.Kernel != "Linux 6.12.34 (aarch64)" {
		t.Errorf("Hostname, Model, Kernel = %q, %q, %q", s.Hostname, s.Model, s.Kernel)
	}
	if s.Build.Version != "v0.3.1" || s.Build.GokrazyTimestamp != "2026-07-01T09:30:00+02:00" || s.Build.GoVersion == "" {
		t.Errorf("Build = %+v", s.Build)
	}
	if s.UptimeSeconds != 93784.52 || s.UptimeError != "" {
		t.Errorf("UptimeSeconds = %v (%q), want 93784.52", s.UptimeSeconds, s.UptimeError)
	}
	if !s.Perm.Mounted || s.Perm.Device != "/dev/mmcblk0p4" || s.Perm.Error != "" {
		t.Errorf("Perm = %+v, want mounted from /dev/mmcblk0p4", s.Perm)
	}
	if len(s.Services) != 8 || s.ServicesError != "" {
		t.Errorf("%d services (%q), want 8", len(s.Services), s.ServicesError)
	}
	if len(s.Files) != 1 || s.Files[0].Name != "camerad" || s.FilesError != "" {
		t.Errorf("Files = %+v (%q), want camerad", s.Files, s.FilesError)
	}
	if !s.Now.Equal(t0) {
		t.Errorf("Now = %v, want %v", s.Now, t0)
	}
}

func TestCollectDegraded(t *testing.T) {
	// No gokrazy, no uptime, no host name, /perm not mounted, no run dir:
	// each part says so, none stops the rest.
	tr := newTree(t)
	tr.mountPerm(t, false)
	cfg := tr.config()
	cfg.ProcDir = t.TempDir()
	cfg.RunDir = t.TempDir() + "/none"
	s := NewCollector(cfg).Collect(context.Background())
	if s.ServicesError == "" || s.UptimeError == "" || s.Perm.Error == "" {
		t.Errorf("ServicesError %q, UptimeError %q, Perm.Error %q; want all set", s.ServicesError, s.UptimeError, s.Perm.Error)
	}
	if s.Services == nil || s.Files == nil {
		t.Errorf("Services %v, Files %v; want empty, not null, in JSON", s.Services, s.Files)
	}
	if s.Build.Version != "v0.3.1" {
		t.Errorf("Build.Version = %q", s.Build.Version)
	}
}

func TestHandler(t *testing.T) {
	for _, tt := range []struct {
		name    string
		setup   func(t *testing.T, tr *tree)
		want    []string // in the HTML page
		notWant []string
	}{
		{
			name: "healthy",
			setup: func(t *testing.T, tr *tree) {
				tr.defaultGokrazy(t)
				fn := tr.write(t, "run/lapsebox/camerad.json", `{"camera":"Canon EOS 90D","shots":1234}`)
				mtime := t0.Add(-12 * time.Second)
				if err := os.Chtimes(fn, mtime, mtime); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{
				"<title>lapsebox-glacier · status</title>",
				"<h1>lapsebox-glacier</h1>",
				"Raspberry Pi 4 Model B Rev 1.5",
				"v0.3.1",                    // our version
				"2026-07-01T09:30:00+02:00", // gokrazy's build timestamp
				"Linux 6.12.34 (aarch64)",
				"up 1d 2h",
				"/dev/mmcblk0p4 (ext4)",
				"<meter",
				"statusd", "/user/statusd", "/gokrazy/ntp",
				`class="badge running">running`,
				`class="badge exited">exited`,
				`class="badge stopped">stopped`,
				`class="badge not-started">not started`,
				"up 3h 0m",       // statusd
				"started 2s ago", // camerad
				"<strong>camerad</strong>",
				"&#34;camera&#34;: &#34;Canon EOS 90D&#34;", // indented, escaped
				"12s ago",
				`<meta http-equiv="refresh" content="30">`,
				"2026-07-14 12:00:00 UTC",
			},
			notWant: []string{"not mounted", `class="err"`, "<script"},
		},
		{
			name: "perm not mounted, no gokrazy",
			setup: func(t *testing.T, tr *tree) {
				tr.mountPerm(t, false)
			},
			want: []string{
				"<strong>" + "PERM" + " is not mounted.</strong>",
				"g.sock", // the failed request is shown
				"No status files yet.",
			},
			notWant: []string{"<meter", "/dev/mmcblk0p4"},
		},
		{
			name: "hostile status file",
			setup: func(t *testing.T, tr *tree) {
				tr.defaultGokrazy(t)
				tr.write(t, "run/lapsebox/evil.json", `{"x":"<script>alert(1)</script>"}`)
			},
			want:    []string{"<strong>evil</strong>", "&lt;script&gt;"},
			notWant: []string{"<script>"},
		},
		{
			name: "perm remounted read-only",
			setup: func(t *testing.T, tr *tree) {
				tr.write(t, "proc/self/mountinfo", "23 15 179:4 / "+mountinfo.Escape(tr.perm)+" rw,relatime - ext4 /dev/mmcblk0p4 ro,errors=remount-ro\n")
			},
			want: []string{`/dev/mmcblk0p4 (ext4, <span class="badge stale">read-only</span>)`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			tt.setup(t, tr)
			h := pages(NewCollector(tr.config()), 30*time.Second)

			resp, body := get(t, h, "/")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /: %s\n%s", resp.Status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("GET /: Content-Type %q", ct)
			}
			text := html.UnescapeString(body)
			for _, want := range tt.want {
				want = strings.ReplaceAll(want, "PERM", tr.perm)
				if !strings.Contains(body, want) && !strings.Contains(text, want) {
					t.Errorf("GET /: page does not contain %q", want)
				}
			}
			for _, notWant := range tt.notWant {
				if strings.Contains(body, notWant) {
					t.Errorf("GET /: page contains %q", notWant)
				}
			}
			for _, external := range []string{"src=", "href=\"http", "url(", "@import"} {
				if strings.Contains(body, external) {
					t.Errorf("GET /: page refers to something external: %q", external)
				}
			}
			noSecrets(t, "GET /", body)

			resp, body = get(t, h, "/api/status")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET /api/status: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
			}
			noSecrets(t, "GET /api/status", body)
			var s Snapshot
			if err := json.Unmarshal([]byte(body), &s); err != nil {
				t.Fatalf("GET /api/status: decoding: %v\n%s", err, body)
			}
			if s.Hostname != "lapsebox-glacier" || s.Build.Version != "v0.3.1" || s.Perm.Path != tr.perm {
				t.Errorf("GET /api/status: Hostname %q, Version %q, Perm.Path %q", s.Hostname, s.Build.Version, s.Perm.Path)
			}
			if tt.name == "perm not mounted, no gokrazy" && (s.Perm.Mounted || s.ServicesError == "") {
				t.Errorf("GET /api/status: Perm %+v, ServicesError %q; want not mounted, an error", s.Perm, s.ServicesError)
			}
		})
	}
}

func TestHandlerRoutes(t *testing.T) {
	tr := newTree(t)
	h := pages(NewCollector(tr.config()), 0)
	for _, tt := range []struct {
		target     string
		wantStatus int
		wantBody   string
	}{
		{target: "/healthz", wantStatus: http.StatusOK, wantBody: "ok\n"},
		{target: "/nope", wantStatus: http.StatusNotFound},
		{target: "/api/status/x", wantStatus: http.StatusNotFound},
	} {
		resp, body := get(t, h, tt.target)
		if resp.StatusCode != tt.wantStatus || tt.wantBody != "" && body != tt.wantBody {
			t.Errorf("GET %s: %s %q, want %d %q", tt.target, resp.Status, body, tt.wantStatus, tt.wantBody)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/status", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/status: %d, want %d", rec.Code, http.StatusMethodNotAllowed)
	}
	if _, body := get(t, h, "/"); strings.Contains(body, "http-equiv") {
		t.Errorf("refresh 0: page still reloads itself")
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{formatBytes(0), "0 B"},
		{formatBytes(1023), "1023 B"},
		{formatBytes(1536), "1.5 KiB"},
		{formatBytes(29 << 30), "29.0 GiB"},
		{formatBytes(1 << 62), "4.0 EiB"},
		{formatSeconds(0), "0s"},
		{formatSeconds(59.9), "59s"},
		{formatSeconds(312), "5m 12s"},
		{formatSeconds(3*3600 + 240), "3h 4m"},
		{formatSeconds(12*86400 + 3*3600 + 59), "12d 3h"},
		{formatSeconds(-90), "0s"}, // never a negative duration
		{uptime(t0, StateRunning, t0.Add(-90*time.Second)), "up 1m 30s"},
		{uptime(t0, StateRunning, t0.Add(2*time.Second)), "up, just started"}, // "up -2s" after boot
		{uptime(t0, StateRunning, t0.Add(2*time.Hour)), "started 2h 0m in the future (clock set back?)"},
		{uptime(t0, StateExited, t0.Add(-time.Minute)), "started 1m 0s ago"},
		{ago(t0, t0.Add(-90*time.Second)), "1m 30s ago"},
		{ago(t0, t0.Add(time.Hour)), "1h 0m in the future (clock set back?)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if p := percent(1, 3); p != 33 {
		t.Errorf("percent(1, 3) = %d, want 33", p)
	}
	if p := percent(1, 0); p != 0 {
		t.Errorf("percent(1, 0) = %d, want 0", p)
	}
	if a := autonomy(&statusfile.Autonomy{SizeSource: "x"}); !strings.HasPrefix(a, "unlimited: the schedule takes no pictures") {
		t.Errorf("autonomy without pictures: %q", a)
	}
	if a := autonomy(nil); a != "" {
		t.Errorf("unknown autonomy: %q", a)
	}
	// The issue's /perm: 937.5 MB used, 17.5 MB available to writers.
	if p := (Perm{UsedBytes: 937_500_000, FreeBytes: 17_500_000, TotalBytes: 1_005_000_000}).UsedPercent(); p != 98 {
		t.Errorf("UsedPercent = %d, want 98 as df says", p)
	}
	if !mountinfo.HasOption("ro,relatime", "ro") || mountinfo.HasOption("rw,errors=remount-ro", "ro") {
		t.Errorf("hasOption misreads mount options")
	}
}

// pages is the handler's routes without the password gate, and /healthz.
func pages(c *Collector, refresh time.Duration) http.Handler {
	mux := newHandler(c, refresh).private()
	mux.HandleFunc("GET /healthz", serveHealthz)
	return mux
}
