package updater_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/updater"
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
