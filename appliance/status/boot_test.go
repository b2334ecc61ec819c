package status

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/bootdisk"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/disk/disktest"
	"github.com/lapsebox/lapsebox/image/fat"
)

// testBootDisk writes a disk with the image's partition tables and a boot
// file system in slot 0, and its partition 1 as a file of its own (as
// the kernel shows it), rewritten by gokrazy's switch to root B. It
// returns the disk, and the sha256 and length of the boot file system as
// built.
func testBootDisk(t *testing.T) (bootdisk.Disk, string, int64) {
	t.Helper()
	w := fat.NewWriter(fat.Options{Label: "GOKRAZY"})
	line := "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF=1 init=/gokrazy/init rootwait"
	for _, f := range []struct{ name, data string }{{"vmlinuz", strings.Repeat("kernel", 20000)},
		{"cmdline.txt", line + "\n" + strings.Repeat(" ", 320)}} {
		if err := w.AddFile(f.name, []byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	var built bytes.Buffer
	if _, err := w.WriteTo(&built); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(built.Bytes())
	used := bytes.Clone(built.Bytes())
	if err := bootconf.ForRoot(used, 2); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := bootdisk.Disk{Whole: filepath.Join(dir, "sda"), Boot: filepath.Join(dir, "sda1"), Root: filepath.Join(dir, "sda2"), RootNumber: 3}
	// The disk's slot 0 is not read: partition 1 is its own file.
	disktest.Write(t, d.Whole, nil)
	part := append(used, make([]byte, 1<<20)...) // the partition is larger
	if err := os.WriteFile(d.Boot, part, 0o600); err != nil {
		t.Fatal(err)
	}
	return d, hex.EncodeToString(sum[:]), int64(built.Len())
}

// TestFetchBoot reads the boot partition through statusd's handler, as
// the host tool does before a push: its file system as built, and the
// boot slot the tables name.
func TestFetchBoot(t *testing.T) {
	tr := newTree(t)
	tr.defaultGokrazy(t)
	tr.write(t, "etc/gokr-pw.txt", testPassword+"\n")
	d, want, size := testBootDisk(t)
	cfg := tr.config()
	cfg.Disk = &d
	srv := httptest.NewServer(NewServer(NewCollector(cfg), Options{EtcDir: tr.etc, Logf: func(string, ...any) {}}))
	defer srv.Close()
	ctx := context.Background()

	b, err := FetchBoot(ctx, srv.URL, testPassword)
	if err != nil || b.SHA256 != want || b.Slot != 0 || b.Bytes != size {
		t.Fatalf("FetchBoot = %+v, %v; want sha256 %.12s (as built, not as rewritten), %d bytes, in slot 0", b, err, want, size)
	}
	f, err := os.OpenFile(d.Whole, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := disk.SwitchBoot(f, 1, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := FetchBoot(ctx, srv.URL, testPassword); err != nil || b.Slot != 1 {
		t.Errorf("after a switch to slot 1: %+v, %v", b, err)
	}
	if _, err := FetchBoot(ctx, srv.URL, "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("FetchBoot with a wrong password: %v, want 401", err)
	}

	// A boot partition that is no FAT: an error that names no path.
	os.WriteFile(d.Boot, make([]byte, 4096), 0o600)
	var he *HTTPError
	if _, err := FetchBoot(ctx, srv.URL, testPassword); !errors.As(err, &he) || he.Code != http.StatusInternalServerError {
		t.Errorf("no FAT: %v, want HTTP 500", err)
	}
	req, _ := http.NewRequest("GET", srv.URL+BootPath, nil)
	req.SetBasicAuth("gokrazy", testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), filepath.Dir(d.Boot)) {
		t.Errorf("answer %q shows a path", body)
	}

	// A statusd that does not know its disk says so.
	cfg.Disk = nil
	srv2 := httptest.NewServer(NewServer(NewCollector(cfg), Options{EtcDir: tr.etc, Logf: func(string, ...any) {}}))
	defer srv2.Close()
	if _, err := FetchBoot(ctx, srv2.URL, testPassword); !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable {
		t.Errorf("no disk: %v, want HTTP 503", err)
	}
}

// TestFetchBootMalformed refuses answers that are not boot files.
func TestFetchBootMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"short sha256": `{"sha256":"ab","bytes":1,"slot":0}`,
		"slot 7":       `{"sha256":"` + strings.Repeat("a", 64) + `","bytes":1,"slot":7}`,
		"not JSON":     `<html>`,
		"an array":     `[1,2]`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		if b, err := FetchBoot(context.Background(), srv.URL, testPassword); err == nil {
			t.Errorf("%s: %+v, want an error", name, b)
		}
		srv.Close()
	}
}
