package mountinfo

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	b, err := os.ReadFile("testdata/mountinfo-gokrazy.txt")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(mounts), 10; got != want {
		t.Fatalf("parseMountinfo: %d mounts, want %d", got, want)
	}
	for _, tt := range []struct {
		point string
		want  Mount
	}{
		{point: "/perm", want: Mount{ID: 23, ParentID: 15, MajorMinor: "179:4", Root: "/", Point: "/perm", Options: "rw,relatime", FSType: "ext4", Source: "/dev/mmcblk0p4", SuperOptions: "rw"}},
		{point: "/", want: Mount{ID: 15, ParentID: 1, MajorMinor: "179:2", Root: "/", Point: "/", Options: "ro,relatime", FSType: "squashfs", Source: "/dev/root", SuperOptions: "ro,errors=continue"}},
		// two optional fields before the separator
		{point: "/sys/fs/cgroup", want: Mount{ID: 20, ParentID: 19, MajorMinor: "0:22", Root: "/", Point: "/sys/fs/cgroup", Options: "rw,nosuid,nodev,noexec,relatime", FSType: "cgroup2", Source: "cgroup2", SuperOptions: "rw,nsdelegate"}},
		// escaped space
		{point: "/mnt/usb stick", want: Mount{ID: 24, ParentID: 15, MajorMinor: "8:1", Root: "/", Point: "/mnt/usb stick", Options: "rw,noatime", FSType: "vfat", Source: "/dev/sda1", SuperOptions: "rw,fmask=0022,dmask=0022"}},
	} {
		got, ok := Find(mounts, tt.point)
		if !ok {
			t.Errorf("Find(%q): not found", tt.point)
			continue
		}
		if got != tt.want {
			t.Errorf("Find(%q) = %+v, want %+v", tt.point, got, tt.want)
		}
	}
	if m, ok := Find(mounts, "/data"); ok {
		t.Errorf("Find(/data) = %+v, want not found", m)
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for _, in := range []string{
		"23 15 179:4 / /perm rw,relatime ext4 /dev/mmcblk0p4 rw", // no separator
		"23 15 179:4 / /perm rw,relatime - ext4",                 // no source
		"x 15 179:4 / /perm rw - ext4 /dev/sda4 rw",
		"23 y 179:4 / /perm rw - ext4 /dev/sda4 rw",
		"23 15 - ext4 /dev/sda4 rw",
	} {
		if m, err := Parse([]byte("15 1 179:2 / / ro - squashfs /dev/root ro\n" + in + "\n")); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", in, m)
		} else if !strings.Contains(err.Error(), "line 2") {
			t.Errorf("Parse(%q) error %q does not name line 2", in, err)
		}
	}
}

func TestFindMountShadowed(t *testing.T) {
	mounts, err := Parse([]byte(
		"23 15 179:4 / /perm rw - ext4 /dev/mmcblk0p4 rw\n" +
			"30 23 8:4 / /perm rw - ext4 /dev/sda4 rw\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := Find(mounts, "/perm"); m.Source != "/dev/sda4" {
		t.Errorf("Find(/perm) = %s, want the later mount /dev/sda4", m.Source)
	}
}

func TestUnEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`/perm`, `/perm`},
		{`/mnt/a\040b`, `/mnt/a b`},
		{`a\011b\012c\134d`, "a\tb\nc\\d"},
		{`trailing\04`, `trailing\04`},
		{`\999`, `\999`},
		{`\400`, `\400`},
		{`\`, `\`},
	} {
		if got := unescape(tt.in); got != tt.want {
			t.Errorf("unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in == Escape(tt.want) {
			if got := unescape(Escape(tt.want)); got != tt.want {
				t.Errorf("round trip of %q = %q", tt.want, got)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/mountinfo-gokrazy.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1 2 3:4 / /a\\040b rw - x y"))
	f.Add([]byte("1 2 3:4 / /a\\013b\r rw - x y\\015\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mounts, err := Parse(b)
		if err != nil {
			return
		}
		// The table written back as the kernel writes it reads the same.
		var out bytes.Buffer
		for _, m := range mounts {
			if m.FSType == "" || m.FSType == "-" && m.Source == "" {
				t.Errorf("Parse(%q): mount without type: %+v", b, m)
			}
			fmt.Fprintf(&out, "%d %d %s %s %s %s - %s %s %s\n", m.ID, m.ParentID, m.MajorMinor,
				Escape(m.Root), Escape(m.Point), m.Options, m.FSType, Escape(m.Source), m.SuperOptions)
		}
		again, err := Parse(out.Bytes())
		if err != nil || !reflect.DeepEqual(again, mounts) {
			t.Fatalf("round trip of %q:\n%q\n%+v\n%+v, %v", b, out.Bytes(), mounts, again, err)
		}
	})
}
