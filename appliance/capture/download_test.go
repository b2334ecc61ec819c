package capture

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/store"
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
		Options: fetch.Options{ChunkSize: 64 << 10}, ProgressEvery: time.Nanosecond}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// Pull the cable once the big file is under way.
	unplugged := false
	for ctx.Err() == nil {
		st := status.Snapshot()
		if !unplugged && st.Download != nil && st.Current != nil && st.Current.Done > 0 && st.Current.Size == 3_000_000 {
			dev.dev.Unplug()
			time.Sleep(100 * time.Millisecond)
			dev.dev.Replug()
			unplugged = true
		}
		if st.Download != nil && st.LastPass != nil && st.FilesFetched >= len(files) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	st := status.Snapshot()
	if st.Download == nil || st.FilesFetched < len(files) {
		t.Fatalf("status %+v: not every file fetched (last error %q)", st.Download, st.LastError)
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
		t.Errorf("status %+v: the camera was unplugged but no reconnect was counted", st.Download)
	}
	if st.Mode != "download" {
		t.Errorf("mode %q", st.Mode)
	}
}

func TestDownloadIntoTheStore(t *testing.T) {
	taken := time.Date(2026, 11, 20, 14, 30, 0, 0, time.UTC)
	files := []sim.File{
		{Path: "DCIM/100CANON/IMG_0001.JPG", Data: bytes.Repeat([]byte{1}, 50_000)},
		{Path: "DCIM/100CANON/IMG_0001.CR2", Data: bytes.Repeat([]byte{2}, 200_000)},
		{Path: "DCIM/100CANON/IMG_0002.JPG", Data: bytes.Repeat([]byte{3}, 60_000)},
	}
	dev := &simDevice{dev: sim.New(sim.Config{Model: sim.DownloadOnly, Files: files, Now: func() time.Time { return taken }})}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sink := &StoreSink{Store: st, Staging: t.TempDir(), Camera: store.Camera{Model: "sim"},
		Targets: func(ext string, raw bool) []string {
			if raw {
				return []string{"cloud"}
			}
			return []string{"cloud", "web"}
		}}
	status := &StatusFile{}
	run := func() {
		d := &Download{Device: dev, Sink: sink, Interval: 20 * time.Millisecond, Status: status}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		for ctx.Err() == nil {
			if s := status.Snapshot(); s.Download != nil && s.LastPass != nil && s.LastPass.Objects == len(files) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
	}
	run()
	run() // a second pass downloads nothing again
	photos, err := st.Photos()
	if err != nil {
		t.Fatal(err)
	}
	if len(photos) != len(files) {
		t.Fatalf("store holds %v, want the camera's %d files once each", photos, len(files))
	}
	if errs := st.Verify(true); len(errs) > 0 {
		t.Errorf("store: %v", errs)
	}
	cloud, _ := st.Pending("cloud")
	web, _ := st.Pending("web")
	if len(cloud) != 3 || len(web) != 2 {
		t.Errorf("outbox: %d for cloud, %d for web; want 3 and 2 (no RAW for web)", len(cloud), len(web))
	}
	for _, e := range cloud {
		if !e.CaptureTime.Equal(taken) {
			t.Errorf("%s named after %v, want the camera's capture time %v", e.Photo, e.CaptureTime, taken)
		}
	}
	if sc, err := st.ReadSidecar(photos[0]); err != nil || sc.Camera.Model == "" || sc.Camera.Model == "sim" {
		t.Errorf("sidecar %+v, %v: want the camera's own model", sc.Camera, err)
	}
	if st := status.Snapshot(); st.FilesFetched != len(files) {
		t.Errorf("%d files fetched over two passes, want %d", st.FilesFetched, len(files))
	}
}
