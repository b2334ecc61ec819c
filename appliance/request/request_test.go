package request

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPostTake(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "requests")
	if _, ok, err := Take(dir, Capture); ok || err != nil {
		t.Fatalf("nothing posted: %v %v", ok, err)
	}
	now := time.Now().Truncate(time.Second)
	if err := Post(dir, Capture, Request{From: "modemd", Reason: "SMS", Time: now}); err != nil {
		t.Fatal(err)
	}
	Post(dir, Capture, Request{From: "modemd", Reason: "SMS again", Time: now})
	r, ok, err := Take(dir, Capture)
	if !ok || err != nil || r.From != "modemd" || r.Reason != "SMS again" || !r.Time.Equal(now) {
		t.Fatalf("Take = %+v %v %v", r, ok, err)
	}
	if _, ok, _ := Take(dir, Capture); ok {
		t.Error("a request taken twice")
	}
}

func TestTakeRefuses(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte(`{"from":"x"}`), 0o600)
	os.Symlink(secret, filepath.Join(dir, "link.json"))
	os.WriteFile(filepath.Join(dir, "big.json"), []byte(`"`+strings.Repeat("x", 10000)+`"`), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{`), 0o644)
	os.Mkdir(filepath.Join(dir, "dir.json"), 0o755)
	for _, name := range []string{"link", "big", "bad", "dir"} {
		if _, ok, err := Take(dir, name); ok || err == nil {
			t.Errorf("%s: taken (%v, %v)", name, ok, err)
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the link's target was touched: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "bad.json")); err == nil {
		t.Error("a bad request stays to be refused again")
	}
}
