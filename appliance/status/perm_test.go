package status

import (
	"os"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	b, err := os.ReadFile("testdata/mountinfo-gokrazy.txt")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := parseMountinfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(mounts), 10; got != want {
		t.Fatalf("parseMountinfo: %d mounts, want %d", got, want)
	}
	for _, tt := range []struct {
		point string
		want  mount
	}{
		{point: "/perm", want: mount{ID: 23, ParentID: 15, MajorMinor: "179:4", Root: "/", Point: "/perm", Options: "rw,relatime", FSType: "ext4", Source: "/dev/mmcblk0p4", SuperOptions: "rw"}},
		{point: "/", want: mount{ID: 15, ParentID: 1, MajorMinor: "179:2", Root: "/", Point: "/", Options: "ro,relatime", FSType: "squashfs", Source: "/dev/root", SuperOptions: "ro,errors=continue"}},
		// two optional fields before the separator
		{point: "/sys/fs/cgroup", want: mount{ID: 20, ParentID: 19, MajorMinor: "0:22", Root: "/", Point: "/sys/fs/cgroup", Options: "rw,nosuid,nodev,noexec,relatime", FSType: "cgroup2", Source: "cgroup2", SuperOptions: "rw,nsdelegate"}},
		// escaped space
		{point: "/mnt/usb stick", want: mount{ID: 24, ParentID: 15, MajorMinor: "8:1", Root: "/", Point: "/mnt/usb stick", Options: "rw,noatime", FSType: "vfat", Source: "/dev/sda1", SuperOptions: "rw,fmask=0022,dmask=0022"}},
	} {
		got, ok := findMount(mounts, tt.point)
		if !ok {
			t.Errorf("findMount(%q): not found", tt.point)
			continue
		}
		if got != tt.want {
			t.Errorf("findMount(%q) = %+v, want %+v", tt.point, got, tt.want)
		}
	}
	if m, ok := findMount(mounts, "/data"); ok {
		t.Errorf("findMount(/data) = %+v, want not found", m)
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
		if m, err := parseMountinfo([]byte("15 1 179:2 / / ro - squashfs /dev/root ro\n" + in + "\n")); err == nil {
			t.Errorf("parseMountinfo(%q) = %+v, want error", in, m)
		} else if !strings.Contains(err.Error(), "line 2") {
			t.Errorf("parseMountinfo(%q) error %q does not name line 2", in, err)
		}
	}
}

func TestFindMountShadowed(t *testing.T) {
	mounts, err := parseMountinfo([]byte(
		"23 15 179:4 / /perm rw - ext4 /dev/mmcblk0p4 rw\n" +
			"30 23 8:4 / /perm rw - ext4 /dev/sda4 rw\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := findMount(mounts, "/perm"); m.Source != "/dev/sda4" {
		t.Errorf("findMount(/perm) = %s, want the later mount /dev/sda4", m.Source)
	}
}

func TestUnescapeMountField(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`/perm`, `/perm`},
		{`/mnt/a\040b`, `/mnt/a b`},
		{`a\011b\012c\134d`, "a\tb\nc\\d"},
		{`trailing\04`, `trailing\04`},
		{`\999`, `\999`},
		{`\400`, `\400`},
		{`\`, `\`},
	} {
		if got := unescapeMountField(tt.in); got != tt.want {
			t.Errorf("unescapeMountField(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in == escapeMountField(tt.want) {
			if got := unescapeMountField(escapeMountField(tt.want)); got != tt.want {
				t.Errorf("round trip of %q = %q", tt.want, got)
			}
		}
	}
}

func TestReadPerm(t *testing.T) {
	for _, tt := range []struct {
		name        string
		setup       func(t *testing.T, tr *tree)
		wantMounted bool
		wantErr     string
	}{
		{
			name:        "mounted",
			setup:       func(t *testing.T, tr *tree) {},
			wantMounted: true,
		},
		{
			name:  "not mounted",
			setup: func(t *testing.T, tr *tree) { tr.mountPerm(t, false) },
		},
		{
			name: "no mount table",
			setup: func(t *testing.T, tr *tree) {
				if err := os.Remove(tr.proc + "/self/mountinfo"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "reading mount table",
		},
		{
			name:    "bad mount table",
			setup:   func(t *testing.T, tr *tree) { tr.write(t, "proc/self/mountinfo", "nonsense\n") },
			wantErr: "mountinfo: line 1",
		},
		{
			name: "mounted but gone",
			setup: func(t *testing.T, tr *tree) {
				if err := os.Remove(tr.perm); err != nil {
					t.Fatal(err)
				}
			},
			wantMounted: true,
			wantErr:     "statfs",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			tt.setup(t, tr)
			p := readPerm(tr.proc, tr.perm)
			if p.Path != tr.perm {
				t.Errorf("Path = %q, want %q", p.Path, tr.perm)
			}
			if p.Mounted != tt.wantMounted {
				t.Errorf("Mounted = %v, want %v", p.Mounted, tt.wantMounted)
			}
			if tt.wantErr == "" && p.Error != "" {
				t.Errorf("Error = %q, want none", p.Error)
			}
			if tt.wantErr != "" && !strings.Contains(p.Error, tt.wantErr) {
				t.Errorf("Error = %q, want it to contain %q", p.Error, tt.wantErr)
			}
			if !p.Mounted && (p.Device != "" || p.TotalBytes != 0) {
				t.Errorf("not mounted, yet %+v", p)
			}
			if !p.Mounted || p.Error != "" {
				return
			}
			if p.Device != "/dev/mmcblk0p4" || p.FSType != "ext4" || p.Options != "rw,relatime" {
				t.Errorf("Device, FSType, Options = %q, %q, %q; want /dev/mmcblk0p4, ext4, rw,relatime", p.Device, p.FSType, p.Options)
			}
			if p.TotalBytes == 0 || p.UsedBytes > p.TotalBytes || p.FreeBytes > p.TotalBytes {
				t.Errorf("implausible sizes: total %d, used %d, free %d", p.TotalBytes, p.UsedBytes, p.FreeBytes)
			}
		})
	}
}

func FuzzParseMountinfo(f *testing.F) {
	if b, err := os.ReadFile("testdata/mountinfo-gokrazy.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1 2 3:4 / /a\\040b rw - x y"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mounts, err := parseMountinfo(b)
		if err != nil {
			return
		}
		for _, m := range mounts {
			if m.FSType == "" || m.FSType == "-" && m.Source == "" {
				t.Errorf("parseMountinfo(%q): mount without type: %+v", b, m)
			}
		}
	})
}
