package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/fleet"
	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }

// Running is a cloudd serving in the test.
type Running struct {
	*Server
	Password string // the admin operator's
	URL      string // the public server's base URL
	AdminURL string
}

// start opens cfg (Root and the addresses default to the test's) and
// serves it until the test ends.
func start(t *testing.T, cfg Config) *Running {
	t.Helper()
	return startWith(t, cfg, Options{})
}

// startWith is start with Options (the logger is always a quiet one).
func startWith(t *testing.T, cfg Config, o Options) *Running {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	o.Logger = slog.New(slog.DiscardHandler)
	s, err := Open(ctx, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := operator.Bootstrap(ctx, s.DB, "admin", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &Running{Server: s, Password: pw, URL: "http://" + s.PublicAddr(), AdminURL: "http://" + s.AdminAddr()}
}

// addDevice adds a device with token and makes the ingest know it.
func (r *Running) addDevice(t *testing.T, name, token string) {
	t.Helper()
	if err := r.DB.AddDevice(context.Background(), state.Device{Name: name, TokenSHA256: sha256.Sum256([]byte(token)), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := r.ReloadDevices(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// statusDir writes a device's status files.
func statusDir(t *testing.T) heartbeat.Sources {
	dir := t.TempDir()
	days := 20.0
	statusfile.Write(filepath.Join(dir, "camerad.json"), statusfile.Camera{State: "waiting", Captures: 3,
		Camera:      &statusfile.CameraInfo{Model: "Canon EOS 600D", Connected: true},
		LastCapture: &statusfile.Capture{Slot: time.Now().Add(-time.Minute), Bytes: 5 << 20},
		Store:       &statusfile.Store{UsedBytes: 1 << 30, TotalBytes: 32 << 30}, AutonomyDays: &days})
	statusfile.Write(filepath.Join(dir, "uploadd.json"), statusfile.Uploads{Targets: []statusfile.Target{{Name: "cloud", Pending: 2, PendingBytes: 10 << 20}}})
	return heartbeat.Sources{StatusDir: dir, ProcDir: dir, ThermalFile: "/nonexistent", Version: "v9.9"}
}

func darkJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = 6
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	jpeg.Encode(&b, img, nil)
	return b.Bytes()
}

// A device's heartbeat and photo, through the real clients, show on the
// fleet page behind the login, in the API and in the metrics; on both
// backends.
func TestEndToEnd(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		cfg := Config{Database: dsn, Alerts: AlertsConfig{Grace: map[string]Duration{"dark": 0, "small": 0}}}
		r := start(t, cfg)
		r.addDevice(t, "cam-1", "tok-1")
		r.addDevice(t, "cam-2", "tok-2")
		ctx := context.Background()

		// The heartbeat, as uploadd sends it.
		src := statusDir(t)
		hb := &heartbeat.Sender{URL: r.URL, Device: "cam-1", Token: "tok-1", Sources: src}
		if err := hb.Send(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := r.DB.Status(ctx, "cam-1")
		if err != nil || st.LastSeen.IsZero() || st.Queue != 2 || st.Version != "v9.9" || *st.AutonomyDays != 20 {
			t.Fatalf("status after a heartbeat: %+v, %v", st, err)
		}
		// Another device's token is not cam-1's; nothing is recorded.
		bad := &heartbeat.Sender{URL: r.URL, Device: "cam-1", Token: "tok-2", Sources: src,
			Client: upload.NewClient(upload.ClientOptions{Logger: slog.New(slog.DiscardHandler)})}
		if err := bad.Send(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("heartbeat with another device's token: %v", err)
		}
		if st2, _ := r.DB.Status(ctx, "cam-1"); st2.Heartbeats != 1 {
			t.Errorf("%d heartbeats recorded, want 1", st2.Heartbeats)
		}

		// A dark picture, through the real tus client.
		tg, err := tus.New(tus.Config{URL: r.URL, Device: "cam-1", Token: "tok-1", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		item := uploadtest.ItemOf("2026/11/26/20261126120000.jpg", darkJPEG(t))
		item.CaptureTime = time.Now().Add(-2 * time.Minute)
		if err := tg.Upload(ctx, item, new(uploadtest.Resume).Save); err != nil {
			t.Fatal(err)
		}
		// It is analysed in the background, then the alerts are evaluated.
		deadline := time.Now().Add(time.Minute)
		for {
			as, _ := r.DB.DeviceAlerts(ctx, "cam-1")
			if len(as) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alerts after a dark, small picture: %+v", as)
			}
			time.Sleep(20 * time.Millisecond)
		}

		// The API, for the Nagios check.
		resp, err := http.Get(r.AdminURL + "/api/v1/devices/cam-1")
		if err != nil {
			t.Fatal(err)
		}
		var rep fleet.DeviceReport
		json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if rep.Device != "cam-1" || rep.Silent || rep.Queue != 2 || len(rep.Alerts) != 2 || rep.LastPhoto != item.Name {
			t.Errorf("API report %+v", rep)
		}
		if resp, _ := http.Get(r.AdminURL + "/api/v1/devices/nope"); resp.StatusCode != 404 {
			t.Errorf("unknown device: %s", resp.Status)
		}
		metrics := body(t, http.DefaultClient, r.AdminURL+"/metrics")
		if !strings.Contains(metrics, `lapsebox_device_alert{device="cam-1",alert="dark",severity="warning"} 1`) ||
			!strings.Contains(metrics, `lapsebox_ingest_photos_total{device="cam-1"} 1`) ||
			!strings.Contains(metrics, `lapsebox_heartbeats_received_total 1`) {
			t.Errorf("metrics:\n%s", metrics)
		}

		// The fleet page, after logging in.
		c := browser(t)
		if resp := get(t, c, r.URL+"/fleet"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("fleet page without login: %s", resp.Status)
		}
		login(t, c, r.URL, "admin", r.Password)
		page := body(t, c, r.URL+"/fleet")
		for _, want := range []string{`id="d-cam-1" data-state="warning"`, `id="d-cam-2" data-state="new"`, "dark: the last picture", "/fleet/thumb/cam-1?v=", "v9.9", "20 d"} {
			if !strings.Contains(page, want) {
				t.Errorf("fleet page lacks %q", want)
			}
		}
		thumb := get(t, c, r.URL+"/fleet/thumb/cam-1")
		if _, err := jpeg.Decode(thumb.Body); err != nil || thumb.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("thumbnail: %v %s", err, thumb.Header.Get("Content-Type"))
		}
		for _, p := range []string{"/fleet/thumb/cam-2", "/fleet/thumb/..%2f..%2fetc", "/fleet/thumb/nope"} {
			if resp := get(t, c, r.URL+p); resp.StatusCode != 404 {
				t.Errorf("%s: %s", p, resp.Status)
			}
		}
	})
}

func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func body(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	b, _ := io.ReadAll(get(t, c, u).Body)
	return string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func login(t *testing.T, c *http.Client, base, name, password string) {
	t.Helper()
	m := csrfField.FindStringSubmatch(body(t, c, base+"/login"))
	if m == nil {
		t.Fatal("no CSRF token on the login page")
	}
	resp, err := c.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "name": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/fleet" {
		t.Fatalf("login: %s → %s", resp.Status, resp.Header.Get("Location"))
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cloudd.json")
	os.WriteFile(p, []byte(`{
  "root": "/srv/lapsebox",
  "database": "postgres://cloudd@db.internal/lapsebox?sslmode=verify-full",
  "listen": ":443", "tls_cert": "/etc/lapsebox/cert.pem", "tls_key": "/etc/lapsebox/key.pem",
  "alerts": {"silent_after": "20m", "grace": {"dark": "2h"}},
  "smtp": {"server": "smtp.example.com:587", "user": "u", "password": "p", "from": "a@example.com", "to": ["b@example.com"]}
}`), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Alerts.rules()
	if err != nil || r.SilentAfter != 20*time.Minute || r.Grace["dark"] != 2*time.Hour || c.SMTP.To[0] != "b@example.com" {
		t.Errorf("%+v %+v %v", c, r, err)
	}
	for _, bad := range []struct{ doc, want string }{
		{`{"root": "x", "lsten": ":80"}`, `unknown field "lsten"`},
		{`{"root": "x",
"alerts": {"silent_after": "soon"}}`, `line 2: "soon": want a duration`},
		{`{"root": "x",
"alerts": {"grace": {"darkness": "1h"}}}`, ""},
	} {
		os.WriteFile(p, []byte(bad.doc), 0o600)
		c, err := LoadConfig(p)
		if err == nil {
			_, err = c.Alerts.rules()
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
