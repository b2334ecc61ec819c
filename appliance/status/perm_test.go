package status

import (
	"os"
	"strings"
	"testing"
)

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
