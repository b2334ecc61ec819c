package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// permImage makes a file holding an empty ext4 at offset, as /perm sits in
// a disk image.
func permImage(t *testing.T, offset int64) string {
	t.Helper()
	needTools(t, "mkfs.ext4", "debugfs", "e2fsck")
	img := filepath.Join(t.TempDir(), "disk.img")
	run(t, "truncate", "-s", strconv.FormatInt(offset+32<<20, 10), img)
	run(t, "mkfs.ext4", "-q", "-F", "-E", "offset="+strconv.FormatInt(offset, 10), img, "32768k")
	return img
}

func debugfsRequest(t *testing.T, img string, offset int64, write bool, req string) string {
	t.Helper()
	args := []string{"-R", req, img + "?offset=" + strconv.FormatInt(offset, 10)}
	if write {
		args = append([]string{"-w"}, args...)
	}
	out, err := exec.Command("debugfs", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %s: %v\n%s", req, err, out)
	}
	return string(out)
}

// fsck checks the file system at offset, read-only.
func fsck(t *testing.T, img string, offset int64) {
	t.Helper()
	if out, err := exec.Command("e2fsck", "-fn", img+"?offset="+strconv.FormatInt(offset, 10)).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}

func TestWritePermFile(t *testing.T) {
	const offset = 3 << 20
	img := permImage(t, offset)
	ctx := context.Background()
	data := []byte("{\"site\": {\"name\": \"crane 7\"}}\n")
	if err := writePermFile(ctx, img, offset, "lapsebox/config.json", data); err != nil {
		t.Fatal(err)
	}
	if got := debugfsRequest(t, img, offset, false, "cat /lapsebox/config.json"); !strings.Contains(got, string(data)) {
		t.Errorf("cat = %q", got)
	}
	st := debugfsRequest(t, img, offset, false, "stat /lapsebox/config.json")
	for _, want := range []string{"Type: regular", "Mode:  0600", "User:     0   Group:     0"} {
		if !strings.Contains(st, want) {
			t.Errorf("stat lacks %q:\n%s", want, st)
		}
	}
	if st := debugfsRequest(t, img, offset, false, "stat /lapsebox"); !strings.Contains(st, "Type: directory    Mode:  0755") {
		t.Errorf("stat /lapsebox:\n%s", st)
	}

	// Replacing a file someone else owned, with another mode.
	debugfsRequest(t, img, offset, true, "sif /lapsebox/config.json uid 1000")
	debugfsRequest(t, img, offset, true, "sif /lapsebox/config.json mode 0100644")
	data2 := []byte(`{"site": {"name": "crane 8"}}`)
	if err := writePermFile(ctx, img, offset, "/lapsebox/config.json", data2); err != nil {
		t.Fatal(err)
	}
	if got := debugfsRequest(t, img, offset, false, "cat /lapsebox/config.json"); !strings.Contains(got, string(data2)) || strings.Contains(got, "crane 7") {
		t.Errorf("cat after replacing = %q", got)
	}
	if st := debugfsRequest(t, img, offset, false, "stat /lapsebox/config.json"); !strings.Contains(st, "Mode:  0600") || !strings.Contains(st, "User:     0") {
		t.Errorf("replaced file:\n%s", st)
	}
	fsck(t, img, offset)
}

// TestWritePermFileRefusesSymlinks checks that a symlink on the way is not
// followed (on a device it would point into the root file system or
// elsewhere on /perm).
func TestWritePermFileRefusesSymlinks(t *testing.T) {
	const offset = 1 << 20
	ctx := context.Background()
	for _, tc := range []struct{ setup, want string }{
		{"symlink /lapsebox /etc", "/perm/lapsebox in disk.img is a symlink, not a directory"},
		{"mkdir /lapsebox\nsymlink /lapsebox/config.json /etc/passwd", "/perm/lapsebox/config.json in disk.img is a symlink: not replaced"},
		{"mkdir /lapsebox\nmkdir /lapsebox/config.json", "is a directory: not replaced"},
	} {
		img := permImage(t, offset)
		for _, req := range strings.Split(tc.setup, "\n") {
			debugfsRequest(t, img, offset, true, req)
		}
		err := writePermFile(ctx, img, offset, "lapsebox/config.json", []byte("{}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.setup, err, tc.want)
		}
		fsck(t, img, offset)
	}

	// Not an ext4 at that offset: the read-back fails.
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writePermFile(ctx, img, offset, "lapsebox/config.json", []byte("{}")); err == nil {
		t.Error("writing into a disk image without ext4 succeeded")
	}
}
