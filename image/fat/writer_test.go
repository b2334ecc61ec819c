package fat

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// imageCases are the images checked against fsck.vfat, mtools and Find.
func imageCases(t *testing.T) []struct {
	name  string
	opts  Options
	files []testFile
} {
	many := []testFile{{"/many/", nil}}
	for i := 0; i < 400; i++ {
		p := fmt.Sprintf("/many/overlay-number-%03d.dtbo", i)
		if i%50 == 0 {
			p = fmt.Sprintf("/many/F%03d.BIN", i) // plain 8.3 names in between
		}
		many = append(many, testFile{p, content(p, i*37%5000)})
	}
	var names []testFile
	for _, n := range []string{
		"Grüße.txt", "日本語のファイル名.txt", "MixedCase.Txt", "Foo.txt", "FOO~1.TXT",
		"UPPER.TXT", "lower.txt", "noext", "NOEXT2", "Mixed", ".hidden", "a.b.c.d",
		"with space.txt", "plus+sign.txt", "abcdefghijklm", "abcdefghijklmnopqrstuvwxyz",
		"x.TXT", "X2.txt", "ab.c", "emoji-😀.bin", strings.Repeat("n", 251) + ".txt",
	} {
		names = append(names, testFile{"/names/" + n, content(n, len(n)*11)})
	}
	for i := 0; i < 30; i++ { // exhaust ~1..~4 and force hashed tails
		p := fmt.Sprintf("/names/collide-prefix-%d.dtbo", i)
		names = append(names, testFile{p, content(p, 100)})
	}
	return []struct {
		name  string
		opts  Options
		files []testFile
	}{
		{"gokrazy amd64", Options{Label: "GOKRAZY", VolumeID: 0x2e18c40c, ModTime: testTime}, gokrazyFiles()},
		{"raspberry pi", Options{Label: "GOKRAZY", VolumeID: 1, ModTime: testTime}, rpiFiles(t, 16<<10)},
		{"400 files in one directory", Options{ModTime: testTime}, many},
		{"nested and empty", Options{Label: "NESTED", ModTime: testTime}, []testFile{
			{"/a/b/c/d/e/f/deep file.txt", []byte("deep")},
			{"/empty/", nil},
			{"/x/y/z/", nil},
			{"/x/empty.txt", nil},
			{"/x/y/one-cluster", content("one", ClusterSize)},
			{"/x/y/cluster-and-a-byte", content("two", ClusterSize+1)},
		}},
		{"long and odd names", Options{Label: "NAMES", ModTime: testTime}, names},
		{"padded to 64 MiB", Options{Label: "GOKRAZY", ModTime: testTime, MinBytes: 64 << 20}, gokrazyFiles()},
	}
}

// TestImagesAgainstTools checks generated images with fsck.vfat and reads
// every file back with mtools.
func TestImagesAgainstTools(t *testing.T) {
	testtool.Programs(t, "fsck.vfat", "mcopy", "mtype", "mdir")
	for _, tc := range imageCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, img := build(t, tc.opts, tc.files)
			path := writeTemp(t, img)
			fsck(t, path)

			// Copy the whole tree out and compare names and bytes.
			out := filepath.Join(t.TempDir(), "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			mtools(t, "mcopy", "-s", "-n", "-i", path, "::/*", out+"/")
			want := map[string][]byte{}
			for _, f := range tc.files {
				if !strings.HasSuffix(f.path, "/") {
					want[mtoolsName(f.path)] = f.data
				}
			}
			got := map[string][]byte{}
			err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				got["/"+filepath.ToSlash(strings.TrimPrefix(p, out+"/"))] = b
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for p, w := range want {
				g, ok := got[p]
				switch {
				case !ok:
					t.Errorf("mcopy did not extract %q", p)
				case !bytes.Equal(g, w):
					t.Errorf("%q: mcopy read %d bytes that differ from the %d written", p, len(g), len(w))
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("mcopy extracted unexpected %q", p)
				}
			}
			for _, f := range tc.files {
				if strings.HasSuffix(f.path, "/") {
					if _, err := os.Stat(filepath.Join(out, f.path)); err != nil {
						t.Errorf("directory %q missing: %v", f.path, err)
					}
				}
			}

			// mtype by path, for a sample, and mdir of a directory.
			for i, f := range tc.files {
				if strings.HasSuffix(f.path, "/") || (i%25 != 0 && i != len(tc.files)-1) {
					continue
				}
				if got := mtools(t, "mtype", "-i", path, "::"+f.path); !bytes.Equal(got, f.data) {
					t.Errorf("mtype %q: got %d bytes, want %d", f.path, len(got), len(f.data))
				}
			}
			// mdir -b lists a directory with full long names.
			dir := filepath.Dir(tc.files[len(tc.files)-1].path)
			wantList := map[string]bool{}
			for _, f := range tc.files {
				if p := strings.TrimSuffix(f.path, "/"); filepath.Dir(p) == dir {
					wantList["::"+mtoolsName(p)] = true
				}
			}
			gotList := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(string(mtools(t, "mdir", "-b", "-i", path, "::"+dir))), "\n") {
				gotList[strings.TrimSuffix(l, "/")] = true
			}
			if fmt.Sprint(gotList) != fmt.Sprint(wantList) {
				t.Errorf("mdir -b %s lists\n%v\nwant\n%v", dir, gotList, wantList)
			}
		})
	}
}

// mtoolsName is how mtools 4.0.32 renders a name: it does not decode
// UTF-16 surrogate pairs, so characters beyond the BMP come out as "__"
// (Linux vfat and Windows decode them).
func mtoolsName(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r > 0xFFFF {
			b.WriteString("__")
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestRealSizeRaspberryPi builds a full-size Raspberry Pi boot partition
// (a 46 MB vmlinuz, ~400 files) and checks it with fsck.vfat and Find.
func TestRealSizeRaspberryPi(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 75 MiB image")
	}
	testtool.Programs(t, "fsck.vfat", "mtype")
	tfs := rpiFiles(t, 0)
	w, img := build(t, Options{Label: "GOKRAZY", ModTime: testTime, MinBytes: 100 << 20}, tfs)
	path := writeTemp(t, img)
	fsck(t, path)
	// overlay_map.dtb comes after 356 overlays, beyond the 512 entries
	// gokrazy's reader scans per directory (it never looks there).
	if _, _, err := Find(bytes.NewReader(img), "/overlays/overlay_map.dtb"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Find beyond the device's scan: %v", err)
	}
	for _, p := range []string{"/vmlinuz", "/cmdline.txt", "/config.txt", "/loader/entries/gokrazy.conf", "/bcm2710-rpi-2-b.dtb", "/overlays/act-led.dtbo"} {
		off, n, err := Find(bytes.NewReader(img), p)
		if err != nil {
			t.Fatal(err)
		}
		woff, wn, err := w.Extent(p)
		if err != nil || woff != off || wn != n {
			t.Errorf("Extent(%q) = %d, %d, %v; Find says %d, %d", p, woff, wn, err, off, n)
		}
	}
	if got := mtools(t, "mtype", "-i", path, "::/vmlinuz"); !bytes.Equal(got, tfs[0].data) {
		t.Errorf("mtype /vmlinuz differs")
	}
	t.Logf("image %s", fmtSize(int64(len(img))))
}

func TestDeterministic(t *testing.T) {
	opts := Options{Label: "GOKRAZY", VolumeID: 7, ModTime: testTime}
	_, a := build(t, opts, rpiFiles(t, 4<<10))
	_, b := build(t, opts, rpiFiles(t, 4<<10))
	if !bytes.Equal(a, b) {
		t.Fatal("same input gave different images")
	}
	// Local time zones must not leak into the image.
	opts.ModTime = testTime.In(fixedZone)
	_, c := build(t, opts, rpiFiles(t, 4<<10))
	if !bytes.Equal(a, c) {
		t.Fatal("ModTime's location changed the image")
	}
}

// TestLayout checks the boot sector fields and the contiguity rules
// directly, independent of outside tools.
func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		name         string
		opts         Options
		files        []testFile
		wantSectors  int64
		wantClusters int
	}{
		{"minimum", Options{ModTime: testTime}, files(10, "/cmdline.txt"), 4 + 17 + 32 + 4101*4, 4101},
		{"exact MinBytes", Options{ModTime: testTime, MinBytes: 20 << 20}, files(10, "/cmdline.txt"), 40960, (40960 - 4 - 40 - 32) / 4},
		{"MinBytes rounded up to a sector", Options{ModTime: testTime, MinBytes: 20<<20 + 1}, files(10, "/cmdline.txt"), 40961, (40961 - 4 - 40 - 32) / 4},
		{"FAT16 maximum", Options{ModTime: testTime, MinBytes: (4 + 256 + 32 + 65508*4 + 3) * 512}, files(10, "/cmdline.txt"), 4 + 256 + 32 + 65508*4 + 3, 65508},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, img := build(t, tc.opts, tc.files)
			bs := img[:512]
			if got := string(bs[3:11]); got != "gokrazy!" {
				t.Errorf("OEM %q", got)
			}
			if bs[510] != 0x55 || bs[511] != 0xAA {
				t.Error("no boot signature")
			}
			if bs[16] != 1 || le.Uint16(bs[14:]) != 4 || bs[13] != 4 || le.Uint16(bs[11:]) != 512 || bs[21] != 0xF8 {
				t.Errorf("BPB % x", bs[11:36])
			}
			total := int64(le.Uint16(bs[19:]))
			if total == 0 {
				total = int64(le.Uint32(bs[32:]))
			} else if le.Uint32(bs[32:]) != 0 {
				t.Error("both TotSec16 and TotSec32 set")
			}
			if total != tc.wantSectors || int64(len(img)) != total*512 {
				t.Errorf("total sectors %d (image %d bytes), want %d", total, len(img), tc.wantSectors)
			}
			v, err := openVolume(bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			if v.clusters != tc.wantClusters {
				t.Errorf("%d clusters, want %d", v.clusters, tc.wantClusters)
			}
		})
	}
}

var fixedZone = time.FixedZone("IST", 5*3600+1800)

func TestAddErrors(t *testing.T) {
	huge := make([]byte, 130<<20) // never touched, so never paged in
	for _, tc := range []struct {
		name    string
		setup   []string // files to add first
		mkdir   bool
		path    string
		data    []byte
		wantErr string
		is      error
	}{
		{"duplicate file", []string{"/cmdline.txt"}, false, "/cmdline.txt", nil, "duplicate file", fs.ErrExist},
		{"duplicate ignoring case", []string{"/cmdline.txt"}, false, "/CMDLINE.TXT", nil, "FAT names ignore case", fs.ErrExist},
		{"file under a file", []string{"/vmlinuz"}, false, "/vmlinuz/x", nil, `"/vmlinuz" is a file`, nil},
		{"directory over a file", []string{"/vmlinuz"}, true, "/vmlinuz", nil, "a file of that name exists", fs.ErrExist},
		{"file over a directory", []string{"/loader/entries/gokrazy.conf"}, false, "/loader/entries", nil, "a directory of that name exists", fs.ErrExist},
		{"name too long", nil, false, "/d/" + strings.Repeat("x", 256), nil, "name too long", errNameTooLong},
		{"bad character", nil, false, "/a:b", nil, "does not allow", nil},
		{"trailing dot", nil, false, "/a.", nil, "ends in a dot", nil},
		{"empty component", nil, false, "/a//b", nil, "empty path component", nil},
		{"root", nil, false, "/", nil, "ends in a slash", nil},
		{"file with trailing slash", nil, false, "/cmdline.txt/", nil, "ends in a slash", nil},
		{"dot", nil, true, "/a/./b", nil, "invalid name", nil},
		{"too big for FAT16", []string{"/vmlinuz"}, false, "/big.bin", huge, "more than FAT16's", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(Options{})
			for _, p := range tc.setup {
				if err := w.AddFile(p, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if tc.mkdir {
				err = w.Mkdir(tc.path)
			} else {
				err = w.AddFile(tc.path, tc.data)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the path %q", err, tc.path)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			// A failed add leaves the Writer usable and unchanged.
			if err := w.Layout(); err != nil {
				t.Fatal(err)
			}
			if w.clusters != len(tc.setup)+countDirs(tc.setup) {
				t.Errorf("clusters accounted %d after failed add", w.clusters)
			}
		})
	}
}

func countDirs(paths []string) int {
	dirs := map[string]bool{}
	for _, p := range paths {
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	return len(dirs)
}

func TestLayoutErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"lower-case label", Options{Label: "gokrazy"}, "label"},
		{"long label", Options{Label: "GOKRAZY-BOOT-1"}, "longer than 11"},
		{"MinBytes beyond FAT16", Options{MinBytes: 129 << 20}, "exceeds FAT16"},
		{"negative MinBytes", Options{MinBytes: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(tc.opts)
			if err := w.AddFile("/cmdline.txt", []byte("x")); err != nil {
				t.Fatal(err)
			}
			_, err := w.WriteTo(&sliceWriter{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestFillsFAT16(t *testing.T) {
	// The largest content that fits: files until the next would not.
	w := NewWriter(Options{ModTime: testTime})
	chunk := make([]byte, 8<<20)
	var err error
	for i := 0; err == nil; i++ {
		err = w.AddFile(fmt.Sprintf("/f%02d.bin", i), chunk)
	}
	if !strings.Contains(err.Error(), "more than FAT16's") {
		t.Fatal(err)
	}
	size, err := w.Size()
	if err != nil {
		t.Fatal(err)
	}
	if size < 120<<20 || size > 128<<20 {
		t.Errorf("full image is %s", fmtSize(size))
	}
}
