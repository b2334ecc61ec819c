package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/fleet"
	"github.com/lapsebox/lapsebox/cloud/operator/operatortest"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }

// statusDir writes a device's status files.
func statusDir(t *testing.T) heartbeat.Sources {
	dir := t.TempDir()
	days := 20.0
	statusfile.Write(filepath.Join(dir, "camerad.json"), statusfile.Camera{State: "waiting", Captures: 3,
		Camera:      &statusfile.CameraInfo{Model: "Canon EOS 600D", Connected: true},
		LastCapture: &statusfile.Capture{Slot: time.Now().Add(-time.Minute), Bytes: 5 << 20},
		Store:       &statusfile.Store{UsedBytes: 1 << 30, TotalBytes: 32 << 30}, Autonomy: &statusfile.Autonomy{Days: &days}})
	statusfile.Write(filepath.Join(dir, "uploadd.json"), statusfile.Uploads{Targets: []statusfile.Target{{Name: "cloud", Pending: 2, PendingBytes: 10 << 20}}})
	// A release rolled back, its error quoting the release server's URL
	// with a password and a token.
	b1, b2 := time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC), time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC)
	statusfile.Write(filepath.Join(dir, "updated.json"), statusfile.Update{State: "up to date", Running: b1, Version: "2026.06.02",
		Channel: "stable", Committed: b1, CommittedVersion: "2026.06.02",
		LastAttempt: &statusfile.UpdateAttempt{Time: time.Now().Add(-time.Hour), Release: statusfile.Release{Version: "2026.06.09", Build: b2},
			Result: "rolled back", Error: "camerad took no picture; the last look at https://alice:hunter2@releases.example/v1/stable?token=s3cret failed",
			RootBytes: 120 << 20, FetchedBytes: 9 << 20, Trial: true, Failures: 1}})
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
		cfg := server.Config{Database: dsn, Alerts: server.AlertsConfig{Grace: map[string]server.Duration{"dark": 0, "small": 0}}}
		r := servertest.Start(t, cfg, server.Options{})
		r.AddDevice(t, "cam-1", "tok-1")
		r.AddDevice(t, "cam-2", "tok-2")
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
		if bytes.Contains(st.Heartbeat, []byte("hunter2")) || bytes.Contains(st.Heartbeat, []byte("s3cret")) {
			t.Errorf("the stored heartbeat holds the release server's credentials: %s", st.Heartbeat)
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
		tg, err := tus.New(tus.Config{URL: r.URL, Device: "cam-1", Token: "tok-1", Transfer: upload.Transfer{Logger: slog.New(slog.DiscardHandler)}})
		if err != nil {
			t.Fatal(err)
		}
		item := uploadtest.ItemOf("2026/11/26/20261126120000.jpg", darkJPEG(t))
		item.CaptureTime = time.Now().Add(-2 * time.Minute)
		if err := tg.Upload(ctx, item, new(uploadtest.Resume).Save); err != nil {
			t.Fatal(err)
		}
		// It is analysed in the background, then the alerts are evaluated:
		// dark and small, and the update alert of the heartbeat.
		deadline := time.Now().Add(time.Minute)
		for {
			as, _ := r.DB.DeviceAlerts(ctx, "cam-1")
			if len(as) == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alerts after a release rolled back and a dark, small picture: %+v", as)
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
		if rep.Device != "cam-1" || rep.Silent || rep.Queue != 2 || len(rep.Alerts) != 3 || rep.LastPhoto != item.Name {
			t.Errorf("API report %+v", rep)
		}
		if u := rep.Update; u == nil || u.Version != "2026.06.02" || u.Last == nil || u.Last.Result != "rolled back" || u.Last.FetchedBytes != 9<<20 {
			t.Errorf("API report's update %+v", rep.Update)
		}
		if resp, _ := http.Get(r.AdminURL + "/api/v1/devices/nope"); resp.StatusCode != 404 {
			t.Errorf("unknown device: %s", resp.Status)
		}
		_, metrics := operatortest.Get(t, http.DefaultClient, r.AdminURL+"/metrics")
		if !strings.Contains(metrics, `lapsebox_device_alert{device="cam-1",alert="dark",severity="warning"} 1`) ||
			!strings.Contains(metrics, `lapsebox_ingest_photos_total{device="cam-1"} 1`) ||
			!strings.Contains(metrics, `lapsebox_heartbeats_received_total 1`) ||
			!strings.Contains(metrics, `lapsebox_device_alert{device="cam-1",alert="update",severity="warning"} 1`) ||
			!strings.Contains(metrics, `lapsebox_device_build_timestamp_seconds{device="cam-1"} 1.7803872e+09`) {
			t.Errorf("metrics:\n%s", metrics)
		}

		// The fleet page, after logging in.
		c := operatortest.Browser(nil)
		if resp, _ := operatortest.Get(t, c, r.URL+"/fleet"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("fleet page without login: %s", resp.Status)
		}
		if resp := operatortest.Login(t, c, r.URL, "admin", r.Password); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/fleet" {
			t.Fatalf("login: %s → %s", resp.Status, resp.Header.Get("Location"))
		}
		_, page := operatortest.Get(t, c, r.URL+"/fleet")
		for _, want := range []string{`id="d-cam-1" data-state="warning"`, `id="d-cam-2" data-state="new"`, "dark: the last picture", "/fleet/thumb/cam-1?v=", "v9.9", "20 d",
			"release 2026.06.02", "last update: 2026.06.09 rolled back: camerad took no picture; the last look at https://releases.example/v1/stable?token=REDACTED failed (1 failed trial), 1h",
			"update: release 2026.06.09 rolled back"} {
			if !strings.Contains(page, want) {
				t.Errorf("fleet page lacks %q", want)
			}
		}
		if strings.Contains(page, "hunter2") || strings.Contains(page, "s3cret") {
			t.Error("the fleet page shows the release server's credentials")
		}
		thumb, b := operatortest.Get(t, c, r.URL+"/fleet/thumb/cam-1")
		if _, err := jpeg.Decode(strings.NewReader(b)); err != nil || thumb.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("thumbnail: %v %s", err, thumb.Header.Get("Content-Type"))
		}
		for _, p := range []string{"/fleet/thumb/cam-2", "/fleet/thumb/..%2f..%2fetc", "/fleet/thumb/nope"} {
			if resp, _ := operatortest.Get(t, c, r.URL+p); resp.StatusCode != 404 {
				t.Errorf("%s: %s", p, resp.Status)
			}
		}
	})
}
