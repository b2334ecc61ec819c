package updater_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/disk/disktest"
	"github.com/lapsebox/lapsebox/image/fat"
	"github.com/lapsebox/lapsebox/image/release"
)

// rebuilt imitates a root whose programs were rebuilt after a small
// change: every 997th byte from a third on differs, so that the device
// finds none of the release's blocks past that point in its own root.
func rebuilt(old []byte) []byte {
	new := bytes.Clone(old)
	for i := len(new) / 3; i < len(new); i += 997 {
		new[i]++
	}
	return new
}

// TestPullByPatch installs a release whose root differs from the running
// one a little but everywhere: a patch travels, not the blocks; and a
// staged patch cut short is resumed, one damaged is dropped for the
// blocks, the release installed either way.
func TestPullByPatch(t *testing.T) {
	for _, tt := range []struct {
		name   string
		staged func(patch []byte) []byte // what an earlier attempt left
		blocks bool                      // blocks travel too
	}{
		{"fresh", nil, false},
		{"resumed", func(p []byte) []byte { return p[:len(p)/2] }, false},
		{"damaged", func(p []byte) []byte { q := bytes.Clone(p); q[len(q)-20] ^= 0xff; return q }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, "02:00")
			// The running root was published: the server knows it.
			f.publish(t, f.priv, release.Manifest{Build: build1}, f.root1, f.boot1)
			root2 := rebuilt(f.root1)
			m := f.publish(t, f.priv, release.Manifest{Build: build2}, root2, f.boot1)
			idx, _ := release.NewIndex(release.Source{R: bytes.NewReader(f.root1), Size: int64(len(f.root1))})
			need := idx.Need(m.Root)
			sum := sha256.Sum256(f.root1)
			from := hex.EncodeToString(sum[:])
			var patchSize int64
			if tt.staged != nil {
				dev := &release.Client{BaseURL: f.cloud.URL, Auth: func(r *http.Request) {
					r.Header.Set("Lapsebox-Device", "site7")
					r.Header.Set("Authorization", "Bearer token-site7")
				}}
				patch, total, err := dev.Patch(context.Background(), from, m.Root.SHA256, 0, release.MaxPatchRange)
				if err != nil || int64(len(patch)) != total {
					t.Fatalf("fetching the patch: %d of %d bytes, %v", len(patch), total, err)
				}
				dir := filepath.Join(f.svc.Perm, "lapsebox", "update")
				os.MkdirAll(dir, 0o755)
				staged := tt.staged(patch)
				os.WriteFile(filepath.Join(dir, "patch-"+from[:16]+"-"+m.Root.SHA256[:16]), staged, 0o600)
				patchSize = total - int64(len(staged))
			}

			f.svc.Look(context.Background())
			a := f.status(t).LastAttempt
			if a == nil || a.Result != updater.ResultTrying {
				t.Fatalf("attempt %+v, want the release on trial", a)
			}
			if !bytes.Equal(f.gokrazy.Root(), root2) {
				t.Fatal("gokrazy got another root than the release's")
			}
			switch {
			case tt.blocks:
				// What the patch wrote before it failed is checked block
				// by block: only the blocks it got wrong travel.
				if a.FetchedBytes <= 0 || a.FetchedBytes > need || a.ResumedBytes+a.FetchedBytes+a.ReusedBytes != m.Root.Size {
					t.Errorf("attempt %+v: want some of the %d bytes of blocks fetched after the damaged patch", a, need)
				}
			case a.FetchedBytes != 0 || a.PatchBytes <= 0 || a.PatchBytes > need/10:
				t.Errorf("attempt %+v: want a patch under a tenth of the %d bytes of blocks the root lacks, and no block", a, need)
			case tt.staged != nil && a.PatchBytes != patchSize:
				t.Errorf("attempt %+v: want the %d bytes the staged half lacked", a, patchSize)
			}
			entries, _ := os.ReadDir(filepath.Join(f.svc.Perm, "lapsebox", "update"))
			for _, e := range entries {
				if name := e.Name(); len(name) > 6 && name[:6] == "patch-" {
					t.Errorf("staged patch %s left behind", name)
				}
			}
		})
	}
}

// rebuiltKernel returns the boot file system fs with its kernel rebuilt
// (see rebuilt), at the same place.
func rebuiltKernel(t *testing.T, fs []byte) []byte {
	t.Helper()
	off, n, err := fat.Find(bytes.NewReader(fs), "/vmlinuz")
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(fs)
	copy(out[off:], rebuilt(fs[off:off+n]))
	return out
}

// TestPullBootByPatch installs a release with a rebuilt kernel on a
// device whose boot partition gokrazy has rewritten (trials, a switch
// of roots): the boot file system travels as a patch from the partition
// read as built, and the boot slot gets the release's files. A device
// whose boot files are no release's gets no patch and fetches blocks.
func TestPullBootByPatch(t *testing.T) {
	for _, tt := range []struct {
		name  string
		patch bool
	}{
		{"used boot partition", true},
		{"boot files of no release", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, "02:00")
			f.publish(t, f.priv, release.Manifest{Build: build1}, f.root1, f.boot1)
			// The device runs root A after trials; its kernel may be
			// one no release had.
			kernel := byte(0)
			if !tt.patch {
				kernel = 5
			}
			used := usedBootFS(t, "1", kernel, " gokrazy.switch_on_boot=1 gokrazy.switch_on_boot=1")
			// What else a pc's boot partition shows: gokrazy's testboot
			// wrote its growth past each file's end, and its kexec
			// reboot mounted it and never unmounted it.
			for _, name := range bootconf.Files {
				off, _, err := fat.Slack(bytes.NewReader(used), name)
				if err != nil {
					t.Fatal(err)
				}
				copy(used[off:], "                            ")
			}
			used[37] = 0x01
			os.WriteFile(f.svc.Disk.Boot, used, 0o600)
			disktest.Write(t, f.disk, used)
			boot2 := rebuiltKernel(t, f.boot1)
			m := f.publish(t, f.priv, release.Manifest{Build: build2}, f.root1, boot2)
			idx, _ := release.NewIndex(release.Source{R: bytes.NewReader(used), Size: int64(len(used))})
			need := idx.Need(m.Boot)
			if need < 64<<10 {
				t.Fatalf("the device lacks %d bytes of the release's boot blocks: too few to test a patch", need)
			}

			f.svc.Look(context.Background())
			a := f.status(t).LastAttempt
			if a == nil || !a.BootWritten || a.Result != updater.ResultRebooting {
				t.Fatalf("attempt %+v, want the boot files written", a)
			}
			switch {
			case tt.patch && (a.FetchedBytes != 0 || a.PatchBytes <= 0 || a.PatchBytes > need/10):
				t.Errorf("attempt %+v: want a patch under a tenth of the %d bytes of boot blocks, and no block", a, need)
			case !tt.patch && (a.PatchBytes != 0 || a.FetchedBytes < need):
				t.Errorf("attempt %+v: want no patch and the %d bytes of boot blocks fetched", a, need)
			}
			slot1, _, _ := f.bootSlot(t, 1, len(boot2))
			want := bytes.Clone(boot2)
			if err := bootconf.ForRoot(want, 2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(slot1, want) {
				t.Error("boot slot 1 does not hold the release's boot files naming root B")
			}
			if b, _ := os.ReadFile(f.svc.Disk.Boot); !bytes.Equal(b, used) {
				t.Error("the boot partition in use was written")
			}
			entries, _ := os.ReadDir(filepath.Join(f.svc.Perm, "lapsebox", "update"))
			for _, e := range entries {
				if name := e.Name(); strings.HasPrefix(name, "patch-") {
					t.Errorf("staged patch %s left behind", name)
				}
			}
		})
	}
}
