package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/cloud/server"
)

// "cloudd scrub" repairs what it can, prints the report, and fails,
// naming the photo, when a photo has no good copy left.
func TestScrubCommand(t *testing.T) {
	ctx := context.Background()
	second := t.TempDir()
	cfg := server.Config{Root: t.TempDir(), Archive: &server.ArchiveConfig{Dir: second}}
	a, err := server.OpenArchive(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"cam-1/a.jpg", "cam-1/b.jpg", "cam-2/c.jpg"} {
		data := []byte("the bytes of " + key)
		s := sha256.Sum256(data)
		sum := hex.EncodeToString(s[:])
		if err := a.Local.Put(ctx, key, bytes.NewReader(data), int64(len(data)), sum); err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(ctx, key, sum); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(cfg.Root, "cam-1", "a.jpg"))
	var out bytes.Buffer
	if err := command(ctx, cfg, []string{"scrub"}, &out); err != nil {
		t.Fatalf("scrub: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "checked 2, repaired local 1, repaired replica 0, UNREPAIRABLE 0") {
		t.Errorf("scrub printed %q", out.String())
	}
	os.WriteFile(filepath.Join(cfg.Root, "cam-2", "c.jpg"), []byte("rot"), 0o644)
	os.Remove(filepath.Join(second, "cam-2", "c.jpg"))
	out.Reset()
	err = command(ctx, cfg, []string{"scrub", "-rate", "1000000"}, &out)
	if err == nil || !strings.Contains(err.Error(), "1 photos have no good copy") ||
		!strings.Contains(out.String(), "UNREPAIRABLE 1") || !strings.Contains(out.String(), "cam-2/c.jpg: UNREPAIRABLE") {
		t.Errorf("scrub with a lost photo: %v\n%s", err, out.String())
	}
	if err := command(ctx, cfg, []string{"scrub", "now"}, &out); err == nil {
		t.Error("scrub with an argument succeeded")
	}
}
