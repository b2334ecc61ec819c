package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// A cloudd configured with a second directory keeps each photo there
// too; a scrub repairs a damaged copy, and the status and metrics (which
// promtool accepts) report it.
func TestArchiveEndToEnd(t *testing.T) {
	promtool := testtool.Program(t, "promtool")
	second := t.TempDir()
	r := servertest.Start(t, server.Config{Archive: &server.ArchiveConfig{Dir: second}}, server.Options{})
	r.AddDevice(t, "cam-1", "tok-1")
	ctx := context.Background()
	tg, err := tus.New(tus.Config{URL: r.URL, Device: "cam-1", Token: "tok-1", Transfer: upload.Transfer{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	item, data := uploadtest.Photo("2026/12/03/IMG_0001.JPG", 100<<10, 1)
	if err := tg.Upload(ctx, item, new(uploadtest.Resume).Save); err != nil {
		t.Fatal(err)
	}
	copy2 := filepath.Join(second, "cam-1", "2026", "12", "03", "IMG_0001.JPG")
	if b, err := os.ReadFile(copy2); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the second copy: %d bytes, %v", len(b), err)
	}
	os.Truncate(copy2, 10)
	rep, err := r.Ingest.Archive().Scrub(ctx, 0)
	if err != nil || rep.RepairedReplica != 1 || rep.Checked != 0 {
		t.Fatalf("scrub: %v, %v", rep, err)
	}
	if b, _ := os.ReadFile(copy2); !bytes.Equal(b, data) {
		t.Errorf("after the scrub the second copy has %d bytes", len(b))
	}

	get := func(path string) string {
		resp, err := http.Get(r.AdminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	metrics := get("/metrics")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\n--- metrics:\n%s", err, out, metrics)
	}
	for _, want := range []string{
		"lapsebox_archive_copies 2\n",
		`lapsebox_archive_scrub_photos{outcome="repaired_replica"} 1` + "\n",
		`lapsebox_archive_scrub_photos{outcome="unrepairable"} 0` + "\n",
		"lapsebox_archive_replication_failures_total 0\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	status := get("/status")
	for _, want := range []string{`"replica": "directory"`, `"repairedReplica": 1`, `"unrepairable": 0`} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	if strings.Contains(status, second) || strings.Contains(status, r.Config.Root) {
		t.Errorf("status names a server path:\n%s", status)
	}
}

// cloudd's background scrub runs by itself and repairs what it finds.
func TestBackgroundScrub(t *testing.T) {
	second := t.TempDir()
	r := servertest.Start(t, server.Config{Archive: &server.ArchiveConfig{Dir: second, ScrubInterval: server.Duration(50 * time.Millisecond)}}, server.Options{})
	r.AddDevice(t, "cam-1", "tok-1")
	tg, err := tus.New(tus.Config{URL: r.URL, Device: "cam-1", Token: "tok-1", Transfer: upload.Transfer{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	item, data := uploadtest.Photo("2026/12/03/IMG_0002.JPG", 10<<10, 2)
	if err := tg.Upload(context.Background(), item, new(uploadtest.Resume).Save); err != nil {
		t.Fatal(err)
	}
	copy2 := filepath.Join(second, "cam-1", "2026", "12", "03", "IMG_0002.JPG")
	os.Remove(copy2)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(copy2); bytes.Equal(b, data) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scrub repaired the second copy in a minute: %+v", r.Ingest.Archive().Status())
		}
	}
}

// cloudd says in its log how many copies it keeps, and warns of a second
// copy on the root's own file system.
func TestArchiveLog(t *testing.T) {
	for _, tc := range []struct {
		archive *server.ArchiveConfig
		want    string
	}{
		{nil, "photos are kept once"},
		{&server.ArchiveConfig{Dir: t.TempDir()}, "same file system as the root"},
	} {
		var log testtool.Buffer
		servertest.Start(t, server.Config{Archive: tc.archive}, server.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if !strings.Contains(log.String(), tc.want) {
			t.Errorf("archive %+v: the log lacks %q:\n%s", tc.archive, tc.want, log.String())
		}
	}
}
