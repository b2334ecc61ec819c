package status

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

func TestReadFiles(t *testing.T) {
	tr := newTree(t)
	touch := func(rel string, age time.Duration) {
		t.Helper()
		mtime := t0.Add(-age)
		if err := os.Chtimes(filepath.Join(tr.root, rel), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	tr.write(t, "run/lapsebox/camerad.json", `{"camera":"Canon EOS 90D","lastCapture":"2026-07-14T11:59:00Z"}`)
	touch("run/lapsebox/camerad.json", 12*time.Second)
	tr.write(t, "run/lapsebox/uploadd.json", `{"outbox":{"s3":4}}`)
	touch("run/lapsebox/uploadd.json", 2*time.Hour)
	tr.write(t, "run/lapsebox/modemd.json", `{"signal": -7`) // torn write
	touch("run/lapsebox/modemd.json", time.Second)
	tr.write(t, "run/lapsebox/.camerad.json123456", `{}`) // renameio temp file
	tr.write(t, "run/lapsebox/notes.txt", `not a status file`)
	tr.write(t, "run/lapsebox/huge.json", `"`+strings.Repeat("a", statusfile.MaxSize)+`"`)
	if err := os.Mkdir(filepath.Join(tr.run, "dir.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Whoever can write /run/lapsebox must not make statusd read another
	// file through a link, nor hang it on a FIFO nobody writes.
	tr.write(t, "secret.txt", `{"password": "hunter2"}`)
	if err := os.Symlink(filepath.Join(tr.root, "secret.txt"), filepath.Join(tr.run, "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(tr.run, "fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}

	files, err := readFiles(tr.run, t0, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name     string
		age      time.Duration
		stale    bool
		wantErr  string
		wantJSON bool
	}{
		{name: "camerad", age: 12 * time.Second, wantJSON: true},
		{name: "fifo", wantErr: "not a regular file (named pipe)"},
		{name: "huge", wantErr: "larger than"},
		{name: "link", wantErr: "not a regular file (symbolic link)"},
		{name: "modemd", age: time.Second, wantErr: "not valid JSON"},
		{name: "uploadd", age: 2 * time.Hour, stale: true, wantJSON: true},
	}
	if len(files) != len(want) {
		t.Fatalf("readFiles: %d files %+v, want %d", len(files), files, len(want))
	}
	for i, w := range want {
		f := files[i]
		if f.Name != w.name {
			t.Errorf("file %d: name %q, want %q", i, f.Name, w.name)
			continue
		}
		if w.age != 0 && (time.Duration(f.AgeSeconds*float64(time.Second)) != w.age || f.Stale != w.stale) {
			t.Errorf("%s: age %vs, stale %v; want %v, %v", f.Name, f.AgeSeconds, f.Stale, w.age, w.stale)
		}
		if w.wantErr != "" && (!strings.Contains(f.Error, w.wantErr) || !strings.Contains(f.Error, f.Name+".json")) {
			t.Errorf("%s: error %q, want it to name the file and contain %q", f.Name, f.Error, w.wantErr)
		}
		if w.wantErr == "" && f.Error != "" {
			t.Errorf("%s: error %q, want none", f.Name, f.Error)
		}
		if w.wantJSON != (f.Status != nil) {
			t.Errorf("%s: status %q, want JSON: %v", f.Name, f.Status, w.wantJSON)
		}
	}
	// The raw status survives encoding the snapshot.
	b, err := json.Marshal(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"status":{"camera":"Canon EOS 90D"`) {
		t.Errorf("encoded camerad file %s does not embed its status", b)
	}
}

func TestReadFilesNoDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lapsebox")
	files, err := readFiles(dir, t0, time.Minute)
	if err != nil || len(files) != 0 {
		t.Errorf("readFiles(%s) = %v, %v; want no files, no error", dir, files, err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readFiles(notDir, t0, time.Minute); err == nil || !strings.Contains(err.Error(), notDir) {
		t.Errorf("readFiles(%s) = %v, want an error naming it", notDir, err)
	}
}

// Each string of a status file is redacted as the text it stands for:
// a quoted URL (Go's errors quote them, so JSON escapes the quotes)
// loses its password and token and the file stays valid JSON, shown
// rather than withheld.
func TestRedactJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"lastError":"Put \"https://site7:pw-SECRET@dav.example.com/x.jpg?token=tok-SECRET\": EOF"}`,
			`{"lastError":"Put \"https://dav.example.com/x.jpg?token=REDACTED\": EOF"}`},
		{`{"e":"Get \"https://h/x.jpg\": EOF","n":3}`, `{"e":"Get \"https://h/x.jpg\": EOF","n":3}`},
		{`{"e":"PUT https://u:pw-SECRET@h/p failed"}`, `{"e":"PUT https://h/p failed"}`},
		{`{"a":["Authorization: Bearer tok-SECRET", "C:\\path\\"], "b":{"c":"\u00e9 \"quoted\""}}`,
			`{"a":["Authorization: Bearer REDACTED", "C:\\path\\"], "b":{"c":"\u00e9 \"quoted\""}}`},
		{`{"e":"<https://u:pw-SECRET@h/> & more"}`, `{"e":"<https://h/> & more"}`},
	} {
		got, err := redactJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("redactJSON(%s) = %s, %v\nwant %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := redactJSON([]byte(`{"e":"unterminated}`)); err == nil {
		t.Error("redactJSON accepts a document that is not JSON")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "uploadd.json"), []byte(`{"lastError":"Put \"https://site7:pw-SECRET@dav.example.com/x.jpg\": EOF"}`), 0o644)
	fs, err := readFiles(dir, time.Now(), time.Hour)
	if err != nil || len(fs) != 1 || fs[0].Error != "" || strings.Contains(string(fs[0].Status), "SECRET") || !strings.Contains(string(fs[0].Status), "dav.example.com/x.jpg") {
		t.Errorf("readFiles: %+v, %v", fs, err)
	}
}
