package fat

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// findImage is an image with everything gokrazy's device looks up, plus
// a Raspberry Pi overlays directory and a directory larger than the
// device's scan limit.
func findImage(t *testing.T) (*Writer, []byte, []testFile) {
	t.Helper()
	tfs := gokrazyFiles()
	tfs[2].data = []byte("\n") // config.txt
	tfs = append(tfs,
		testFile{"/pieeprom.sig", []byte("0123abcd\nts: 1700000000\n")},
		testFile{"/overlays/foo.dtbo", content("foo", 900)},
		testFile{"/overlays/overlay_map.dtb", content("map", 5000)},
		testFile{"/overlays/vc4-kms-v3d.dtbo", content("v3d", 3000)},
		testFile{"/overlays/vc4-kms-v3d-pi4.dtbo", content("v3d-pi4", 3000)},
		testFile{"/x/empty.txt", nil},
	)
	for i := 0; i < 400; i++ {
		p := "/big/" + strings.Repeat("z", 20) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if i == 100 {
			p = "/big/MID.BIN" // the 5th cluster of the directory, within the device's scan
		}
		tfs = append(tfs, testFile{p, content(p, 10)})
	}
	tfs = append(tfs, testFile{"/big/LAST.BIN", []byte("last")})
	w, img := build(t, Options{Label: "GOKRAZY", ModTime: testTime}, tfs)
	return w, img, tfs
}

func TestFind(t *testing.T) {
	w, img, tfs := findImage(t)
	data := map[string][]byte{}
	for _, f := range tfs {
		data[f.path] = f.data
	}
	for _, tc := range []struct{ path, file string }{
		{"/cmdline.txt", "/cmdline.txt"},
		{"cmdline.txt", "/cmdline.txt"}, // leading slash optional
		{"/CMDLINE.TXT", "/cmdline.txt"},
		{"/config.txt", "/config.txt"},
		{"/vmlinuz", "/vmlinuz"}, // found only because its short name is lower case
		{"/loader/entries/gokrazy.conf", "/loader/entries/gokrazy.conf"},
		{"/EFI/BOOT/BOOTX64.EFI", "/EFI/BOOT/BOOTX64.EFI"},
		{"/pieeprom.sig", "/pieeprom.sig"},
		{"/overlays/foo.dtbo", "/overlays/foo.dtbo"},
		{"/overlays/overlay_map.dtb", "/overlays/overlay_map.dtb"},
		{"/overlays/vc4-kms-v3d.dtbo", "/overlays/vc4-kms-v3d.dtbo"},
		{"/big/MID.BIN", "/big/MID.BIN"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			off, n, err := Find(bytes.NewReader(img), tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := img[off : off+n]; !bytes.Equal(got, data[tc.file]) {
				t.Errorf("Find(%q) = %d, %d: wrong bytes", tc.path, off, n)
			}
			if off%SectorSize != 0 {
				t.Errorf("offset %d not sector aligned", off)
			}
			woff, wn, err := w.Extent(tc.path)
			if err != nil || woff != off || wn != n {
				t.Errorf("Extent(%q) = %d, %d, %v; Find says %d, %d", tc.path, woff, wn, err, off, n)
			}
		})
	}
}

// patch returns a copy of img with f applied.
func patch(img []byte, f func(b []byte)) []byte {
	b := bytes.Clone(img)
	f(b)
	return b
}

// shortEntry returns the offset of the first directory entry (in any
// directory) whose 11 name bytes are sfn.
func shortEntry(t *testing.T, img []byte, sfn string) int {
	t.Helper()
	for off := 0; off+32 <= len(img); off += 32 {
		if string(img[off:off+11]) == sfn && img[off+11] != attrLongName {
			return off
		}
	}
	t.Fatalf("no entry %q", sfn)
	return 0
}

func TestFindErrors(t *testing.T) {
	_, img, _ := findImage(t)
	fatAt := func(c int) int { return reservedSectors*SectorSize + 2*c }
	cluster := func(t *testing.T, sfn string) int {
		return int(le.Uint16(img[shortEntry(t, img, sfn)+26:]))
	}
	for _, tc := range []struct {
		name    string
		mutate  func(t *testing.T, b []byte)
		path    string
		wantErr string
		is      error
	}{
		{"missing file", nil, "/nothere.txt", `"nothere.txt" not found`, fs.ErrNotExist},
		{"missing directory", nil, "/nope/cmdline.txt", `"nope" not found`, fs.ErrNotExist},
		{"directory", nil, "/loader", "is a directory", nil},
		{"through a file", nil, "/cmdline.txt/x", "not a directory", nil},
		{"empty file", nil, "/x/empty.txt", "empty file", nil},
		{"root", nil, "/", "root directory", nil},
		{"dot dot", nil, "/loader/../cmdline.txt", `".." not supported`, nil},
		// The device derives "VC4-KM~1.DTB" for every vc4-kms-* overlay.
		{"alias of another file", nil, "/overlays/vc4-kms-v3d-pi4.dtbo", `would take "vc4-kms-v3d.dtbo"`, nil},
		// gokrazy's reader scans only RootEntCnt (512) entries per directory.
		{"beyond the device's scan", nil, "/big/LAST.BIN", "not found", fs.ErrNotExist},
		{"upper-case LOADER as mtools writes it", func(t *testing.T, b []byte) {
			copy(b[shortEntry(t, b, "loader     "):], "LOADER     ")
		}, "/loader/entries/gokrazy.conf", `"loader" not found`, fs.ErrNotExist},
		{"upper-case VMLINUZ", func(t *testing.T, b []byte) {
			copy(b[shortEntry(t, b, "vmlinuz    "):], "VMLINUZ    ")
		}, "/vmlinuz", `"vmlinuz" not found`, fs.ErrNotExist},
		{"fragmented file", func(t *testing.T, b []byte) {
			c := cluster(t, "vmlinuz    ")
			le.PutUint16(b[fatAt(c+10):], 9000) // 9000 is free; make it the tail
			le.PutUint16(b[fatAt(9000):], 0xFFFF)
		}, "/vmlinuz", "not contiguous", ErrNotContiguous},
		{"chain longer than the file", func(t *testing.T, b []byte) {
			c := cluster(t, "CMDLINE TXT")
			le.PutUint16(b[fatAt(c):], 9000)
			le.PutUint16(b[fatAt(9000):], 0xFFFF)
		}, "/cmdline.txt", "continues past the file size", nil},
		{"fragmented directory", func(t *testing.T, b []byte) {
			c := cluster(t, "big        ")
			le.PutUint16(b[fatAt(c):], 9000)
		}, "/big/MID.BIN", "fragmented", nil},
		// The device's name for it, "ZZZZZZ~1." (trailing dot), matches nothing.
		{"extension-less long name", nil, "/big/" + strings.Repeat("z", 21) + "a", "not found", fs.ErrNotExist},
		{"two FATs", func(t *testing.T, b []byte) { b[16] = 2 }, "/cmdline.txt", "2 FATs", nil},
		{"FAT32-like BPB", func(t *testing.T, b []byte) { le.PutUint16(b[17:], 0); le.PutUint16(b[22:], 0) }, "/cmdline.txt", "FAT16 only", nil},
		{"FAT12 cluster count", func(t *testing.T, b []byte) { le.PutUint16(b[19:], 8000) }, "/cmdline.txt", "not FAT16", nil},
		{"sector size 0", func(t *testing.T, b []byte) { le.PutUint16(b[11:], 0) }, "/cmdline.txt", "sector size", nil},
		// The label entry "GOKRAZY" matches through the device's fallback.
		{"volume label", nil, "/GOKRAZY", "volume label", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := img
			if tc.mutate != nil {
				b = patch(img, func(b []byte) { tc.mutate(t, b) })
			}
			_, _, err := Find(bytes.NewReader(b), tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Find(%q) error %v, want one containing %q", tc.path, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the path", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}

	t.Run("truncated image", func(t *testing.T) {
		off, n, err := Find(bytes.NewReader(img), "/overlays/foo.dtbo")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = Find(bytes.NewReader(img[:off+n-1]), "/overlays/foo.dtbo")
		if err == nil || !strings.Contains(err.Error(), "beyond the end") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestFindMtoolsImage reproduces docs/image.md §2.3 (items 1 and 3) with
// file systems made by mkfs.vfat and mtools: cmdline.txt is found, but the
// upper-case LOADER directory hides the systemd-boot entry from gokrazy's
// reader, and a second FAT hides everything.
func TestFindMtoolsImage(t *testing.T) {
	testtool.Programs(t, "mkfs.vfat", "mmd", "mcopy")
	dir := t.TempDir()
	for _, tc := range []struct {
		name, fats, path, wantErr string
	}{
		{"cmdline.txt", "1", "/cmdline.txt", ""},
		{"upper-case LOADER", "1", "/loader/entries/gokrazy.conf", `"loader" not found`},
		{"two FATs", "2", "/cmdline.txt", "2 FATs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(dir, tc.fats+".img")
			if _, err := os.Stat(img); err != nil {
				out, err := command(t, "mkfs.vfat", "-C", "-F", "16", "-f", tc.fats, "-s", "4", "-r", "512", "-n", "GOKRAZY", img, "20480").CombinedOutput()
				if err != nil {
					t.Fatalf("mkfs.vfat: %v\n%s", err, out)
				}
				for _, f := range []string{"cmdline.txt", "gokrazy.conf"} {
					if err := os.WriteFile(filepath.Join(dir, f), []byte("root=/dev/sda2"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				mtools(t, "mmd", "-i", img, "::/loader", "::/loader/entries")
				mtools(t, "mcopy", "-i", img, filepath.Join(dir, "cmdline.txt"), "::/cmdline.txt")
				mtools(t, "mcopy", "-i", img, filepath.Join(dir, "gokrazy.conf"), "::/loader/entries/gokrazy.conf")
			}
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			off, n, err := Find(bytes.NewReader(b), tc.path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := string(b[off : off+n]); got != "root=/dev/sda2" {
					t.Errorf("read %q", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestSize reads a file system's length from its boot sector, in a
// partition larger than it, and refuses what is not a FAT16 boot sector.
func TestSize(t *testing.T) {
	_, img, _ := findImage(t)
	part := append(bytes.Clone(img), make([]byte, 1<<20)...)
	if n, err := Size(bytes.NewReader(part)); err != nil || n != int64(len(img)) {
		t.Errorf("Size of the image in a larger partition: %d, %v; want %d", n, err, len(img))
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		wantErr string
	}{
		{"cut boot sector", img[:30], "reading boot sector"},
		{"zeros", make([]byte, 4096), "unsupported sector size 0"},
		{"two FATs", func() []byte { b := bytes.Clone(img[:4096]); b[16] = 2; return b }(), "2 FATs"},
	} {
		if n, err := Size(bytes.NewReader(tc.b)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %d, %v; want an error with %q", tc.name, n, err, tc.wantErr)
		}
	}
}

// TestSlack finds the rest of a file's last cluster, zeros as written.
func TestSlack(t *testing.T) {
	_, img, _ := findImage(t)
	off, length, err := Find(bytes.NewReader(img), "/cmdline.txt")
	if err != nil {
		t.Fatal(err)
	}
	soff, n, err := Slack(bytes.NewReader(img), "/cmdline.txt")
	if err != nil || soff != off+length || (length+n)%(sectorsPerCluster*SectorSize) != 0 || n >= sectorsPerCluster*SectorSize {
		t.Fatalf("Slack = %d, %d, %v; want from the end of the file at %d to its cluster's end", soff, n, err, off+length)
	}
	if n > 0 && !bytes.Equal(img[soff:soff+n], make([]byte, n)) {
		t.Error("the slack is not zeros")
	}
	if _, _, err := Slack(bytes.NewReader(img), "/nothere.txt"); err == nil {
		t.Error("a missing file: no error")
	}
}
