package fat

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// smallImage is the used prefix of a gokrazy-like image: everything up to
// the end of the last file's data, which is all Find reads.
func smallImage(t testing.TB) []byte {
	t.Helper()
	w, img := build(t, Options{Label: "GOKRAZY", ModTime: testTime}, []testFile{
		{"/vmlinuz", content("/vmlinuz", 5000)},
		{"/cmdline.txt", []byte("console=tty1 root=/dev/sda2" + "        ")},
		{"/loader/entries/gokrazy.conf", []byte("title gokrazy\n")},
		{"/overlays/bcm2710-rpi-3-b-plus.dtbo", []byte("dtb")},
	})
	off, n, err := w.Extent("/overlays/bcm2710-rpi-3-b-plus.dtbo")
	if err != nil {
		t.Fatal(err)
	}
	return img[:off+n]
}

// FuzzFind feeds Find bytes that claim to be a device's boot partition: it
// must never panic, and what it returns must lie inside the image.
func FuzzFind(f *testing.F) {
	img := smallImage(f)
	for _, p := range []string{"/cmdline.txt", "/vmlinuz", "/loader/entries/gokrazy.conf", "/overlays/bcm2710-rpi-3-b-plus.dtbo", "/GOKRAZY"} {
		f.Add(img, p)
	}
	f.Fuzz(func(t *testing.T, img []byte, path string) {
		off, n, err := Find(bytes.NewReader(img), path)
		if err != nil {
			return
		}
		if off < 0 || n <= 0 || off+n > int64(len(img)) {
			t.Fatalf("Find(%q) = %d, %d outside a %d-byte image", path, off, n, len(img))
		}
		if off2, n2, err := Find(bytes.NewReader(img), path); off2 != off || n2 != n || err != nil {
			t.Fatalf("second Find(%q) = %d, %d, %v; first %d, %d", path, off2, n2, err, off, n)
		}
	})
}

// FuzzShortNames checks that any two valid names get distinct, valid
// short names and long-name entries that decode back to the name.
func FuzzShortNames(f *testing.F) {
	f.Add("gokrazy.conf", "gokrazy.confx")
	f.Add("loader", "LOADER~1")
	f.Add("Grüße.txt", "grüsse.txt")
	f.Add(".a.b.c", "a b")
	f.Fuzz(func(t *testing.T, a, b string) {
		if checkName(a) != nil || checkName(b) != nil || foldName(a) == foldName(b) {
			return
		}
		d := &node{dir: true, children: []*node{{name: a}, {name: b}}}
		assignShortNames(d)
		x, y := d.children[0], d.children[1]
		if sfnKey(x.sfn) == sfnKey(y.sfn) {
			t.Fatalf("%q and %q share short name %q", a, b, x.sfn[:])
		}
		for _, c := range d.children {
			if c.sfn[0] == ' ' || c.sfn[0] == 0xE5 || c.sfn[0] == 0 {
				t.Fatalf("%q: bad short name %q", c.name, c.sfn[:])
			}
			for _, ch := range c.sfn {
				if ch != ' ' && !sfnChar(ch) && !('a' <= ch && ch <= 'z') {
					t.Fatalf("%q: short name %q has %q", c.name, c.sfn[:], ch)
				}
			}
			if !c.lfn {
				continue
			}
			n := lfnSlots(c.name)
			buf := make([]byte, (n+1)*dirEntrySize)
			putLFN(buf, c.name, lfnChecksum(c.sfn))
			putEntry(buf[n*dirEntrySize:], c.sfn, attrArchive, 0, 0, 0, 0, 0)
			var s lfnState
			for i := 0; i < n; i++ {
				s.add(buf[i*dirEntrySize:])
			}
			if got, ok := s.name(buf[n*dirEntrySize:]); !ok || got != c.name || !utf8.ValidString(got) {
				t.Fatalf("long name %q decoded as %q, %v", c.name, got, ok)
			}
		}
	})
}
