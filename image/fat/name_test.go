package fat

import (
	"fmt"
	"strings"
	"testing"
)

func TestShortNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		sfn  string
		nt   byte
		lfn  bool
	}{
		// What gokrazy's device must find.
		{"loader", "loader     ", 0, false}, // literally lower case, see exactShort
		{"entries", "entries    ", 0, false},
		{"vmlinuz", "vmlinuz    ", 0, false},
		{"cmdline.txt", "CMDLINE TXT", ntLowerBase | ntLowerExt, false},
		{"config.txt", "CONFIG  TXT", ntLowerBase | ntLowerExt, false},
		{"gokrazy.conf", "GOKRAZ~1CON", 0, true},
		{"pieeprom.sig", "PIEEPROMSIG", ntLowerBase | ntLowerExt, false},
		{"RECOVERY.000", "RECOVERY000", 0, false},
		// Other shapes.
		{"BOOTX64.EFI", "BOOTX64 EFI", 0, false},
		{"EFI", "EFI        ", 0, false},
		{"x.TXT", "X       TXT", ntLowerBase, false},
		{"bcm2710-rpi-3-b-plus.dtb", "BCM271~1DTB", 0, true},
		{"overlay_map.dtb", "OVERLA~1DTB", 0, true},
		{"Foo.txt", "FOO     TXT", 0, true}, // mixed case: long name, lossless alias
		{"Mixed", "MIXED      ", 0, true},
		{".hidden", "HIDDEN~1   ", 0, true},
		{"a.b.c", "AB~1    C  ", 0, true},
		{"a+b.txt", "A_B~1   TXT", 0, true},
		{"with space", "WITHSP~1   ", 0, true},
		{"Grüße.txt", "GR__E~1 TXT", 0, true},
		{"12345678.1234", "123456~1123", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &node{dir: true}
			d.children = []*node{{name: tc.name}}
			assignShortNames(d)
			c := d.children[0]
			if string(c.sfn[:]) != tc.sfn || c.nt != tc.nt || c.lfn != tc.lfn {
				t.Errorf("%q: short name %q nt %#x lfn %v, want %q %#x %v", tc.name, c.sfn[:], c.nt, c.lfn, tc.sfn, tc.nt, tc.lfn)
			}
			if want := 0; !tc.lfn && lfnSlots(tc.name) != want {
				t.Errorf("lfnSlots = %d for an exact short name", lfnSlots(tc.name))
			}
		})
	}
}

func TestShortNameCollisions(t *testing.T) {
	d := &node{dir: true}
	// A literal name that looks like an alias, added last, still keeps
	// its name; the generated aliases go around it.
	for _, n := range []string{"collide-a.dtbo", "collide-b.dtbo", "collide-c.dtbo", "collide-d.dtbo", "collide-e.dtbo", "collide-f.dtbo", "COLLID~2.DTB", "loader~1", "Loader~1.x"} {
		d.children = append(d.children, &node{name: n})
	}
	assignShortNames(d)
	var got []string
	seen := map[[11]byte]bool{}
	for _, c := range d.children {
		got = append(got, string(c.sfn[:]))
		if seen[sfnKey(c.sfn)] {
			t.Errorf("duplicate short name %q", c.sfn[:])
		}
		seen[sfnKey(c.sfn)] = true
	}
	want := []string{"COLLID~1DTB", "COLLID~3DTB", "COLLID~4DTB", "CO08F9~1DTB", "CO25C4~1DTB", "CO4A0F~1DTB", "COLLID~2DTB", "loader~1   ", "LOADER~1X  "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestDeviceName(t *testing.T) {
	// The names gokrazy's reader derives and compares, trailing dot and all.
	for _, tc := range []struct{ component, want string }{
		{"cmdline.txt", "CMDLINE.TXT"},
		{"config.txt", "CONFIG.TXT"},
		{"vmlinuz", "VMLINUZ."},
		{"loader", "LOADER."},
		{"gokrazy.conf", "GOKRAZ~1.CON"},
		{"foo.dtbo", "FOO~1.DTB"},
		{"bcm2710-rpi-3-b-plus.dtb", "BCM271~1.DTB"},
		{"a.b.txt", "A.B.TXT"},
		{".config", "CONFIG."},
		{"with space.txt", "WITHSP~1.TXT"},
	} {
		if got := deviceName(tc.component); got != tc.want {
			t.Errorf("deviceName(%q) = %q, want %q", tc.component, got, tc.want)
		}
	}
}

func TestLFNRoundTrip(t *testing.T) {
	for _, name := range []string{"a", "abcdefghijklm", "abcdefghijklmn", "Grüße.txt", "emoji-😀.bin", strings.Repeat("x", 255)} {
		sfn := packShort("TEST~1", "BIN")
		n := (utf16Len(name) + lfnChars - 1) / lfnChars
		b := make([]byte, (n+1)*dirEntrySize)
		putLFN(b, name, lfnChecksum(sfn))
		putEntry(b[n*dirEntrySize:], sfn, attrArchive, 0, 0, 0, 0, 0)
		var s lfnState
		for i := 0; i < n; i++ {
			s.add(b[i*dirEntrySize:])
		}
		got, ok := s.name(b[n*dirEntrySize:])
		if !ok || got != name {
			t.Errorf("round trip of %q gave %q, %v", name, got, ok)
		}
	}
}
