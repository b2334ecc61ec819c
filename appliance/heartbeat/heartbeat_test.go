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
	"slices"
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
	if len(h.Stale) != 1 || h.Stale[0] != "modemd" || h.Watchdog != nil || h.Update != nil {
		t.Errorf("stale: %v, watchdog %+v, update %+v", h.Stale, h.Watchdog, h.Update)
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

// writeUpdated writes updated.json into src as updated writes it,
// modified at mtime.
func writeUpdated(t *testing.T, src Sources, u statusfile.Update, mtime time.Time) {
	t.Helper()
	p := filepath.Join(src.StatusDir, "updated.json")
	if err := statusfile.Write(p, u); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

var (
	build1 = time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)
	build2 = time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC)
)

// updated.json gives the heartbeat the running and committed releases,
// the trial and the last attempt, its free text redacted: an error
// quoting the release URL with a password and a token keeps neither.
func TestCollectUpdate(t *testing.T) {
	src := device(t)
	rel2 := statusfile.Release{Version: "2026.06.09", Build: build2, Manifest: strings.Repeat("ab", 32)}
	writeUpdated(t, src, statusfile.Update{State: "waiting", Updated: now, Running: build2, Version: "2026.06.09", Board: "rpi4",
		Channel: "stable", Committed: build1, CommittedVersion: "2026.06.02",
		Trial: &statusfile.Trial{Release: rel2, Since: now.Add(-10 * time.Minute), Deadline: now.Add(20 * time.Minute),
			Waiting: "a picture from camerad, and the central server at https://cloud.example/?token=s3cret"},
		Available: &rel2, NextCheck: now.Add(time.Hour),
		LastAttempt: &statusfile.UpdateAttempt{Time: now.Add(-15 * time.Minute), Release: rel2, Result: "trying",
			Error:     `fetching "https://alice:hunter2@releases.example/v1/blocks/17?sig=t0ken": unexpected EOF; ` + strings.Repeat("x", 300),
			RootBytes: 120 << 20, FetchedBytes: 9 << 20, ReusedBytes: 111 << 20, Trial: true, Failures: 1},
	}, now.Add(-20*time.Second))
	h := Collect(src, now)
	u := h.Update
	if u == nil || u.State != "waiting" || u.Channel != "stable" || u.Version != "2026.06.09" || !u.Build.Equal(build2) ||
		u.CommittedVersion != "2026.06.02" || !u.Committed.Equal(build1) {
		t.Fatalf("update: %+v", u)
	}
	if tr := u.Trial; tr == nil || tr.Version != "2026.06.09" || !tr.Deadline.Equal(now.Add(20*time.Minute)) || !strings.Contains(tr.Waiting, "a picture from camerad") {
		t.Errorf("trial: %+v", u.Trial)
	}
	a := u.Last
	if a == nil || !a.Time.Equal(now.Add(-15*time.Minute)) || a.Version != "2026.06.09" || a.Result != "trying" ||
		a.RootBytes != 120<<20 || a.FetchedBytes != 9<<20 || a.Failures != 1 || len(a.Error) > maxString ||
		!strings.Contains(a.Error, "https://releases.example/v1/blocks/17?sig=REDACTED") {
		t.Errorf("last attempt: %+v", u.Last)
	}
	if slices.Contains(h.Stale, "updated") {
		t.Errorf("stale: %v", h.Stale)
	}
	raw, _ := Marshal(h)
	for _, secret := range []string{"hunter2", "alice", "t0ken", "s3cret"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the heartbeat carries %q:\n%s", secret, raw)
		}
	}
	b, _ := Encode(h)
	back, err := Decode(bytes.NewReader(b), true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustJSON(t, back), raw) {
		t.Errorf("round trip:\n%s\n%s", mustJSON(t, back), raw)
	}

	// A refusal, updated hung since: the section is still sent, and
	// updated is stale.
	writeUpdated(t, src, statusfile.Update{State: "up to date", Running: build1, Version: "2026.06.02", Committed: build1, CommittedVersion: "2026.06.02",
		LastAttempt: &statusfile.UpdateAttempt{Time: now.Add(-time.Hour), Release: statusfile.Release{Version: "2026.05.01"}, Result: "refused", Refusal: "not newer than the running build"},
	}, now.Add(-time.Hour))
	h = Collect(src, now)
	if u := h.Update; u == nil || u.Trial != nil || u.Last == nil || u.Last.Result != "refused" || u.Last.Refusal != "not newer than the running build" || !slices.Contains(h.Stale, "updated") {
		t.Errorf("a refusal, updated stale: %+v, stale %v", h.Update, h.Stale)
	}
}

// A heartbeat of a device without updated (an older one) has no update
// section, and decodes as it always did.
func TestDecodeWithoutUpdate(t *testing.T) {
	old := `{"v":1,"time":"2026-11-26T12:00:00Z","version":"v0.9.0","uptime":3600,
		"camera":{"state":"waiting","connected":true,"captures":17,"missed":2},
		"queues":[{"target":"cloud","pending":3,"bytes":18874368}],"watchdog":{"state":"feeding","healthy":true}}`
	h, err := Decode(strings.NewReader(old), false)
	if err != nil {
		t.Fatal(err)
	}
	if h.Update != nil || h.Version != "v0.9.0" || h.Camera.Captures != 17 || h.Watchdog.State != "feeding" {
		t.Errorf("an older heartbeat: %+v", h)
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
		{"negative update bytes", `{"v":1,"time":"2026-11-26T12:00:00Z","update":{"last":{"time":"2026-11-26T11:00:00Z","result":"failed","fetchedBytes":-5}}}`, "update.last.fetchedBytes is negative", false},
		{"long update error", `{"v":1,"time":"2026-11-26T12:00:00Z","update":{"last":{"time":"2026-11-26T11:00:00Z","result":"failed","error":"` + strings.Repeat("x", 201) + `"}}}`, "update.last.error: want at most", false},
		{"long trial waiting", `{"v":1,"time":"2026-11-26T12:00:00Z","update":{"trial":{"version":"a","deadline":"2026-11-26T13:00:00Z","waiting":"` + strings.Repeat("x", 201) + `"}}}`, "update.trial.waiting: want at most", false},
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
	f.Add([]byte(`{"v":1,"time":"2026-11-26T12:00:00Z","update":{"state":"waiting","version":"2026.06.09","build":"2026-06-09T08:00:00Z","trial":{"version":"2026.06.09","deadline":"2026-11-26T12:30:00Z"},"last":{"time":"2026-11-26T11:45:00Z","result":"rolled back","error":"camerad took no picture","rootBytes":1,"fetchedBytes":1,"failures":1}}}`), false)
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

// heartbeats is a Sender of the target "cloud" running against a server
// that counts its heartbeats.
type heartbeats struct {
	n    atomic.Int32
	src  Sources
	stop func() // stops the Sender and fails the test on its error
}

// runSender runs a Sender made by configure from one of the target
// "cloud" of a device on a counting server.
func runSender(t *testing.T, configure func(*Sender)) *heartbeats {
	t.Helper()
	h := &heartbeats{src: device(t)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s := &Sender{URL: srv.URL, Device: "cam1", Token: "tok", Target: "cloud", Sources: h.src}
	configure(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	return h
}

// waitFor waits until want heartbeats came.
func (h *heartbeats) waitFor(t *testing.T, want int32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats, want %d", h.n.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// upload records in uploadd.json an upload to target at at.
func (h *heartbeats) upload(target string, at time.Time) {
	statusfile.Write(filepath.Join(h.src.StatusDir, "uploadd.json"), statusfile.Uploads{Targets: []statusfile.Target{
		{Name: target, LastSuccess: at}}})
}

// Run sends at once, then soon after each upload to its target, but not
// more often than MinGap.
func TestRunAfterUploads(t *testing.T) {
	h := runSender(t, func(s *Sender) {
		s.Interval, s.MinGap, s.Poll = time.Hour, 20*time.Millisecond, 5*time.Millisecond
	})
	h.waitFor(t, 1)
	for i := range 3 {
		h.upload("cloud", now.Add(time.Duration(i+1)*time.Minute))
		h.waitFor(t, int32(i+2))
	}
	// Nothing new: no more heartbeats before the hour is up.
	time.Sleep(100 * time.Millisecond)
	if got := h.n.Load(); got != 4 {
		t.Errorf("%d heartbeats, want 4", got)
	}
	h.stop()
}

// Told of deliveries, Run looks at uploadd.json only after one: an
// upload it was not told of waits for the Interval, one it was told of
// gets its heartbeat, and a delivery to another target sends none.
func TestRunToldOfUploads(t *testing.T) {
	uploads := make(chan struct{}, 1)
	h := runSender(t, func(s *Sender) {
		s.Interval, s.MinGap, s.Poll, s.Uploads = time.Hour, 20*time.Millisecond, 30*time.Millisecond, uploads
	})
	settled := func(want int32, why string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // 10 Polls
		if got := h.n.Load(); got != want {
			t.Fatalf("%s: %d heartbeats, want %d", why, got, want)
		}
	}
	h.waitFor(t, 1)
	h.upload("cloud", now.Add(time.Minute))
	settled(1, "an upload it was not told of")
	uploads <- struct{}{}
	h.waitFor(t, 2)
	h.upload("web", now.Add(2*time.Minute))
	uploads <- struct{}{}
	settled(2, "a delivery to another target")
	// Deliveries 30 times as often as Poll do not put the look off.
	h.upload("cloud", now.Add(3*time.Minute))
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case uploads <- struct{}{}:
			}
			time.Sleep(time.Millisecond)
		}
	}()
	h.waitFor(t, 3)
	close(stop)
	h.stop()
}

// Each delivery reaches every Sender, one waiting signal at most each.
func TestFanOut(t *testing.T) {
	delivered := make(chan struct{})
	to := []chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}
	to[1] <- struct{}{} // a signal not yet taken
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fanOut(ctx, delivered, to); close(done) }()
	delivered <- struct{}{}
	delivered <- struct{}{} // taken once the first is passed on: no Sender blocks it
	cancel()
	<-done // and the second passed on
	for i, c := range to {
		if len(c) != 1 {
			t.Errorf("Sender %d holds %d signals, want 1", i, len(c))
		}
	}
}
