package heartbeat

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/upload"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// device writes the status files of a device with a modem and returns
// its Sources.
func device(t *testing.T) Sources {
	t.Helper()
	dir := t.TempDir()
	days, dbm := 42.5, -97
	write := func(name string, v any, mtime time.Time) {
		t.Helper()
		p := filepath.Join(dir, "run", name+".json")
		if err := statusfile.Write(p, v); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("camerad", statusfile.Camera{
		State: "waiting", Captures: 17, MissedSlots: 2,
		Camera:      &statusfile.CameraInfo{Model: "Canon EOS 600D", Connected: true},
		LastCapture: &statusfile.Capture{Slot: now.Add(-4 * time.Minute), Bytes: 6 << 20},
		Store:       &statusfile.Store{UsedBytes: 10 << 30, TotalBytes: 64 << 30}, Autonomy: &statusfile.Autonomy{Days: &days},
	}, now.Add(-time.Minute))
	write("uploadd", statusfile.Uploads{Targets: []statusfile.Target{
		{Name: "cloud", Kind: "cloud", Pending: 3, PendingBytes: 18 << 20, OldestPending: now.Add(-20 * time.Minute), LastSuccess: now.Add(-3 * time.Minute)},
		{Name: "web", Kind: "webdav", Parked: 1, LastError: strings.Repeat("é", 300)},
	}}, now.Add(-time.Second))
	write("modemd", statusfile.Modem{State: "connected", Net: &statusfile.Network{Operator: "Orange", Technology: "LTE", SignalDBM: &dbm, SignalBars: 3},
		Data: statusfile.DataUse{UsedBytes: 900 << 20, CapBytes: 1 << 30}}, now.Add(-10*time.Minute))
	os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
	os.WriteFile(filepath.Join(dir, "proc", "uptime"), []byte("3600.52 7000.1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "temp"), []byte("51234\n"), 0o644)
	return Sources{StatusDir: filepath.Join(dir, "run"), ProcDir: filepath.Join(dir, "proc"), ThermalFile: filepath.Join(dir, "temp"), Version: "v1.2.3"}
}

func TestCollect(t *testing.T) {
	h := Collect(device(t), now)
	if h.V != 1 || !h.Time.Equal(now) || h.Version != "v1.2.3" || h.UptimeSeconds != 3600 || *h.TempC != 51.234 {
		t.Errorf("header: %+v", h)
	}
	if c := h.Camera; c == nil || c.State != "waiting" || c.Model != "Canon EOS 600D" || !c.Connected ||
		!c.LastCapture.Equal(now.Add(-4*time.Minute)) || c.LastBytes != 6<<20 || c.Captures != 17 || c.Missed != 2 {
		t.Errorf("camera: %+v", h.Camera)
	}
	if d := h.Disk; d == nil || d.UsedBytes != 10<<30 || *d.AutonomyDays != 42.5 {
		t.Errorf("disk: %+v", h.Disk)
	}
	if len(h.Queues) != 2 || h.Queues[0].Pending != 3 || h.Queues[1].Parked != 1 || len(h.Queues[1].LastError) > maxString {
		t.Errorf("queues: %+v", h.Queues)
	}
	if p, b := h.QueueTotal(); p != 3 || b != 18<<20 {
		t.Errorf("QueueTotal = %d, %d", p, b)
	}
	if m := h.Modem; m == nil || *m.SignalDBM != -97 || m.UsedBytes != 900<<20 || m.CapBytes != 1<<30 || m.Technology != "LTE" {
		t.Errorf("modem: %+v", h.Modem)
	}
	// modemd.json is 10 minutes old: modemd is stale. No watchdogd.json:
	// no watchdog, and not stale.
	if len(h.Stale) != 1 || h.Stale[0] != "modemd" || h.Watchdog != nil {
		t.Errorf("stale: %v, watchdog %+v", h.Stale, h.Watchdog)
	}
	// What Collect makes, Decode accepts as it is.
	b, err := Encode(h)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(bytes.NewReader(b), true)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := json.Marshal(h); !bytes.Equal(mustJSON(t, back), want) {
		t.Errorf("round trip:\n%s\n%s", mustJSON(t, back), want)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// watchdogd.json, as watchdogd writes it, gives the heartbeat the
// watchdog's state and health.
func TestCollectWatchdog(t *testing.T) {
	src := device(t)
	st := statusfile.Watchdog{Updated: now, Healthy: false, State: statusfile.WatchdogStarving,
		FeedingReason: "unhealthy: status files: camerad: status file unchanged for 3m0s (at most 2m0s)"}
	p := filepath.Join(src.StatusDir, "watchdogd.json")
	if err := statusfile.Write(p, st); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, now, now)
	h := Collect(src, now)
	if w := h.Watchdog; w == nil || w.State != "starving" || w.Healthy == nil || *w.Healthy {
		t.Errorf("watchdog: %+v", h.Watchdog)
	}
}

// A device whose camerad is gone reports it, rather than nothing.
func TestCollectMissingCamerad(t *testing.T) {
	src := Sources{StatusDir: t.TempDir(), ProcDir: t.TempDir(), ThermalFile: "/nonexistent"}
	h := Collect(src, now)
	if h.Camera != nil || strings.Join(h.Stale, ",") != "camerad,uploadd" || h.TempC != nil {
		t.Errorf("without status files: %+v", h)
	}
}

func TestDecodeRefuses(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	ok := `{"v":1,"time":"2026-11-26T12:00:00Z"}`
	for _, tc := range []struct {
		name, body, want string
		gzip             bool
	}{
		{"not JSON", `{"v":`, "unexpected EOF", false},
		{"no version", `{"time":"2026-11-26T12:00:00Z"}`, "version 0", false},
		{"no time", `{"v":1}`, "no time", false},
		{"two objects", ok + ok, "after the JSON", false},
		{"negative count", `{"v":1,"time":"2026-11-26T12:00:00Z","camera":{"state":"x","missed":-1}}`, "camera.missed is negative", false},
		{"long string", `{"v":1,"time":"2026-11-26T12:00:00Z","version":"` + strings.Repeat("x", 201) + `"}`, "version: want at most", false},
		{"too many queues", `{"v":1,"time":"2026-11-26T12:00:00Z","queues":[` + strings.Repeat(`{},`, 32) + `{}]}`, "33 queues", false},
		{"too large", `{"v":1,"time":"2026-11-26T12:00:00Z","x":"` + strings.Repeat("x", MaxBytes) + `"}`, "longer than", false},
		{"gzip bomb", string(gz(`{"v":1,"time":"2026-11-26T12:00:00Z","x":"` + strings.Repeat("x", 10*MaxBytes) + `"}`)), "decompresses to more", true},
		{"not gzip", ok, "gzip", true},
	} {
		_, err := Decode(strings.NewReader(tc.body), tc.gzip)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Unknown fields come from newer devices: ignored.
	if _, err := Decode(strings.NewReader(`{"v":2,"time":"2026-11-26T12:00:00Z","newThing":{"a":1}}`), false); err != nil {
		t.Errorf("a newer heartbeat: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"time":"2026-11-26T12:00:00Z","camera":{"state":"waiting","captures":1,"missed":0},"queues":[{"target":"cloud","pending":1,"bytes":5}]}`), false)
	f.Add([]byte(`{"v":1}`), false)
	f.Fuzz(func(t *testing.T, b []byte, gz bool) {
		h, err := Decode(bytes.NewReader(b), gz)
		if err != nil {
			return
		}
		// Whatever passes is within the limits, and encodes again.
		if len(h.Queues) > maxQueues || h.V < 1 {
			t.Fatalf("accepted %+v", h)
		}
		if _, err := Encode(h); err != nil {
			t.Fatal(err)
		}
	})
}

func TestShort(t *testing.T) {
	for _, s := range []string{strings.Repeat("a", 500), strings.Repeat("é", 150), strings.Repeat("日", 100)} {
		got := short(s)
		if len(got) > maxString || !strings.HasSuffix(got, "…") || !json.Valid(mustJSON(t, got)) || strings.ContainsRune(got, '\uFFFD') {
			t.Errorf("short(%d bytes) = %q (%d bytes)", len(s), got, len(got))
		}
	}
}

func TestSend(t *testing.T) {
	var got atomic.Pointer[Heartbeat]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path || r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Lapsebox-Device") != "cam1" ||
			r.Header.Get("Content-Encoding") != "gzip" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		h, err := Decode(r.Body, true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.Store(h)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := &Sender{URL: srv.URL + "/", Device: "cam1", Token: "tok", Sources: device(t), Now: func() time.Time { return now }}
	if err := s.Send(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := got.Load(); h == nil || h.Camera.Captures != 17 {
		t.Fatalf("received %+v", h)
	}
}

// The token goes only to the configured server: a redirect elsewhere is
// refused before anything is sent there.
func TestSendRefusesRedirects(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	s := &Sender{URL: srv.URL, Device: "cam1", Token: "tok", Sources: device(t),
		Client: upload.NewClient(upload.ClientOptions{Logger: slog.New(slog.DiscardHandler)})}
	err := s.Send(context.Background())
	if err == nil || !upload.IsRefusedRedirect(err) && !strings.Contains(err.Error(), "refused to go from") {
		t.Errorf("Send through a redirect to another host: %v", err)
	}
	if leaked.Load() != 0 {
		t.Error("the heartbeat reached the other host")
	}
	if strings.Contains(err.Error(), "tok") {
		t.Errorf("the error shows the token: %v", err)
	}
}

func TestSenders(t *testing.T) {
	cfg, err := config.Parse("site", []byte(`{"site": {"name": "s", "time_zone": "UTC"}, "targets": [
		{"name": "central", "kind": "cloud", "url": "https://cloud.example/", "secret": "t"},
		{"name": "watch", "kind": "cloud", "url": "https://other.example", "secret": "u", "send": "nothing"},
		{"name": "web", "kind": "webdav", "url": "https://dav.example/", "secret": "t"}],
		"secrets": {"t": "tok-1", "u": "tok-2"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ss := Senders(cfg, "cam1", Sources{})
	if len(ss) != 2 || ss[0].URL != "https://cloud.example" || ss[0].Token != "tok-1" || ss[1].Target != "watch" || ss[1].Token != "tok-2" {
		t.Errorf("Senders = %+v", ss)
	}
}

// Run sends at once, then soon after each upload to its target, but not
// more often than MinGap.
func TestRunAfterUploads(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	src := device(t)
	s := &Sender{URL: srv.URL, Device: "cam1", Token: "tok", Target: "cloud", Sources: src,
		Interval: time.Hour, MinGap: 20 * time.Millisecond, Poll: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	waitFor := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for n.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d heartbeats, want %d", n.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(1)
	for i := range 3 {
		statusfile.Write(filepath.Join(src.StatusDir, "uploadd.json"), statusfile.Uploads{Targets: []statusfile.Target{
			{Name: "cloud", LastSuccess: now.Add(time.Duration(i+1) * time.Minute)}}})
		waitFor(int32(i + 2))
	}
	// Nothing new: no more heartbeats before the hour is up.
	time.Sleep(100 * time.Millisecond)
	if got := n.Load(); got != 4 {
		t.Errorf("%d heartbeats, want 4", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
