package statusfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "camerad.json")
	days := 9.5
	want := Camera{
		Mode: "capture", State: "waiting", Captures: 3,
		LastCapture: &Capture{Files: []string{"photos/a.jpg"}, Total: Duration(1500 * time.Millisecond)},
		Recovery:    Recovery{ConsecutiveFailures: 2, LastAction: "cancel"},
		Autonomy:    &Autonomy{Days: &days, SizeSource: "median of the last 3 pictures"},
		Download:    &Download{FilesFetched: 4},
	}
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	var got Camera
	mtime, err := Read(path, &got)
	if err != nil {
		t.Fatal(err)
	}
	if mtime.IsZero() || got.Captures != 3 || got.LastCapture.Total != want.LastCapture.Total ||
		got.Recovery != want.Recovery || *got.Autonomy.Days != days || got.Download == nil || got.FilesFetched != 4 {
		t.Errorf("read back %+v, want %+v", got, want)
	}
	if got.LatestPhoto() != "photos/a.jpg" {
		t.Errorf("LatestPhoto = %q", got.LatestPhoto())
	}
}

// Every key a status file carries is camelCase: no Go field name leaks
// through a missing tag.
func TestKeysAreCamelCase(t *testing.T) {
	dir := t.TempDir()
	days := 1.0
	docs := map[string]any{
		"camerad": Camera{
			Camera: &CameraInfo{}, LastCapture: &Capture{}, RecentMissed: []MissedSlot{{}},
			RecoveryActions: []RecoveryAction{{}}, Store: &Store{Full: true, FullSince: time.Now(), LastError: "x", LastErrorTime: time.Now()},
			Autonomy: &Autonomy{Days: &days}, Prune: &Prune{Time: time.Now(), DroppedTargets: []string{"x"}},
			Retention: &Retention{LastDropped: time.Now()}, Started: time.Now(),
			Download: &Download{Current: &DownloadCurrent{}, LastPass: &DownloadPass{}},
		},
		"uploadd": Uploads{Targets: []Target{{ParkedReasons: []string{"x"}, LastReconcile: &Reconcile{}}}},
		"watchdogd": Watchdog{
			Checks: []HealthCheck{{Since: time.Now()}}, StartupGraceUntil: time.Now(),
			Feeder: &Feed{LastPulse: time.Now(), Error: "x"}, Boots: Boots{Error: "x"}, Alert: "x",
			Relays: []Relay{{Cycles: []RelayCycle{{End: time.Now(), From: "x", Error: "x"}}, Refusals: []RelayRefusal{{From: "x"}}, Error: "x"}},
			Inputs: []Input{{Value: new(int), LastEdge: "x", LastEvent: time.Now(), Error: "x"}},
			Sensors: Sensors{Temperatures: []Temperature{{Type: "x"}}, Throttle: &Throttle{}, Perm: &Disk{},
				Clock: Clock{Synchronized: new(bool), LastStep: &ClockStep{}}, Warnings: []string{"x"}, Errors: []string{"x"}},
		},
	}
	for name, v := range docs {
		checkCamelCase(t, filepath.Join(dir, name+".json"), v)
	}
}

// checkCamelCase writes v to path and checks every key of the file.
func checkCamelCase(t *testing.T, path string, v any) {
	t.Helper()
	if err := Write(path, v); err != nil {
		t.Fatal(err)
	}
	var m any
	if _, err := Read(path, &m); err != nil {
		t.Fatal(err)
	}
	walkKeys(m, func(k string) {
		if k == "" || strings.ContainsAny(k, "_- ") || k[0] < 'a' || k[0] > 'z' {
			t.Errorf("%s: key %q is not camelCase", filepath.Base(path), k)
		}
	})
}

func walkKeys(v any, fn func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			fn(k)
			walkKeys(e, fn)
		}
	case []any:
		for _, e := range v {
			walkKeys(e, fn)
		}
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte(`{"token": "s3cr3t"}`), 0o600)

	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.json")
	os.Mkdir(sub, 0o755)
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, []byte(`"`+strings.Repeat("x", MaxSize)+`"`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"mode": `), 0o644)

	for _, tc := range []struct {
		path, want string
		regular    bool
	}{
		{link, "symbolic link", true},
		{fifo, "named pipe", true},
		{sub, "directory", true},
		{big, "larger than", false},
		{bad, "not valid JSON", false},
		{filepath.Join(dir, "missing.json"), "no such file", false},
	} {
		done := make(chan error, 1)
		go func() {
			_, _, err := ReadRaw(tc.path)
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadRaw blocked", filepath.Base(tc.path))
		}
		if err == nil {
			t.Errorf("%s: no error", filepath.Base(tc.path))
			continue
		}
		if tc.regular && !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: %v, want ErrNotRegular", filepath.Base(tc.path), err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q lacks %q", filepath.Base(tc.path), err, tc.want)
		}
		if strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q carries a server path or the target's content", filepath.Base(tc.path), err)
		}
	}
}
