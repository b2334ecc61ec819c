package releases_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/release"
)

// TestPrune publishes seven releases and checks that the store keeps the
// five newest and the one a device runs, with their blocks, and lets the
// rest go: the second release's manifest and blocks, blocks no release
// names once a day old (not younger: a publication in progress stores its
// blocks first), and the patches to releases no longer latest.
func TestPrune(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	dir := filepath.Join(f.cloud.Config.Root, ".releases")
	var ms []*release.Manifest
	publish := func(i int) {
		t.Helper()
		signed, m, parts := f.makeRelease(t, build1.Add(time.Duration(i)*time.Hour), random(2*release.BlockSize+i))
		if _, err := f.publisher().Publish(ctx, signed, m, parts); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	publish(0)
	f.beat(t, "site7", "token-site7", ms[0].Build) // site7 stays on the first
	for i := 1; i < 6; i++ {
		publish(i)
	}
	// The blocks so far are two days old; two blocks no release names,
	// one as old, one just stored.
	strayOld, strayNew := strings.Repeat("0a", 32), strings.Repeat("0b", 32)
	for _, h := range []string{strayOld, strayNew} {
		if err := os.WriteFile(filepath.Join(dir, "blocks", h), []byte("stray"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	blocks, _ := os.ReadDir(filepath.Join(dir, "blocks"))
	old := time.Now().Add(-48 * time.Hour)
	for _, e := range blocks {
		if e.Name() != strayNew {
			os.Chtimes(filepath.Join(dir, "blocks", e.Name()), old, old)
		}
	}
	publish(6)

	var manifests []string
	entries, _ := os.ReadDir(filepath.Join(dir, "manifests"))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "manifests", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := release.Inspect(b)
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, m.Version+" "+m.Build.Format("15h"))
	}
	var want []string
	for _, i := range []int{0, 2, 3, 4, 5, 6} {
		want = append(want, ms[i].Version+" "+ms[i].Build.Format("15h"))
	}
	slices.Sort(manifests)
	if !slices.Equal(manifests, want) {
		t.Errorf("manifests kept: %q, want %q (the five newest and the one site7 runs)", manifests, want)
	}
	has := func(h string) bool {
		_, err := os.Stat(filepath.Join(dir, "blocks", h))
		return err == nil
	}
	for i, m := range ms {
		for _, h := range m.Hashes() {
			if has(h) != (i != 1) {
				t.Errorf("release %d's block %s: stored %v, want %v", i, h, has(h), i != 1)
			}
		}
	}
	if has(strayOld) || !has(strayNew) {
		t.Errorf("stray blocks: the old one stored %v, the new one %v; want only the new one", has(strayOld), has(strayNew))
	}
	patches, _ := os.ReadDir(filepath.Join(dir, "patches"))
	for _, e := range patches {
		if !strings.Contains(e.Name(), "-"+ms[6].Root.SHA256) && !strings.Contains(e.Name(), "-"+ms[6].Boot.SHA256) {
			t.Errorf("patch %s kept: it does not lead to the latest release", e.Name())
		}
	}

	// The latest is whole for a device that fetches it.
	dev := f.device("site8", "token-site8")
	signed, err := dev.Latest(ctx, "pc", "stable")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := release.Inspect(signed); m == nil || m.Root.SHA256 != ms[6].Root.SHA256 {
		t.Fatalf("latest after pruning: %+v", m)
	}
	for _, h := range ms[6].Hashes() {
		if _, err := dev.Block(ctx, h); err != nil {
			t.Errorf("block %s of the latest: %v", h, err)
		}
	}
}
