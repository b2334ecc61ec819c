package health

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/hw"
)

var testConfig = Config{
	StartupGrace: 5 * time.Minute, StaleAfter: 2 * time.Minute, CameraGrace: 30 * time.Minute,
	UploadStall: 2 * time.Hour, PermCritical: 95, Required: []string{"camerad", "uploadd"}, Self: "watchdogd",
}

// load reads a recorded status file from testdata.
func load(t *testing.T, name string) File {
	t.Helper()
	path := filepath.Join("testdata", name)
	var f File
	var err error
	switch {
	case strings.HasPrefix(name, "camerad"):
		f.Camera = &statusfile.Camera{}
		_, err = statusfile.Read(path, f.Camera)
	case strings.HasPrefix(name, "uploadd"):
		f.Uploads = &statusfile.Uploads{}
		_, err = statusfile.Read(path, f.Uploads)
	default:
		_, err = statusfile.Read(path, new(any))
	}
	if err != nil {
		f = File{Err: err}
	}
	return f
}

// step is one look at the appliance: after is the monotonic time since
// the previous step, jump a step of the wall clock on top of it. files
// maps each service to a recorded status file rewritten just now, or to
// "=" for the file of the previous step left unchanged; a service left
// out has no file.
type step struct {
	after, jump time.Duration
	files       map[string]string
	permPercent float64 // 0: 40 %
	clockUnset  bool
}

func fresh(camerad, uploadd string) map[string]string {
	return map[string]string{"camerad": camerad, "uploadd": uploadd}
}

// every repeats s n times.
func every(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func seq(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// run replays steps through a model and returns the last verdict.
func run(t *testing.T, steps []step) Verdict {
	t.Helper()
	m := &Model{Config: testConfig}
	wall := time.Date(2026, 5, 1, 12, 0, 3, 0, time.UTC)
	var mono time.Duration
	prev := map[string]File{}
	var v Verdict
	for i, s := range steps {
		mono += s.after
		wall = wall.Add(s.after + s.jump)
		files := map[string]File{}
		for name, src := range s.files {
			if src == "=" {
				f, ok := prev[name]
				if !ok {
					t.Fatalf("step %d: %s unchanged, but there was none", i, name)
				}
				files[name] = f
				continue
			}
			// A recorded file, as if written just now. camerad's times
			// move with the clock, so that its schedule says the same
			// thing; uploadd's heartbeat rewrites the same attempts.
			f := load(t, src)
			switch {
			case f.Camera != nil:
				shiftTimes(reflect.ValueOf(f.Camera), wall.Sub(f.Camera.Updated))
			case f.Uploads != nil:
				f.Uploads.Updated = wall
			}
			f.ModTime = wall
			files[name] = f
		}
		prev = files
		perm := s.permPercent
		if perm == 0 {
			perm = 40
		}
		clock := hw.Clock{Now: wall, Plausible: !s.clockUnset}
		if s.clockUnset {
			clock.Now = time.Unix(int64(mono/time.Second), 0)
		}
		v = m.Judge(Snapshot{Wall: wall, Mono: mono, Files: files, Sensors: hw.Readings{
			Clock: clock, Disk: &hw.Disk{Path: "/perm", TotalBytes: 1000, UsedBytes: uint64(perm * 10)}}})
	}
	return v
}

// shiftTimes adds d to every time.Time reachable from v.
func shiftTimes(v reflect.Value, d time.Duration) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			shiftTimes(v.Elem(), d)
		}
	case reflect.Struct:
		if t, ok := v.Addr().Interface().(*time.Time); ok {
			if !t.IsZero() {
				*t = t.Add(d)
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				shiftTimes(v.Field(i), d)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			shiftTimes(v.Index(i), d)
		}
	}
}

func TestVerdicts(t *testing.T) {
	ok := fresh("camerad-ok.json", "uploadd-idle.json")
	tick := func(after time.Duration, files map[string]string) step { return step{after: after, files: files} }
	// Past the startup grace with every status fresh.
	warm := every(12, tick(30*time.Second, ok))
	for _, tc := range []struct {
		name     string
		steps    []step
		healthy  bool
		starting bool
		reasons  []string // each a substring of one counting reason
		pending  []string // substrings of checks failing within their grace
		steps0   int      // clock steps seen
	}{
		{name: "all fresh", steps: warm, healthy: true},
		{name: "download mode has no slots", steps: seq(warm, every(4, tick(30*time.Second, fresh("camerad-download.json", "uploadd-idle.json")))), healthy: true},
		{
			name: "stale camerad: stopped through gokrazy",
			// camerad's file stops changing; uploadd's goes on.
			steps:   seq(warm, every(5, tick(30*time.Second, fresh("=", "uploadd-idle.json")))),
			reasons: []string{"status files: camerad: status file unchanged for 2m30s (at most 2m0s)"},
		},
		{
			name:    "stale but within the limit",
			steps:   seq(warm, every(3, tick(30*time.Second, fresh("=", "uploadd-idle.json")))),
			healthy: true,
		},
		{
			name:    "camerad never wrote its file",
			steps:   every(12, tick(30*time.Second, map[string]string{"uploadd": "uploadd-idle.json"})),
			reasons: []string{"camerad: no status file"},
		},
		{
			name: "a problem during the startup grace does not stop the feeding",
			steps: seq(every(2, tick(30*time.Second, ok)), []step{
				tick(30*time.Second, map[string]string{"camerad": "camerad-ok.json", "uploadd": "uploadd-idle.json", "modemd": "garbage.json"}),
			}),
			starting: true, reasons: []string{"modemd: garbage.json: no such file"},
		},
		{
			name: "an unreadable status file",
			steps: seq(warm, []step{tick(30*time.Second, map[string]string{
				"camerad": "camerad-ok.json", "uploadd": "uploadd-idle.json", "modemd": "missing.json"})}),
			reasons: []string{"status files: modemd:"},
		},
		{
			name: "the wall clock jumps a day forward: fresh files stay fresh",
			steps: seq(warm, []step{{after: 30 * time.Second, jump: 24 * time.Hour, files: ok}},
				every(6, tick(30*time.Second, ok))),
			healthy: true, steps0: 1,
		},
		{
			name: "the wall clock jumps forward while camerad hangs: stale only after the limit on the monotonic clock",
			steps: seq(warm, []step{{after: 30 * time.Second, jump: 24 * time.Hour, files: fresh("=", "uploadd-idle.json")}},
				every(2, tick(30*time.Second, fresh("=", "uploadd-idle.json")))),
			healthy: true, steps0: 1,
		},
		{
			name: "the wall clock jumps forward while camerad hangs, longer",
			steps: seq(warm, []step{{after: 30 * time.Second, jump: 24 * time.Hour, files: fresh("=", "uploadd-idle.json")}},
				every(4, tick(30*time.Second, fresh("=", "uploadd-idle.json")))),
			reasons: []string{"camerad: status file unchanged for 2m30s"}, steps0: 1,
		},
		{
			name: "the wall clock jumps an hour back: files from the future are not stale while they change",
			steps: seq(warm, []step{{after: 30 * time.Second, jump: -time.Hour, files: fresh("=", "=")}},
				every(6, tick(30*time.Second, ok))),
			healthy: true, steps0: 1,
		},
		{
			name: "a clock jump makes camerad report slots missed: caught up before the grace",
			// camerad catches up after the jump: the slots it skipped are
			// missed, the next one is taken.
			steps: seq(warm, []step{{after: 30 * time.Second, jump: 6 * time.Hour, files: fresh("camerad-missing-camera.json", "uploadd-idle.json")}},
				every(10, tick(30*time.Second, fresh("camerad-missing-camera.json", "uploadd-idle.json"))),
				every(2, tick(30*time.Second, fresh("camerad-recovered.json", "uploadd-idle.json")))),
			healthy: true, steps0: 1,
		},
		{
			name:    "missed slots within the camera grace",
			steps:   seq(warm, every(50, tick(30*time.Second, fresh("camerad-missing-camera.json", "uploadd-idle.json")))),
			healthy: true, pending: []string{"3 slots missed since", "none taken since: opening the camera: ptp: no device (recovery ladder exhausted) (counts after 5m30s)"},
		},
		{
			name:    "missed slots past the camera grace",
			steps:   seq(warm, every(61, tick(30*time.Second, fresh("camerad-missing-camera.json", "uploadd-idle.json")))),
			reasons: []string{"camera slots: 3 slots missed since"},
		},
		{
			name: "camerad recovers: feeding resumes at once",
			steps: seq(warm, every(61, tick(30*time.Second, fresh("camerad-missing-camera.json", "uploadd-idle.json"))),
				[]step{tick(30*time.Second, fresh("camerad-recovered.json", "uploadd-idle.json"))}),
			healthy: true,
		},
		{
			name: "a slot long overdue: camerad stuck in a capture while its heartbeat goes on",
			// The heartbeat rewrites the same content.
			steps:   seq(warm, every(70, tick(30*time.Second, fresh("camerad-stuck.json", "uploadd-idle.json")))),
			reasons: []string{`is 35m0s overdue (state "capturing")`},
		},
		{
			name: "WAN down for hours: uploads fail, which is progress enough",
			// A failed attempt at least every 75 minutes (uploadd's
			// longest backoff) keeps the target out of trouble.
			steps: seq(warm,
				every(75, tick(time.Minute, fresh("camerad-ok.json", "uploadd-wan-down-1.json"))),
				every(75, tick(time.Minute, fresh("camerad-ok.json", "uploadd-wan-down-2.json"))),
				every(75, tick(time.Minute, fresh("camerad-ok.json", "uploadd-wan-down-1.json")))),
			healthy: true,
		},
		{
			name:    "uploadd stalls: work, an open window, no attempt for hours",
			steps:   seq(warm, every(125, tick(time.Minute, fresh("camerad-ok.json", "uploadd-wan-down-1.json")))),
			reasons: []string{"uploads: cloud: 30 pending, no attempt"},
		},
		{
			name:    "the data cap holds the uploads for the rest of the month: no stall",
			steps:   seq(warm, every(300, tick(time.Minute, fresh("camerad-ok.json", "uploadd-held.json")))),
			healthy: true,
		},
		{
			name:    "a closed window is no stall",
			steps:   seq(warm, every(200, tick(time.Minute, fresh("camerad-ok.json", "uploadd-window-closed.json")))),
			healthy: true,
		},
		{
			name:    "/perm past its critical mark",
			steps:   seq(warm, []step{{after: 30 * time.Second, files: ok, permPercent: 96}}),
			reasons: []string{"perm: /perm 96.0% used, critical from 95%"},
		},
		{
			name:    "the clock was never set",
			steps:   seq(warm, []step{{after: 30 * time.Second, files: ok, clockUnset: true}}),
			reasons: []string{"clock: the clock reads 1970-01-01T00:06:30Z: never set"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := run(t, tc.steps)
			if v.Healthy != tc.healthy || v.Starting != tc.starting || v.Feed() != (tc.healthy || tc.starting) {
				t.Errorf("healthy %v starting %v, want %v %v; checks %+v", v.Healthy, v.Starting, tc.healthy, tc.starting, v.Checks)
			}
			if len(v.Reasons) != len(tc.reasons) {
				t.Errorf("reasons %q, want %d like %q", v.Reasons, len(tc.reasons), tc.reasons)
			}
			all := strings.Join(v.Reasons, "\n")
			for _, want := range tc.reasons {
				if !strings.Contains(all, want) {
					t.Errorf("reasons %q lack %q", v.Reasons, want)
				}
			}
			var pending []string
			for _, c := range v.Checks {
				if !c.OK && !c.Counts {
					pending = append(pending, c.Reason)
				}
			}
			for _, want := range tc.pending {
				if !strings.Contains(strings.Join(pending, "\n"), want) {
					t.Errorf("pending checks %q lack %q", pending, want)
				}
			}
			if v.Steps != tc.steps0 {
				t.Errorf("%d clock steps seen, want %d", v.Steps, tc.steps0)
			}
			if len(v.Checks) < len(Rules) {
				t.Errorf("%d checks for %d rules", len(v.Checks), len(Rules))
			}
		})
	}
}

func TestBoots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "boots.json")
	b := func() *Boots { return &Boots{Path: path, Limit: 2, StableAfter: 30 * time.Minute} }
	// Three boots in a row that never become stable.
	for i, id := range []string{"boot-a", "boot-b", "boot-c"} {
		bb := b()
		if err := bb.Start(id); err != nil {
			t.Fatal(err)
		}
		if bb.QuickReboots() != i {
			t.Errorf("boot %s: %d quick reboots, want %d", id, bb.QuickReboots(), i)
		}
		bb.Observe(0, true)
		bb.Observe(10*time.Minute, false) // unhealthy before it was stable
		bb.Observe(20*time.Minute, true)
		bb.Observe(45*time.Minute, true) // 25 minutes healthy: not yet
	}
	bb := b()
	bb.Start("boot-c") // watchdogd restarted within the same boot: no count
	if bb.QuickReboots() != 2 || bb.Escalating() || !strings.Contains(bb.Alert(), "2 reboots in a row without 30m of health") {
		t.Errorf("after three quick boots: %d, escalating %v, alert %q", bb.QuickReboots(), bb.Escalating(), bb.Alert())
	}
	// Healthy for the stable period: the count starts again.
	bb.Observe(0, true)
	if err := bb.Observe(30*time.Minute, true); err != nil {
		t.Fatal(err)
	}
	if !bb.Stable() || bb.QuickReboots() != 0 || !bb.Escalating() || bb.Alert() != "" {
		t.Errorf("stable: %+v", bb)
	}
	bb = b()
	bb.Start("boot-d")
	if bb.QuickReboots() != 0 {
		t.Errorf("after a stable boot: %d quick reboots", bb.QuickReboots())
	}
	// A broken counter file: counting starts again, and says why.
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	bb = b()
	if err := bb.Start("boot-e"); err == nil || !strings.Contains(err.Error(), "counting from zero") || !bb.Escalating() {
		t.Errorf("broken counter: %v", err)
	}
}
