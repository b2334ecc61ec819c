package capture

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/ptp/fetch"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

func TestDownloadCopiesEverythingAndSurvivesAnUnplug(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	files := []sim.File{
		{Path: "DCIM/100CANON/IMG_0001.JPG", Data: make([]byte, 300_000)},
		{Path: "DCIM/100CANON/IMG_0002.JPG", Data: make([]byte, 512*200)},
		{Path: "DCIM/100CANON/EMPTY.JPG", Data: nil},
		{Path: "DCIM/101CANON/IMG_0100.CR2", Data: make([]byte, 3_000_000)},
	}
	for _, f := range files {
		rnd.Read(f.Data)
	}
	dev := &simDevice{dev: sim.New(sim.Config{Model: sim.DownloadOnly, Files: files})}
	dir := t.TempDir()
	status := &StatusFile{Path: filepath.Join(t.TempDir(), "camerad.json")}
	d := &Download{Device: dev, Dir: dir, Interval: 50 * time.Millisecond, Status: status,
		Options: fetch.Options{ChunkSize: 64 << 10}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// Pull the cable once the big file is under way.
	unplugged := false
	for ctx.Err() == nil {
		st := status.Snapshot()
		if !unplugged && st.DownloadStatus != nil && st.Current != nil && st.Current.Done > 0 && st.Current.Size == 3_000_000 {
			dev.dev.Unplug()
			time.Sleep(100 * time.Millisecond)
			dev.dev.Replug()
			unplugged = true
		}
		if st.DownloadStatus != nil && st.LastPass != nil && st.FilesFetched >= len(files) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	st := status.Snapshot()
	if st.DownloadStatus == nil || st.FilesFetched < len(files) {
		t.Fatalf("status %+v: not every file fetched (last error %q)", st.DownloadStatus, st.LastError)
	}
	for _, f := range files {
		var got []byte
		filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && filepath.Base(p) == filepath.Base(f.Path) {
				got, _ = os.ReadFile(p)
			}
			return nil
		})
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s: %d bytes downloaded, want the camera's %d, identical", f.Path, len(got), len(f.Data))
		}
	}
	if !unplugged {
		t.Error("never caught the large file in progress to unplug the camera")
	} else if st.Reconnects == 0 {
		t.Errorf("status %+v: the camera was unplugged but no reconnect was counted", st.DownloadStatus)
	}
	if st.Mode != "download" {
		t.Errorf("mode %q", st.Mode)
	}
}
