package status

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

func TestTimeline(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	site := func(tz, windows string) *config.Config {
		t.Helper()
		c, err := config.Parse("x.json", []byte(`{"site": {"name": "s", "time_zone": "`+tz+`"},
			"schedule": {"interval": "10m", "windows": [`+windows+`]}}`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		now      time.Time
		site     *config.Config
		photos   []string // in the day's directory
		cam      *statusfile.Camera
		want     string // day expected taken missed failed
		wantBins map[int]string
	}{
		{
			name: "daylight window, RAW+JPG count once, sidecars not",
			now:  time.Date(2026, 7, 14, 12, 0, 0, 0, time.UTC),
			site: site("UTC", `{"start": "06:00", "end": "18:00"}`),
			photos: []string{"20260714060000.jpg", "20260714060000.cr2", "20260714060000.json", "20260714061000.jpg",
				"20260714061000-1.jpg", ".tmp-x", "notaphoto.jpg", "20260713120000.jpg"},
			cam: &statusfile.Camera{
				RecentMissed: []statusfile.MissedSlot{{Slot: time.Date(2026, 7, 13, 23, 50, 0, 0, time.UTC), Reason: "yesterday"},
					{Slot: time.Date(2026, 7, 14, 6, 20, 0, 0, time.UTC), Reason: "camera not found"}, {Reason: "and more: camera not found"}},
				RecoveryActions: []statusfile.RecoveryAction{{Time: time.Date(2026, 7, 14, 11, 31, 0, 0, time.UTC), Action: "retry", Error: "busy"}},
			},
			want:     "2026-07-14 36 3 1 1",
			wantBins: map[int]string{0: "idle", 11: "idle", 12: "missed", 13: "unknown", 23: "failed", 24: "future", 47: "future"},
		},
		{
			// The day the clocks go forward is 23 hours long: its half
			// hours are a little shorter, and its slots fewer.
			name:     "spring forward in Paris",
			now:      time.Date(2026, 3, 29, 23, 59, 0, 0, paris),
			site:     site("Europe/Paris", `{"start": "00:00", "end": "24:00"}`),
			photos:   []string{"20260329235000.jpg"},
			want:     "2026-03-29 138 1 0 0",
			wantBins: map[int]string{47: "taken", 0: "unknown"},
		},
		{
			name:     "no configuration: UTC, nothing expected",
			now:      time.Date(2026, 7, 14, 0, 10, 0, 0, time.UTC),
			want:     "2026-07-14 0 0 0 0",
			wantBins: map[int]string{0: "idle", 1: "future"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			loc := time.UTC
			if tc.site != nil {
				loc = tc.site.Site.Location
			}
			day := tc.now.In(loc)
			for _, p := range tc.photos {
				tr.write(t, "perm/lapsebox/photos/"+day.Format("2006/01/02")+"/"+p, "")
			}
			tl := timeline(tc.now, tc.site, nil, tr.perm, tc.cam)
			got := strings.Join([]string{tl.Day, itoa(tl.Expected), itoa(tl.Taken), itoa(tl.Missed), itoa(tl.Failed)}, " ")
			if got != tc.want || tl.Error != "" || len(tl.Bins) != binsPerDay {
				t.Errorf("day expected taken missed failed = %q, want %q (error %q, %d bins)", got, tc.want, tl.Error, len(tl.Bins))
			}
			for i, want := range tc.wantBins {
				if tl.Bins[i].State != want {
					t.Errorf("bin %d (%s): %s, want %s", i, tl.Bins[i].Start.Format("15:04"), tl.Bins[i].State, want)
				}
			}
			if !tl.Bins[binsPerDay-1].Start.Before(tl.Bins[0].Start.AddDate(0, 0, 1)) {
				t.Error("the last bin starts the next day")
			}
		})
	}
}

// The day's directory is listed on every request and grows all day: what
// the listing holds must not grow with it. Measured while it runs, at
// every 1000th picture, as the live heap after a collection: listing the
// directory whole (os.ReadDir and a set of names) held 2.1 MiB here,
// reading it in batches holds some 34 KiB.
func TestCapturesOnHoldsLittle(t *testing.T) {
	tr := newTree(t)
	day := time.Date(2026, 7, 14, 0, 0, 0, 0, time.UTC)
	dir := filepath.Join(tr.perm, "lapsebox", "photos", "2026", "07", "14")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const pictures = 8640 // one every 10 s, each with its sidecar
	for i := range pictures {
		name := day.Add(time.Duration(i) * 10 * time.Second).Format("20060102150405.jpg")
		for _, fn := range []string{name, name + ".json"} {
			if err := os.WriteFile(filepath.Join(dir, fn), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	live := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := live()
	var n int
	var held int64
	err := capturesOn(filepath.Join(tr.perm, "lapsebox"), day, day.AddDate(0, 0, 1), func(time.Time) {
		if n++; n%1000 == 0 {
			held = max(held, live()-before)
		}
	})
	if err != nil || n != pictures {
		t.Fatalf("%d captures, error %v; want %d", n, err, pictures)
	}
	const limit = 256 << 10
	if held > limit {
		t.Errorf("listing %d pictures and their sidecars held %d KiB, want at most %d KiB: it grows with the day", pictures, held>>10, limit>>10)
	}
	t.Logf("listing %d pictures and their sidecars held %d KiB", pictures, held>>10)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// Without watchdogd, statusd judges from what it sees, and says why.
func TestOwnHealth(t *testing.T) {
	fresh := func(name, status string) File {
		return File{Name: name, ModTime: t0, Status: json.RawMessage(status)}
	}
	mounted := Perm{Path: "/perm", Mounted: true, UsedBytes: 40, FreeBytes: 60}
	for _, tc := range []struct {
		name   string
		s      Snapshot
		ok     bool
		source string
		reason string // in a failing check
	}{
		{"all well", Snapshot{Perm: mounted, Files: []File{fresh("camerad", `{"state":"waiting"}`)}}, true, "statusd", ""},
		{"camera alert", Snapshot{Perm: mounted, Files: []File{fresh("camerad", `{"state":"alert","recovery":{"alert":true,"consecutiveFailures":9,"lastAction":"alert"}}`)}}, false, "statusd", "9 failures in a row"},
		{"storage full", Snapshot{Perm: mounted, Files: []File{fresh("camerad", `{"store":{"full":true}}`)}}, false, "statusd", "storage full"},
		{"no camerad", Snapshot{Perm: mounted}, false, "statusd", "no status from camerad"},
		{"stale uploadd", Snapshot{Perm: mounted, Files: []File{fresh("camerad", `{}`), {Name: "uploadd", Stale: true, AgeSeconds: 900}}}, false, "statusd", "uploadd.json is 15m 0s old"},
		{"perm read-only", Snapshot{Perm: Perm{Path: "/perm", Mounted: true, ReadOnly: true}, Files: []File{fresh("camerad", `{}`)}}, false, "statusd", "/perm is read-only"},
		{"perm not mounted", Snapshot{Perm: Perm{Path: "/perm"}, Files: []File{fresh("camerad", `{}`)}}, false, "statusd", "not mounted"},
		{"watchdogd stale", Snapshot{Perm: mounted, Files: []File{fresh("camerad", `{}`), {Name: "watchdogd", Stale: true, AgeSeconds: 600, Status: json.RawMessage(`{"healthy":true}`)}}}, false, "statusd", "watchdogd's status is 10m 0s old"},
		{"watchdogd's verdict", Snapshot{Perm: mounted, Files: []File{fresh("watchdogd", `{"healthy":false,"checks":[{"rule":"slots","ok":false,"reason":"12 slots missed"}]}`)}}, false, "watchdogd", "12 slots missed"},
		{"watchdogd's alert", Snapshot{Perm: mounted, Files: []File{fresh("watchdogd", `{"healthy":true,"alert":"5 quick reboots: escalation stopped"}`)}}, true, "watchdogd", "escalation stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.s.health()
			if h.OK != tc.ok || h.Source != tc.source {
				t.Errorf("OK %v from %s, want %v from %s: %+v", h.OK, h.Source, tc.ok, tc.source, h.Checks)
			}
			if tc.reason != "" {
				found := false
				for _, c := range h.Checks {
					found = found || !c.OK && strings.Contains(c.Reason, tc.reason)
				}
				if !found {
					t.Errorf("no failing check says %q: %+v", tc.reason, h.Checks)
				}
				if h.Checks[0].OK {
					t.Errorf("failing checks are not first: %+v", h.Checks)
				}
			}
		})
	}
}
