package fat

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// compactImage hand-builds a small FAT16 with a geometry Writer does not
// use (512-byte clusters, 16 root entries, 1 reserved sector), so that
// fuzzing seeds stay small: the fuzzer minimizes interesting inputs, which
// is slow for the 27 KB that precede the data in Writer's images. The
// result is the used prefix; pad it to total sectors for fsck.
func compactImage() (img []byte, totalSectors int) {
	const (
		rsvd, fatSz, rootEnt = 1, 16, 16
		clusters             = 4090 // FAT16, and within 16 sectors of FAT
		root                 = (rsvd + fatSz) * 512
		data                 = root + rootEnt*32
	)
	totalSectors = rsvd + fatSz + rootEnt*32/512 + clusters
	img = make([]byte, data+6*512)
	b := img[:512]
	copy(b, []byte{0xEB, 0x3C, 0x90})
	copy(b[3:], "gokrazy!")
	le.PutUint16(b[11:], 512)
	b[13] = 1
	le.PutUint16(b[14:], rsvd)
	b[16] = 1
	le.PutUint16(b[17:], rootEnt)
	le.PutUint16(b[19:], uint16(totalSectors))
	b[21] = 0xF8
	le.PutUint16(b[22:], fatSz)
	b[38] = 0x29
	copy(b[43:], "GOKRAZY    FAT16   ")
	b[510], b[511] = 0x55, 0xAA

	fat := img[rsvd*512 : root]
	for i, v := range []uint16{0xFFF8, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 7, 0xFFFF} {
		le.PutUint16(fat[2*i:], v)
	}
	sfn := func(s string) (n [11]byte) { copy(n[:], s); return n }
	clusterAt := func(c int) []byte { return img[data+(c-2)*512 : data+(c-1)*512] }
	r := img[root:data]
	putEntry(r[0:], sfn("GOKRAZY    "), attrVolumeID, 0, 0x5A21, 0, 0, 0)
	putEntry(r[32:], sfn("CMDLINE TXT"), attrArchive, ntLowerBase|ntLowerExt, 0x5A21, 0, 2, 20)
	copy(clusterAt(2), "root=/dev/sda2      ")
	putEntry(r[64:], sfn("loader     "), attrDirectory, 0, 0x5A21, 0, 3, 0)
	putEntry(r[96:], sfn("vmlinuz    "), attrArchive, 0, 0x5A21, 0, 6, 600)
	copy(img[data+(6-2)*512:], bytes.Repeat([]byte("kernel"), 100)) // clusters 6 and 7
	l := clusterAt(3)
	putEntry(l[0:], sfn(".          "), attrDirectory, 0, 0x5A21, 0, 3, 0)
	putEntry(l[32:], sfn("..         "), attrDirectory, 0, 0x5A21, 0, 0, 0)
	putEntry(l[64:], sfn("entries    "), attrDirectory, 0, 0x5A21, 0, 4, 0)
	e := clusterAt(4)
	putEntry(e[0:], sfn(".          "), attrDirectory, 0, 0x5A21, 0, 4, 0)
	putEntry(e[32:], sfn("..         "), attrDirectory, 0, 0x5A21, 0, 3, 0)
	conf := sfn("GOKRAZ~1CON")
	putLFN(e[64:96], "gokrazy.conf", lfnChecksum(conf))
	putEntry(e[96:], conf, attrArchive, 0, 0x5A21, 0, 5, 14)
	copy(clusterAt(5), "title gokrazy\n")
	return img, totalSectors
}

func TestCompactImage(t *testing.T) {
	img, total := compactImage()
	for _, tc := range []struct{ path, want string }{
		{"/cmdline.txt", "root=/dev/sda2      "},
		{"/loader/entries/gokrazy.conf", "title gokrazy\n"},
		{"/vmlinuz", strings.Repeat("kernel", 100)},
	} {
		off, n, err := Find(bytes.NewReader(img), tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(img[off : off+n]); got != tc.want {
			t.Errorf("%s: read %q", tc.path, got)
		}
	}
	fsck(t, writeTemp(t, append(img, make([]byte, total*512-len(img))...)))
}

// FuzzFind feeds Find bytes that claim to be a device's boot partition: it
// must never panic, and what it returns must lie inside the image.
//
// Inputs are kilobytes, so minimizing each new one takes the fuzzer most
// of its default 60 s; run it as
//
//	go test -run '^$' -fuzz '^FuzzFind$' -fuzztime 20s -fuzzminimizetime 1s ./image/fat
func FuzzFind(f *testing.F) {
	img, _ := compactImage()
	for _, p := range []string{"/cmdline.txt", "/vmlinuz", "/loader/entries/gokrazy.conf", "/GOKRAZY"} {
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
