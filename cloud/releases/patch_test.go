package releases_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/delta"
	"github.com/lapsebox/lapsebox/image/release"
)

// rebuilt imitates a program rebuilt after a small change: every 997th
// byte from a third on differs, so that no content-defined block of the
// old root is found in the new one after that point.
func rebuilt(old []byte) []byte {
	new := bytes.Clone(old)
	for i := len(new) / 3; i < len(new); i += 997 {
		new[i]++
	}
	return new
}

// TestPatch publishes a release whose root differs from the last one's
// everywhere but a little, and checks that cloudd offers a device on the
// last one a patch far smaller than the blocks, in ranges, that turns
// its root into the release's.
func TestPatch(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	root1 := random(16 * release.BlockSize)
	signed1, m1, parts1 := f.makeRelease(t, build1, root1)
	if _, err := f.publisher().Publish(ctx, signed1, m1, parts1); err != nil {
		t.Fatal(err)
	}
	root2 := rebuilt(root1)
	signed2, m2, parts2 := f.makeRelease(t, build1.Add(time.Hour), root2)
	done, err := f.publisher().Publish(ctx, signed2, m2, parts2)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := release.NewIndex(release.Source{R: bytes.NewReader(root1), Size: int64(len(root1))})
	need := idx.Need(m2.Root)
	if tr := done.Transfers; len(tr) != 1 || tr[0].Patch <= 0 || tr[0].Patch > need/10 {
		t.Fatalf("transfers %+v: want a patch under a tenth of the %d bytes of blocks a device on v1 lacks", tr, need)
	}

	// The device fetches it in ranges of 1000 bytes, as after drops.
	dev := f.device("site7", "token-site7")
	var patch []byte
	total := int64(-1)
	for total < 0 || int64(len(patch)) < total {
		b, n, err := dev.Patch(ctx, m1.Root.SHA256, m2.Root.SHA256, int64(len(patch)), 1000)
		if err != nil {
			t.Fatal(err)
		}
		patch, total = append(patch, b...), n
	}
	if total != done.Transfers[0].Patch {
		t.Errorf("the patch served has %d bytes, the publication said %d", total, done.Transfers[0].Patch)
	}
	p, err := delta.Parse(patch)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.Apply(bytes.NewReader(root1), int64(len(root1)), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), root2) {
		t.Fatal("the patch does not make v2's root")
	}

	// No patch between roots that are not v1's and the latest's, in
	// either direction or from a root the server never published.
	noPatch(t, dev, []pair{
		{"backwards", m2.Root.SHA256, m1.Root.SHA256},
		{"to itself", m2.Root.SHA256, m2.Root.SHA256},
		{"unpublished root", strings.Repeat("ab", 32), m2.Root.SHA256},
		{"the boot file system", m1.Boot.SHA256, m2.Root.SHA256},
	})
	// Made: the roots' patch, and the finding that the boot file
	// systems (random bytes) have none.
	entries, _ := os.ReadDir(filepath.Join(f.cloud.Config.Root, ".releases", "patches"))
	var made []string
	for _, e := range entries {
		made = append(made, e.Name())
	}
	if want := []string{m1.Root.SHA256 + "-" + m2.Root.SHA256, m1.Boot.SHA256 + "-" + m2.Boot.SHA256 + ".none"}; !sameSet(made, want) {
		t.Errorf("patches made: %v, want %v", made, want)
	}

	// A root that no patch makes smaller than its blocks gets none, and
	// that is remembered.
	signed3, m3, parts3 := f.makeRelease(t, build1.Add(2*time.Hour), random(4*release.BlockSize))
	done, err = f.publisher().Publish(ctx, signed3, m3, parts3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range done.Transfers {
		if tr.Patch != 0 {
			t.Errorf("transfer %+v: a patch of random bytes, want none", tr)
		}
	}
	if _, _, err := dev.Patch(ctx, m2.Root.SHA256, m3.Root.SHA256, 0, 100); !errors.Is(err, release.ErrNoPatch) {
		t.Errorf("patch to a random root: %v, want ErrNoPatch", err)
	}
}

func TestPatchAttacks(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	root1 := random(4 * release.BlockSize)
	signed1, m1, parts1 := f.makeRelease(t, build1, root1)
	if _, err := f.publisher().Publish(ctx, signed1, m1, parts1); err != nil {
		t.Fatal(err)
	}
	signed2, m2, parts2 := f.makeRelease(t, build1.Add(time.Hour), rebuilt(root1))
	if _, err := f.publisher().Publish(ctx, signed2, m2, parts2); err != nil {
		t.Fatal(err)
	}
	good := release.PatchPath + m1.Root.SHA256 + "/" + m2.Root.SHA256
	site7 := deviceAuth("site7", "token-site7")
	for _, c := range []struct {
		name   string
		path   string
		auth   func(*http.Request)
		status int
	}{
		{"device", good, site7, 200},
		{"no credential", good, nil, 401},
		{"other device's token", good, deviceAuth("site7", "token-site8"), 401},
		{"operator instead of device", good, adminAuth(f), 401},
		{"traversal", release.PatchPath + "..%2f..%2findex.json/" + m2.Root.SHA256, site7, 404},
		{"traversal in to", release.PatchPath + m1.Root.SHA256 + "/..%2f..%2fmanifests", site7, 404},
		{"upper case", release.PatchPath + strings.ToUpper(m1.Root.SHA256) + "/" + m2.Root.SHA256, site7, 404},
		{"a block's hash", release.PatchPath + m1.Root.Blocks[0] + "/" + m2.Root.SHA256, site7, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body, err := doReq(f, "GET", c.path, nil, c.auth)
			if err != nil {
				t.Fatal(err)
			}
			if status != c.status {
				t.Errorf("GET %s: HTTP %d (%q), want %d", c.path, status, trimBody(body), c.status)
			}
			if strings.Contains(string(body), f.cloud.Config.Root) {
				t.Errorf("answer %q shows a server path", trimBody(body))
			}
		})
	}
	// A range past the patch's end is refused, not answered with the
	// patch.
	if _, _, err := f.device("site7", "token-site7").Patch(ctx, m1.Root.SHA256, m2.Root.SHA256, 1<<30, 100); err == nil {
		t.Error("a range past the patch's end was answered")
	}
}

// TestBlockCompressed checks that a block travels gzip-compressed to a
// client that accepts it, and as it is to one that does not.
func TestBlockCompressed(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	root := bytes.Repeat([]byte("a root file system that is not compressed at rest "), 2000)
	signed, m, parts := f.makeRelease(t, build1, root)
	if _, err := f.publisher().Publish(ctx, signed, m, parts); err != nil {
		t.Fatal(err)
	}
	h := m.Root.Blocks[0]
	for _, accept := range []string{"gzip", "", "gzip;q=0", "deflate, br"} {
		req, _ := http.NewRequest("GET", f.cloud.URL+release.BlockPath+h, nil)
		deviceAuth("site7", "token-site7")(req)
		req.Header.Set("Accept-Encoding", accept) // set: the transport leaves the body as sent
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		gz := resp.Header.Get("Content-Encoding") == "gzip"
		if want := accept == "gzip"; gz != want || resp.StatusCode != 200 {
			t.Errorf("Accept-Encoding %q: HTTP %d, gzip %v, want %v", accept, resp.StatusCode, gz, want)
		}
		if gz && resp.ContentLength >= int64(m.Root.Sizes[0])/10 {
			t.Errorf("a block of repeated text travelled as %d of its %d bytes", resp.ContentLength, m.Root.Sizes[0])
		}
	}
	// Go's client asks for gzip itself and hands the block back as it is.
	b, err := f.device("site7", "token-site7").Block(ctx, h)
	if err != nil || release.Hash(b) != h {
		t.Errorf("Block through the client: %d bytes, %v; want the block", len(b), err)
	}
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(s string) bool { return !slices.Contains(b, s) })
}

// TestBootPatch publishes a release with a rebuilt kernel: a device on
// the last release gets a patch of the boot file system, which the
// transfer counts instead of its blocks; no patch crosses from a root
// to a boot file system, or from a boot file system no release had.
func TestBootPatch(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	root1, boot1 := random(8*release.BlockSize), random(16*release.BlockSize)
	signed1, m1, parts1 := f.makeReleaseWith(t, build1, root1, boot1)
	if _, err := f.publisher().Publish(ctx, signed1, m1, parts1); err != nil {
		t.Fatal(err)
	}
	root2, boot2 := rebuilt(root1), rebuilt(boot1)
	signed2, m2, parts2 := f.makeReleaseWith(t, build1.Add(time.Hour), root2, boot2)
	done, err := f.publisher().Publish(ctx, signed2, m2, parts2)
	if err != nil {
		t.Fatal(err)
	}
	dev := f.device("site7", "token-site7")
	var patches int64
	for _, c := range []struct {
		name     string
		old, new []byte
		from, to string
	}{
		{"root", root1, root2, m1.Root.SHA256, m2.Root.SHA256},
		{"boot", boot1, boot2, m1.Boot.SHA256, m2.Boot.SHA256},
	} {
		patch, total, err := dev.Patch(ctx, c.from, c.to, 0, release.MaxPatchRange)
		if err != nil || int64(len(patch)) != total {
			t.Fatalf("%s patch: %d of %d bytes, %v", c.name, len(patch), total, err)
		}
		idx, _ := release.NewIndex(release.Source{R: bytes.NewReader(c.old), Size: int64(len(c.old))})
		if need := idx.Need(map[string]release.Part{"root": m2.Root, "boot": m2.Boot}[c.name]); total > need/10 {
			t.Errorf("%s patch of %d bytes, want under a tenth of the %d bytes of blocks", c.name, total, need)
		}
		p, err := delta.Parse(patch)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := p.Apply(bytes.NewReader(c.old), int64(len(c.old)), &out); err != nil || !bytes.Equal(out.Bytes(), c.new) {
			t.Errorf("the %s patch does not make v2's (%v)", c.name, err)
		}
		patches += total
	}
	if tr := done.Transfers; len(tr) != 1 || tr[0].Patch != patches || tr[0].Bytes != patches {
		t.Errorf("transfers %+v: want both patches, %d bytes, and no block", tr, patches)
	}
	noPatch(t, dev, []pair{
		{"root to boot", m1.Root.SHA256, m2.Boot.SHA256},
		{"boot to root", m1.Boot.SHA256, m2.Root.SHA256},
		{"unpublished boot", strings.Repeat("cd", 32), m2.Boot.SHA256},
		{"backwards", m2.Boot.SHA256, m1.Boot.SHA256},
	})
}

// A pair names two parts, by their sha256, that have no patch between
// them.
type pair struct{ name, from, to string }

// noPatch checks that the server offers dev no patch for each pair.
func noPatch(t *testing.T, dev *release.Client, pairs []pair) {
	t.Helper()
	for _, c := range pairs {
		if _, _, err := dev.Patch(context.Background(), c.from, c.to, 0, 100); !errors.Is(err, release.ErrNoPatch) {
			t.Errorf("%s: %v, want ErrNoPatch", c.name, err)
		}
	}
}
