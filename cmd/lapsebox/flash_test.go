package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/flash"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// fakeImage makes a sparse disk image with lapsebox's layout: a marker
// where the partition table goes, an empty ext4 as /perm, and a manifest;
// enough for flash, which does not look inside the other partitions.
func fakeImage(t *testing.T) (string, *image.Manifest, int64) {
	t.Helper()
	if testing.Short() {
		t.Skip("makes ext4 file systems; skipped with -short")
	}
	testtool.Programs(t, "mkfs.ext4", "debugfs")
	m := &image.Manifest{Board: "pc", GOARCH: "amd64", Hostname: "lapsebox", DiskSizeBytes: disk.MinSizeBytes}
	parts, err := disk.Layout{SizeBytes: m.DiskSizeBytes, Hostname: m.Hostname, GOARCH: m.GOARCH}.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	perm := parts[3]
	img := filepath.Join(t.TempDir(), "lapsebox-pc.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(m.DiskSizeBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("partition table stand-in"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "perm", "-E", "offset="+strconv.FormatInt(perm.Offset(), 10),
		img, strconv.FormatInt(perm.Bytes()/1024, 10)+"k").CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(img+".json", b, 0o644); err != nil {
		t.Fatal(err)
	}
	return img, m, perm.Offset()
}

func debugfsCat(t *testing.T, img string, offset int64, name string) (string, string) {
	t.Helper()
	target := img + "?offset=" + strconv.FormatInt(offset, 10)
	cat, err := exec.Command("debugfs", "-R", "cat "+name, target).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", name, err)
	}
	st, err := exec.Command("debugfs", "-R", "stat "+name, target).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs stat %s: %v", name, err)
	}
	return string(cat), string(st)
}

// TestFlashSite flashes to a regular file standing in for a card: the card
// gets the site configuration on /perm, the image file stays as it was.
func TestFlashSite(t *testing.T) {
	img, _, permOff := fakeImage(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the copy goes
	before, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(t.TempDir(), "site.json")
	example, err := os.ReadFile("../../appliance/config/testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(site, example, 0o600); err != nil {
		t.Fatal(err)
	}
	card := filepath.Join(t.TempDir(), "card")
	if err := os.WriteFile(card, bytes.Repeat([]byte{0xaa}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := flash.Options{AllowFile: true, Verify: true}
	if err := flashImage(context.Background(), img, card, site, opts); err != nil {
		t.Fatal(err)
	}

	got, st := debugfsCat(t, card, permOff, "/lapsebox/config.json")
	if got != string(example) {
		t.Errorf("the card's /perm/lapsebox/config.json:\n%s", got)
	}
	if !strings.Contains(st, "Mode:  0600") || !strings.Contains(st, "User:     0   Group:     0") {
		t.Errorf("the card's config.json:\n%s", st)
	}
	head := make([]byte, 24)
	if f, err := os.Open(card); err == nil {
		f.ReadAt(head, 0)
		f.Close()
	}
	if string(head) != "partition table stand-in" {
		t.Errorf("the card starts with %q: the image was not written", head)
	}

	after, err := os.Stat(img)
	if err != nil || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("the image file changed: %v → %v (%v)", before.ModTime(), after.ModTime(), err)
	}
	if _, st := debugfsCat(t, img, permOff, "/lapsebox/config.json"); !strings.Contains(st, "File not found") {
		t.Errorf("the image's own /perm has a config.json:\n%s", st)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestFlashSiteRefused checks that a configuration the device would refuse
// never reaches the card, and that the error says where it is wrong.
func TestFlashSiteRefused(t *testing.T) {
	img, _, _ := fakeImage(t)
	site := filepath.Join(t.TempDir(), "site.json")
	bad := "{\n \"site\": {\"name\": \"s\", \"time_zone\": \"UTC\"},\n \"targets\": [{\"name\": \"w\", \"kind\": \"livecam\", \"url\": \"https://x.example/\",\n   \"process\": {\"Outputs\": [{\"name\": \"w\", \"width\": 640}]}}]\n}"
	if err := os.WriteFile(site, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	card := filepath.Join(t.TempDir(), "card")
	if err := os.WriteFile(card, []byte("old card"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := flashImage(context.Background(), img, card, site, flash.Options{AllowFile: true})
	if err == nil || !strings.Contains(err.Error(), site+`: line 4: targets[0].process: "Outputs": use "outputs"`) {
		t.Errorf("flash -site with an old spelling: %v", err)
	}
	if b, _ := os.ReadFile(card); string(b) != "old card" {
		t.Error("the card was written")
	}
	// An image without its manifest: /perm cannot be found.
	os.WriteFile(site, []byte(`{"site": {"name": "s", "time_zone": "UTC"}}`), 0o600)
	os.Remove(img + ".json")
	if err := flashImage(context.Background(), img, card, site, flash.Options{AllowFile: true}); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Errorf("flash -site without a manifest: %v", err)
	}
}
