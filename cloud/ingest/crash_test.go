package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/archive"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
	"github.com/lapsebox/lapsebox/internal/crashtest"
)

func TestMain(m *testing.M) {
	crashtest.Main(map[string]func(string) error{"cloudd": crashChild})
	os.Exit(m.Run())
}

// stallingReplica is a second store whose Put marks the moment (the
// photo is stored once and recorded, its second copy not begun) and
// never returns: where the parent kills the process.
type stallingReplica struct{ *archive.Dir }

func (s stallingReplica) Put(ctx context.Context, key string, r io.Reader, size int64, sum string) error {
	crashtest.Mark()
	select {}
}

// crashChild serves ingest ("root,replica dir,address file") with a
// stalling replica, writing its address to the file.
func crashChild(arg string) error {
	parts := strings.Split(arg, ",")
	if len(parts) != 3 {
		return errors.New("want root,replica,address file")
	}
	d, err := archive.OpenDir(parts[1])
	if err != nil {
		return err
	}
	devs, err := ingest.DevicesWithTokens(map[string]string{device: token})
	if err != nil {
		return err
	}
	s, err := ingest.New(ingest.Config{Root: parts[0], Devices: devs, Replica: stallingReplica{d}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ln, err := ingest.Listen("127.0.0.1:0", ingest.Limits{})
	if err != nil {
		return err
	}
	if err := os.WriteFile(parts[2], []byte(ln.Addr().String()), 0o644); err != nil {
		return err
	}
	return ingest.NewHTTPServer(s.Handler(), ingest.Limits{}, nil).Serve(ln)
}

// TestCrashBetweenCopies SIGKILLs cloudd after a photo is stored and its
// sum recorded, before its second copy is made: nothing confirmed the
// photo to the device, and a cloudd started again on the same
// directories completes it when the device retries, without the bytes
// being sent again; its scrub then finds both copies good.
func TestCrashBetweenCopies(t *testing.T) {
	root, second, addrFile := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "addr")
	child := crashtest.Start(t, "cloudd", root+","+second+","+addrFile)
	var addr []byte
	for deadline := time.Now().Add(crashtest.Stuck); len(addr) == 0; addr, _ = os.ReadFile(addrFile) {
		if time.Now().After(deadline) {
			t.Fatalf("cloudd did not start: %s", child.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	item, data := uploadtest.Photo("2026/12/03/IMG_0001.JPG", 300<<10, 9)
	ctx, cancel := context.WithCancel(context.Background())
	confirmed := make(chan error, 1)
	go func() {
		tg, err := tus.New(tus.Config{URL: "http://" + string(addr), Device: device, Token: token, Transfer: uploadtest.Transfer()})
		if err == nil {
			err = tg.Upload(ctx, item, new(uploadtest.Resume).Save)
		}
		confirmed <- err
	}()
	if !child.KillWhen(func() bool { return child.Marks() > 0 }) {
		t.Fatalf("cloudd exited before the second copy: %s", child.Stderr())
	}
	cancel()
	if err := <-confirmed; err == nil {
		t.Fatal("the device got a confirmation from a cloudd killed before the second copy")
	}
	key := device + "/" + item.Name
	if b, err := os.ReadFile(filepath.Join(root, device, filepath.FromSlash(item.Name))); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("after the kill the local copy has %d bytes, %v", len(b), err)
	}
	if _, err := os.Stat(filepath.Join(second, device, filepath.FromSlash(item.Name))); err == nil {
		t.Fatal("the second copy exists: the kill came too late to test anything")
	}

	// cloudd again, on the same directories; the device retries.
	replica, err := archive.OpenDir(second)
	if err != nil {
		t.Fatal(err)
	}
	c := ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{device: token}, Config: ingest.Config{Root: root, Replica: replica}})
	tg, err := tus.New(tus.Config{URL: c.URL(), Device: device, Token: token, Transfer: uploadtest.Transfer()})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Upload(context.Background(), item, new(uploadtest.Resume).Save); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if n := c.Server.Status()[device].BodyBytes; n != 0 {
		t.Errorf("the retry sent %d bytes of the photo again", n)
	}
	if got := c.Received(device); len(got) != 1 || got[item.Name] != item.SHA256 {
		t.Errorf("cloudd holds %v, want the photo once", got)
	}
	if b, _ := os.ReadFile(filepath.Join(second, device, filepath.FromSlash(item.Name))); !bytes.Equal(b, data) {
		t.Errorf("the second copy has %d bytes, want the %d sent", len(b), len(data))
	}
	r, err := c.Server.Archive().Scrub(context.Background(), 0)
	if err != nil || r.Checked != 1 || r.Recorded != 0 || r.RepairedLocal+r.RepairedReplica+r.Unrepairable != 0 {
		t.Errorf("scrub: %v, %v", r, err)
	}
	if s, _ := c.Server.Archive().Sums.Get(key); s != item.SHA256 {
		t.Errorf("record = %q, want %s", s, item.SHA256)
	}
}
