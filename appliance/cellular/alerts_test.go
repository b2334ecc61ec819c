package cellular

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

func TestAlertBudget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.json")
	var sent []string
	fail := false
	newAlerts := func() *Alerts {
		return &Alerts{Path: path, Numbers: []string{"+331", "+332"}, PerDay: 4, Logf: t.Logf,
			Send: func(_ context.Context, n, text string) error {
				if fail {
					return errors.New("no modem")
				}
				sent = append(sent, n+" "+text)
				return nil
			}}
	}
	a := newAlerts()
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()

	fail = true
	a.Raise("camera", "camera stopped", 6*time.Hour, now)
	if n, _ := a.Flush(ctx, now); n != 0 {
		t.Fatal("sent without a modem")
	}
	fail = false
	if n, _ := a.Flush(ctx, now.Add(time.Minute)); n != 2 {
		t.Fatalf("sent %d, want the kept alert to both numbers", n)
	}
	// Within its repeat interval the same kind is not raised again.
	a.Raise("camera", "camera stopped", 6*time.Hour, now.Add(time.Hour))
	if n, _ := a.Flush(ctx, now.Add(time.Hour)); n != 0 {
		t.Errorf("repeated within 6 h")
	}
	// A restarted modemd remembers the budget: two more fit today, a
	// third kind does not.
	a = newAlerts()
	a.Raise("disk", "disk nearly full", 12*time.Hour, now.Add(2*time.Hour))
	a.Raise("link", "link back", 0, now.Add(2*time.Hour))
	a.Flush(ctx, now.Add(2*time.Hour))
	if len(sent) != 4 || a.Held() != 1 {
		t.Errorf("sent %q, held %d: want 4 sent (the day's budget) and one held", sent, a.Held())
	}
	// A day later the budget is back.
	a.Raise("link", "link back", 0, now.Add(26*time.Hour))
	if n, _ := a.Flush(ctx, now.Add(26*time.Hour)); n != 2 {
		t.Errorf("after a day: sent %d", n)
	}
}

func TestCameraStopped(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	missed := func(ago ...time.Duration) []statusfile.MissedSlot {
		var out []statusfile.MissedSlot
		for _, d := range ago {
			out = append(out, statusfile.MissedSlot{Slot: now.Add(-d), Reason: "capture failed: busy"})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		st    statusfile.Camera
		mtime time.Time
		want  string
	}{
		{"taking pictures", statusfile.Camera{LastCapture: &statusfile.Capture{Slot: now.Add(-time.Minute)}}, now, ""},
		{"missing for less than the delay", statusfile.Camera{RecentMissed: missed(20 * time.Minute)}, now, ""},
		{"missing for longer", statusfile.Camera{LastCapture: &statusfile.Capture{Slot: now.Add(-2 * time.Hour)},
			RecentMissed: missed(90*time.Minute, 40*time.Minute)}, now, "camera stopped: last picture Jul 1 10:00, 2 slots missed since 10:30: capture failed: busy"},
		{"missed before the last capture", statusfile.Camera{LastCapture: &statusfile.Capture{Slot: now.Add(-time.Minute)},
			RecentMissed: missed(2 * time.Hour)}, now, ""},
		{"camerad silent", statusfile.Camera{}, now.Add(-3 * time.Hour), "camera stopped: camerad has not reported for 3h00m"},
	} {
		if got := cameraStopped(&tc.st, tc.mtime, now, 30*time.Minute, time.UTC); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	days := 2.5
	if got := diskNearlyFull(&statusfile.Camera{Store: &statusfile.Store{UsedBytes: 90, TotalBytes: 100}, Autonomy: &statusfile.Autonomy{Days: &days}}, 85); got != "disk nearly full: 90% of /perm used, 2.5 days left" {
		t.Errorf("disk: %q", got)
	}
	if got := diskNearlyFull(&statusfile.Camera{Store: &statusfile.Store{UsedBytes: 80, TotalBytes: 100}}, 85); got != "" {
		t.Errorf("disk at 80%%: %q", got)
	}
}

func TestProbe(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/down":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		default:
			http.NotFound(w, r) // still the server answering
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := (&Prober{URL: srv.URL + "/"}).Probe(ctx); err != nil {
		t.Errorf("a 404 from the server: %v", err)
	}
	if err := (&Prober{URL: srv.URL + "/down"}).Probe(ctx); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503: %v", err)
	}
	if err := (&Prober{URL: srv.URL + "/moved"}).Probe(ctx); err != nil {
		t.Errorf("a redirect (not followed): %v", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if err := (&Prober{URL: closed.URL}).Probe(ctx); err == nil {
		t.Error("no server: no error")
	}
	// A recent upload to a cloud target proves the link without a request.
	up := filepath.Join(t.TempDir(), "uploadd.json")
	statusfile.Write(up, statusfile.Uploads{Targets: []statusfile.Target{{Name: "c", Kind: "cloud", LastSuccess: time.Now()}}})
	before := hits
	if err := (&Prober{URL: srv.URL + "/down", Uploads: up, Fresh: time.Minute}).Probe(ctx); err != nil || hits != before {
		t.Errorf("with a fresh upload: %v, %d requests", err, hits-before)
	}
}
